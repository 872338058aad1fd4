"""EO-1 3B smoke run on CPU: a random-init release-format checkpoint, imported, loaded, one chunk.

Usage::

    python bench/eo1_3b_smoke.py                     # 3B shape (eo1_3b preset), temp dir in /tmp
    python bench/eo1_3b_smoke.py --shape tiny        # the same code path in seconds
    python bench/eo1_3b_smoke.py --workdir /data/x --keep --threads 2 --dtypes bf16,fp32

What it does, each step in its own child process (its peak RSS is the child's
``ru_maxrss`` from ``os.wait4``; the parent also samples the child's ``RssAnon``, the anonymous
memory, because the safetensors files are memory-mapped and their pages count in the RSS too):

1. ``write``: a *randomly initialised* EO-1 release folder (the layout of EO-Robotics/EO1's
   ``save_pretrained``: ``config.json`` with ``model_type: "eo1"``, ``vlm_backbone.visual.*`` /
   ``vlm_backbone.model.*`` keys, tied LM head not stored, ``action_time_mlp_in/out``, the
   two-layer ``action_out_proj.{0,2}`` head, ``model-0000i-of-0000n.safetensors`` + index,
   ``added_tokens.json``, ``preprocessor_config.json``). Shapes come from the project's own
   meta-device model of the preset (``--shape 3b``: ``eo1_3b``, Qwen2.5-VL-3B: hidden 2048,
   36 layers, 16 heads, 2 KV heads, MLP 11008, 151,936 vocabulary rows, ViT depth 32 / width
   1280). The backbone is bf16 and the heads fp32, as in EO-1's release; tensors are drawn
   shard by shard (``--shard-gib``) and each shard is freed once written, so the writer never
   holds more than one shard. Nothing is downloaded.
2. ``import``: :func:`vla_lego.models.import_eo1.import_eo1` into ``<workdir>/imported``.
3. ``chunk`` per dtype (``--dtypes``): the project's loader
   (:func:`vla_lego.models.registry.load_model`), ``.to(torch.bfloat16)`` for bf16, then ONE
   ``sample_actions`` call (batch 1, ``max_views`` random images, ``decode_text`` off unless
   ``--decode-text``: an EO-1 release has no subtask text to decode, and random weights would
   decode ``max_subtask_tokens`` tokens).

Prints one markdown table (step, dtype, seconds, peak RSS, peak anonymous RSS, result) after a
header naming the shape, parameter count, torch / transformers versions, CPU and commit. A
step that fails (an exception, or a child killed by the kernel for lack of memory) shows its
error in the table and the steps that need its output are skipped; the exit status is then 1.
The children raise their own ``oom_score_adj``, so the kernel's OOM killer picks them first.
``<workdir>/release`` and ``<workdir>/imported`` are deleted at the end unless ``--keep``.

Memory: the 3B shape has about 3.75 B parameters; the release takes about 7.5 GB on disk, the
imported float32 checkpoint about 15 GB, and loading it builds the float32 model (about 15 GB)
before any dtype conversion.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHAPES = ("3b", "tiny")
PRESET = {"3b": "eo1_3b", "tiny": "tiny"}
DTYPES = ("bf16", "fp32")
SHARD_GIB = {"3b": 2.0, "tiny": 0.01}
QWEN_VOCAB_ROWS = 151936  # Qwen2.5-VL's embedding rows (the tokenizer's ids padded to 151,936)
INDEX_FILE = "model.safetensors.index.json"
# EO-1's 8 added tokens (ids 151665..151672), as its release's added_tokens.json lists them.
EO1_TOKENS = (
    "<|action_start|>",
    "<|action_pad|>",
    "<|action_pass|>",
    "<|action_end|>",
    "<|state_start|>",
    "<|state_pad|>",
    "<|state_end|>",
    "<|vla|>",
)
EO1_FIRST_TOKEN_ID = 151665
# Project key prefix -> EO-1 release key prefix (the tied LM head is not stored; the output head
# is written as EO-1's two Linears).
RELEASE_PREFIXES = (
    ("vlm.model.visual.", "vlm_backbone.visual."),
    ("vlm.model.language_model.", "vlm_backbone.model."),
    ("action_time_mlp.0.", "action_time_mlp_in."),
    ("action_time_mlp.2.", "action_time_mlp_out."),
)
HEAD_KEYS = ("state_proj.", "action_in_proj.")
INSTRUCTION = "pick up the red 2x4 brick and stack it on the blue one"
RESULT_PREFIX = "SMOKE_RESULT "
GIB = 1024**3


# --------------------------------------------------------------------------- configs
def shape_config(shape: str, horizon: int | None = None) -> Any:
    """The project config of a bench shape: ``eo1_3b`` as a fresh (not loaded) backbone, or
    ``tiny`` with the full vocabulary (an EO-1 release always has all 151,936 rows)."""
    from vla_lego.models.eo1 import EO1Config

    over: dict[str, Any] = {"backbone_path": None, "require_backbone": False, "vocab_prune": None}
    if horizon is not None:
        over["action_horizon"] = horizon
    return EO1Config.from_preset(PRESET[shape], **over)


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of the release: name, shape, dtype name and how it is initialised."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # "bf16" (backbone) or "fp32" (heads)
    init: str  # "normal", "ones" (norm weights) or "zeros" (biases)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * (2 if self.dtype == "bf16" else 4)


def release_key(key: str) -> str | None:
    """EO-1's name of a project state-dict key; ``None`` for the tied LM head (not stored)."""
    if key == "vlm.lm_head.weight":
        return None
    for ours, theirs in RELEASE_PREFIXES:
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    if key.startswith(HEAD_KEYS):
        return key
    raise KeyError(f"no EO-1 release name for project key {key!r}")


