"""Closed-loop evaluation of a policy in the MuJoCo LEGO sim, through the robot's controller.

    python -m vla_lego.eval.sim --policy SPEC --task pick_place --episodes 20 --seed 0 \
        [--preset easy] [--max-seed N] [--params FILE ...] [--param NAME=VALUE ...] \
        [--out reports/eval] [--record-bag DIR]
    python -m vla_lego.eval.sim --policy SPEC --task pick_place,stack --preset easy,hard ...

Several tasks or presets evaluate every task x preset (:func:`evaluate_matrix`): one report folder
per pair under ``--out`` (``<task>_<preset>``) and ``matrix.json`` with one record per pair.
``--max-seed`` bounds the seeds (``[seed, max_seed)``, e.g. the held-out ones): asking for more
episodes than that range holds is refused before anything runs.

``SPEC`` is anything :func:`vla_lego.inference.load_policy_from_spec` accepts (a checkpoint or
export directory, ``BACKEND:PATH``, ``python:module:attr``) or ``expert`` (the scripted expert,
which reads the sim state, wrapped as a policy).

Every episode runs the policy node's :class:`~vla_lego.runtime.PolicyController`, built by
:func:`vla_lego.runtime.build.build_controller` from the node's settings (the deployed defaults of
:mod:`vla_lego.runtime.policy_params`, then ``--params`` files, then ``--param`` overrides): the
same observation sync, chunk blending, safety filter and ``min_inference_period`` as on the robot.
Time is the simulator's: at each control tick (``control_rate``) the joint states (50 Hz) and
camera frames (the sim's ``fps``, as h1_sim_node publishes them) due by then enter the
controller's sync, the tick's command goes to the arm PD / hand targets for one control period of
physics, and then an inference starts when one is allowed. The sim clock stands still while the
policy computes, so inference latency is not simulated (replay-eval's ``simulated`` timing
studies it). How this path, bag replay and the ROS graph differ: docs/ARCHITECTURE.md.

An episode ends at the first tick where the task's success check holds, or at the time limit.
Each episode records its ``outcome`` (``success`` or the failure category the sim counts,
``LegoEnv.outcome``), whether the first brick grasped was a named one (``first_grasp_ok``) and,
for policies that decode subtask text, ``subtask_accuracy``: the share of control ticks (from the
first chunk on) at which the executing chunk's text equals the sim's true ``env.subtask()``.
The report folder gets ``results.json``, ``summary.md``, ``success.png``, ``joints.png`` (first
episode) and ``episodes.gif``; ``--record-bag`` writes the first episode as a rosbag2 (MCAP) bag
with the topics the ROS graph has, which ``vla-replay-eval`` replays to the same commands.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import yaml
from tqdm import tqdm

from vla_lego.bags.episode import EpisodeBag
from vla_lego.eval.report import write_report
from vla_lego.eval.types import EpisodeResult, EvalConfig, check_seed_range, wilson_interval
from vla_lego.inference.types import ActionChunk, Observation, Policy, supports_guidance
from vla_lego.robot import ACTION_DIM, H1_LAYOUT
from vla_lego.runtime.build import build_controller, load_policy, node_values
from vla_lego.runtime.controller import ChunkEvent, PolicyController
from vla_lego.runtime.safety import SafeCommand
from vla_lego.sim.config import PRESETS, SimConfig
from vla_lego.sim.env import LegoEnv
from vla_lego.sim.expert import ScriptedExpert
from vla_lego.sim.tasks import FAILURE_CATEGORIES, get_task


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


class EpisodeRecorder(Protocol):
    """Receives what the ROS graph would carry during a direct episode (sim seconds)."""

    def instruction(self, t: float, text: str) -> None: ...

    def frame(self, camera: str, t: float, rgb: np.ndarray) -> None: ...

    def joint_state(self, t: float, position: np.ndarray) -> None: ...

    def chunk(self, t: float, event: ChunkEvent, inference_time: float = 0.0) -> None: ...

    def command(self, t: float, command: SafeCommand) -> None: ...


class _Gate:
    """Holds a computed chunk back until the simulated inference delay has passed.

    ``predict`` runs at once (the sim clock stands still), then, unless ``open``, waits for
    ``release``: the controller accepts the chunk only when the main loop lets it go, at the first
    control tick at or after ``start + delay``, while physics and the control loop go on with the
    previous chunk.
    """

    def __init__(self, inner: Policy) -> None:
        self.inner = inner
        self.open = True
        self.computed, self.release = threading.Event(), threading.Event()

    @property
    def supports_guidance(self) -> bool:
        return supports_guidance(self.inner)

    def reset(self) -> None:
        self.inner.reset()

    def predict(self, observation: Observation) -> ActionChunk:
        try:
            return self.inner.predict(observation)
        finally:
            self.computed.set()
            if not self.open:
                self.release.wait()


class _TimedPolicy:
    """Counts ``predict`` calls and their wall-clock time (the sim clock does not move)."""

    def __init__(self, inner: Policy) -> None:
        self.inner, self.calls, self.seconds = inner, 0, 0.0

    @property
    def supports_guidance(self) -> bool:
        return supports_guidance(self.inner)

    def reset(self) -> None:
        self.inner.reset()

    def predict(self, observation: Observation) -> ActionChunk:
        t0 = time.perf_counter()
        try:
            return self.inner.predict(observation)
        finally:
            self.calls += 1
            self.seconds += time.perf_counter() - t0


def _make_policy(spec: str, env: LegoEnv, values: Mapping[str, Any]) -> Policy:
    if spec == "expert":
        return ScriptedExpert(env)
    # As the node loads it: its device, seed, backend options and text decoding.
    return load_policy({**values, "policy": spec})


def _substeps(env: LegoEnv, period: float) -> int:
    n = period / env.cfg.physics_dt
    if n < 1 or abs(n - round(n)) > 1e-6:
        raise ValueError(
            f"control period {period} s must be a multiple of physics_dt {env.cfg.physics_dt}"
        )
    return round(n)


def run_episode(
    env: LegoEnv,
    policy: Policy,
    cfg: EvalConfig,
    seed: int,
    values: Mapping[str, Any],
    frames: list[np.ndarray] | None = None,
    recorder: EpisodeRecorder | None = None,
) -> EpisodeResult:
    """One closed-loop episode through the node's controller (see the module docstring).

    Args:
        env: The sim.
        policy: The policy (reset by the controller when the task is set).
        cfg: Evaluation settings.
        seed: Scene seed.
        values: The policy node's settings (:func:`vla_lego.runtime.build.node_values`).
        frames: Head-camera frames for the GIF are appended here when given.
        recorder: Gets every input, chunk and command, e.g. to write a bag.
    """
    env.reset(cfg.task, seed, render=False)
    timed = _TimedPolicy(policy)
    gate = _Gate(timed)
    gate.open = cfg.inference_delay == 0.0
    chunks: list[ChunkEvent] = []
    controller = build_controller(
        values,
        gate,
        lambda: env.sim_time,
        layout=H1_LAYOUT,
        cameras=env.cfg.cameras,
        on_chunk=chunks.append,
    )
    period = 1.0 / float(values["control_rate"])
    n_sub = _substeps(env, period)
    camera_period = 1.0 / (cfg.camera_rate or env.cfg.fps)
    joint_period = 1.0 / cfg.joint_state_rate
    min_period = float(values["min_inference_period"])
    limit = cfg.time_limit or env.time_limit
    t0 = env.sim_time
    instruction = env.instance.instruction
    controller.set_instruction(instruction)
    if recorder is not None:
        recorder.instruction(t0, instruction)
    n_frames = n_joints = n_gif = 0
    next_inference, done_at = -math.inf, None
    inflight: tuple[threading.Thread, float] | None = None  # running inference, usable from
    traj: dict[str, list[Any]] = {"t": [], "command": [], "target": [], "state": []}
    joins: list[int] = []
    tick = 0
    text = {"any": False, "ticks": 0, "equal": 0}  # subtask text against the sim's phase

    def deliver(now: float) -> None:
        if recorder is not None:
            for event in chunks:
                recorder.chunk(now, event, cfg.inference_delay)
        if chunks:
            joins.append(tick)
            text["any"] = text["any"] or any(e.chunk.subtask_text for e in chunks)
        chunks.clear()

    while env.sim_time < limit - 1e-9:
        now = env.sim_time
        elapsed = tick * period + 1e-9  # by tick count: sim_time accumulates rounding
        if inflight is not None and now >= inflight[1] - 1e-9:
            # Before this tick's inputs and command, as replay orders a chunk's arrival.
            gate.release.set()
            inflight[0].join()
            inflight = None
            deliver(now)
        if elapsed >= n_joints * joint_period:
            q = env.state()
            controller.sync.add_joint_state(H1_LAYOUT.names, q.tolist(), now, now)
            if recorder is not None:
                recorder.joint_state(now, q)
            n_joints = math.floor(elapsed / joint_period) + 1
        if elapsed >= n_frames * camera_period:
            for cam in env.cfg.cameras:
                rgb = env.render(cam)
                controller.sync.add_image(cam, rgb, now, now)
                if recorder is not None:
                    recorder.frame(cam, now, rgb)
            n_frames = math.floor(elapsed / camera_period) + 1
        out = controller.tick(now)
        if joins:  # a chunk executes: its decoded text against the sim's true phase now
            text["ticks"] += 1
            text["equal"] += controller.status().subtask_text == env.subtask()
        if out.command is not None:
            env.command(out.command.position)
            if recorder is not None:
                recorder.command(now, out.command)
        # After the tick, as the node's inference thread wakes after its control timer.
        if inflight is None and now >= next_inference - 1e-9:
            if gate.open:
                if controller.infer_once(timeout=0.0):
                    next_inference = now + min_period
                    deliver(now)
            else:
                thread = _start_delayed(controller, gate)
                if thread is not None:
                    inflight = (thread, now + cfg.inference_delay)
                    next_inference = now + min_period
        env.physics_step(n_sub)
        tick += 1
        traj["t"].append(env.sim_time)
        held = env.state()
        traj["command"].append((out.command.position if out.command is not None else held).tolist())
        traj["target"].append((out.planned if out.planned is not None else held).tolist())
        traj["state"].append(env.state().tolist())
        if frames is not None and env.sim_time - t0 >= n_gif / cfg.gif_fps - 1e-9:
            frames.append(env.render("head"))
            n_gif += 1
        if env.success():
            done_at = env.sim_time
            break
    if inflight is not None:  # the episode ended while a chunk was in flight
        gate.release.set()
        inflight[0].join()
    success = done_at is not None
    accuracy = text["equal"] / text["ticks"] if text["any"] and text["ticks"] else None
    return EpisodeResult(
        seed,
        success,
        done_at,
        env.sim_time,
        instruction,
        timed.calls,
        1e3 * timed.seconds / max(timed.calls, 1),
        controller.safety.clamp_count,
        _largest_join_jump(traj["target"], joins, period),
        outcome="success" if success else env.outcome(),
        first_grasp_ok=env.first_grasp_ok(),
        subtask_accuracy=accuracy,
        trajectory=traj,
    )


def _start_delayed(controller: PolicyController, gate: _Gate) -> threading.Thread | None:
    """``infer_once`` in a thread, returned once its ``predict`` has run (None: nothing ran)."""
    gate.computed.clear()
    gate.release.clear()
    thread = threading.Thread(target=controller.infer_once, args=(0.0,), daemon=True)
    thread.start()
    while not gate.computed.wait(0.001):
        if not thread.is_alive():  # no fresh observation: infer_once returned without predict
            thread.join()
            return None
    return thread


def _largest_join_jump(targets: list[list[float]], joins: list[int], period: float) -> float:
    """Largest change of target joint velocity (rad/s or 1/s) across a chunk join, in the planned
    stream (target shaping and the safety filter would cap every step at the acceleration limit,
    so after them it would say nothing)."""
    if len(targets) < 3:
        return 0.0
    v = np.diff(np.asarray(targets, np.float64), axis=0) / period
    jumps = [float(np.max(np.abs(v[i] - v[i - 1]))) for i in joins if 1 <= i < len(v)]
    return max(jumps, default=0.0)


def evaluate(
    policy_spec: str | Policy,
    cfg: EvalConfig,
    out: str | Path | None = None,
    sim: SimConfig | None = None,
    progress: bool = True,
    values: Mapping[str, Any] | None = None,
    record_bag: str | Path | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Evaluate and (when ``out`` is given) write the report folder. Returns the summary.

    Args:
        policy_spec: A policy spec (or ``expert``), or a policy.
        cfg: Evaluation settings.
        out: Report folder.
        sim: Sim settings (default ``SimConfig()``); ``cfg.preset``'s randomisation values
            (:data:`~vla_lego.sim.config.PRESETS`) replace its own.
        progress: Show a progress bar.
        values: The node settings (default: the deployed defaults).
        record_bag: Write the first episode to this bag directory (MCAP).
        name: The policy's name in the summary (default ``str(policy_spec)``).
    """
    get_task(cfg.task)  # an unknown task fails before the sim is built
    values = dict(values) if values is not None else node_values()
    _check_delay(cfg, values)
    env = LegoEnv(preset_config(sim, cfg.preset))
    policy = _make_policy(policy_spec, env, values) if isinstance(policy_spec, str) else policy_spec
    results: list[EpisodeResult] = []
    gif_frames: list[np.ndarray] = []
    try:
        for i in tqdm(range(cfg.episodes), desc=f"eval {cfg.task}", disable=not progress):
            frames = gif_frames if (out is not None and i < cfg.gif_episodes) else None
            if i == 0 and record_bag is not None:
                with EpisodeBag(record_bag, env.cfg.cameras, values) as bag:
                    results.append(run_episode(env, policy, cfg, cfg.seed, values, frames, bag))
            else:
                results.append(run_episode(env, policy, cfg, cfg.seed + i, values, frames))
    finally:
        env.close()
    summary = summarise(results, cfg, name or str(policy_spec), values)
    # The randomisation the scene ran with (the preset's values, as the env applied them).
    summary["scene"] = {k: getattr(env.cfg, k) for k in PRESETS[cfg.preset]}
    if out is not None:
        write_report(Path(out), summary, results, gif_frames, cfg.gif_fps)
    return summary


