"""What a closed-loop evaluation is configured with and what one episode yields (no sim imports,
so the report writer and other readers of results need neither MuJoCo nor the evaluator)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % for z = 1.96)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def check_seed_range(episodes: int, seed: int, max_seed: int | None) -> None:
    """Refuse ``episodes`` seeds from ``seed`` on when the range ``[seed, max_seed)`` is shorter.

    Raises:
        ValueError: naming the episodes asked for and the seeds the range holds.
    """
    if max_seed is None:
        return
    available = max_seed - seed
    if episodes > available:
        raise ValueError(
            f"{episodes} episodes asked for, but the seed range [{seed}, {max_seed}) holds only "
            f"{max(available, 0)} seeds"
        )


@dataclass(frozen=True)
class EvalConfig:
    """Settings of a closed-loop evaluation (the controller's own come from the node settings).

    Args:
        task: Task name (checked against the sim's tasks by the evaluator).
        episodes: Number of episodes (>= 1).
        seed: Seed of the first episode; episode i uses ``seed + i``.
        camera_rate: Camera frames per second (default: the sim's ``fps``, the rate h1_sim_node
            publishes at and the demonstrations were recorded at).
        joint_state_rate: Joint states per second given to the controller (the bridge's 50 Hz).
        inference_delay: Simulated seconds from an inference's start until its chunk can be used
            (the controller keeps executing the previous chunk meanwhile); 0: at once.
        time_limit: Seconds per episode (default: the task's own).
        gif_episodes: Episodes recorded into the GIF.
        gif_fps: Frame rate of the GIF.
        preset: Randomisation preset of the scene (``vla_lego.sim.config.PRESETS``: ``easy``,
            ``hard``); its values replace the randomisation keys of the evaluator's SimConfig.
        max_seed: End (exclusive) of the seed range the episodes may use, e.g. the held-out
            seeds ``[seed, max_seed)``; more episodes than that range holds is a ValueError.
            None: no bound.
    """

    task: str = "pick_place"
    episodes: int = 10
    seed: int = 0
    camera_rate: float | None = None
    joint_state_rate: float = 50.0
    inference_delay: float = 0.0
    time_limit: float | None = None
    gif_episodes: int = 2
    gif_fps: float = 5.0
    preset: str = "easy"
    max_seed: int | None = None

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        check_seed_range(self.episodes, self.seed, self.max_seed)
        # Imported here: the readers of results (report writer) need no MuJoCo.
        from vla_lego.sim.config import PRESETS

        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; expected one of {sorted(PRESETS)}")
        for name in ("joint_state_rate", "gif_fps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not (math.isfinite(self.inference_delay) and 0.0 <= self.inference_delay <= 5.0):
            raise ValueError(f"inference_delay must be in [0, 5] s, got {self.inference_delay}")
        if self.camera_rate is not None and not self.camera_rate > 0:
            raise ValueError(f"camera_rate must be > 0, got {self.camera_rate}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f"time_limit must be > 0, got {self.time_limit}")


@dataclass
class EpisodeResult:
    """One episode: outcome, timing, and the commanded / measured trajectory.

    Attributes:
        seed: The episode's scene seed.
        success: The task's success check held before the time limit.
        outcome: ``"success"``, or the failure category the sim counted at the episode's end
            (one of ``vla_lego.sim.tasks.FAILURE_CATEGORIES``, from ``LegoEnv.outcome``).
        first_grasp_ok: Whether the first brick grasped was one the task names (None: nothing
            was grasped).
        subtask_accuracy: Share of control ticks (from the first chunk on) at which the
            executing chunk's decoded subtask text equals the sim's true subtask; None when the
            policy returned no subtask text.
        completion_time: Sim seconds until success (None on failure).
        duration: Sim seconds the episode ran.
        instruction: The task text given to the policy.
        policy_calls: ``predict`` calls.
        mean_inference_ms: Mean wall-clock time of a ``predict`` call.
        safety_clamps: Joint-ticks the safety filter changed.
        join_jump: Largest change of target joint velocity across a chunk join, in the
            scheduler's planned stream (before shaping and the safety filter; unit/s).
        trajectory: ``t``, ``command``, ``target`` (the planned stream, before shaping and the
            filter), ``state`` lists (per control tick).
    """

    seed: int
    success: bool
    completion_time: float | None
    duration: float
    instruction: str
    policy_calls: int
    mean_inference_ms: float
    safety_clamps: int = 0
    join_jump: float = 0.0
    outcome: str = ""
    first_grasp_ok: bool | None = None
    subtask_accuracy: float | None = None
    trajectory: dict[str, list[Any]] = field(default_factory=dict, repr=False)


__all__ = ["EpisodeResult", "EvalConfig", "check_seed_range", "wilson_interval"]