def release_plan(cfg: Any) -> tuple[list[TensorSpec], Any]:
    """Every tensor of the release of ``cfg``'s shape, and the backbone's ``Qwen2_5_VLConfig``.

    The shapes come from the project's own model built on the meta device (no memory, no
    init), so they are exactly what :func:`vla_lego.models.import_eo1.import_eo1` expects.
    """
    import torch
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vla_lego.models.eo1 import EO1Policy, EO1Processor
    from vla_lego.models.eo1.backbone import backbone_config
    from vla_lego.robot import H1_LAYOUT

    processor = EO1Processor(cfg, H1_LAYOUT, None, vocab_size=QWEN_VOCAB_ROWS)
    qcfg = backbone_config(cfg, processor)
    with torch.device("meta"):
        vlm = Qwen2_5_VLForConditionalGeneration._from_config(qcfg, attn_implementation="sdpa")
        policy = EO1Policy(cfg, H1_LAYOUT, vlm=vlm, processor=processor)
    specs: list[TensorSpec] = []
    hidden, dmax = qcfg.text_config.hidden_size, cfg.max_action_dim
    for key, value in policy.state_dict().items():
        if key.startswith("action_out_proj."):
            continue  # written as EO-1's two Linears below
        name = release_key(key)
        if name is None:
            continue
        shape = tuple(value.shape)
        init = "zeros" if key.endswith(".bias") else "ones" if len(shape) == 1 else "normal"
        dtype = "bf16" if name.startswith("vlm_backbone.") else "fp32"
        specs.append(TensorSpec(name, shape, dtype, init))
    specs += [
        TensorSpec("action_out_proj.0.weight", (hidden, hidden), "fp32", "normal"),
        TensorSpec("action_out_proj.0.bias", (hidden,), "fp32", "zeros"),
        TensorSpec("action_out_proj.2.weight", (dmax, hidden), "fp32", "normal"),
        TensorSpec("action_out_proj.2.bias", (dmax,), "fp32", "zeros"),
    ]
    return specs, qcfg


