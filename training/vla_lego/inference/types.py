"""The inference contract shared by every backend, the sim evaluator, replay and the ROS node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


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
    """

    images: dict[str, np.ndarray]
    state: np.ndarray
    instruction: str
    timestamp: float = 0.0


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


__all__ = ["ActionChunk", "Observation", "Policy"]
