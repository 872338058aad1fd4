"""Benchmark the MuJoCo LEGO sim: physics rate, render rate, demo generation rate, expert success.

    python bench/sim.py [--seeds 100] [--gen-episodes 3] [--tasks pick_place,stack,handover]
                        [--report bench/results/sim.md]

Prints a markdown table. Expert success is measured without rendering over ``--seeds`` seeds per
task (seeds 0..N-1) with a 95 % Wilson interval.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np

from vla_lego.eval.types import wilson_interval
from vla_lego.sim import LegoEnv, ScriptedExpert, SimConfig
from vla_lego.sim.generate import generate_dataset


def physics_rate(env: LegoEnv, steps: int = 20000) -> float:
    env.reset("pick_place", 0, render=False)
    t0 = time.perf_counter()
    env.physics_step(steps)
    return steps / (time.perf_counter() - t0)


def render_rate(env: LegoEnv, frames: int = 100) -> float:
    env.reset("pick_place", 0, render=False)
    env.render("head")  # warm-up: context creation
    t0 = time.perf_counter()
    for _ in range(frames):
        env.render("head")
    return frames / (time.perf_counter() - t0)


def expert_success(task: str, seeds: int) -> tuple[int, float, float]:
    """(successes, mean episode seconds of sim time, wall seconds per episode)."""
    env = LegoEnv()
    expert = ScriptedExpert(env)
    wins, durations = 0, []
    t0 = time.perf_counter()
    for seed in range(seeds):
        env.reset(task, seed, render=False)
        expert.reset()
        while not expert.finished:
            env.step(expert.act(), render=False)
        wins += env.success()
        durations.append(env.sim_time)
    wall = (time.perf_counter() - t0) / seeds
    return wins, float(np.mean(durations)), wall


def generation_rate(task: str, episodes: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        rep = generate_dataset(task, episodes, Path(tmp) / "ds", progress=False)
    return rep.episodes / rep.seconds * 60.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--gen-episodes", type=int, default=3)
    p.add_argument("--tasks", default="pick_place,stack,handover")
    p.add_argument("--report", default=None, help="also write the table to this file")
    args = p.parse_args(argv)
    cfg = SimConfig()
    env = LegoEnv(cfg)
    rows = [
        ("physics steps/s (8 PD arms, 3 bricks, grasp model)", f"{physics_rate(env):,.0f}"),
        (
            f"rendered frames/s, head camera {cfg.image_width}x{cfg.image_height}",
            f"{render_rate(env):.1f}",
        ),
        (
            "episodes generated/min (pick_place, rendered, written)",
            f"{generation_rate('pick_place', args.gen_episodes):.1f}",
        ),
    ]
    for task in args.tasks.split(","):
        wins, dur, wall = expert_success(task, args.seeds)
        lo, hi = wilson_interval(wins, args.seeds)
        rows.append(
            (
                f"expert success {task} (seeds 0..{args.seeds - 1})",
                f"{wins}/{args.seeds} = {wins / args.seeds:.0%} (95% CI {lo:.2f}-{hi:.2f}); "
                f"episode {dur:.1f} s sim, {wall:.2f} s wall unrendered",
            )
        )
    lines = ["| metric | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    lines.append(
        f"\ncontrol {cfg.fps:g} Hz, physics dt {cfg.physics_dt} s, CPU count "
        f"{os.cpu_count()}, MUJOCO_GL={os.environ.get('MUJOCO_GL')}"
    )
    text = "\n".join(lines)
    print(text)
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
