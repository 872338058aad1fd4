"""Benchmark the MuJoCo LEGO sim: physics rate, render rate, demo generation rate, expert success.

    python bench/sim.py [--seeds 100] [--gen-episodes 3] [--tasks all] [--presets easy,hard]
                        [--report bench/results/sim.md] [--reach]

Prints a markdown table. Expert success is measured without rendering over ``--seeds`` seeds per
task and preset (seeds 0..N-1) with a 95 % Wilson interval and the sim's failure categories.
``--reach`` prints the IK reach map of both arms that ``vla_lego.sim.tasks.reachable`` encodes.
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
from vla_lego.sim.config import PRESETS
from vla_lego.sim.generate import generate_dataset
from vla_lego.sim.tasks import TASKS, get_task


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


def expert_success(
    task: str, seeds: int, preset: str = "easy"
) -> tuple[int, float, float, dict[str, int]]:
    """(successes, mean episode seconds of sim time, wall seconds per episode, failures)."""
    env = LegoEnv(SimConfig.from_preset(preset))
    expert = ScriptedExpert(env)
    wins, durations = 0, []
    failures: dict[str, int] = {}
    t0 = time.perf_counter()
    for seed in range(seeds):
        env.reset(task, seed, render=False)
        expert.reset()
        while not expert.finished:
            env.step(expert.act(), render=False)
        outcome = env.outcome()
        wins += outcome == "success"
        if outcome != "success":
            failures[outcome] = failures.get(outcome, 0) + 1
        durations.append(env.sim_time)
    wall = (time.perf_counter() - t0) / seeds
    return wins, float(np.mean(durations)), wall, failures


def reach_map() -> str:
    """Which table points (grasp height) each arm's IK reaches, on a 4 cm grid."""
    from vla_lego.robot import H1_LAYOUT
    from vla_lego.sim.env import ARM_MOTOR_JOINTS, HOME_ARM_Q
    from vla_lego.sim.expert import _REACH_GUESS
    from vla_lego.sim.ik import ArmIK

    env = LegoEnv()
    z = env.cfg.table_height + env.brick_half_height("brick_0") + 0.04
    home = np.zeros(len(H1_LAYOUT.names))
    for j, name in enumerate(ARM_MOTOR_JOINTS):
        home[H1_LAYOUT.index(name)] = HOME_ARM_Q[j]
    ys = np.arange(-0.32, 0.33, 0.04)
    lines = ["y: " + " ".join(f"{y:+.2f}" for y in ys)]
    for side in ("right", "left"):
        ik = ArmIK(env.model, side)
        for x in (0.17, 0.19, 0.21, 0.24, 0.27, 0.29, 0.31):
            row = "".join(
                (
                    "  #  "
                    if ik.solve(
                        np.array([x, y, z]), home[ik.layout_idx] + _REACH_GUESS, None, 100
                    ).ok
                    else "  .  "
                )
                for y in ys
            )
            lines.append(f"{side:5s} x={x:.2f} {row}")
    return "\n".join(lines)


def generation_rate(task: str, episodes: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        rep = generate_dataset(task, episodes, Path(tmp) / "ds", progress=False)
    return rep.episodes / rep.seconds * 60.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--gen-episodes", type=int, default=3)
    p.add_argument("--tasks", default="all", help="comma-separated task names, or all")
    p.add_argument("--presets", default="easy,hard")
    p.add_argument("--report", default=None, help="also write the table to this file")
    p.add_argument("--reach", action="store_true", help="print the arms' reach map and exit")
    args = p.parse_args(argv)
    if args.reach:
        print(reach_map())
        return 0
    tasks = list(TASKS) if args.tasks == "all" else args.tasks.split(",")
    presets = args.presets.split(",")
    for t in tasks:
        get_task(t)  # unknown names fail before any work
    for pr in presets:
        if pr not in PRESETS:
            p.error(f"unknown preset {pr!r}; expected one of {sorted(PRESETS)}")
    cfg = SimConfig()
    env = LegoEnv(cfg)
    rows = [
        ("physics steps/s (8 PD arms, 6 bricks, grasp model)", f"{physics_rate(env):,.0f}"),
        (
            f"rendered frames/s, head camera {cfg.image_width}x{cfg.image_height}",
            f"{render_rate(env):.1f}",
        ),
        (
            "episodes generated/min (pick_place, rendered, written)",
            f"{generation_rate('pick_place', args.gen_episodes):.1f}",
        ),
    ]
    for task in tasks:
        for preset in presets:
            wins, dur, wall, failures = expert_success(task, args.seeds, preset)
            lo, hi = wilson_interval(wins, args.seeds)
            why = ", ".join(f"{k} {v}" for k, v in sorted(failures.items())) or "none"
            rows.append(
                (
                    f"expert success {task} / {preset} (seeds 0..{args.seeds - 1})",
                    f"{wins}/{args.seeds} = {wins / args.seeds:.0%} (95% CI {lo:.2f}-{hi:.2f}); "
                    f"failures: {why}; episode {dur:.1f} s sim, {wall:.2f} s wall unrendered",
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
