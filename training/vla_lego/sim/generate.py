"""Generate scripted-expert demonstrations into a LeRobot v3.0 dataset.

Command line (``key=value`` arguments)::

    python -m vla_lego.sim.generate task=pick_place episodes=50 out=/data/pick_place [seed=0]
        [fps=10] [image_size=128 | image_height=.. image_width=..] [cameras=head,right_wrist]
        [overwrite=false] [max_attempts=2*episodes] [video=false] [codec=libsvtav1]

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
from dataclasses import dataclass
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
    """What a generation run produced."""

    root: Path
    task: str
    episodes: int
    attempts: int
    frames: int
    seconds: float

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


def generate_dataset(
    task: str,
    episodes: int,
    out: str | Path,
    seed: int = 0,
    cfg: SimConfig | None = None,
    overwrite: bool = False,
    max_attempts: int | None = None,
    progress: bool = True,
    video: bool = False,
    codec: str = DEFAULT_CODEC,
) -> GenerationReport:
    """Record ``episodes`` successful expert demonstrations of ``task`` into ``out``.

    Raises:
        ValueError: unknown task, ``episodes`` < 1, or too many failed attempts.
        FileExistsError: ``out`` exists and ``overwrite`` is false.
    """
    get_task(task)
    if not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    cfg = cfg or SimConfig()
    max_attempts = max_attempts or 2 * episodes
    env = LegoEnv(cfg)
    expert = ScriptedExpert(env)
    t0 = time.perf_counter()
    attempts = frames_total = 0
    shape = (cfg.image_height, cfg.image_width)
    with LeRobotV3Writer(
        out, cfg.fps, cfg.cameras, shape, overwrite=overwrite, video=video, codec=codec
    ) as writer:
        bar = tqdm(total=episodes, desc=f"{task} episodes", disable=not progress, unit="ep")
        while writer.num_episodes < episodes:
            if attempts >= max_attempts:
                raise ValueError(
                    f"expert succeeded in only {writer.num_episodes} of {attempts} attempts; "
                    f"stopping (max_attempts={max_attempts})"
                )
            ep_seed = seed + attempts
            attempts += 1
            frames, ok = record_episode(env, expert, task, ep_seed)
            if not ok:
                continue
            for obs, action in frames:
                writer.add_frame(
                    obs["images"], obs["state"], action, obs["instruction"], obs["subtask"]
                )
            writer.save_episode(seed=ep_seed, success=True, task_name=task)
            frames_total += len(frames)
            bar.update(1)
        bar.close()
        root = writer.finalize()
    env.close()
    return GenerationReport(root, task, episodes, attempts, frames_total, time.perf_counter() - t0)


_INT_KEYS = {"episodes", "seed", "image_size", "image_height", "image_width", "max_attempts"}
_BOOL_KEYS = {"overwrite", "video"}
_KNOWN = _INT_KEYS | _BOOL_KEYS | {"task", "out", "fps", "cameras", "codec"}


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
    return SimConfig().with_overrides(**over)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help", "help") for a in argv):
        print(__doc__)
        return 0
    try:
        args = parse_args(argv)
        cfg = _config(args)
        report = generate_dataset(
            args["task"],
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
    print(
        f"wrote {report.episodes} episodes ({report.frames} frames) of {report.task} to "
        f"{report.root} in {report.seconds:.1f} s; expert success "
        f"{report.episodes}/{report.attempts}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["GenerationReport", "generate_dataset", "main", "parse_args", "record_episode"]
