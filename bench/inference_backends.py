"""Latency of the inference backends: prefix, one denoise step, full action chunk.

    python bench/inference_backends.py [--sizes tiny,base] [--runs 100] [--warmup 10]
                                       [--threads N] [--exporter dynamo] [--report PATH]
                                       [--ort-spin run,never]

For each model size a randomly initialised EO-1 policy is saved, exported (``vla_lego.export``,
parity gate included) and run through the shared host loop by every available backend on the same
observation: ``torch`` eager and ``onnxruntime`` on the CPU, plus, where a CUDA GPU exists,
``torch`` eager on CUDA, ``torch`` with CUDA graphs, ``onnxruntime`` with the CUDA execution
provider and ``tensorrt`` (if installed). Prints a markdown table of median and p99
milliseconds over ``--runs`` runs after ``--warmup`` runs, and the speed-up of each backend over
torch eager on the same device (``ratio`` = torch eager ms / backend ms; > 1 is faster).
"chunk" is prefix + N Euler steps (text decoding off), i.e. one ``predict`` minus
pre/post-processing. ONNX Runtime runs once per ``--ort-spin`` mode (when its idle threads
busy-wait; see ``OrtGraph``). Samples of all backends are taken in alternating blocks, so their
ratios come from the same conditions.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vla_lego.export import ExportOptions, export_checkpoint
from vla_lego.export.inputs import example_inputs
from vla_lego.inference.engine import ChunkPolicy, inputs_to_feeds
from vla_lego.models.registry import create_model, preset_config

STAGES = ("prefix", "step", "chunk")


def timeit(
    fns: dict[str, Callable[[], Any]], runs: int, warmup: int, block: int = 10
) -> dict[str, tuple[float, float]]:
    """Median and p99 milliseconds of each callable, measured in alternating blocks.

    Backends are compared as ratios, so their samples are interleaved (``block`` runs of each in
    turn, every block after two untimed runs) rather than taken one backend after the other: load
    from the rest of the machine then drifts over all of them alike.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    ms: dict[str, list[float]] = {k: [] for k in fns}
    while min(len(v) for v in ms.values()) < runs:
        for name, fn in fns.items():
            for _ in range(2):
                fn()
            for _ in range(block):
                t0 = time.perf_counter()
                fn()
                ms[name].append((time.perf_counter() - t0) * 1e3)
    return {k: (float(np.median(v)), float(np.percentile(v, 99))) for k, v in ms.items()}


def stage_fns(policy: ChunkPolicy, inputs: Any) -> dict[str, Callable[[], Any]]:
    """Callables for the three stages, each ending with a device sync."""
    g = policy.graphs
    feeds = inputs_to_feeds(inputs)
    _, kv = g.prefix(feeds)
    kv_valid = inputs.prefix_valid.numpy()
    noise = policy.draw_noise()
    cfg = policy.config
    pos = np.broadcast_to(
        int(inputs.next_pos[0]) + np.arange(cfg.action_horizon), (3, 1, cfg.action_horizon)
    ).copy()

    def prefix() -> None:
        g.prefix(feeds)
        g.sync()

    ctx = g.prepare_denoise(kv, kv_valid, pos)

    def step() -> None:
        g.denoise(ctx, noise, 0.5)
        g.sync()

    def chunk() -> None:
        policy.sample(inputs, noise)
        g.sync()

    return {"prefix": prefix, "step": step, "chunk": chunk}


def _ort_loader(export: Path, device: str, spin: str) -> Callable[[], Any]:
    """Load the export with ONNX Runtime sessions in the given thread-spin mode."""
    from vla_lego.inference import load_policy

    return lambda: load_policy(
        export, "onnxruntime", device, decode_text=False, options={"spin": spin}
    )