def release_config_json(cfg: Any, qcfg: Any) -> dict[str, Any]:
    """``config.json`` of an EO-1 release (``EO1VisionFlowMatchingConfig`` fields, Qwen2.5-VL
    text/vision sub-configs in transformers 4.5x style, as EO-1's release was written)."""
    t, v = qcfg.text_config, qcfg.vision_config
    text = {
        "model_type": "qwen2_5_vl_text",
        "vocab_size": t.vocab_size,
        "hidden_size": t.hidden_size,
        "intermediate_size": t.intermediate_size,
        "num_hidden_layers": t.num_hidden_layers,
        "num_attention_heads": t.num_attention_heads,
        "num_key_value_heads": t.num_key_value_heads,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "max_position_embeddings": 128000,
        "use_sliding_window": False,
        "rope_theta": float(t.rope_parameters["rope_theta"]),
        "rope_scaling": {"type": "mrope", "mrope_section": list(cfg.mrope_section)},
        "tie_word_embeddings": True,
    }
    vision = {
        "model_type": "qwen2_5_vl",
        "depth": v.depth,
        "hidden_size": v.hidden_size,
        "intermediate_size": v.intermediate_size,
        "num_heads": v.num_heads,
        "in_channels": 3,
        "hidden_act": "silu",
        "patch_size": v.patch_size,
        "spatial_merge_size": v.spatial_merge_size,
        "temporal_patch_size": v.temporal_patch_size,
        "window_size": v.window_size,
        "out_hidden_size": v.out_hidden_size,
        "fullatt_block_indexes": list(v.fullatt_block_indexes),
        "tokens_per_second": 2,
    }
    return {
        "architectures": ["EO1VisionFlowMatchingModel"],
        "model_type": "eo1",
        "text_config": text,
        "vision_config": vision,
        "image_token_id": 151655,
        "video_token_id": 151656,
        "action_chunk_size": cfg.action_horizon,
        "max_action_dim": cfg.max_action_dim,
        "num_denoise_steps": cfg.num_denoise_steps,
        "action_act": "linear",
        "num_action_layers": 2,
        "state_token_id": 151670,
        "action_token_id": 151666,
        "action_pass_id": 151667,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.56.0",
    }


def assign_shards(specs: list[TensorSpec], max_bytes: int) -> list[list[TensorSpec]]:
    """Consecutive groups of tensors of at most ``max_bytes`` each (a larger tensor alone)."""
    shards: list[list[TensorSpec]] = [[]]
    size = 0
    for s in specs:
        if shards[-1] and size + s.nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(s)
        size += s.nbytes
    return shards


def write_release(
    cfg: Any, path: Path, shard_bytes: int, seed: int = 0, std: float | None = None
) -> dict[str, Any]:
    """Write a random-init EO-1 release folder of ``cfg``'s shape at ``path``, shard by shard.

    Initialisation follows transformers' Qwen2.5-VL: normal(0, ``initializer_range``) weights,
    zero biases, unit norm weights. Only one shard's tensors exist at a time.

    Returns:
        ``{"tensors", "params", "bytes", "shards"}``.
    """
    import torch
    from safetensors.torch import save_file

    specs, qcfg = release_plan(cfg)
    std = cfg.initializer_range if std is None else std
    groups = assign_shards(specs, shard_bytes)
    n = len(groups)
    path.mkdir(parents=True, exist_ok=False)
    gen = torch.Generator().manual_seed(seed)
    dtypes = {"bf16": torch.bfloat16, "fp32": torch.float32}
    weight_map: dict[str, str] = {}
    for i, group in enumerate(groups, start=1):
        fname = f"model-{i:05d}-of-{n:05d}.safetensors"
        tensors: dict[str, torch.Tensor] = {}
        for s in group:
            t = torch.empty(s.shape, dtype=dtypes[s.dtype])
            if s.init == "normal":
                t.normal_(0.0, std, generator=gen)
            else:
                t.fill_(1.0 if s.init == "ones" else 0.0)
            tensors[s.name] = t
            weight_map[s.name] = fname
        save_file(tensors, str(path / fname), metadata={"format": "pt"})
        del tensors  # free the shard before drawing the next
    total = sum(s.nbytes for s in specs)
    _write_json(path / INDEX_FILE, {"metadata": {"total_size": total}, "weight_map": weight_map})
    _write_json(path / "config.json", release_config_json(cfg, qcfg))
    _write_json(
        path / "added_tokens.json", {t: EO1_FIRST_TOKEN_ID + i for i, t in enumerate(EO1_TOKENS)}
    )
    _write_json(
        path / "preprocessor_config.json",
        {"min_pixels": 64 * 28 * 28, "max_pixels": 128 * 28 * 28, "patch_size": 14},
    )
    return {
        "tensors": len(specs),
        "params": sum(s.numel for s in specs),
        "bytes": total,
        "shards": n,
    }


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1))


