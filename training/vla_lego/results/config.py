"""Configuration of the results run (frozen dataclass; presets ``full``, ``small``, ``quick``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

ALL_TASKS: tuple[str, ...] = ("pick_place", "stack", "handover", "tower", "pick_named", "assemble")


@dataclass(frozen=True)
class Run:
    """One trained model of the results run."""

    name: str
    seed: int
    text: bool  # EO-1 as built (AR subtask text + flow) or actions on the instruction only

    @property
    def overrides(self) -> tuple[str, ...]:
        """Hydra overrides that make this run: the same model code, a different configuration."""
        base = (f"seed={self.seed}",)
        if self.text:
            return base
        # (b) of the ablation: no text loss, and the action block never sees subtask text, so
        # the actions are conditioned on the instruction (and images, state) only.
        return (*base, "++model.text_loss_weight=0.0", "model.subtask_drop_prob=1.0")


@dataclass(frozen=True)
class ResultsConfig:
    """Everything the results run does, stage by stage.

    Args:
        out: Artifact root; every stage and every evaluation job is cached under it, so an
            interrupted run resumes where it stopped.
        docs: Where ``results.md``, ``results.json`` and the GIFs go.
        tasks: Tasks trained on (one mixed dataset) and evaluated.
        presets: Randomisation presets evaluated directly.
        train_preset: Preset the demonstrations are drawn at (``hard`` covers ``easy``'s range).
        demos_per_task: Scripted demonstrations per task.
        demo_seed: First demonstration seed.
        model: Model preset.
        train_steps: Optimizer steps per run (upper bound).
        train_minutes: Wall-clock bound per training run.
        train_batch_size: Batch size.
        train_lr: Peak learning rate.
        action_horizon: Chunk length.
        seeds: Training seeds of the main model (EO-1 as built).
        ablation: Also train the no-text model (same data, steps and first seed).
        expert_episodes: Expert episodes per task and preset.
        direct_episodes: Direct (in-process) episodes per task, preset and run.
        ros_episodes: Episodes per task through the ROS graph (first main run only).
        ros_preset: Preset of the ROS episodes.
        eval_seed: First held-out evaluation seed.
        eval_seeds: Size of the held-out seed range ``[eval_seed, eval_seed + eval_seeds)``.
        workers: Direct-evaluation processes run at once.
        backend: Inference backend of the exported policy.
        gif_frames: Frames of each task's GIF.
        episode_seconds: Cap on every evaluation episode (sim seconds); ``None``: each task's
            own time limit (the quick version caps it, as nothing trained for 4 steps succeeds).
    """

    out: str = "artifacts/results"
    docs: str = "docs"
    tasks: tuple[str, ...] = ALL_TASKS
    presets: tuple[str, ...] = ("easy", "hard")
    train_preset: str = "hard"
    demos_per_task: int = 50
    demo_seed: int = 0
    model: str = "tiny"
    train_steps: int = 6000
    train_minutes: float = 30.0
    train_batch_size: int = 16
    train_lr: float = 1e-3
    action_horizon: int = 16
    seeds: tuple[int, ...] = (0, 1)
    ablation: bool = True
    expert_episodes: int = 100
    direct_episodes: int = 100
    ros_episodes: int = 30
    ros_preset: str = "hard"
    eval_seed: int = 100_000
    eval_seeds: int = 10_000
    workers: int = 2
    backend: str = "onnxruntime"
    gif_frames: int = 60
    episode_seconds: float | None = None

    def __post_init__(self) -> None:
        # Imported here: the sim's task table is the one place the names live.
        from vla_lego.sim.config import PRESETS
        from vla_lego.sim.tasks import get_task

        if not self.tasks:
            raise ValueError("tasks must name at least one task")
        for t in self.tasks:
            get_task(t)
        for p in (*self.presets, self.train_preset, self.ros_preset):
            if p not in PRESETS:
                raise ValueError(f"unknown preset {p!r}; expected one of {sorted(PRESETS)}")
        for name in ("demos_per_task", "train_steps", "expert_episodes", "direct_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.ros_episodes < 0 or self.workers < 1 or not self.seeds:
            raise ValueError("ros_episodes must be >= 0, workers >= 1, seeds non-empty")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must differ, got {self.seeds}")
        most = max(self.expert_episodes, self.direct_episodes, self.ros_episodes)
        if most > self.eval_seeds:
            raise ValueError(
                f"{most} episodes asked for, but the held-out seed range "
                f"[{self.eval_seed}, {self.eval_seed + self.eval_seeds}) holds only "
                f"{self.eval_seeds} seeds"
            )
        demo_end = self.demo_seed + 10 * self.demos_per_task * len(self.tasks)
        if self.eval_seed < demo_end and self.eval_seed + self.eval_seeds > self.demo_seed:
            raise ValueError(
                f"evaluation seeds [{self.eval_seed}, {self.eval_seed + self.eval_seeds}) may "
                f"overlap the demonstration seeds [{self.demo_seed}, {demo_end}): evaluation "
                "must use held-out seeds"
            )
        if self.episode_seconds is not None and not self.episode_seconds > 0:
            raise ValueError(f"episode_seconds must be > 0, got {self.episode_seconds}")
        if self.backend not in ("torch", "onnxruntime", "tensorrt"):
            raise ValueError(f"backend must be torch, onnxruntime or tensorrt, got {self.backend}")

    @property
    def root(self) -> Path:
        return Path(self.out)

    @property
    def runs(self) -> list[Run]:
        """The trained models: the main one per seed, then the no-text ablation."""
        runs = [Run(f"main_s{s}", s, True) for s in self.seeds]
        if self.ablation:
            runs.append(Run(f"no_text_s{self.seeds[0]}", self.seeds[0], False))
        return runs

    def key(self, *names: str) -> str:
        """Hash of the named fields."""
        d = asdict(self)
        blob = json.dumps({n: d[n] for n in names}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def with_overrides(self, **kw: Any) -> ResultsConfig:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(kw) - known)
        if unknown:
            raise ValueError(f"unknown results option(s) {unknown}; known: {sorted(known)}")
        return replace(self, **kw)


PRESETS: dict[str, ResultsConfig] = {
    # The sizes: >= 100 held-out seeds per task and preset directly, 30 per task through
    # ROS, two seeds of the main model and the ablation.
    "full": ResultsConfig(),
    # The size measured to fit one session on a 2-core machine (docs/results.md says which ran).
    "small": ResultsConfig(
        out="artifacts/results_small",
        demos_per_task=20,
        train_steps=3000,
        train_minutes=12.0,
        seeds=(0,),
        expert_episodes=50,
        direct_episodes=10,
        ros_episodes=5,
    ),
    # The test suite's short version: every stage runs, nothing is expected to succeed.
    "quick": ResultsConfig(
        out="artifacts/results_quick",
        docs="artifacts/results_quick/docs",
        demos_per_task=1,
        train_steps=4,
        train_minutes=2.0,
        train_batch_size=2,
        seeds=(0,),
        expert_episodes=1,
        direct_episodes=1,
        ros_episodes=1,
        presets=("hard",),
        workers=2,  # the process pool path runs in the suite too
        gif_frames=4,
        episode_seconds=3.0,
    ),
}

STAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "data": ("tasks", "train_preset", "demos_per_task", "demo_seed"),
    "train": (
        "tasks",
        "train_preset",
        "demos_per_task",
        "demo_seed",
        "model",
        "train_steps",
        "train_minutes",
        "train_batch_size",
        "train_lr",
        "action_horizon",
    ),
}
STAGE_FIELDS["export"] = (*STAGE_FIELDS["train"], "backend")

__all__ = ["ALL_TASKS", "PRESETS", "STAGE_FIELDS", "ResultsConfig", "Run"]
