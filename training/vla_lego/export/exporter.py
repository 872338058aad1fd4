"""Checkpoint -> export directory: ONNX graphs, optional TensorRT engines, manifest, parity gate.

An export directory holds ``prefix.onnx``, ``denoise_step.onnx``, ``decode_step.onnx`` (when text
decoding is exported), ``processor/`` (tokenizer, normalisation stats, vocabulary map), optionally
``*.plan`` TensorRT engines, and ``manifest.json`` (see :mod:`vla_lego.inference.manifest`). It is
built in a temporary sibling directory and renamed into place only after the parity gate passed,
so a failed export leaves nothing that looks complete.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vla_lego.atomic import atomic_directory
from vla_lego.export.inputs import example_inputs
from vla_lego.export.onnx_graphs import (
    DecodeStepGraph,
    DenoiseStepGraph,
    PrefixGraph,
    kv_names,
)
from vla_lego.export.parity import PARITY_TOLERANCE, parity_gate
from vla_lego.export.tensorrt_engines import build_engines
from vla_lego.inference.errors import ModelVersionError
from vla_lego.inference.manifest import (
    GraphSpec,
    Manifest,
    hash_tree,
    onnx_signature,
    sha256_file,
)
from vla_lego.inference.torch_backend import policy_dt, resolve_checkpoint
from vla_lego.inference.trt_support import require_tensorrt
from vla_lego.models.base import CachedPolicyModel
from vla_lego.models.checkpoint import FORMAT as MODEL_VERSION
from vla_lego.models.checkpoint import MANIFEST as CHECKPOINT_MANIFEST
from vla_lego.models.checkpoint import read_json, verify_directory
from vla_lego.models.registry import load_model
from vla_lego.robot import H1_LAYOUT

FORMATS = ("onnx", "tensorrt")
EXPORTERS = ("dynamo", "torchscript")
OPSET = 18
EXTERNAL_DATA_BYTES = 1_500_000_000  # protobuf caps one file at 2 GB


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how.

    Args:
        fmt: ``onnx`` (graphs only) or ``tensorrt`` (graphs + engines; needs TensorRT and CUDA).
        precision: Engine precision ``fp32``/``fp16``/``bf16``; ONNX graphs are always fp32.
        exporter: ``dynamo`` (``torch.export``) or ``torchscript`` (the legacy tracer).
        decode_text: Export the text decode-step graph.
        parity_trials: Random observations the parity gate checks (1 and 2 views alternate).
        seed: Seed of the parity inputs.
        overwrite: Replace an existing non-empty output directory.
    """

    fmt: str = "onnx"
    precision: str = "fp32"
    exporter: str = "dynamo"
    decode_text: bool = True
    parity_trials: int = 2
    seed: int = 0
    overwrite: bool = False

    def __post_init__(self) -> None:
        if self.fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}, got {self.fmt!r}")
        if self.precision not in PARITY_TOLERANCE:
            raise ValueError(
                f"precision must be one of {sorted(PARITY_TOLERANCE)}, got {self.precision!r}"
            )
        if self.fmt == "onnx" and self.precision != "fp32":
            raise ValueError(
                f"precision {self.precision!r} applies to TensorRT engines (--format tensorrt); "
                "ONNX graphs are exported in fp32"
            )
        if self.exporter not in EXPORTERS:
            raise ValueError(f"exporter must be one of {EXPORTERS}, got {self.exporter!r}")
        if self.parity_trials < 1:
            raise ValueError(f"parity_trials must be >= 1, got {self.parity_trials}")


def check_model_version(checkpoint: Path) -> dict[str, Any]:
    """Read the checkpoint manifest; :class:`ModelVersionError` if another version wrote it."""
    path = checkpoint / CHECKPOINT_MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{checkpoint} is not a checkpoint directory: {path.name} missing")
    meta = read_json(path)
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt != MODEL_VERSION:
        raise ModelVersionError(
            f"checkpoint {checkpoint} was written by model version {fmt!r}; this exporter handles "
            f"{MODEL_VERSION!r}. Convert or retrain the checkpoint with this version of vla_lego"
        )
    return dict(meta)