# --------------------------------------------------------------------------- memory probes
def proc_status(pid: int | str = "self") -> dict[str, int]:
    """``VmRSS``, ``VmHWM``, ``RssAnon`` of a process in bytes (``{}`` once it is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("VmRSS", "VmHWM", "RssAnon"):
                    out[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError):
        return {}
    return out


class AnonPeak:
    """Samples this process's ``RssAnon`` in a background thread and keeps the peak."""

    def __init__(self, interval: float = 0.05) -> None:
        self.peak = proc_status().get("RssAnon", 0)
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.sample()

    def sample(self) -> int:
        self.peak = max(self.peak, proc_status().get("RssAnon", 0))
        return self.peak

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.sample()


# --------------------------------------------------------------------------- child stages
def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def stage_write(args: argparse.Namespace) -> dict[str, Any]:
    cfg = shape_config(args.shape, args.horizon)
    t0 = time.perf_counter()
    info = write_release(cfg, Path(args.workdir) / "release", int(args.shard_gib * GIB))
    info["seconds"] = time.perf_counter() - t0
    return info


def stage_import(args: argparse.Namespace) -> dict[str, Any]:
    from vla_lego.models.import_eo1 import import_eo1

    work = Path(args.workdir)
    t0 = time.perf_counter()
    report = import_eo1(work / "release", work / "imported", preset=PRESET[args.shape])
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "tensors": report.num_source_tensors,
        "bytes": _dir_bytes(work / "imported"),
        "horizon": report.config.action_horizon,
        "warnings": len(report.warnings),
    }


def stage_chunk(args: argparse.Namespace, anon: AnonPeak) -> dict[str, Any]:
    import numpy as np
    import torch

    from vla_lego.models.registry import load_model

    t0 = time.perf_counter()
    policy: Any = load_model(Path(args.workdir) / "imported", device="cpu")
    if args.dtype == "bf16":
        policy = policy.to(torch.bfloat16)
    load_s = time.perf_counter() - t0
    after_load = proc_status()
    anon_load = anon.sample()
    cfg = policy.config
    rng = np.random.default_rng(0)
    lo, hi = policy.layout.lower, policy.layout.upper
    size = cfg.image_size
    batch = {
        "images": rng.integers(0, 256, (1, cfg.max_views, size, size, 3), dtype=np.uint8),
        "state": (lo + (hi - lo) * rng.random(policy.layout.dim))[None].astype(np.float32),
        "instruction": [INSTRUCTION],
    }
    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    actions, _ = policy.sample_actions(batch, decode_text=args.decode_text, generator=gen)
    chunk_s = time.perf_counter() - t0
    return {
        "load_seconds": load_s,
        "load_hwm": after_load.get("VmHWM", 0),
        "load_anon": anon_load,
        "chunk_seconds": chunk_s,
        "params": policy.num_parameters(),
        "actions_shape": list(actions.shape),
        "finite": bool(torch.isfinite(actions).all()),
        "param_dtype": str(next(policy.parameters()).dtype).replace("torch.", ""),
    }


def run_stage(args: argparse.Namespace) -> int:
    """Child side: run one stage and print its result as one JSON line."""
    import torch

    with contextlib.suppress(OSError):  # be the OOM killer's first choice, not other work
        Path("/proc/self/oom_score_adj").write_text("1000")
    torch.set_num_threads(args.threads)
    anon = AnonPeak()
    if args.stage == "write":
        result = stage_write(args)
    elif args.stage == "import":
        result = stage_import(args)
    else:
        result = stage_chunk(args, anon)
    result["anon_peak"] = anon.stop()
    result["hwm"] = proc_status().get("VmHWM", 0)
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# --------------------------------------------------------------------------- parent
@dataclass
class ChildRun:
    """What one child process did: exit status, peaks, its result (``None`` on failure)."""

    returncode: int
    seconds: float
    maxrss: int  # bytes, from wait4's rusage
    anon_peak: int  # bytes, sampled by the parent
    result: dict[str, Any] | None
    tail: str
    error: str = ""


