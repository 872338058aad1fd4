"""Numbers that compare replayed commands with recorded ones (plain numpy, no ROS, no plotting).

* tracking error per joint: RMSE, max and mean absolute error over ticks where both exist, and
  per group (arm, hand) the RMSE, the median worst-joint error and the share of ticks matching
  within :data:`MATCH_TOLERANCE` (robust to a few late hand-overs on a busy machine);
* chunk-boundary smoothness: the command step at the first tick after each chunk arrival against
  the typical step elsewhere (a ratio near 1 means hand-overs are invisible);
* chunk agreement: predicted chunk vs the chunk the node recorded for the same observation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vla_lego.eval.replay import ReplayResult
from vla_lego.robot import ActionLayout

# A tick "matches" when every joint of the group is within this of the recorded command.
MATCH_TOLERANCE = 1e-3


def _groups(err: np.ndarray, layout: ActionLayout) -> dict[str, dict[str, float]]:
    """RMSE, median of the per-tick worst joint, and the share of matching ticks, per group."""
    out: dict[str, dict[str, float]] = {"rmse": {}, "median_abs": {}, "match_fraction": {}}
    for name, sl in (("arm", layout.arm_slice), ("hand", layout.hand_slice)):
        e = np.abs(err[:, sl])
        if e.size == 0:
            continue
        worst = e.max(axis=1)
        out["rmse"][name] = float(np.sqrt(np.mean(e**2)))
        out["median_abs"][name] = float(np.median(worst))
        out["match_fraction"][name] = float(np.mean(worst <= MATCH_TOLERANCE))
    return out


def tracking_metrics(
    predicted: np.ndarray,
    recorded: np.ndarray,
    layout: ActionLayout,
    use: np.ndarray | None = None,
) -> dict[str, Any]:
    """Per-joint and per-group errors of ``predicted`` against ``recorded`` (both ``(N, D)``),
    over the rows where both are finite (and ``use`` is True)."""
    both = np.all(np.isfinite(predicted), axis=1) & np.all(np.isfinite(recorded), axis=1)
    if use is not None:
        both &= use
    err = predicted[both] - recorded[both]
    n = int(both.sum())
    if n == 0:
        return {
            "compared_ticks": 0,
            "joints": {},
            "rmse": {},
            "median_abs": {},
            "match_fraction": {},
            "max_abs": float("nan"),
        }
    rmse = np.sqrt(np.mean(err**2, axis=0))
    max_abs = np.max(np.abs(err), axis=0)
    mean_abs = np.mean(np.abs(err), axis=0)
    joints = {
        name: {"rmse": float(rmse[i]), "max_abs": float(max_abs[i]), "mean_abs": float(mean_abs[i])}
        for i, name in enumerate(layout.names)
    }
    return {
        "compared_ticks": n,
        "joints": joints,
        **_groups(err, layout),
        "max_abs": float(max_abs.max()),
        "worst_joint": layout.names[int(np.argmax(max_abs))],
    }


def boundary_smoothness(
    times: np.ndarray, commands: np.ndarray, boundaries: np.ndarray, layout: ActionLayout
) -> dict[str, Any]:
    """Command steps at chunk hand-overs vs elsewhere.

    The step of tick ``k`` is ``|c_k - c_{k-1}|``; boundary ticks are the first tick at or after
    each boundary time. Returned per group (arm, hand): the largest boundary step, the median
    step away from boundaries, their ratio, and the largest second difference (acceleration
    proxy) at boundaries and elsewhere.
    """
    ok = np.all(np.isfinite(commands), axis=1)
    t, c = times[ok], commands[ok]
    if len(t) < 3:
        return {"boundaries": 0}
    step = np.abs(np.diff(c, axis=0))  # step[k-1] belongs to tick k
    acc = np.abs(np.diff(c, n=2, axis=0))  # acc[k-2] belongs to tick k (k >= 2)
    idx = np.searchsorted(t, boundaries, side="left")
    idx = np.unique(idx[(idx >= 1) & (idx < len(t))])
    is_b = np.zeros(len(t), bool)
    is_b[idx] = True
    out: dict[str, Any] = {"boundaries": int(idx.size)}
    for name, sl in (("arm", layout.arm_slice), ("hand", layout.hand_slice)):
        s, a = step[:, sl].max(axis=1), acc[:, sl].max(axis=1)
        sb, a_b = s[is_b[1:]], a[is_b[2:]]
        s_else, a_else = s[~is_b[1:]], a[~is_b[2:]]
        typical = float(np.median(s_else)) if s_else.size else float("nan")
        bmax = float(sb.max()) if sb.size else 0.0
        out[name] = {
            "max_boundary_step": bmax,
            "median_step": typical,
            "step_ratio": bmax / typical if typical > 0 else float("nan"),
            "max_boundary_accel": float(a_b.max()) if a_b.size else 0.0,
            "max_accel_elsewhere": float(a_else.max()) if a_else.size else 0.0,
        }
    return out


def chunk_agreement(result: ReplayResult) -> dict[str, Any]:
    """RMSE / max error between replayed chunks and the node's recorded ones (same observation)."""
    errs = []
    for c in result.chunks:
        if c.recorded_actions is None:
            continue
        h = min(len(c.actions), len(c.recorded_actions))
        errs.append(np.asarray(c.actions[:h], float) - c.recorded_actions[:h])
    if not errs:
        return {"compared_chunks": 0}
    e = np.concatenate(errs)
    return {
        "compared_chunks": len(errs),
        "rmse": float(np.sqrt(np.mean(e**2))),
        "max_abs": float(np.max(np.abs(e))),
    }


def replay_metrics(result: ReplayResult, layout: ActionLayout) -> dict[str, Any]:
    """Every metric of one replay, JSON-serialisable."""
    return {
        "label": result.label,
        "timing": result.timing,
        "inference_delay": result.inference_delay,
        "ticks": len(result.tick_times),
        "warmup_excluded_s": (
            float(max(0.0, result.compare_from - result.tick_times[0]))
            if len(result.tick_times)
            else 0.0
        ),
        "tracking": tracking_metrics(
            result.predicted, result.recorded, layout, result.tick_times >= result.compare_from
        ),
        "smoothness_predicted": boundary_smoothness(
            result.tick_times, result.predicted, result.boundaries, layout
        ),
        "chunks": chunk_agreement(result),
        "stats": result.stats,
    }


__all__ = [
    "MATCH_TOLERANCE",
    "boundary_smoothness",
    "chunk_agreement",
    "replay_metrics",
    "tracking_metrics",
]
