"""Training throughput (samples/s) of the trainer: single process, DDP x2, DeepSpeed ZeRO-2 x2.

    python bench/train_throughput.py [--models tiny,base] [--modes single,ddp,deepspeed]
                                     [--steps 12] [--warmup 3] [--batch 4] [--image-size N]

Every configuration is a real ``python -m vla_lego.train`` run (``torchrun`` for two processes)
on the dummy dataset, fp32, CPU unless a GPU is visible. The rate is measured between step
``--warmup`` and the last step from the trainer's ``metrics.jsonl`` (so start-up, the first
steps, validation and checkpointing are excluded). Each rank uses ``--batch`` samples per step,
so the two-process runs process twice the global batch; ``ratio`` is samples/s over the
single-process run of the same model in this invocation. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODES = {"single": (1, "local"), "ddp": (2, "local"), "deepspeed": (2, "gilbreth")}


def steady_rate(metrics_jsonl: str, warmup: int) -> float:
    """Steps/s between step ``warmup`` and the last logged step (trainer's metrics.jsonl)."""
    times = {}
    for line in metrics_jsonl.splitlines():
        record = json.loads(line)
        if "loss" in record:  # training records (validation ones carry val/* only)
            times[int(record["step"])] = float(record["elapsed_s"])
    if warmup not in times or max(times) <= warmup:
        raise RuntimeError(f"no training records after step {warmup} in metrics.jsonl")
    last = max(times)
    return (last - warmup) / (times[last] - times[warmup])


def run_one(model: str, mode: str, args: argparse.Namespace, root: Path) -> tuple[float, int]:
    """Trains one configuration; returns (samples/s, global batch)."""
    nproc, cluster = MODES[mode]
    run_name = f"bench-{model}-{mode}"
    overrides = [
        "trainer=debug", f"model={model}",
        f"cluster={cluster}", "logging=disabled", f"trainer.max_steps={args.steps}",
        f"trainer.training.batch_size_per_device={args.batch}", "trainer.log_every_n_steps=1",
        f"trainer.validation.every_n_steps={args.steps * 10}",
        "trainer.validation.sample_actions=false",
        f"trainer.checkpoint.every_n_steps={args.steps * 10}", "trainer.checkpoint.keep_last=1",
        f"data.num_samples={max(64, args.batch * nproc * (args.steps + 1))}",
        "data.val_num_samples=0",
        f"run_name={run_name}",
    ]  # fmt: skip
    if args.image_size:
        overrides.append(f"model.image_size={args.image_size}")
    if nproc == 1:
        cmd = [sys.executable, "-m", "vla_lego.train", *overrides]
    else:
        port = str(random.Random().randint(29700, 29999))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
               "--master_port", port, "-m", "vla_lego.train", *overrides]  # fmt: skip
    env = dict(os.environ, VLA_SCRATCH_ROOT=str(root), WANDB_MODE="disabled", DS_BUILD_OPS="0")
    env.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / "cache" / "torch_extensions"))
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{run_name} failed:\n{proc.stderr[-3000:]}")
    records = (root / "logs" / run_name / "metrics.jsonl").read_text()
    return steady_rate(records, args.warmup) * args.batch * nproc, args.batch * nproc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,base")
    parser.add_argument("--modes", default="single,ddp,deepspeed")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4, help="samples per rank per step")
    parser.add_argument(
        "--image-size", type=int, default=None, help="camera side in px (default: the preset's)"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="OMP threads per process (0: default)"
    )
    args = parser.parse_args(argv)
    if args.steps <= args.warmup:
        parser.error("--steps must be larger than --warmup")
    rows = []
    with tempfile.TemporaryDirectory(prefix="vla-train-bench-") as tmp:
        for model in args.models.split(","):
            base_rate = None
            for mode in args.modes.split(","):
                rate, gbatch = run_one(model, mode, args, Path(tmp))
                base_rate = rate if mode == "single" else base_rate
                ratio = f"{rate / base_rate:.2f}" if base_rate else "-"
                rows.append(
                    f"| {model} | {mode} | {MODES[mode][0]} | {gbatch} | {rate:.2f} | {ratio} |"
                )
                print(f"{model} {mode}: {rate:.2f} samples/s", file=sys.stderr, flush=True)
    print(f"Training throughput on {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPU cores, fp32, "
          f"image {f'{args.image_size}px' if args.image_size else 'size of each preset'}, "
          f"steps {args.warmup + 1}..{args.steps}\n")  # fmt: skip
    print("| model | mode | processes | global batch | samples/s | ratio vs single |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