def export_checkpoint(checkpoint: str | Path, out: str | Path, options: ExportOptions) -> Manifest:
    """``python -m vla_lego.export`` in a function: load, export, gate, write.

    ``checkpoint`` is a policy checkpoint (``save_pretrained`` of a registered model) or a training
    checkpoint ``step_*/`` holding one in ``policy/``.

    Raises:
        FileNotFoundError / ModelVersionError / CheckpointError: bad checkpoint.
        ParityError: the graphs do not match PyTorch (the output directory is not created).
    """
    ckpt = resolve_checkpoint(Path(checkpoint))
    check_model_version(ckpt)
    files = verify_directory(ckpt, ())["files"]
    source = {
        "path": str(ckpt.resolve()),
        "model_version": MODEL_VERSION,
        "files": {name: meta["sha256"] for name, meta in sorted(files.items())},
        "manifest_sha256": sha256_file(ckpt / CHECKPOINT_MANIFEST),
    }
    policy: Any = load_model(ckpt, layout=H1_LAYOUT)  # model.json picks the class
    return export_policy(policy, out, options, source)


def export_policy(
    policy: CachedPolicyModel, out: str | Path, options: ExportOptions, source: dict[str, Any]
) -> Manifest:
    """Export an in-memory policy (see :func:`export_checkpoint`)."""
    out = Path(out)
    policy = policy.eval()
    if options.fmt == "tensorrt":
        require_tensorrt()  # fail before spending minutes on the ONNX graphs
    exists = f"export directory {out} exists and is not empty (use --overwrite)"
    with atomic_directory(out, options.overwrite, exists_error=exists) as tmp:
        t0 = time.perf_counter()
        graphs = export_graphs(policy, tmp, options)
        policy.processor.save(tmp / "processor")
        man = _manifest(policy, graphs, options, source)
        man.processor_files = {
            f"{man.processor_dir}/{rel}": sha
            for rel, sha in hash_tree(tmp / man.processor_dir).items()
        }
        man.runtime["export_seconds"] = round(time.perf_counter() - t0, 2)
        man.write(tmp)
        if options.fmt == "tensorrt":
            build_engines(tmp, man, options.precision)
            man.write(tmp)
        man.parity = parity_gate(policy, tmp, man, options)
        man.write(tmp)
    return man


def _manifest(
    policy: CachedPolicyModel,
    graphs: dict[str, GraphSpec],
    opt: ExportOptions,
    source: dict[str, Any],
) -> Manifest:
    cfg = policy.config
    return Manifest(
        model_type=policy.model_type,
        model_version=MODEL_VERSION,
        precision=opt.precision,
        graphs=graphs,
        dynamic_dims=dynamic_dim_ranges(policy),
        robot_layout=policy.layout.to_dict(),
        normalization=policy.processor.normalizer.to_dict(),
        processor_dir="processor",
        model_config=cfg.to_dict(),
        action_horizon=cfg.action_horizon,
        num_denoise_steps=cfg.num_denoise_steps,
        max_action_dim=cfg.max_action_dim,
        decode_text=opt.decode_text,
        source_checkpoint=source,
        runtime={
            "dt": policy_dt(policy),
            "vocab_size": int(policy.vlm.config.text_config.vocab_size),
            "batch": 1,
            "exporter": opt.exporter,
            "opset": OPSET,
            "torch": torch.__version__,
        },
    )


