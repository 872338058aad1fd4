"""EO-1 inference timing: prefix, one denoise step, 10-step inference with and without KV cache.

    python bench/model_inference.py                      # tiny and base, CPU, 1 thread
    python bench/model_inference.py --presets tiny --threads 2 --repeats 5

Prints a markdown table (median milliseconds). "cached" = prefix once + N denoise steps on its KV
cache; "recompute" = N full passes over [prefix | action block] (vision tower included), i.e. what
sampling costs without the cache. The ratio comes from the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from vla_lego.models.eo1 import sequential_position_ids
from vla_lego.models.registry import create_model, preset_config


def _median_ms(fns: dict[str, Callable[[], object]], repeats: int, device: str) -> dict[str, float]:
    """Median milliseconds of each callable; runs alternate between them so that load from the
    rest of the machine falls on all of them alike (their ratio is the result)."""

    def once(fn: Callable[[], object]) -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1e3

    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            times[k].append(once(fn))
    return {k: statistics.median(v) for k, v in times.items()}


def bench_preset(name: str, views: int, repeats: int, device: str) -> dict[str, float | str]:
    cfg = preset_config(name)
    torch.manual_seed(0)
    policy: Any = create_model(cfg).eval().to(device)
    rng = np.random.default_rng(0)
    s = cfg.image_size
    batch = {
        "images": rng.integers(0, 256, (1, views, s, s, 3), dtype=np.uint8),
        "state": rng.normal(size=(1, policy.layout.dim)),
        "instruction": ["pick up the red 2x4 brick and stack it on the blue one"],
    }
    inputs = policy.processor(batch).to(device)
    h, steps = cfg.action_horizon, cfg.num_denoise_steps
    noise = torch.randn(1, h, cfg.max_action_dim, device=device)
    t = torch.full((1,), 0.5, device=device)

    with torch.inference_mode():
        embeds, mask, pos = policy.embed_prefix(inputs)
        kv, _ = policy.prefix_forward(embeds, mask, pos)
        act_pos = sequential_position_ids(inputs.next_pos, h)

        def prefix() -> object:
            e, m, p = policy.embed_prefix(inputs)
            return policy.prefix_forward(e, m, p)

        ctx = policy.prepare_denoise(kv, inputs.prefix_valid, act_pos)

        def step() -> object:
            return policy.denoise_with(ctx, noise, t)

        def cached() -> object:
            return policy.sample_normalized(inputs, noise, decode_text=False, num_steps=steps)

        def recompute() -> object:  # the whole sequence, prefix included, at every step
            return policy.sample_normalized(
                inputs, noise, decode_text=False, num_steps=steps, use_cache=False
            )

        ms = _median_ms(
            {"prefix": prefix, "step": step, "cached": cached, "recompute": recompute},
            repeats,
            device,
        )
        row: dict[str, float | str] = {
            "preset": name,
            "params_M": policy.num_parameters() / 1e6,
            "prefix_tokens": float(inputs.input_ids.shape[1]),
            **{f"{k}_ms": v for k, v in ms.items()},
        }
    row["ratio"] = float(row["recompute_ms"]) / float(row["cached_ms"])
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["tiny", "base"])
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (CPU)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [bench_preset(p, args.views, args.repeats, args.device) for p in args.presets]
    print(
        f"\nEO-1 inference, batch 1, {args.views} views, H = action_horizon, "
        f"N = num_denoise_steps, device {args.device}, {args.threads} thread(s), "
        f"median of {args.repeats}\n"
    )
    print(
        "| preset | params (M) | prefix tokens | prefix (ms) | 1 denoise step (ms) "
        "| N steps, KV cache (ms) | N steps, recompute prefix (ms) | recompute / cached |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['preset']} | {r['params_M']:.2f} | {r['prefix_tokens']:.0f} | "
            f"{r['prefix_ms']:.1f} | {r['step_ms']:.1f} | {r['cached_ms']:.1f} | "
            f"{r['recompute_ms']:.1f} | {r['ratio']:.1f}x |"
        )


if __name__ == "__main__":
    main()
