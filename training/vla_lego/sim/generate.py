"""Generate scripted-expert demonstrations into a LeRobot v3.0 dataset.

Command line (``key=value`` arguments)::

    python -m vla_lego.sim.generate task=pick_place episodes=50 out=/data/pick_place [seed=0]
        [preset=easy] [fps=10] [image_size=128 | image_height=.. image_width=..]
        [cameras=head,right_wrist] [overwrite=false] [max_attempts=2*episodes] [video=false]
        [codec=libsvtav1]

``task=pick_place,stack`` writes a mixed dataset: stored episode ``i`` is of task
``tasks[i % len(tasks)]`` (round-robin; a failed attempt is retried with the same task and the
next seed, so a seed always gives the same dataset). Each episode's metadata row holds its
``task_name`` (read back with ``LegoDataset.episode_extra``), ``seed`` and ``success``.
``preset`` names a randomisation preset of :data:`vla_lego.sim.config.PRESETS` (``easy``: the
default scene, ``hard``: wider position / yaw noise and distractor bricks). Unknown tasks or
presets are refused before anything is simulated or written.

``video=true`` stores the camera frames as mp4 video the way LeRobot does (AV1 by default,
``codec=libx264`` etc. for another FFmpeg encoder) instead of PNG images inside the parquet.

From Python: :func:`generate_dataset`. Each episode is recorded at ``fps`` from the reset to
the end of the expert's plan: the frame's images and state are observed *before* the frame's
action is applied. Only successful episodes are kept (failures are counted and the next seed is
tried), so every stored demonstration ends with the task done.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vla_lego.data.lerobot import LeRobotV3Writer
from vla_lego.data.video import DEFAULT_CODEC
from vla_lego.sim.config import SimConfig
from vla_lego.sim.env import LegoEnv
from vla_lego.sim.expert import ScriptedExpert
from vla_lego.sim.tasks import get_task

_EXTRA_STEPS = 3  # frames recorded after the plan ends so the final state is in the data


@dataclass
class GenerationReport:
    """What a generation run produced.

    Attributes:
        root: The dataset directory.
        task: The task names, comma-joined in round-robin order.
        episodes: Stored (successful) episodes.
        attempts: Expert episodes run (successful or not).
        frames: Stored frames.
        seconds: Wall-clock time.
        per_task: Stored episodes per task name.
        preset: The randomisation preset's name (None: a ``SimConfig`` was given).
    """

    root: Path
    task: str
    episodes: int
    attempts: int
    frames: int
    seconds: float
    per_task: dict[str, int] = field(default_factory=dict)
    preset: str | None = None

    @property
    def expert_success_rate(self) -> float:
        return self.episodes / max(self.attempts, 1)


def record_episode(env: LegoEnv, expert: ScriptedExpert, task: str, seed: int) -> tuple[list, bool]:
    """Run one expert episode; returns (frames, success). A frame is (obs dict, action)."""
    obs = env.reset(task, seed)
    expert.reset()
    frames = []
    n = round(expert.duration / env.cfg.control_dt) + _EXTRA_STEPS
    for _ in range(n):
        action = expert.act()
        frames.append((obs, action))
        obs = env.step(action)
    return frames, env.success()


def task_list(task: str | Sequence[str]) -> list[str]:
    """Task names from ``"a"``, ``"a,b"`` or a sequence of names, each checked.

    Raises:
        ValueError: no task, or an unknown one (the known ones are named).
    """
    names = task.split(",") if isinstance(task, str) else list(task)
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise ValueError(f"no task given (got {task!r})")
    for name in names:
        get_task(name)
    return names


def sim_config(cfg: SimConfig | str | None) -> tuple[SimConfig, str | None]:
    """A ``SimConfig`` and its preset name from a config, a preset name or None (``easy``)."""
    if cfg is None:
        cfg = "easy"
    if isinstance(cfg, str):
        return SimConfig.from_preset(cfg), cfg
    return cfg, None


def generate_dataset(
    task: str | Sequence[str],
    episodes: int,
    out: str | Path,
    seed: int = 0,
    cfg: SimConfig | str | None = None,
    overwrite: bool = False,
    max_attempts: int | None = None,
    progress: bool = True,
    video: bool = False,
    codec: str = DEFAULT_CODEC,
) -> GenerationReport:
    """Record ``episodes`` successful expert demonstrations of ``task`` into ``out``.

    Args:
        task: A task name, comma-separated names or a list of names: stored episode ``i`` is
            of ``tasks[i % len(tasks)]``; its ``task_name`` goes into the episode metadata.
        episodes: Successful episodes to store (all tasks together).
        out: Dataset directory.
        seed: Seed of the first attempt; attempt ``k`` uses ``seed + k`` (a failed attempt is
            retried with the same task and the next seed).
        cfg: The scene: a ``SimConfig``, a preset name of ``PRESETS``, or None (``easy``).
        overwrite: Replace an existing ``out``.
        max_attempts: Expert episodes allowed in all (default ``2 * episodes``).
        progress: Show a progress bar.
        video: Store frames as mp4 video (as LeRobot does) instead of PNG in the parquet.
        codec: FFmpeg encoder for ``video``.

    Raises:
        ValueError: unknown task or preset, ``episodes`` < 1, or too many failed attempts.
        FileExistsError: ``out`` exists and ``overwrite`` is false.
    """
    tasks = task_list(task)
    if not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    cfg, preset = sim_config(cfg)
    max_attempts = max_attempts or 2 * episodes
    per_task = dict.fromkeys(tasks, 0)
    env = LegoEnv(cfg)
    expert = ScriptedExpert(env)
    t0 = time.perf_counter()
    attempts = frames_total = 0
    shape = (cfg.image_height, cfg.image_width)
    with LeRobotV3Writer(
        out, cfg.fps, cfg.cameras, shape, overwrite=overwrite, video=video, codec=codec
    ) as writer:
        label = ",".join(dict.fromkeys(tasks))
        bar = tqdm(total=episodes, desc=f"{label} episodes", disable=not progress, unit="ep")
        while writer.num_episodes < episodes:
            ep_task = tasks[writer.num_episodes % len(tasks)]
            if attempts >= max_attempts:
                raise ValueError(
                    f"expert succeeded in only {writer.num_episodes} of {attempts} attempts; "
                    f"stopping (max_attempts={max_attempts})"
                )
            ep_seed = seed + attempts
            attempts += 1
            frames, ok = record_episode(env, expert, ep_task, ep_seed)
            if not ok:
                continue
            for obs, action in frames:
                writer.add_frame(
                    obs["images"], obs["state"], action, obs["instruction"], obs["subtask"]
                )
            writer.save_episode(seed=ep_seed, success=True, task_name=ep_task)
            per_task[ep_task] += 1
            frames_total += len(frames)
            bar.update(1)
        bar.close()
        root = writer.finalize()
    env.close()
    seconds = time.perf_counter() - t0
    return GenerationReport(
        root, label, episodes, attempts, frames_total, seconds, per_task, preset
    )


_INT_KEYS = {"episodes", "seed", "image_size", "image_height", "image_width", "max_attempts"}
_BOOL_KEYS = {"overwrite", "video"}
_KNOWN = _INT_KEYS | _BOOL_KEYS | {"task", "out", "fps", "cameras", "codec", "preset"}


def parse_args(argv: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` arguments; unknown keys or bad values raise ``ValueError``."""
    args: dict[str, Any] = {}
    for item in argv:
        if "=" not in item:
            raise ValueError(f"expected key=value, got {item!r}; keys: {sorted(_KNOWN)}")
        key, value = item.split("=", 1)
        key = key.lstrip("-").replace("-", "_")
        if key not in _KNOWN:
            raise ValueError(f"unknown argument {key!r}; expected one of {sorted(_KNOWN)}")
        try:
            if key in _INT_KEYS:
                args[key] = int(value)
            elif key == "fps":
                args[key] = float(value)
            elif key == "cameras":
                args[key] = tuple(c for c in value.split(",") if c)
            elif key in _BOOL_KEYS:
                if value.lower() not in ("1", "true", "yes", "0", "false", "no"):
                    raise ValueError
                args[key] = value.lower() in ("1", "true", "yes")
            else:
                args[key] = value
        except ValueError:
            raise ValueError(f"argument {key}={value!r} is not a valid number") from None
    for key in ("task", "episodes", "out"):
        if key not in args:
            raise ValueError(f"missing required argument {key}=...")
    return args


