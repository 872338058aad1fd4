"""The latest synchronised observation: camera views + joint state, with skew and staleness checks.

:class:`ObservationSync` keeps the newest frame of every camera and the newest measurement of every
joint (joint-state messages may come in any order, carry extra joints or miss some: each joint keeps
its own stamp). Inputs are rejected on arrival (:class:`InputRejectedError`, a ``ValueError``
with the reason) when they are malformed, non-finite, stamped in the future or already older than
``max_age``. :meth:`ObservationSync.problems` lists why no usable observation exists right now
(missing or stale input, views too far apart in time); :meth:`ObservationSync.latest` returns an
:class:`~vla_lego.inference.types.Observation` only when that list is empty.

Times are seconds on one clock (ROS time in the node, any clock in tests) and are always passed in.
All methods are thread-safe (ROS callbacks and the inference thread share one instance).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vla_lego.inference.types import Observation
from vla_lego.robot import ActionLayout
from vla_lego.runtime.images import check_rgb
from vla_lego.runtime.policy_params import POLICY_PARAMS as _P


class InputRejectedError(ValueError):
    """An input message that was dropped; the message says why."""


@dataclass(frozen=True)
class SyncConfig:
    """Synchronisation and staleness thresholds.

    Args:
        camera_names: Views the model needs, in model order.
        max_age: An input older than this (seconds, by its stamp) is stale.
        max_skew: Largest allowed time by which a view or the joint state lags the newest view
            (joint states newer than the views are normal: they come at a higher rate).
        max_future: Stamps later than ``now + max_future`` are rejected (clock trouble).
    """

    camera_names: tuple[str, ...]
    # Defaults and ranges: the node's settings in vla_lego.runtime.policy_params.
    max_age: float = _P.default("max_input_age")
    max_skew: float = _P.default("max_time_skew")
    max_future: float = _P.default("max_future_stamp")

    def __post_init__(self) -> None:
        if not self.camera_names or len(set(self.camera_names)) != len(self.camera_names):
            raise ValueError(f"camera_names must be unique and non-empty, got {self.camera_names}")
        _P.check("max_input_age", self.max_age)
        _P.check("max_time_skew", self.max_skew)
        _P.check("max_future_stamp", self.max_future)


class ObservationSync:
    """Latest-value store with validation (see the module docstring).

    Args:
        layout: Robot layout; the state vector is in its order.
        config: Thresholds and camera names.
    """

    def __init__(self, layout: ActionLayout, config: SyncConfig) -> None:
        self.layout = layout
        self.config = config
        self._index = {n: i for i, n in enumerate(layout.names)}
        self._q = np.full(layout.dim, np.nan)
        self._q_stamp = np.full(layout.dim, -math.inf)
        self._images: dict[str, tuple[np.ndarray, float]] = {}
        self._cond = threading.Condition()
        self._version = 0
        self.rejected: dict[str, int] = {"image": 0, "joint_state": 0}

    # ---- inputs -------------------------------------------------------------------------------
    def add_image(self, name: str, rgb: np.ndarray, stamp: float, now: float) -> None:
        """Store a decoded RGB frame of camera ``name`` stamped ``stamp``.

        Raises:
            InputRejectedError: unknown camera, bad array, or a stamp from the future / too old.
        """
        try:
            if name not in self.config.camera_names:
                raise InputRejectedError(
                    f"unknown camera {name!r}; expected {self.config.camera_names}"
                )
            check_rgb(rgb)
            self._check_stamp(f"camera {name}", stamp, now)
        except ValueError as e:
            self._reject("image")
            raise e if isinstance(e, InputRejectedError) else InputRejectedError(str(e)) from e
        with self._cond:
            self._images[name] = (rgb, float(stamp))
            self._version += 1
            self._cond.notify_all()

    def add_joint_state(
        self, names: Sequence[str], positions: Sequence[float], stamp: float, now: float
    ) -> int:
        """Store the measured positions of the layout joints named in a joint-state message.

        Names outside the layout are ignored; layout joints not named keep their previous value
        and stamp (and go stale if they stop coming).

        Returns:
            How many layout joints were updated.

        Raises:
            InputRejectedError: ``names``/``positions`` lengths differ, duplicate names, a
                non-finite position of a layout joint, or a stamp from the future / too old.
        """
        try:
            idx, vals = self._joint_values(names, positions)
            self._check_stamp("joint state", stamp, now)
        except InputRejectedError:
            self._reject("joint_state")
            raise
        with self._cond:
            self._q[idx] = vals
            self._q_stamp[idx] = float(stamp)
            self._version += 1
            self._cond.notify_all()
        return len(idx)

    def clear(self) -> None:
        """Forget every stored input (after the clock jumped back: their stamps are meaningless)."""
        with self._cond:
            self._q[:] = np.nan
            self._q_stamp[:] = -math.inf
            self._images.clear()
            self._version += 1
            self._cond.notify_all()

    # ---- queries ------------------------------------------------------------------------------
    def problems(self, now: float) -> list[str]:
        """Why no observation can be used at ``now`` (empty: all inputs fresh and aligned)."""
        with self._cond:
            return self._problems(now)

    def latest(self, now: float, instruction: str) -> Observation | None:
        """The latest synchronised observation, or None when :meth:`problems` is non-empty.

        ``Observation.timestamp`` is the stamp of the first camera in ``camera_names``.
        """
        with self._cond:
            if self._problems(now):
                return None
            images = {n: self._images[n][0] for n in self.config.camera_names}
            stamp = self._images[self.config.camera_names[0]][1]
            return Observation(images, self._q.astype(np.float32), instruction, stamp)

    def joint_positions(self) -> np.ndarray | None:
        """Last measured positions of every layout joint (None until all have been seen)."""
        with self._cond:
            return None if np.isnan(self._q).any() else self._q.copy()

    def joint_age(self, now: float) -> float:
        """Seconds since the oldest layout joint was measured (inf when one was never seen)."""
        with self._cond:
            return float(now - self._q_stamp.min())

    def wait_for_update(self, version: int, timeout: float) -> int:
        """Block until an input newer than ``version`` arrives (or ``timeout``); return version."""
        with self._cond:
            self._cond.wait_for(lambda: self._version != version, timeout=timeout)
            return self._version

    @property
    def version(self) -> int:
        """Counter bumped by every accepted input."""
        with self._cond:
            return self._version

    # ---- internals ----------------------------------------------------------------------------
    def _reject(self, kind: str) -> None:
        with self._cond:
            self.rejected[kind] += 1

    def _check_stamp(self, what: str, stamp: float, now: float) -> None:
        if not math.isfinite(stamp):
            raise InputRejectedError(f"{what}: stamp {stamp} is not finite")
        if stamp > now + self.config.max_future:
            raise InputRejectedError(
                f"{what}: stamp {stamp:.3f} is {stamp - now:.3f} s in the future "
                f"(allowed {self.config.max_future} s)"
            )
        if now - stamp > self.config.max_age:
            raise InputRejectedError(
                f"{what}: stamp {stamp:.3f} is {now - stamp:.3f} s old "
                f"(limit {self.config.max_age} s)"
            )

    def _joint_values(
        self, names: Sequence[str], positions: Sequence[float]
    ) -> tuple[np.ndarray, np.ndarray]:
        names = list(names)
        pos = np.asarray(positions, dtype=np.float64).reshape(-1)
        if len(names) != pos.size:
            raise InputRejectedError(f"joint state has {len(names)} names but {pos.size} positions")
        if len(set(names)) != len(names):
            raise InputRejectedError(f"joint state repeats names: {names}")
        pairs = [(self._index[n], k) for k, n in enumerate(names) if n in self._index]
        idx = np.array([p[0] for p in pairs], dtype=int)
        vals = pos[[p[1] for p in pairs]] if pairs else np.zeros(0)
        if not np.all(np.isfinite(vals)):
            bad = [names[p[1]] for p in pairs if not np.isfinite(pos[p[1]])]
            raise InputRejectedError(f"joint state has non-finite positions for {bad}")
        if idx.size == 0:
            raise InputRejectedError(
                f"joint state names none of the layout joints (got {names[:4]}...)"
                if names
                else "joint state is empty"
            )
        return idx, vals

    def _problems(self, now: float) -> list[str]:
        cfg, out = self.config, []
        stamps: list[float] = []  # views, then the oldest joint
        for name in cfg.camera_names:
            if name not in self._images:
                out.append(f"no frame yet from camera {name}")
                continue
            age = now - self._images[name][1]
            stamps.append(self._images[name][1])
            if age > cfg.max_age:
                out.append(f"camera {name} stale for {age:.3f} s (limit {cfg.max_age} s)")
            elif age < -cfg.max_future:
                out.append(f"camera {name} stamped {-age:.3f} s in the future (clock jumped?)")
        missing = [self.layout.names[i] for i in np.flatnonzero(np.isnan(self._q))]
        if missing:
            out.append(f"no joint state yet for {len(missing)} joints, e.g. {missing[0]}")
        else:
            oldest = int(np.argmin(self._q_stamp))
            age = now - self._q_stamp[oldest]
            stamps.append(float(self._q_stamp[oldest]))
            if age > cfg.max_age:
                out.append(
                    f"joint state stale for {age:.3f} s (limit {cfg.max_age} s), "
                    f"e.g. {self.layout.names[oldest]}"
                )
            ahead = float(self._q_stamp.max()) - now
            if ahead > cfg.max_future:
                out.append(f"joint state stamped {ahead:.3f} s in the future (clock jumped?)")
        newest_view = max(stamps[: len(cfg.camera_names)], default=0.0)
        if not out and newest_view - min(stamps) > cfg.max_skew:
            out.append(f"inputs {newest_view - min(stamps):.3f} s apart (limit {cfg.max_skew} s)")
        return out


__all__ = ["InputRejectedError", "ObservationSync", "SyncConfig"]
