"""The demo's report folder: summary table, ``summary.json``, plots and a GIF of an episode."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from vla_lego.atomic import atomic_directory
from vla_lego.demo.config import DemoConfig
from vla_lego.eval.types import wilson_interval


def _pct(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def _fmt(v: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}{unit}"


def _replay_row(rep: dict[str, Any] | None) -> str:
    if not rep or not rep["runs"]:
        return "not run"
    r = rep["runs"][0]
    rmse = _fmt(r["worst_joint_rmse"], " rad", 6)
    return f"worst joint RMSE {rmse} over {r['compared_ticks']} ticks"


def _clamp_row(clamps: dict[str, dict[str, Any]] | None) -> str:
    """Share of commanded joint values the filter changed per phase, and its main cause."""
    if not clamps:
        return "n/a"
    cells = []
    for phase in clamps.values():
        share = phase["share"]
        causes = {k: phase[f"clamp_{k}"] for k in ("position", "velocity", "acceleration")}
        top = max(causes, key=lambda k: causes[k])
        cause = f" ({top})" if causes[top] else ""
        cells.append("n/a" if share is None else f"{100 * share:.1f} %{cause}")
    return " / ".join(cells)


def _failures(outcomes: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        if not o.success:
            key = getattr(o, "outcome", "") or "unknown"
            counts[key] = counts.get(key, 0) + 1
    return counts


def _plots(out: Path, outcomes: list[Any], periods: np.ndarray) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(6, 2.5))
    ok = [o.success for o in outcomes]
    ax.bar(range(len(ok)), [o.sim_seconds for o in outcomes], color=["g" if s else "r" for s in ok])
    ax.set_xlabel("episode")
    ax.set_ylabel("sim seconds (green = success)")
    ax.set_title("Evaluation episodes through the ROS 2 graph")
    fig.tight_layout()
    fig.savefig(out / "episodes.png", dpi=100)
    plt.close(fig)
    files.append("episodes.png")
    if periods.size:
        fig, ax = plt.subplots(figsize=(6, 2.5))
        ax.hist(periods, bins=50)
        ax.set_xlabel("command period (ms)")
        ax.set_ylabel("count")
        ax.set_title("/h1/arm_command period at the client")
        fig.tight_layout()
        fig.savefig(out / "command_period.png", dpi=100)
        plt.close(fig)
        files.append("command_period.png")
    return files


def _replay_summary(replay: dict[str, Any] | None) -> dict[str, Any] | None:
    """Worst per-joint RMSE / max error of replayed vs recorded commands, per replay run."""
    if not replay:
        return None
    runs = replay.get("metrics", {}).get("runs") or []
    out: dict[str, Any] = {"report": replay.get("report"), "runs": []}
    for r in runs:
        joints = (r.get("tracking") or {}).get("joints") or {}
        out["runs"].append(
            {
                "label": r.get("label"),
                "compared_ticks": (r.get("tracking") or {}).get("compared_ticks"),
                "worst_joint_rmse": max((j["rmse"] for j in joints.values()), default=None),
                "worst_joint_max_abs": max((j["max_abs"] for j in joints.values()), default=None),
            }
        )
    return out


def write_report(
    cfg: DemoConfig,
    data: dict[str, Any],
    train: dict[str, Any],
    export: dict[str, Any],
    ros: dict[str, Any],
    replay: dict[str, Any] | None,
    total_seconds: float,
) -> dict[str, Any]:
    """Write ``<out>/report`` (atomically replacing the previous one) and return the summary."""
    outcomes = ros["outcomes"]
    n = len(outcomes)
    k = sum(o.success for o in outcomes)
    lo, hi = wilson_interval(k, n)
    periods = np.asarray(ros["periods_ms"], dtype=float)
    inf_ms = np.asarray(ros["inference_s"], dtype=float) * 1e3
    expert = float(data.get("expert_success_rate") or 0.0)
    succ_times = [o.sim_seconds for o in outcomes if o.success]
    summary: dict[str, Any] = {
        "task": cfg.task,
        "episodes": n,
        "successes": k,
        "success_rate": k / n if n else 0.0,
        "success_ci": [lo, hi],
        "mean_completion_s": float(np.mean(succ_times)) if succ_times else None,
        "eval_seeds": [o.seed for o in outcomes],
        # Failure categories the sim counted (TaskStatus.outcome at each failed episode's end).
        "failures": _failures(outcomes),
        "demos": data["episodes"],
        "expert_success_rate": data.get("expert_success_rate"),
        "train_seconds": train["train_seconds"],
        "train_steps": train.get("steps"),
        "train_metrics": train.get("metrics", {}),
        "export_parity": export.get("parity", {}),
        "backend": cfg.backend,
        "launched_with": ros.get("launched_with"),
        "inference_ms_p50": _pct(inf_ms, 50),
        "inference_ms_p99": _pct(inf_ms, 99),
        "control_period_ms_p50": _pct(periods, 50),
        "control_p99_ms": _pct(periods, 99),
        "control_period_ms_max": float(periods.max()) if periods.size else None,
        "replay": _replay_summary(replay),
        "safety_filter_by_phase": ros.get("clamps"),
        "subtask_examples": sorted(set(ros["subtasks"]))[:5],
        "total_seconds": round(total_seconds, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }
    rows = [
        ("success rate (ROS graph)", f"{k}/{n} = {k / max(n, 1):.0%} (95% CI {lo:.0%}–{hi:.0%})"),
        ("graph started with", str(ros.get("launched_with") or "?")),
        ("mean completion time", _fmt(summary["mean_completion_s"], " s")),
        ("scripted expert success (demos)", _fmt(100 * expert, "%")),
        ("training time / steps", f"{train['train_seconds']:.0f} s / {train.get('steps')}"),
        (
            "inference latency p50 / p99",
            f"{_fmt(summary['inference_ms_p50'], ' ms')} / "
            f"{_fmt(summary['inference_ms_p99'], ' ms')}",
        ),
        (
            "control period p50 / p99 / max",
            f"{_fmt(summary['control_period_ms_p50'], ' ms')} / "
            f"{_fmt(summary['control_p99_ms'], ' ms')} / "
            f"{_fmt(summary['control_period_ms_max'], ' ms')}",
        ),
        ("replay-eval vs recorded commands", _replay_row(summary["replay"])),
        ("safety filter changes (after reset / SetTask / running)", _clamp_row(ros.get("clamps"))),
        ("total time", f"{total_seconds / 60:.1f} min"),
    ]
    table = "| metric | value |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    summary["table"] = table
    out = cfg.root / "report"
    with atomic_directory(out, overwrite=True) as tmp:
        files = _plots(tmp, outcomes, periods)
        if ros["frames"]:
            import imageio.v2 as imageio

            imageio.mimsave(tmp / "episode0.gif", ros["frames"], duration=0.2, loop=0)
            files.append("episode0.gif")
        md = [f"# VLA-LEGO demo: {cfg.task}", "", table, ""]
        md += [f"![{f}]({f})" for f in files if f.endswith((".png", ".gif"))]
        if replay:
            md += ["", f"Replay-eval report of episode 0: `{replay['report']}`"]
        (tmp / "summary.md").write_text("\n".join(md) + "\n")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


__all__ = ["write_report"]