def _config(args: dict[str, Any]) -> SimConfig:
    over: dict[str, Any] = {}
    if "image_size" in args:
        over["image_height"] = over["image_width"] = args["image_size"]
    for key in ("image_height", "image_width", "fps", "cameras"):
        if key in args:
            over[key] = args[key]
    return SimConfig.from_preset(args.get("preset", "easy"), **over)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help", "help") for a in argv):
        print(__doc__)
        return 0
    try:
        args = parse_args(argv)
        tasks = task_list(args["task"])
        cfg = _config(args)
        report = generate_dataset(
            tasks,
            args["episodes"],
            args["out"],
            seed=args.get("seed", 0),
            cfg=cfg,
            overwrite=args.get("overwrite", False),
            max_attempts=args.get("max_attempts"),
            video=args.get("video", False),
            codec=args.get("codec", DEFAULT_CODEC),
        )
    except (ValueError, FileExistsError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    per_task = ", ".join(f"{k} {v}" for k, v in report.per_task.items())
    print(
        f"wrote {report.episodes} episodes ({report.frames} frames; {per_task}) at preset "
        f"{args.get('preset', 'easy')} to {report.root} in {report.seconds:.1f} s; expert "
        f"success {report.episodes}/{report.attempts}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "GenerationReport",
    "generate_dataset",
    "main",
    "parse_args",
    "record_episode",
    "sim_config",
    "task_list",
]
