"""Dataloader throughput: PNG frames in the parquet vs AV1 video, and whether training waits on it.

    python bench/dataloader.py [--sizes 112,224] [--episodes 4] [--batches 120] [--workers 0,1,2]
                               [--presets tiny,base] [--steps 2] [--codec libsvtav1]

For each image side S the MuJoCo sim renders ``--episodes`` pick_place demonstrations (cameras
head and right_wrist, S x S) into a PNG-in-parquet LeRobot v3.0 dataset; the same frames, state,
action and text are then read back and written again with ``video=True`` (AV1 mp4 as LeRobot
writes it), so both storages hold identical content. Per (S, storage) it reports the size on disk,
the decode-only rate (``LegoDataset.__getitem__`` in a loop, random order) and the samples/s of
``DataLoader(LegoDataset(root, horizon=50), batch_size=8, shuffle=True, collate_fn=collate)`` for
each worker count (0 = in the main process), timed over ``--batches`` batches after one warm-up
batch (so worker start-up is excluded). Ratios are video over images from the same run.

Then one training step (``compute_loss`` + backward + AdamW step, fp32, CPU) of each preset at
batch 8 on a batch of the dataset whose S is the preset's ``image_size``: if the loader at its
best worker count delivers fewer samples/s than the step consumes, training is input-bound.
Loader and model are timed separately; in a real run they share the same cores.
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import torch
from torch.utils.data import DataLoader, RandomSampler

from vla_lego.data import LegoDataset, LeRobotV3Writer, collate
from vla_lego.models.eo1 import EO1Config, EO1Policy
from vla_lego.sim import SimConfig
from vla_lego.sim.generate import generate_dataset

CAMERAS = ("head", "right_wrist")
FPS = 10
HORIZON = 50
BATCH = 8


def dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def build_datasets(size: int, episodes: int, codec: str, tmp: Path) -> tuple[Path, Path, float]:
    """Sim-rendered image dataset and its video twin (same frames). Returns (images, video,
    seconds spent writing the video)."""
    cfg = SimConfig().with_overrides(image_height=size, image_width=size, cameras=CAMERAS)
    images = tmp / f"images-{size}"
    generate_dataset("pick_place", episodes, images, cfg=cfg, progress=False)
    src = LegoDataset(images, horizon=1)
    video = tmp / f"video-{size}"
    t0 = time.perf_counter()
    with LeRobotV3Writer(
        video,
        fps=FPS,
        camera_names=list(CAMERAS),
        image_shape=(size, size),
        video=True,
        codec=codec,
    ) as writer:
        for i in range(len(src)):
            if i > 0 and src.episode_index[i] != src.episode_index[i - 1]:
                writer.save_episode()
            s = src[i]
            writer.add_frame(
                {c: src.image(c, i) for c in CAMERAS},
                src.state[i],
                src.actions[i],
                s["instruction"],
                s["subtask"],
            )
        writer.save_episode()
        writer.finalize()
    return images, video, time.perf_counter() - t0


def decode_rate(root: Path, samples: int) -> float:
    ds = LegoDataset(root, horizon=HORIZON)
    order = random.Random(0).choices(range(len(ds)), k=samples + 1)
    ds[order[0]]  # warm-up: opens the video containers
    t0 = time.perf_counter()
    for i in order[1:]:
        ds[i]
    return samples / (time.perf_counter() - t0)


def loader_rate(root: Path, workers: int, batches: int) -> float:
    ds = LegoDataset(root, horizon=HORIZON)
    # shuffle=True is this sampler with num_samples=len(ds); more samples chain permutations, so
    # the timed batches can span several epochs without restarting the workers.
    sampler = RandomSampler(
        ds, num_samples=BATCH * (batches + 1), generator=torch.Generator().manual_seed(0)
    )
    loader = DataLoader(
        ds, batch_size=BATCH, sampler=sampler, num_workers=workers, collate_fn=collate
    )
    it = iter(loader)
    next(it)  # warm-up (worker start-up, first container opens)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        n += len(next(it)["state"])
    rate = n / (time.perf_counter() - t0)
    del it
    return rate


def step_time(preset: str, root: Path, steps: int) -> float:
    """Median seconds of one training step (loss + backward + AdamW) at batch ``BATCH``."""
    ds = LegoDataset(root, horizon=HORIZON)
    batch = collate([ds[i] for i in range(0, len(ds), max(1, len(ds) // BATCH))][:BATCH])
    torch.manual_seed(0)
    policy = EO1Policy(EO1Config.from_preset(preset), stats=ds.stats).train()
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4)

    def step() -> float:
        t0 = time.perf_counter()
        loss, _ = policy.compute_loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    step()  # warm-up
    return statistics.median(step() for _ in range(steps))


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="112,224", help="image sides S (px)")
    parser.add_argument("--episodes", type=int, default=4, help="sim episodes per dataset")
    parser.add_argument("--batches", type=int, default=120, help="timed batches per loader run")
    parser.add_argument("--workers", default="0,1,2", help="DataLoader num_workers to time")
    parser.add_argument("--presets", default="tiny,base", help="models whose step is timed")
    parser.add_argument("--steps", type=int, default=2, help="timed training steps per preset")
    parser.add_argument("--codec", default="libsvtav1", help="video encoder (LeRobot: libsvtav1)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    presets = [p for p in args.presets.split(",") if p]
    samples = BATCH * args.batches
    rows: list[str] = []
    best: dict[tuple[int, str], float] = {}
    roots: dict[int, Path] = {}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vla-loader-bench-") as tmp:
        for size in sizes:
            images, video, enc_s = build_datasets(size, args.episodes, args.codec, Path(tmp))
            roots[size] = images
            frames = len(LegoDataset(images, horizon=1))
            print(f"S={size}: {frames} frames, video written in {enc_s:.1f} s", file=sys.stderr)
            res: dict[str, dict[str, float]] = {}
            for storage, root in (("images", images), ("video", video)):
                r = {"bytes": float(dir_bytes(root)), "decode": decode_rate(root, samples)}
                for w in workers:
                    r[f"w{w}"] = loader_rate(root, w, args.batches)
                res[storage] = r
                best[(size, storage)] = max(r[f"w{w}"] for w in workers)
                print(f"S={size} {storage}: {r}", file=sys.stderr, flush=True)
            for storage in ("images", "video", "video/images"):
                if storage == "video/images":
                    v, i = res["video"], res["images"]
                    cells = [f"{v['bytes'] / i['bytes']:.2f}x", "-"]
                    cells += [
                        f"{v[k] / i[k]:.2f}x" for k in ["decode", *(f"w{w}" for w in workers)]
                    ]
                else:
                    r = res[storage]
                    cells = [f"{r['bytes'] / 1e6:.2f}", f"{r['bytes'] / frames:.0f}"]
                    cells += [f"{r[k]:.0f}" for k in ["decode", *(f"w{w}" for w in workers)]]
                rows.append(f"| {size} | {storage} | " + " | ".join(cells) + " |")
        model_rows = []
        for preset in presets:
            s = EO1Config.from_preset(preset).image_size
            if s not in roots:
                model_rows.append(f"| {preset} | {s} | skipped: no S={s} dataset | - | - | - |")
                continue
            t = step_time(preset, roots[s], args.steps)
            need = BATCH / t
            cells = []
            for storage in ("images", "video"):
                have = best[(s, storage)]
                cells.append(f"{have:.0f} ({'input-bound' if have < need else 'not input-bound'})")
            model_rows.append(
                f"| {preset} | {s} | {t * 1e3:.0f} | {need:.1f} | " + " | ".join(cells) + " |"
            )
    wcols = " | ".join(f"loader W={w} (samples/s)" for w in workers)
    print(
        f"Dataloader throughput on {cpu_name()}, {os.cpu_count()} CPU cores; pick_place sim "
        f"frames, {args.episodes} episodes per dataset, 2 cameras, batch {BATCH}, horizon "
        f"{HORIZON}, shuffled (RandomSampler, {BATCH * (args.batches + 1)} samples); loader "
        f"timed over {args.batches} batches after 1 warm-up batch, decode-only over {samples} "
        f"random samples; video = {args.codec} (yuv420p, g=2, crf=30). "
        f"Total {time.perf_counter() - t_start:.0f} s.\n"
    )
    print(f"| S (px) | storage | size (MB) | bytes/frame | decode-only (samples/s) | {wcols} |")
    print("|---|---|---:|---:|---:|" + "---:|" * len(workers))
    print("\n".join(rows))
    print(
        f"\nOne training step (loss + backward + AdamW, fp32, {torch.get_num_threads()} torch "
        f"threads) at batch {BATCH} vs the loader at its best worker count; input-bound: the "
        "loader delivers fewer samples/s than the step consumes (timed separately).\n"
    )
    print(
        "| preset | S (px) | step (ms) | model (samples/s) | loader images, best W "
        "(samples/s) | loader video, best W (samples/s) |"
    )
    print("|---|---:|---:|---:|---|---|")
    print("\n".join(model_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