def preset_config(sim: SimConfig | None, preset: str) -> SimConfig:
    """``sim`` (default ``SimConfig()``) with the randomisation values of ``preset``.

    Raises:
        ValueError: unknown preset (the known ones are named).
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    return (sim or SimConfig()).with_overrides(**PRESETS[preset])


def _check_delay(cfg: EvalConfig, values: Mapping[str, Any]) -> None:
    if cfg.inference_delay >= values["max_inference_latency"]:
        raise ValueError(
            f"inference_delay {cfg.inference_delay} s is not below the node's "
            f"max_inference_latency {values['max_inference_latency']} s: every chunk would be "
            "dropped and the robot would only hold"
        )


MATRIX_KEYS = (
    "task",
    "preset",
    "evaluator",
    "episodes",
    "successes",
    "failures",
    "success_ci95",
    "mean_completion_time",
    "subtask_accuracy",
    "first_grasp_ok_rate",
)


def evaluate_matrix(
    policy_spec: str | Policy,
    tasks: Sequence[str],
    presets: Sequence[str],
    episodes: int,
    seed: int,
    evaluator: str = "direct",
    max_seed: int | None = None,
    config: EvalConfig | None = None,
    out: str | Path | None = None,
    sim: SimConfig | None = None,
    values: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Evaluate every task x preset; one record per pair (keys :data:`MATRIX_KEYS`).

    Every pair runs ``episodes`` episodes on the seeds ``seed .. seed + episodes - 1``. All
    arguments are checked before the first episode runs.

    Args:
        policy_spec: A policy spec (or ``expert``: a scripted expert per pair), or a policy. A
            spec is loaded once and used for every pair.
        tasks: Task names.
        presets: Preset names of :data:`~vla_lego.sim.config.PRESETS`.
        episodes: Episodes per pair.
        seed: First seed.
        evaluator: Name stored in every record (``direct``, ``expert``, ``direct_no_text``...).
        max_seed: End (exclusive) of the seeds the episodes may use (held-out range).
        config: Other evaluation settings (its task, preset, episodes, seed and max_seed are
            replaced); default ``EvalConfig()``'s.
        out: Report folder: ``<task>_<preset>/`` per pair and ``matrix.json``.
        sim: Sim settings (the preset's randomisation values replace its own).
        values: The node settings (default: the deployed defaults).
        progress: Show progress bars.

    Raises:
        ValueError: no task or preset, an unknown one, ``episodes`` < 1, or more episodes than
            the seed range ``[seed, max_seed)`` holds.
    """
    tasks, presets = list(dict.fromkeys(tasks)), list(dict.fromkeys(presets))
    if not tasks or not presets:
        raise ValueError(f"need at least one task and one preset, got {tasks} and {presets}")
    check_seed_range(episodes, seed, max_seed)
    for task in tasks:
        get_task(task)
    base = config or EvalConfig()
    cells = [
        (t, p, replace(base, task=t, preset=p, episodes=episodes, seed=seed, max_seed=max_seed))
        for t in tasks
        for p in presets
    ]
    values = dict(values) if values is not None else node_values()
    _check_delay(base, values)
    policy: str | Policy = policy_spec
    if isinstance(policy_spec, str) and policy_spec != "expert":
        policy = load_policy({**values, "policy": policy_spec})
    records = []
    for task, preset, cfg in cells:
        where = Path(out) / f"{task}_{preset}" if out is not None else None
        summary = evaluate(policy, cfg, where, sim, progress, values, name=str(policy_spec))
        records.append(matrix_record(summary, evaluator))
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "matrix.json").write_text(json.dumps(records, indent=2))
    return records


