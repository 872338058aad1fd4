"""Configuration of the end-to-end demo (frozen dataclass; presets ``full`` and ``quick``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DemoConfig:
    """Everything the demo does, stage by stage.

    Args:
        out: Artifact root; each stage writes its own sub-folder and is reused when its inputs
            (the fields it depends on; for training also the composed Hydra config, for the
            export the checkpoint's key) are unchanged.
        task: Simulated task for demonstrations and evaluation.
        demos: Scripted demonstrations to generate.
        demo_seed: First seed of the demonstrations; evaluation seeds start at ``eval_seed``,
            which must not overlap (held-out scenes).
        model: Model preset (``vla_lego/configs/model``).
        train_overrides: Extra Hydra overrides for the trainer.
        train_steps: Optimizer steps (upper bound).
        train_minutes: Wall-clock bound of training.
        episodes: Evaluation episodes run through the ROS graph.
        eval_seed: First evaluation seed.
        episode_seconds: Time limit of one evaluation episode (simulated seconds).
        backend: Inference backend of the policy node.
        record_episode: Record the first evaluation episode as an MCAP bag and replay-eval it.
        gif_frames: Head-camera frames kept for the GIF of the first episode.
    """

    out: str = "artifacts/demo"
    task: str = "pick_place"
    demos: int = 60
    demo_seed: int = 0
    model: str = "tiny"
    train_overrides: tuple[str, ...] = ()
    train_steps: int = 4000
    train_minutes: float = 12.0
    train_batch_size: int = 16
    train_lr: float = 1e-3
    action_horizon: int = 16
    episodes: int = 20
    eval_seed: int = 100_000
    episode_seconds: float = 12.0
    backend: str = "onnxruntime"
    record_episode: bool = True
    gif_frames: int = 60

    def __post_init__(self) -> None:
        if self.demos < 1:
            raise ValueError(f"demos must be >= 1, got {self.demos}")
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.train_steps < 1 or self.train_minutes <= 0:
            raise ValueError(
                f"train_steps must be >= 1 and train_minutes > 0, got {self.train_steps}, "
                f"{self.train_minutes}"
            )
        if self.eval_seed < self.demo_seed + 10 * self.demos:
            raise ValueError(
                f"eval_seed {self.eval_seed} may overlap the demonstration seeds "
                f"{self.demo_seed}..; evaluation must use held-out seeds"
            )
        if self.backend not in ("torch", "onnxruntime", "tensorrt"):
            raise ValueError(f"backend must be torch, onnxruntime or tensorrt, got {self.backend}")

    @property
    def root(self) -> Path:
        return Path(self.out)

    def key(self, *names: str) -> str:
        """Hash of the named fields: a stage's cache key."""
        d = asdict(self)
        blob = json.dumps({n: d[n] for n in names}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def with_overrides(self, **kw: Any) -> DemoConfig:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(kw) - known)
        if unknown:
            raise ValueError(f"unknown demo option(s) {unknown}; known: {sorted(known)}")
        return replace(self, **kw)


PRESETS: dict[str, DemoConfig] = {
    "full": DemoConfig(),
    # The test suite's short version: every stage runs, nothing is expected to succeed.
    "quick": DemoConfig(
        out="artifacts/demo_quick",
        demos=3,
        train_steps=30,
        train_minutes=3.0,
        train_batch_size=4,
        episodes=2,
        episode_seconds=6.0,
        gif_frames=10,
    ),
}

STAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "data": ("task", "demos", "demo_seed"),
    "train": (
        "task",
        "demos",
        "demo_seed",
        "model",
        "train_overrides",
        "train_steps",
        "train_minutes",
        "train_batch_size",
        "train_lr",
        "action_horizon",
    ),
}
STAGE_FIELDS["export"] = (*STAGE_FIELDS["train"], "backend")

__all__ = ["PRESETS", "STAGE_FIELDS", "DemoConfig", "field"]
