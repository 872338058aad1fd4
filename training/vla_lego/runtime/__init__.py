"""Plain-Python runtime shared by the ROS policy node, the sim evaluator and bag replay-eval.

* :mod:`~vla_lego.runtime.scheduler` — :class:`ChunkScheduler`: action chunks as time-indexed
  trajectories sampled at control ticks, stale-action skipping, blending at chunk boundaries.
* :mod:`~vla_lego.runtime.safety` — :class:`SafetyFilter`: position / velocity / acceleration
  limits, non-finite rejection, clamp counting.
* :mod:`~vla_lego.runtime.images` — raw and compressed camera payloads -> RGB arrays.
* :mod:`~vla_lego.runtime.sync` — :class:`ObservationSync`: latest synchronised observation with
  staleness and skew checks.
* :mod:`~vla_lego.runtime.controller` — :class:`PolicyController`: task state, inference thread,
  watchdogs and the per-tick decision (idle / running / holding), shared by node and evaluators.
* :mod:`~vla_lego.runtime.scripted` — policies with known output (tests, benchmarks, smoke runs).

Nothing here imports ROS.
"""

from vla_lego.runtime.controller import (
    STATE_FAULT,
    STATE_HOLDING,
    STATE_IDLE,
    STATE_RUNNING,
    ChunkEvent,
    ControllerConfig,
    ControllerStatus,
    PolicyController,
    TickOutput,
)
from vla_lego.runtime.images import (
    ImageDecodeError,
    check_rgb,
    decode_compressed,
    decode_raw,
    encode_compressed,
)
from vla_lego.runtime.safety import SafeCommand, SafetyFilter, SafetyLimits, load_limit_overrides
from vla_lego.runtime.scheduler import (
    BLEND_MODES,
    ChunkAccept,
    ChunkScheduler,
    ScheduledTarget,
    SchedulerConfig,
)
from vla_lego.runtime.sync import InputRejectedError, ObservationSync, SyncConfig

__all__ = [
    "BLEND_MODES",
    "STATE_FAULT",
    "STATE_HOLDING",
    "STATE_IDLE",
    "STATE_RUNNING",
    "ChunkAccept",
    "ChunkEvent",
    "ChunkScheduler",
    "ControllerConfig",
    "ControllerStatus",
    "ImageDecodeError",
    "InputRejectedError",
    "ObservationSync",
    "PolicyController",
    "SafeCommand",
    "SafetyFilter",
    "SafetyLimits",
    "ScheduledTarget",
    "SchedulerConfig",
    "SyncConfig",
    "TickOutput",
    "check_rgb",
    "decode_compressed",
    "decode_raw",
    "encode_compressed",
    "load_limit_overrides",
]
