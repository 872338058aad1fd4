"""State/action pre- and post-processing as small steps with paired inverses.

``normalize`` / ``unnormalize`` use dataset statistics (mean/std, or q01/q99 mapped to -1/1);
``pad`` / ``unpad`` go between the robot's ``ActionLayout.dim`` and ``max_action_dim`` through
:class:`vla_lego.robot.ActionLayout`. Training, export and every inference backend call these same
functions (numpy in, numpy out), so robot units never reach the network by accident.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from vla_lego.robot import ActionLayout

STAT_KEYS = ("state", "actions")
# A dimension that (nearly) never moved in the data, e.g. the idle arm of one-arm demonstrations,
# keeps scale 1: dividing by its ~0 spread (openpi/LeRobot add 1e-6) would turn 0.01 rad of sensor
# noise or gravity sag on the real robot into an input of 1e4. Robot units: rad, or 0..1 hands.
MIN_SCALE = 1e-3


@dataclass(frozen=True)
class FeatureStats:
    """Per-dimension statistics of one feature (length ``D``, robot units)."""

    mean: np.ndarray
    std: np.ndarray
    q01: np.ndarray
    q99: np.ndarray

    @classmethod
    def from_dict(cls, d: dict[str, Any], dim: int, what: str) -> FeatureStats:
        arrays = {}
        for key in ("mean", "std"):
            if key not in d:
                raise ValueError(
                    f"normalisation stats for {what!r} lack {key!r}; got keys {sorted(d)}"
                )
        for key in ("mean", "std", "q01", "q99"):
            raw = d.get(key)
            if raw is None:  # quantiles are optional: fall back to mean -/+ 2 std (~q02/q98)
                sign = -2.0 if key == "q01" else 2.0
                raw = np.asarray(d["mean"], dtype=np.float64) + sign * np.asarray(
                    d["std"], dtype=np.float64
                )
            arr = np.asarray(raw, dtype=np.float64).reshape(-1)
            if arr.shape != (dim,):
                raise ValueError(f"stats {what}.{key}: expected shape ({dim},), got {arr.shape}")
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"stats {what}.{key} contain non-finite values: {arr}")
            arrays[key] = arr
        return cls(**arrays)

    @classmethod
    def identity(cls, dim: int) -> FeatureStats:
        z, o = np.zeros(dim), np.ones(dim)
        return cls(mean=z, std=o, q01=-o, q99=o)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).tolist() for k in ("mean", "std", "q01", "q99")}


class Normalizer:
    """Normalises ``state`` and ``actions`` with dataset statistics (robot units <-> model units).

    Args:
        stats: ``{"state": {...}, "actions": {...}}`` as produced by the datasets (numpy arrays or
            lists of length ``dim``); ``None`` means identity statistics (untrained models).
        dim: Unpadded vector length (``ActionLayout.dim``).
        mode: ``"mean_std"`` -> ``(x - mean) / std``; ``"quantile"`` -> q01..q99 to -1..1.
        eps: Added to the scale (EO-1 / LeRobot MEAN_STD: ``std + 1e-8``); a scale below
            :data:`MIN_SCALE` is 1 whatever ``eps``.
    """

    def __init__(
        self, stats: dict[str, Any] | None, dim: int, mode: str = "mean_std", eps: float = 0.0
    ) -> None:
        if mode not in ("mean_std", "quantile"):
            raise ValueError(f"normalisation mode must be 'mean_std' or 'quantile', got {mode!r}")
        if not (np.isfinite(eps) and 0.0 <= eps < 1e-2):
            raise ValueError(f"normalisation eps must be in [0, 0.01), got {eps!r}")
        self.dim = dim
        self.mode = mode
        self.eps = float(eps)
        self.is_identity = stats is None
        if stats is None:
            self.stats = {k: FeatureStats.identity(dim) for k in STAT_KEYS}
        else:
            missing = [k for k in STAT_KEYS if k not in stats]
            if missing:
                raise ValueError(f"normalisation stats lack {missing}; expected keys {STAT_KEYS}")
            self.stats = {k: FeatureStats.from_dict(stats[k], dim, k) for k in STAT_KEYS}

    def _scale_shift(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        s = self.stats[key]
        if self.mode == "mean_std":
            scale, shift = s.std, s.mean
        else:
            scale, shift = (s.q99 - s.q01) / 2.0, (s.q99 + s.q01) / 2.0
        return np.where(scale < MIN_SCALE, 1.0, scale + self.eps), shift

    def normalize(self, x: np.ndarray, key: str) -> np.ndarray:
        """Robot units ``[..., dim]`` -> model units (float32)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.dim:
            raise ValueError(f"{key}: expected last dim {self.dim}, got shape {x.shape}")
        scale, shift = self._scale_shift(key)
        return ((x - shift) / scale).astype(np.float32)

    def unnormalize(self, x: np.ndarray, key: str) -> np.ndarray:
        """Inverse of :meth:`normalize` (float32)."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.dim:
            raise ValueError(f"{key}: expected last dim {self.dim}, got shape {x.shape}")
        scale, shift = self._scale_shift(key)
        return (x * scale + shift).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "eps": self.eps,
            "dim": self.dim,
            "identity": self.is_identity,
            "stats": {k: v.to_dict() for k, v in self.stats.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        try:
            stats = None if d.get("identity") else d["stats"]
            # "eps" is absent from files written before it existed: those divided by the bare std.
            return cls(stats, int(d["dim"]), str(d["mode"]), float(d.get("eps", 0.0)))
        except KeyError as e:
            raise ValueError(f"malformed normalisation stats: missing {e}") from e


def pad(x: np.ndarray, layout: ActionLayout) -> np.ndarray:
    """``[..., layout.dim]`` -> ``[..., layout.max_action_dim]`` with zeros (see ``mask``)."""
    return layout.pad(x)


def unpad(x: np.ndarray, layout: ActionLayout) -> np.ndarray:
    """Inverse of :func:`pad`."""
    return layout.unpad(x)


__all__ = ["STAT_KEYS", "FeatureStats", "Normalizer", "pad", "unpad"]