def backends(
    ckpt: Path, export: Path, spins: list[str]
) -> list[tuple[str, str, Callable[[], Any]]]:
    """(name, device, loader) of every backend this machine can run; ONNX Runtime once per
    thread-spin mode (``vla_lego.inference.graphs.SPIN_MODES``), the first one named plainly."""
    from vla_lego.inference import load_policy

    def ort_name(i: int, spin: str) -> str:
        return "onnxruntime" if i == 0 else f"onnxruntime spin={spin}"

    out: list[tuple[str, str, Callable[[], Any]]] = [
        ("torch", "cpu", lambda: load_policy(ckpt, "torch", "cpu", decode_text=False)),
        *((ort_name(i, m), "cpu", _ort_loader(export, "cpu", m)) for i, m in enumerate(spins)),
    ]
    if torch.cuda.is_available():
        import onnxruntime as ort

        out.append(("torch", "cuda", lambda: load_policy(ckpt, "torch", "cuda", decode_text=False)))
        graphs = {"cuda_graphs": True}
        out.append(
            (
                "torch cuda-graphs",
                "cuda",
                lambda: load_policy(ckpt, "torch", "cuda", decode_text=False, options=graphs),
            )
        )
        if "CUDAExecutionProvider" in ort.get_available_providers():
            out.append(("onnxruntime", "cuda", _ort_loader(export, "cuda", spins[0])))
    return out


def bench_size(size: str, args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    torch.manual_seed(0)
    model = create_model(preset_config(size)).eval()
    ckpt = work / f"{size}_ckpt"
    model.save_pretrained(ckpt)
    t0 = time.perf_counter()
    fmt = "tensorrt" if args.tensorrt else "onnx"
    man = export_checkpoint(
        ckpt,
        work / f"{size}_export",
        ExportOptions(
            fmt=fmt,
            precision="fp16" if args.tensorrt else "fp32",
            exporter=args.exporter,
            decode_text=False,
        ),
    )
    print(
        f"# {size}: {model.num_parameters() / 1e6:.2f} M parameters, export "
        f"{time.perf_counter() - t0:.0f} s, parity max abs error {man.parity['max_abs_error']:.2e}",
        file=sys.stderr,
    )
    inputs = example_inputs(model, model.config.max_views, 8, seed=1)
    loaders = backends(ckpt, work / f"{size}_export", args.ort_spin.split(","))
    if args.tensorrt:
        from vla_lego.inference import load_policy

        loaders.append(
            (
                "tensorrt",
                "cuda",
                lambda: load_policy(work / f"{size}_export", "tensorrt", "cuda", decode_text=False),
            )
        )
    policies = {(name, device): load() for name, device, load in loaders}
    fns = {key: stage_fns(policy, inputs) for key, policy in policies.items()}
    rows = []
    for stage in STAGES:
        for (name, device), (med, p99) in timeit(
            {key: f[stage] for key, f in fns.items()}, args.runs, args.warmup
        ).items():
            rows.append(dict(size=size, backend=name, device=device, stage=stage, med=med, p99=p99))
    rows.sort(key=lambda r: (r["device"], r["backend"] != "torch", r["backend"]))
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    eager = {
        (r["size"], r["device"], r["stage"]): r["med"] for r in rows if r["backend"] == "torch"
    }
    lines = [
        "| size | backend | device | stage | median ms | p99 ms | ratio vs torch eager |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        base = eager.get((r["size"], r["device"], r["stage"]))
        ratio = f"{base / r['med']:.2f}x" if base else "-"
        lines.append(
            f"| {r['size']} | {r['backend']} | {r['device']} | {r['stage']} | {r['med']:.2f} | "
            f"{r['p99']:.2f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="tiny,base")
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--exporter", default="dynamo", choices=("dynamo", "torchscript"))
    p.add_argument("--tensorrt", action="store_true", help="also build and time TensorRT fp16")
    p.add_argument(
        "--ort-spin",
        default="run,never",
        help="ONNX Runtime thread-spin modes to time (run, always, never); the first is the "
        "plain 'onnxruntime' row",
    )
    p.add_argument("--report", type=Path, default=None, help="also write the table here")
    args = p.parse_args(argv)
    if args.runs < 100:
        print("note: fewer than 100 runs; p99 is not meaningful", file=sys.stderr)
    torch.set_num_threads(args.threads)
    os.environ["VLA_ORT_THREADS"] = str(args.threads)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="vla_bench_") as tmp:
        for size in args.sizes.split(","):
            rows += bench_size(size.strip(), args, Path(tmp))
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    head = (
        f"Inference backends — CPU: {platform.processor() or platform.machine()} "
        f"({args.threads} threads), GPU: {gpu}, torch {torch.__version__}, "
        f"{args.runs} runs after {args.warmup} warm-up\n\n"
    )
    text = head + table(rows)
    print(text)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
