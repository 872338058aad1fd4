"""Closed-loop evaluation of a policy in the MuJoCo LEGO sim.

    python -m vla_lego.eval.sim --policy SPEC --task pick_place --episodes 20 --seed 0 \
        [--out reports/eval] [--control-hz 50] [--execute 5] [--gif-episodes 2]

``SPEC`` is anything :func:`vla_lego.inference.load_policy_from_spec` accepts (a checkpoint or
export directory, ``BACKEND:PATH``, ``python:module:attr``) or ``expert`` (the scripted expert,
which reads the sim state, wrapped as a policy).

The loop runs like the ROS node: a policy call every ``execute`` chunk actions (``execute *
chunk.dt`` seconds), its chunk handed to :class:`vla_lego.runtime.ChunkScheduler`, which is
sampled at ``control_hz``; each sample becomes the arm PD / hand targets for ``1 / control_hz``
seconds of physics. The sim clock stands still while the policy computes (inference latency is
not simulated). An episode ends at the first step where the task's success check holds, or at
the time limit. The report folder gets ``results.json``, ``summary.md``, ``success.png``
(success and completion time per episode), ``joints.png`` (commanded vs measured arm joints of
the first episode) and ``episodes.gif`` (head camera of the first episodes).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vla_lego.inference.types import ActionChunk, Observation, Policy
from vla_lego.robot import ACTION_DIM, H1_LAYOUT
from vla_lego.sim.config import SimConfig
from vla_lego.sim.env import LegoEnv
from vla_lego.sim.expert import ScriptedExpert
from vla_lego.sim.tasks import get_task


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % for z = 1.96)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


class ZeroPolicy:
    """Always commands the zero vector (arms at joint zero, hands closed): a 0 % baseline."""

    def __init__(self, horizon: int = 10, dt: float = 0.1) -> None:
        self.horizon, self.dt = horizon, dt

    def reset(self) -> None:
        return None

    def predict(self, observation: Observation) -> ActionChunk:
        return ActionChunk(
            np.zeros((self.horizon, ACTION_DIM), np.float32),
            self.dt,
            "",
            observation_time=observation.timestamp,
        )


def zero_policy() -> ZeroPolicy:
    """Factory for ``python:vla_lego.eval.sim:zero_policy``."""
    return ZeroPolicy()


@dataclass(frozen=True)
class EvalConfig:
    """Settings of a closed-loop evaluation.

    Args:
        task: Task name.
        episodes: Number of episodes (>= 1).
        seed: Seed of the first episode; episode i uses ``seed + i``.
        control_hz: Rate at which the scheduler is sampled and targets are applied.
        execute: Chunk actions executed before the policy is called again (>= 1).
        time_limit: Seconds per episode (default: ``LegoEnv.time_limit``, the task's own).
        gif_episodes: Episodes recorded into the GIF.
        gif_fps: Frame rate of the GIF.
    """

    task: str = "pick_place"
    episodes: int = 10
    seed: int = 0
    control_hz: float = 50.0
    execute: int = 5
    time_limit: float | None = None
    gif_episodes: int = 2
    gif_fps: float = 5.0

    def __post_init__(self) -> None:
        get_task(self.task)
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.execute < 1:
            raise ValueError(f"execute must be >= 1, got {self.execute}")
        if not self.control_hz > 0 or not self.gif_fps > 0:
            raise ValueError("control_hz and gif_fps must be > 0")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time_limit must be > 0, got {self.time_limit}")


@dataclass
class EpisodeResult:
    seed: int
    success: bool
    completion_time: float | None
    duration: float
    instruction: str
    policy_calls: int
    mean_inference_ms: float
    trajectory: dict[str, list] = field(default_factory=dict, repr=False)


def _make_policy(spec: str, env: LegoEnv) -> Policy:
    if spec == "expert":
        return ScriptedExpert(env)
    from vla_lego.inference import load_policy_from_spec

    return load_policy_from_spec(spec)


def _substeps(env: LegoEnv, control_hz: float) -> int:
    n = (1.0 / control_hz) / env.cfg.physics_dt
    if n < 1 or abs(n - round(n)) > 1e-6:
        raise ValueError(
            f"control period 1/{control_hz} s must be a multiple of physics_dt {env.cfg.physics_dt}"
        )
    return round(n)


def run_episode(
    env: LegoEnv, policy: Policy, cfg: EvalConfig, seed: int, frames: list | None = None
) -> EpisodeResult:
    """One closed-loop episode; appends head-camera frames to ``frames`` when given."""
    from vla_lego.runtime.scheduler import ChunkScheduler

    env.reset(cfg.task, seed, render=False)
    policy.reset()
    sched = ChunkScheduler(ACTION_DIM)
    sched.hold(env.state(), env.sim_time)
    n_sub = _substeps(env, cfg.control_hz)
    limit = cfg.time_limit or env.time_limit
    next_call, calls, infer_ms, done_at = 0.0, 0, 0.0, None
    traj: dict[str, list] = {"t": [], "command": [], "state": []}
    next_frame = 0.0
    while env.sim_time < limit - 1e-9:
        now = env.sim_time
        if now >= next_call - 1e-9:
            obs = env.observation()
            t0 = time.perf_counter()
            chunk = policy.predict(obs)
            infer_ms += (time.perf_counter() - t0) * 1e3
            calls += 1
            sched.add_chunk(chunk, now)
            next_call = now + cfg.execute * chunk.dt
        target = H1_LAYOUT.clip(sched.sample(now).position)
        env.command(target)
        env.physics_step(n_sub)
        traj["t"].append(env.sim_time)
        traj["command"].append(target.tolist())
        traj["state"].append(env.state().tolist())
        if frames is not None and env.sim_time >= next_frame - 1e-9:
            frames.append(env.render("head"))
            next_frame += 1.0 / cfg.gif_fps
        if env.success():
            done_at = env.sim_time
            break
    return EpisodeResult(
        seed,
        done_at is not None,
        done_at,
        env.sim_time,
        env.instance.instruction,
        calls,
        infer_ms / max(calls, 1),
        traj,
    )


def evaluate(
    policy_spec: str | Policy,
    cfg: EvalConfig,
    out: str | Path | None = None,
    sim: SimConfig | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate and (when ``out`` is given) write the report folder. Returns the summary."""
    env = LegoEnv(sim or SimConfig())
    policy = _make_policy(policy_spec, env) if isinstance(policy_spec, str) else policy_spec
    results: list[EpisodeResult] = []
    gif_frames: list[np.ndarray] = []
    from tqdm import tqdm

    for i in tqdm(range(cfg.episodes), desc=f"eval {cfg.task}", disable=not progress):
        frames = gif_frames if (out is not None and i < cfg.gif_episodes) else None
        results.append(run_episode(env, policy, cfg, cfg.seed + i, frames))
    env.close()
    summary = summarise(results, cfg, str(policy_spec))
    if out is not None:
        from vla_lego.eval.report import write_report

        write_report(Path(out), summary, results, gif_frames, cfg.gif_fps)
    return summary


def summarise(results: list[EpisodeResult], cfg: EvalConfig, policy: str) -> dict[str, Any]:
    n = len(results)
    k = sum(r.success for r in results)
    times = [r.completion_time for r in results if r.completion_time is not None]
    lo, hi = wilson_interval(k, n)
    return {
        "policy": policy,
        "task": cfg.task,
        "episodes": n,
        "successes": k,
        "success_rate": k / n,
        "success_ci95": [lo, hi],
        "mean_completion_time": float(np.mean(times)) if times else None,
        "mean_inference_ms": float(np.mean([r.mean_inference_ms for r in results])),
        "config": asdict(cfg),
        "per_episode": [
            {kk: v for kk, v in asdict(r).items() if kk != "trajectory"} for r in results
        ],
    }


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m vla_lego.eval.sim", description=__doc__.split("\n")[0]
    )
    p.add_argument("--policy", required=True, help="policy spec, or 'expert'")
    p.add_argument("--task", default="pick_place")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--out", default=None, help="report folder (default reports/eval_<task>)")
    p.add_argument("--control-hz", type=float, default=50.0)
    p.add_argument("--execute", type=int, default=5, help="chunk actions run per policy call")
    p.add_argument("--time-limit", type=float, default=None)
    p.add_argument("--gif-episodes", type=int, default=2)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--cameras", default=None, help="comma-separated camera views")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        cfg = EvalConfig(
            task=args.task,
            episodes=args.episodes,
            seed=args.seed,
            control_hz=args.control_hz,
            execute=args.execute,
            time_limit=args.time_limit,
            gif_episodes=args.gif_episodes,
        )
        over: dict[str, Any] = {}
        if args.image_size is not None:
            over["image_height"] = over["image_width"] = args.image_size
        if args.cameras:
            over["cameras"] = tuple(args.cameras.split(","))
        sim = SimConfig().with_overrides(**over)
        out = Path(args.out or os.path.join("reports", f"eval_{args.task}"))
        summary = evaluate(args.policy, cfg, out, sim)
    except (ValueError, FileNotFoundError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    lo, hi = summary["success_ci95"]
    mct = summary["mean_completion_time"]
    print(
        f"{summary['task']}: success {summary['successes']}/{summary['episodes']} "
        f"= {summary['success_rate']:.2f} (95% CI {lo:.2f}-{hi:.2f}), mean completion time "
        f"{'n/a' if mct is None else f'{mct:.2f} s'}; report in {out}"
    )
    print(json.dumps({k: v for k, v in summary.items() if k != "per_episode"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "EpisodeResult",
    "EvalConfig",
    "ZeroPolicy",
    "evaluate",
    "main",
    "run_episode",
    "summarise",
    "wilson_interval",
    "zero_policy",
]
