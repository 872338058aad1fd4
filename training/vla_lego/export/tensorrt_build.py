"""Build TensorRT engines from the exported ONNX graphs (``--format tensorrt``).

Uses the TensorRT 10 Python API: ``OnnxParser`` -> ``INetworkDefinition``, one optimization
profile per graph covering the dynamic axes recorded in the manifest (min / opt / max), fp16 or
bf16 builder flags, ``build_serialized_network`` -> a ``.plan`` file beside the ONNX graph.
TensorRT exists only where a user has it (JetPack, NGC containers); it is imported lazily by
:func:`~vla_lego.inference.trt_support.require_tensorrt`, which raises
:class:`~vla_lego.inference.errors.BackendUnavailableError` naming what to install.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vla_lego.atomic import atomic_write_bytes
from vla_lego.inference.trt_support import require_tensorrt

PRECISION_FLAGS = {"fp32": (), "fp16": ("FP16",), "bf16": ("BF16",)}
WORKSPACE_BYTES = 4 << 30


def profile_shapes(
    inputs: list[dict[str, Any]], dims: dict[str, dict[str, int]]
) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shape of every input from the manifest's symbolic shapes and dim ranges.

    Args:
        inputs: Manifest entries ``{"name", "dtype", "shape"}``; a shape entry is an int or the
            name of a dynamic dimension.
        dims: Dynamic dimension name -> ``{"min", "opt", "max"}``.
    """
    out = {}
    for spec in inputs:
        lo, opt, hi = [], [], []
        for d in spec["shape"]:
            if isinstance(d, int):
                r = {"min": d, "opt": d, "max": d}
            elif d in dims:
                r = dims[d]
            else:
                raise ValueError(f"input {spec['name']!r}: dynamic dim {d!r} has no range")
            lo.append(int(r["min"]))
            opt.append(int(r["opt"]))
            hi.append(int(r["max"]))
        out[spec["name"]] = (tuple(lo), tuple(opt), tuple(hi))
    return out


def build_engine(
    onnx_path: Path,
    plan_path: Path,
    inputs: list[dict[str, Any]],
    dims: dict[str, dict[str, int]],
    precision: str = "fp16",
) -> Path:
    """Parse ``onnx_path``, build an engine for ``precision`` and write it to ``plan_path``.

    Raises:
        BackendUnavailableError: TensorRT or CUDA missing.
        RuntimeError: the parser or builder failed (their messages are included).
    """
    if precision not in PRECISION_FLAGS:
        raise ValueError(f"precision must be one of {sorted(PRECISION_FLAGS)}, got {precision!r}")
    trt = require_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):  # from file: resolves external weight data
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: " + "; ".join(errors))
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, WORKSPACE_BYTES)
    for flag in PRECISION_FLAGS[precision]:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)  # keep fp32 engines within the fp32 parity bound
    profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profile_shapes(inputs, dims).items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT failed to build an engine from {onnx_path} ({precision})")
    return atomic_write_bytes(plan_path, memoryview(serialized))


__all__ = ["PRECISION_FLAGS", "build_engine", "profile_shapes"]