def dynamic_dim_ranges(policy: CachedPolicyModel) -> dict[str, dict[str, int]]:
    """min / opt / max of every dynamic axis (used for TensorRT optimisation profiles)."""
    cfg = policy.config
    per_view = cfg.tokens_per_view + 2
    p_min = per_view + 2
    p_max = cfg.max_views * per_view + cfg.max_instruction_tokens + 2
    p_opt = cfg.max_views * per_view + cfg.max_instruction_tokens // 2 + 2
    c_max = p_max + cfg.max_subtask_tokens
    return {
        "views": {"min": 1, "opt": cfg.max_views, "max": cfg.max_views},
        "prefix_len": {"min": p_min, "opt": p_opt, "max": p_max},
        "cache_len": {"min": p_min, "opt": p_opt + cfg.max_subtask_tokens // 2, "max": c_max},
    }


# ---------------------------------------------------------------------------- graph export
def _export_one(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    names: tuple[list[str], list[str]],
    dims: dict[str, dict[int, str]],
    opt: ExportOptions,
    large: bool,
) -> None:
    inputs, outputs = names
    kw: dict[str, Any] = {
        "input_names": inputs,
        "output_names": outputs,
        "opset_version": OPSET,
    }
    if opt.exporter == "dynamo":
        symbols: dict[str, Any] = {}
        shapes = [
            {
                ax: symbols.setdefault(sym, torch.export.Dim(sym, min=1, max=65536))
                for ax, sym in dims.get(name, {}).items()
            }
            or None
            for name in inputs
        ]
        # Positional form; the trailing *kv of the step graphs is one varargs tuple.
        n_fixed = len(getattr(module, "input_names", inputs))
        nested = tuple(shapes[:n_fixed]) + (
            (tuple(shapes[n_fixed:]),) if len(shapes) > n_fixed else ()
        )
        kw.update(dynamo=True, dynamic_shapes=nested, external_data=large)
    else:
        kw.update(dynamo=False, dynamic_axes=dims, do_constant_folding=True)
    with torch.no_grad():
        torch.onnx.export(module, args, str(path), **kw)


def export_graphs(policy: CachedPolicyModel, out: Path, opt: ExportOptions) -> dict[str, GraphSpec]:
    """Export the prefix, denoise-step and (optionally) decode-step graphs into ``out``."""
    import onnx

    cfg = policy.config
    layers = cfg.text_num_layers
    large = policy.num_parameters() * 4 > EXTERNAL_DATA_BYTES
    inp = example_inputs(policy, min(2, cfg.max_views), 6, opt.seed)
    prefix = PrefixGraph(policy).eval()
    pargs = tuple(getattr(inp, n) for n in PrefixGraph.input_names)
    with torch.no_grad():
        pout = prefix(*pargs)
    kv = tuple(pout[1:])
    h = cfg.action_horizon
    pdims = {n: {1: "prefix_len"} for n in ("input_ids", "state_mask", "prefix_valid")}
    pdims.update({"pixel_values": {0: "views"}, "position_ids": {2: "prefix_len"}})
    pdims.update({n: {2: "prefix_len"} for n in kv_names(layers, "present_")})
    kv_dims = {n: {2: "cache_len"} for n in kv_names(layers)}
    specs = {
        "prefix": (
            prefix,
            pargs,
            (list(PrefixGraph.input_names), ["logits", *kv_names(layers, "present_")]),
            pdims,
        ),
        "denoise_step": (
            DenoiseStepGraph(policy).eval(),
            (
                torch.zeros(1, h, cfg.max_action_dim),
                torch.full((1,), 0.5),
                torch.arange(h).view(1, 1, h).expand(3, 1, h).contiguous(),
                inp.prefix_valid,
                *kv,
            ),
            (list(DenoiseStepGraph.input_names) + kv_names(layers), ["velocity"]),
            {"kv_valid": {1: "cache_len"}, **kv_dims},
        ),
    }
    if opt.decode_text:
        specs["decode_step"] = (
            DecodeStepGraph(policy).eval(),
            (
                torch.zeros(1, 1, dtype=torch.long),
                torch.zeros(3, 1, 1, dtype=torch.long),
                inp.prefix_valid,
                *kv,
            ),
            (
                list(DecodeStepGraph.input_names) + kv_names(layers),
                ["logits", *kv_names(layers, "present_")],
            ),
            {"kv_valid": {1: "cache_len"}, **kv_dims},
        )
    graphs = {}
    for name, (module, args, names, dims) in specs.items():
        path = out / f"{name}.onnx"
        _export_one(module, args, path, names, dims, opt, large)
        onnx.checker.check_model(str(path))
        graphs[name] = _graph_spec(out, path)
    return graphs


def _graph_spec(root: Path, path: Path) -> GraphSpec:
    inputs, outputs = onnx_signature(path)
    data = {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.glob(f"{path.name}.data"))
    }
    return GraphSpec(
        file=path.relative_to(root).as_posix(),
        sha256=sha256_file(path),
        inputs=inputs,
        outputs=outputs,
        data_files=data,
    )


def manifest_summary(man: Manifest) -> str:
    """One JSON line for the CLI: graphs, parity, timing."""
    return json.dumps(
        {
            "graphs": {k: g.file for k, g in man.graphs.items()},
            "engines": {k: g.engine_file for k, g in man.graphs.items() if g.engine_file},
            "parity": man.parity,
            "export_seconds": man.runtime.get("export_seconds"),
        }
    )


__all__ = [
    "EXPORTERS",
    "FORMATS",
    "ExportOptions",
    "check_model_version",
    "dynamic_dim_ranges",
    "export_checkpoint",
    "export_graphs",
    "export_policy",
    "manifest_summary",
]