def spawn(stage: str, args: argparse.Namespace, extra: list[str], log: Path) -> ChildRun:
    """Run ``stage`` in a child process; peaks from ``wait4`` and ``/proc/<pid>/status``."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--stage",
        stage,
        "--shape",
        args.shape,
        "--workdir",
        str(args.workdir),
        "--threads",
        str(args.threads),
        "--shard-gib",
        str(args.shard_gib),
        *(["--horizon", str(args.horizon)] if args.horizon is not None else []),
        *(["--decode-text"] if args.decode_text else []),
        *extra,
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "training"), env.get("PYTHONPATH", "")) if p
    )
    t0 = time.perf_counter()
    with log.open("w") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, env=env)
        anon = 0
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            anon = max(anon, proc_status(proc.pid).get("RssAnon", 0))
            if time.perf_counter() - t0 > args.timeout:
                os.kill(proc.pid, signal.SIGKILL)
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln.startswith(RESULT_PREFIX)]
    result = json.loads(lines[-1][len(RESULT_PREFIX) :]) if lines else None
    tail = "\n".join(text.splitlines()[-15:])
    run = ChildRun(proc.returncode, seconds, usage.ru_maxrss * 1024, anon, result, tail)
    if proc.returncode != 0 or result is None:
        run.result = None
        run.error = child_error(proc.returncode, text, seconds > args.timeout)
    return run


def child_error(returncode: int, text: str, timed_out: bool) -> str:
    """One line for the table: how the child failed."""
    if timed_out:
        return "failed: timed out (killed)"
    if returncode < 0:
        name = signal.Signals(-returncode).name
        why = " (out of memory? killed by the kernel)" if name == "SIGKILL" else ""
        return f"failed: killed by {name}{why}"
    errs = [ln.strip() for ln in text.splitlines() if "Error" in ln or "error" in ln]
    return f"failed (exit {returncode}): {errs[-1] if errs else 'see log'}"


@dataclass
class Row:
    step: str
    dtype: str
    seconds: float | None
    rss: int | None
    anon: int | None
    result: str


@dataclass
class Smoke:
    """Parent side: the stages, their rows and the header facts."""

    args: argparse.Namespace
    rows: list[Row] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    failed: bool = False

    def add_failure(self, step: str, dtype: str, run: ChildRun) -> None:
        self.failed = True
        self.rows.append(Row(step, dtype, run.seconds, run.maxrss, run.anon_peak, run.error))
        print(f"{step} [{dtype}] {run.error}\n{run.tail}", file=sys.stderr)

    def run(self) -> int:
        a = self.args
        work = Path(a.workdir)
        logs = work / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for sub in ("release", "imported"):
            if (work / sub).exists():
                shutil.rmtree(work / sub)
        _progress(f"write release -> {work / 'release'}")
        w = spawn("write", a, [], logs / "write.log")
        if w.result is None:
            self.add_failure("write release (random init)", "bf16 + fp32 heads", w)
            return self.finish()
        r = w.result
        self.facts["params"] = r["params"]
        self.rows.append(
            Row(
                "write release (random init)",
                "bf16 + fp32 heads",
                r["seconds"],
                w.maxrss,
                w.anon_peak,
                f"{r['tensors']} tensors, {r['shards']} shards, {r['bytes'] / 1e9:.2f} GB",
            )
        )
        _progress("import_eo1")
        i = spawn("import", a, [], logs / "import.log")
        if i.result is None:
            self.add_failure("import_eo1", "fp32", i)
            return self.finish()
        r = i.result
        self.facts["horizon"] = r["horizon"]
        self.rows.append(
            Row(
                "import_eo1",
                "fp32",
                r["seconds"],
                i.maxrss,
                i.anon_peak,
                f"ok: {r['tensors']} tensors mapped, checkpoint {r['bytes'] / 1e9:.2f} GB, "
                f"{r['warnings']} warnings",
            )
        )
        for dtype in a.dtypes:
            _progress(f"load + 1 chunk [{dtype}]")
            c = spawn("chunk", a, ["--dtype", dtype], logs / f"chunk_{dtype}.log")
            if c.result is None:
                self.add_failure("load + 1 chunk", dtype, c)
                continue
            r = c.result
            load = "load_model" + (" + .to(bfloat16)" if dtype == "bf16" else "")
            self.facts["loaded_params"] = r["params"]
            self.rows.append(
                Row(load, dtype, r["load_seconds"], r["load_hwm"], r["load_anon"], "ok")
            )
            shape = "x".join(map(str, r["actions_shape"]))
            finite = "finite" if r["finite"] else "NOT FINITE"
            if not r["finite"]:
                self.failed = True
            self.rows.append(
                Row(
                    "1 chunk (sample_actions)",
                    dtype,
                    r["chunk_seconds"],
                    c.maxrss,
                    c.anon_peak,
                    f"actions {shape} {finite}, weights {r['param_dtype']}",
                )
            )
        return self.finish()

    def finish(self) -> int:
        print(render(self))
        return 1 if self.failed else 0


def _progress(msg: str) -> None:
    print(f"[eo1_3b_smoke {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _gib(b: int | None) -> str:
    return "" if b is None else f"{b / GIB:.2f}"


def _sec(s: float | None) -> str:
    if s is None:
        return ""
    return f"{s:.2f}" if s < 10 else f"{s:.1f}"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024 / GIB
    except OSError:
        pass
    return float("nan")


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def render(smoke: Smoke) -> str:
    """The header lines and the markdown table."""
    import torch
    import transformers

    a, f = smoke.args, smoke.facts
    params = f.get("params")
    ptxt = f"{params / 1e9:.3f} B" if params and params >= 1e8 else f"{(params or 0) / 1e6:.2f} M"
    lines = [
        f"EO-1 release-format smoke, shape `{a.shape}` (preset `{PRESET[a.shape]}`), random init: "
        f"{ptxt} parameters in the release"
        + (f" ({f['loaded_params']:,} in the loaded policy)" if "loaded_params" in f else "")
        + f", horizon {f.get('horizon', '?')}, decode_text={a.decode_text}, "
        f"{a.threads} torch thread(s)",
        "",
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"CPU {cpu_model()} ({os.cpu_count()} cores), RAM {ram_gib():.1f} GiB, "
        f"commit {git_commit()}",
        "",
        "| step | dtype | time (s) | peak RSS (GiB) | peak anon RSS (GiB) | result |",
        "|---|---|---:|---:|---:|---|",
    ]
    for r in smoke.rows:
        res = r.result.replace("|", "/").replace("\n", " ")
        lines.append(
            f"| {r.step} | {r.dtype} | {_sec(r.seconds)} | {_gib(r.rss)} | {_gib(r.anon)} "
            f"| {res} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--shape", choices=SHAPES, default="3b")
    ap.add_argument("--workdir", type=Path, default=None, help="default: a new dir under /tmp")
    ap.add_argument("--keep", action="store_true", help="keep the release and imported folders")
    ap.add_argument("--dtypes", default="bf16,fp32", help="comma list of bf16, fp32")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads per child")
    ap.add_argument("--horizon", type=int, default=None, help="action_chunk_size of the release")
    ap.add_argument(
        "--shard-gib",
        type=float,
        default=None,
        help=f"release shard size in GiB (default {SHARD_GIB['3b']} for 3b, {SHARD_GIB['tiny']} "
        "for tiny: two shards)",
    )
    ap.add_argument("--decode-text", action="store_true", help="decode subtask text first")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per child step")
    ap.add_argument("--stage", choices=("write", "import", "chunk"), help=argparse.SUPPRESS)
    ap.add_argument("--dtype", choices=DTYPES, default="fp32", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.shard_gib is None:
        args.shard_gib = SHARD_GIB[args.shape]
    if args.stage is None:
        args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
        bad = [d for d in args.dtypes if d not in DTYPES]
        if bad:
            ap.error(f"--dtypes: unknown {bad}, expected some of {DTYPES}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stage is not None:
        return run_stage(args)
    created = args.workdir is None
    if created:
        args.workdir = Path(tempfile.mkdtemp(prefix="eo1_3b_smoke_", dir="/tmp"))
    args.workdir = Path(args.workdir).resolve()
    try:
        return Smoke(args).run()
    finally:
        if not args.keep:
            for sub in ("release", "imported"):
                shutil.rmtree(args.workdir / sub, ignore_errors=True)
            if created:
                shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
