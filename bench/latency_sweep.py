"""Success against inference latency: the node's controller in the sim with a simulated delay.

    python bench/latency_sweep.py [--policy SPEC] [--task pick_place] [--seeds 20] \
        [--delays 0 0.1 0.2 0.3] [--modes none crossfade ensemble rtc] [--out docs/latency.md]

Each cell runs :func:`vla_lego.eval.sim.evaluate` (the policy node's ``PolicyController`` with the
deployed settings, ``blend`` set to the mode) on the held-out seeds ``--seed`` ..; a chunk
computed at time t becomes usable at t + delay while physics and the 50 Hz loop go on with the
previous chunk (deterministic: the sim clock stands still during ``predict``). Per cell: success
with its Wilson 95 % interval, mean completion time, the largest commanded-velocity step at a
chunk join, and the share of joint-ticks the safety filter changed. Prints a markdown table and
writes it with the command, commit and machine to ``--out`` and the numbers to ``--out`` .json.

``--policy`` defaults to the demo's export (``artifacts/demo/export/export``, from ``make demo``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vla_lego.eval.sim import EvalConfig, evaluate
from vla_lego.runtime.build import node_values
from vla_lego.sim import SimConfig

REPO = Path(__file__).resolve().parent.parent
DEFAULT_POLICY = REPO / "artifacts" / "demo" / "export" / "export"


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return out.stdout.strip() + (" (uncommitted changes)" if dirty else "")
    except OSError:
        return "unknown"


def sweep(
    policy: str,
    task: str,
    seed: int,
    seeds: int,
    delays: list[float],
    modes: list[str],
    progress: bool = False,
) -> list[dict[str, Any]]:
    """One evaluation per (mode, delay); returns a row per cell."""
    rows = []
    for mode in modes:
        values = node_values(overrides={"blend": mode})
        for delay in delays:
            cfg = EvalConfig(
                task=task, episodes=seeds, seed=seed, inference_delay=delay, gif_episodes=0
            )
            t0 = time.perf_counter()
            s = evaluate(policy, cfg, sim=SimConfig(), progress=progress, values=values)
            lo, hi = s["success_ci95"]
            rows.append(
                {
                    "mode": mode,
                    "delay_s": delay,
                    "successes": s["successes"],
                    "episodes": s["episodes"],
                    "success_rate": s["success_rate"],
                    "ci95": [lo, hi],
                    "mean_completion_s": s["mean_completion_time"],
                    "max_join_jump": s["max_join_jump"],
                    "safety_clamp_share": s["safety_clamp_share"],
                    "wall_s": round(time.perf_counter() - t0, 1),
                }
            )
            if progress:
                print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of the sweep."""
    lines = [
        "| blend | extra delay | success (95 % CI) | mean completion | largest velocity step "
        "at a join | joint-ticks changed by the safety filter |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["ci95"]
        mct = r["mean_completion_s"]
        lines.append(
            f"| {r['mode']} | {1000 * r['delay_s']:.0f} ms | {r['successes']}/{r['episodes']} = "
            f"{100 * r['success_rate']:.0f} % ({100 * lo:.0f}–{100 * hi:.0f} %) | "
            f"{'n/a' if mct is None else f'{mct:.2f} s'} | {r['max_join_jump']:.2f} /s | "
            f"{100 * r['safety_clamp_share']:.1f} % |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--policy", default=None, help=f"policy spec (default onnxruntime:{DEFAULT_POLICY})"
    )
    p.add_argument("--task", default="pick_place")
    p.add_argument("--seed", type=int, default=100000, help="first held-out seed")
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--delays", type=float, nargs="+", default=[0.0, 0.1, 0.2, 0.3])
    p.add_argument("--modes", nargs="+", default=["none", "crossfade", "ensemble", "rtc"])
    p.add_argument("--out", default=None, help="markdown file to write (and .json beside it)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    policy = args.policy
    if policy is None:
        if not DEFAULT_POLICY.is_dir():
            print(f"no --policy and no {DEFAULT_POLICY}: run `make demo` first", file=sys.stderr)
            return 2
        policy = f"onnxruntime:{DEFAULT_POLICY}"
    try:
        rows = sweep(
            policy, args.task, args.seed, args.seeds, args.delays, args.modes, args.verbose
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = table(rows)
    print(text)
    if args.out:
        out = Path(args.out)
        cmd = "python bench/latency_sweep.py " + " ".join(
            argv if argv is not None else sys.argv[1:]
        )
        head = (
            f"# Success against inference latency ({args.task})\n\n"
            f"Command: `{cmd}`  \ncommit {_commit()}, {datetime.now(UTC):%Y-%m-%d}, "
            f"{platform.machine()} CPU ×{os.cpu_count()}, policy `{policy}`, "
            f"seeds {args.seed}–{args.seed + args.seeds - 1}.\n\n"
        )
        out.write_text(head + text + "\n", encoding="utf-8")
        meta = {"policy": policy, "task": args.task, "seed": args.seed, "commit": _commit()}
        out.with_suffix(".json").write_text(
            json.dumps({**meta, "rows": rows}, indent=2), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