def matrix_record(summary: Mapping[str, Any], evaluator: str) -> dict[str, Any]:
    """The :data:`MATRIX_KEYS` of an :func:`evaluate` summary, with ``evaluator`` set."""
    return {**{k: summary[k] for k in MATRIX_KEYS if k != "evaluator"}, "evaluator": evaluator}


def summarise(
    results: list[EpisodeResult],
    cfg: EvalConfig,
    policy: str,
    values: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Success rate with its Wilson 95 % interval, times, and the settings that produced them."""
    n = len(results)
    k = sum(r.success for r in results)
    times = [r.completion_time for r in results if r.completion_time is not None]
    lo, hi = wilson_interval(k, n)
    failures = dict.fromkeys(FAILURE_CATEGORIES, 0)
    for r in results:
        if not r.success:
            failures[r.outcome] = failures.get(r.outcome, 0) + 1
    accuracy = [r.subtask_accuracy for r in results if r.subtask_accuracy is not None]
    grasps = [r.first_grasp_ok for r in results if r.first_grasp_ok is not None]
    return {
        "policy": policy,
        "task": cfg.task,
        "preset": cfg.preset,
        "episodes": n,
        "successes": k,
        "success_rate": k / n,
        "success_ci95": [lo, hi],
        "failures": failures,
        "mean_completion_time": float(np.mean(times)) if times else None,
        # Mean over the episodes whose policy decoded subtask text (None: no such episode).
        "subtask_accuracy": float(np.mean(accuracy)) if accuracy else None,
        # Share of the episodes that grasped something whose first brick was a named one.
        "first_grasp_ok_rate": float(np.mean(grasps)) if grasps else None,
        "mean_inference_ms": float(np.mean([r.mean_inference_ms for r in results])),
        "config": asdict(cfg),
        "node_settings": {
            k: list(v) if isinstance(v, tuple) else v for k, v in (values or {}).items()
        },
        "safety_clamps": sum(r.safety_clamps for r in results),
        # Share of joint-ticks the safety filter changed, and the worst velocity step at a join.
        "safety_clamp_share": sum(r.safety_clamps for r in results)
        / max(1, sum(len(r.trajectory.get("t", [])) for r in results) * ACTION_DIM),
        "max_join_jump": max((r.join_jump for r in results), default=0.0),
        "per_episode": [
            {kk: v for kk, v in asdict(r).items() if kk != "trajectory"} for r in results
        ],
    }


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m vla_lego.eval.sim", description=__doc__.split("\n")[0]
    )
    p.add_argument("--policy", required=True, help="policy spec, or 'expert'")
    p.add_argument("--task", default="pick_place", help="task name(s), comma-separated")
    p.add_argument("--preset", default="easy", help="randomisation preset(s), comma-separated")
    p.add_argument("--episodes", type=int, default=10, help="episodes per task and preset")
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument(
        "--max-seed",
        type=int,
        default=None,
        help="end (exclusive) of the seeds episodes may use; more episodes: an error",
    )
    p.add_argument("--evaluator", default="direct", help="evaluator name in matrix.json")
    p.add_argument(
        "--out",
        default=None,
        help="report folder (default reports/eval_<task>, reports/eval_matrix for several)",
    )
    p.add_argument(
        "--params",
        action="append",
        default=[],
        metavar="FILE",
        help="policy node parameter file(s), applied in order (default: the deployed defaults)",
    )
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one node setting (YAML value), after the files, e.g. min_inference_period=0.2",
    )
    p.add_argument("--camera-rate", type=float, default=None, help="Hz (default: the sim's fps)")
    p.add_argument(
        "--inference-delay",
        type=float,
        default=0.0,
        metavar="S",
        help="simulated seconds until a chunk can be used (the previous one runs meanwhile)",
    )
    p.add_argument("--time-limit", type=float, default=None)
    p.add_argument("--gif-episodes", type=int, default=2)
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--cameras", default=None, help="comma-separated camera views")
    p.add_argument("--record-bag", default=None, help="write the first episode to this MCAP bag")
    return p.parse_args(argv)


def _overrides(items: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param expects NAME=VALUE, got {item!r}")
        out[name.strip()] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    tasks = [t for t in args.task.split(",") if t]
    presets = [p for p in args.preset.split(",") if p]
    try:
        for task in tasks:
            get_task(task)
        cfg = EvalConfig(
            task=tasks[0] if tasks else "",
            episodes=args.episodes,
            seed=args.seed,
            camera_rate=args.camera_rate,
            inference_delay=args.inference_delay,
            time_limit=args.time_limit,
            gif_episodes=args.gif_episodes,
            preset=presets[0] if presets else "",
            max_seed=args.max_seed,
        )
        for preset in presets:
            preset_config(None, preset)
        values = node_values(args.params, _overrides(args.param))
        over: dict[str, Any] = {}
        if args.image_size is not None:
            over["image_height"] = over["image_width"] = args.image_size
        if args.cameras:
            over["cameras"] = tuple(args.cameras.split(","))
        sim = SimConfig().with_overrides(**over)
        if len(tasks) > 1 or len(presets) > 1:
            out = Path(args.out or os.path.join("reports", "eval_matrix"))
            records = evaluate_matrix(
                args.policy,
                tasks,
                presets,
                args.episodes,
                args.seed,
                args.evaluator,
                args.max_seed,
                cfg,
                out,
                sim,
                values,
            )
            for r in records:
                lo, hi = r["success_ci95"]
                print(
                    f"{r['task']} @ {r['preset']}: success {r['successes']}/{r['episodes']} "
                    f"(95% CI {lo:.2f}-{hi:.2f}); failures "
                    f"{ {k: v for k, v in r['failures'].items() if v} }"
                )
            print(f"report in {out} (matrix.json)")
            return 0
        out = Path(args.out or os.path.join("reports", f"eval_{args.task}"))
        summary = evaluate(args.policy, cfg, out, sim, values=values, record_bag=args.record_bag)
    except (ValueError, FileNotFoundError, FileExistsError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    lo, hi = summary["success_ci95"]
    mct = summary["mean_completion_time"]
    print(
        f"{summary['task']} @ {summary['preset']}: success "
        f"{summary['successes']}/{summary['episodes']} = {summary['success_rate']:.2f} "
        f"(95% CI {lo:.2f}-{hi:.2f}), mean completion time "
        f"{'n/a' if mct is None else f'{mct:.2f} s'}; report in {out}"
    )
    print(json.dumps({k: v for k, v in summary.items() if k != "per_episode"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "MATRIX_KEYS",
    "EpisodeRecorder",
    "EpisodeResult",
    "EvalConfig",
    "ZeroPolicy",
    "evaluate",
    "evaluate_matrix",
    "main",
    "matrix_record",
    "preset_config",
    "run_episode",
    "summarise",
    "wilson_interval",
    "zero_policy",
]
