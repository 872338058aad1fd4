"""The inference contract shared by every backend, the sim evaluator, replay and the ROS node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class ActionGuidance:
    """Actions a new chunk has to continue (real-time chunking, ``blend: rtc``).

    While a chunk is computed the robot keeps executing the previous one; the new chunk's first
    actions are therefore already decided. ``actions[k]`` is the executed target at the new
    chunk's step ``k`` (its time ``observation.timestamp + k * dt``), ``weights[k]`` how strongly
    the sampler keeps it: 1 reproduces it (the part executed before the chunk can arrive), values
    in between pull towards it (the rest of the overlap), 0 leaves the step free.

    Attributes:
        actions: ``float (K, ACTION_DIM)`` in robot units, K <= the policy's horizon.
        weights: ``float (K,)`` in [0, 1].
    """

    actions: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        a, w = np.asarray(self.actions, np.float64), np.asarray(self.weights, np.float64)
        if a.ndim != 2 or w.shape != (a.shape[0],) or a.shape[0] == 0:
            raise ValueError(
                f"guidance needs actions (K, D) and weights (K,), got {a.shape} and {w.shape}"
            )
        if not (np.all(np.isfinite(a)) and np.all((w >= 0.0) & (w <= 1.0))):
            raise ValueError("guidance actions must be finite and weights in [0, 1]")
        object.__setattr__(self, "actions", a)
        object.__setattr__(self, "weights", w)


@dataclass
class Observation:
    """One synchronised observation, in robot units (not normalised).

    Attributes:
        images: camera name -> ``uint8`` array ``(H, W, 3)`` RGB. Order of insertion is the view
            order the model sees (e.g. ``head`` first).
        state: ``float`` array ``(ACTION_DIM,)`` in the layout of ``vla_lego.robot`` (measured arm
            joint positions in rad, hand openings 0..1).
        instruction: natural-language task instruction.
        timestamp: seconds (observation time, e.g. the camera stamp); informational.
        guidance: Actions the chunk must continue (real-time chunking); policies that cannot
            follow guidance have ``supports_guidance`` False and must not be given any.
    """

    images: dict[str, np.ndarray]
    state: np.ndarray
    instruction: str
    timestamp: float = 0.0
    guidance: ActionGuidance | None = None


@dataclass
class ActionChunk:
    """A chunk of future actions predicted from one observation.

    Attributes:
        actions: ``float32`` array ``(H, ACTION_DIM)``, robot units, un-padded, un-normalised.
        dt: seconds between consecutive actions (1 / dataset fps).
        subtask_text: decoded subtask string ("" when text decoding is off).
        timings: stage name -> milliseconds (``preprocess``, ``prefix``, ``denoise``, ``total``).
        observation_time: ``Observation.timestamp`` the chunk was computed from.
    """

    actions: np.ndarray
    dt: float
    subtask_text: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    observation_time: float = 0.0

    @property
    def horizon(self) -> int:
        return int(self.actions.shape[0])


@runtime_checkable
class Policy(Protocol):
    """What the ROS node, the sim evaluator and replay-eval call. Backends implement this."""

    def reset(self) -> None:
        """Forget any per-episode state (text cache, RNG position if seeded per episode)."""

    def predict(self, observation: Observation) -> ActionChunk:
        """Compute an action chunk for ``observation``."""
        ...


def supports_guidance(policy: object) -> bool:
    """True when ``policy`` follows :class:`ActionGuidance` (wrappers forward the attribute)."""
    return bool(getattr(policy, "supports_guidance", False))


__all__ = ["ActionChunk", "ActionGuidance", "Observation", "Policy", "supports_guidance"]
