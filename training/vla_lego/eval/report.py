"""Report folder of a closed-loop evaluation: JSON, markdown summary, PNG plots, GIF."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from vla_lego.eval.types import EpisodeResult
from vla_lego.robot import H1_LAYOUT


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def plot_success(path: Path, results: list[EpisodeResult]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idx = np.arange(len(results))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 4.5), sharex=True)
    a1.bar(
        idx,
        [float(r.success) for r in results],
        color=["tab:green" if r.success else "tab:red" for r in results],
    )
    a1.set_ylabel("success")
    a1.set_ylim(0, 1.1)
    times = [r.completion_time if r.success else np.nan for r in results]
    a2.plot(idx, times, "o", color="tab:blue")
    a2.set_ylabel("completion time (s)")
    a2.set_xlabel("episode")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_joints(path: Path, result: EpisodeResult) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.asarray(result.trajectory["t"])
    cmd = np.asarray(result.trajectory["command"])
    state = np.asarray(result.trajectory["state"])
    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    arm = list(range(H1_LAYOUT.arm_slice.start, H1_LAYOUT.arm_slice.stop))
    for ax, side in zip(axes, ("left", "right")):
        for j in arm:
            name = H1_LAYOUT.names[j]
            if not name.startswith(side) or len(t) == 0:
                continue
            (line,) = ax.plot(t, state[:, j], label=name.replace("_joint", ""))
            ax.plot(t, cmd[:, j], "--", color=line.get_color(), alpha=0.6)
        ax.set_ylabel(f"{side} arm (rad)")
        ax.legend(fontsize=6, loc="upper right")
    axes[-1].set_xlabel("time (s); solid measured, dashed commanded")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_gif(path: Path, frames: list[np.ndarray], fps: float) -> None:
    import imageio.v2 as imageio

    if not frames:
        return
    tmp = path.with_suffix(".tmp.gif")
    imageio.mimsave(tmp, list[Any](frames), duration=1.0 / fps, loop=0)
    os.replace(tmp, path)


def write_report(
    out: Path,
    summary: dict[str, Any],
    results: list[EpisodeResult],
    gif_frames: list[np.ndarray],
    gif_fps: float,
) -> None:
    """Write ``results.json``, ``summary.md``, ``success.png``, ``joints.png``, ``episodes.gif``."""
    out.mkdir(parents=True, exist_ok=True)
    _atomic_text(out / "results.json", json.dumps(summary, indent=2))
    lo, hi = summary["success_ci95"]
    mct = summary["mean_completion_time"]
    lines = [
        f"# Closed-loop evaluation: {summary['task']}",
        "",
        f"- policy: `{summary['policy']}`",
        f"- episodes: {summary['episodes']} (seeds {results[0].seed}..{results[-1].seed})",
        f"- success: {summary['successes']}/{summary['episodes']} = "
        f"{summary['success_rate']:.2f} (95% Wilson CI {lo:.2f}-{hi:.2f})",
        f"- mean completion time: {'n/a' if mct is None else f'{mct:.2f} s'}",
        f"- mean policy call: {summary['mean_inference_ms']:.1f} ms",
    ]
    if "preset" in summary:
        fails = ", ".join(f"{k} {v}" for k, v in summary.get("failures", {}).items() if v)
        acc = summary.get("subtask_accuracy")
        grasp = summary.get("first_grasp_ok_rate")
        lines += [
            f"- preset: {summary['preset']}",
            f"- failures (counted by the sim): {fails or 'none'}",
            f"- subtask text accuracy: {'n/a' if acc is None else f'{acc:.2f}'}",
            f"- first grasp on a named brick: {'n/a' if grasp is None else f'{grasp:.2f}'}",
        ]
    lines += [
        "",
        "![success](success.png) ![joints](joints.png) ![episodes](episodes.gif)",
    ]
    _atomic_text(out / "summary.md", "\n".join(lines) + "\n")
    plot_success(out / "success.png", results)
    plot_joints(out / "joints.png", results[0])
    write_gif(out / "episodes.gif", gif_frames, gif_fps)


__all__ = ["plot_joints", "plot_success", "write_gif", "write_report"]
