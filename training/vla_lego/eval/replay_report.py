"""The replay-eval report folder, written into a staging folder and renamed when complete.

Contents: ``report.md``, ``report.html``, ``metrics.json``, PNG plots (commands per joint, error
over time, and the delay sweep when several delays were simulated) and ``commands_<run>.npz``.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vla_lego.eval.replay import ReplayResult
from vla_lego.robot import ActionLayout


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "run"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    return plt


def plot_joints(result: ReplayResult, layout: ActionLayout, path: Path, t0: float) -> None:
    """Predicted vs recorded command of every joint, chunk arrivals as faint vertical lines."""
    plt = _pyplot()
    cols = 4
    rows = -(-layout.dim // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(16, 2.4 * rows), sharex=True, squeeze=False)
    bounds = result.boundaries - t0
    for j, ax in enumerate(axes.flat):
        if j >= layout.dim:
            ax.axis("off")
            continue
        if result.recorded_times.size:
            ax.plot(
                result.recorded_times - t0,
                result.recorded_values[:, j],
                "k-",
                lw=1.6,
                alpha=0.5,
                label="recorded",
            )
        ax.plot(result.tick_times - t0, result.predicted[:, j], "C1-", lw=1.0, label="replayed")
        if bounds.size:  # one collection per axis: thousands of axvlines are slow
            ax.vlines(
                bounds, 0, 1, transform=ax.get_xaxis_transform(), color="C0", lw=0.3, alpha=0.3
            )
        ax.set_title(layout.names[j], fontsize=8)
        ax.locator_params(nbins=4)  # fewer ticks: tick layout dominates the drawing time
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"commands: {result.label} (x: s since bag start)", fontsize=10)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.04, top=0.94, hspace=0.35, wspace=0.18)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_errors(result: ReplayResult, layout: ActionLayout, path: Path, t0: float) -> None:
    """Absolute error per joint over time, and the arm / hand error norms."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(12, 6), sharex=True)
    t = result.tick_times - t0
    err = np.abs(result.predicted - result.recorded)
    for j in range(layout.dim):
        color = "C0" if j < layout.arm_slice.stop else "C2"
        a1.plot(t, err[:, j], color=color, lw=0.6, alpha=0.6)
    a1.set_ylabel("|replayed - recorded| per joint")
    a1.set_title(f"error over time: {result.label} (blue arms rad, green hands)", fontsize=10)
    a2.plot(t, np.linalg.norm(err[:, layout.arm_slice], axis=1), "C0", label="arm error norm (rad)")
    a2.plot(t, np.linalg.norm(err[:, layout.hand_slice], axis=1), "C2", label="hand error norm")
    a2.set_xlabel("s since bag start")
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_delay_sweep(metrics: Sequence[dict[str, Any]], path: Path) -> None:
    """Tracking RMSE and boundary step ratio against the simulated inference delay."""
    plt = _pyplot()
    runs = sorted(
        (m for m in metrics if m["timing"] == "simulated"), key=lambda m: m["inference_delay"]
    )
    d = [m["inference_delay"] for m in runs]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for grp, color in (("arm", "C0"), ("hand", "C2")):
        a1.plot(
            d, [m["tracking"]["rmse"].get(grp, np.nan) for m in runs], "o-", color=color, label=grp
        )
        a2.plot(
            d,
            [m["smoothness_predicted"].get(grp, {}).get("step_ratio", np.nan) for m in runs],
            "o-",
            color=color,
            label=grp,
        )
    a1.set(xlabel="inference delay (s)", ylabel="RMSE vs recorded", title="tracking error")
    a2.set(
        xlabel="inference delay (s)",
        ylabel="max boundary step / median step",
        title="chunk-boundary smoothness",
    )
    a1.legend()
    a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return "n/a" if not np.isfinite(x) else f"{x:.4g}"
    return str(x)


def _summary_rows(metrics: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for m in metrics:
        tr, sm, st = m["tracking"], m["smoothness_predicted"], m["stats"]
        rows.append(
            [
                m["label"],
                m["timing"],
                _fmt(m["inference_delay"]),
                f'{tr["compared_ticks"]}/{m["ticks"]} ({_fmt(m["warmup_excluded_s"])})',
                _fmt(tr["rmse"].get("arm", float("nan"))),
                _fmt(tr["rmse"].get("hand", float("nan"))),
                _fmt(tr["max_abs"]),
                _fmt(tr.get("match_fraction", {}).get("arm", float("nan"))),
                str(tr.get("worst_joint", "")),
                _fmt(st["inferences"]),
                _fmt(m["chunks"].get("rmse", float("nan"))),
                _fmt(st["observation_mismatch"]),
                _fmt(sm.get("arm", {}).get("step_ratio", float("nan"))),
                _fmt(st["safety"]["clamp_count"]),
            ]
        )
    return rows


_SUMMARY_HEAD = [
    "run",
    "timing",
    "delay s",
    "compared ticks (warm-up s)",
    "arm RMSE rad",
    "hand RMSE",
    "max abs err",
    "arm ticks within 1e-3",
    "worst joint",
    "inferences",
    "chunk RMSE vs recorded",
    "obs mismatches",
    "boundary step ratio (arm)",
    "safety clamps",
]


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{trs}</table>"


def _joint_rows(m: dict[str, Any]) -> list[list[str]]:
    return [
        [name, _fmt(v["rmse"]), _fmt(v["mean_abs"]), _fmt(v["max_abs"])]
        for name, v in m["tracking"]["joints"].items()
    ]


def _documents(
    meta: dict[str, Any], metrics: Sequence[dict[str, Any]], plots: list[str]
) -> tuple[str, str]:
    info = [[k, str(v)] for k, v in meta.items()]
    summary = _summary_rows(metrics)
    joints = _joint_rows(metrics[0]) if metrics else []
    jhead = ["joint", "RMSE", "mean abs", "max abs"]
    md = [
        "# Replay evaluation",
        "",
        _md_table(["", ""], info),
        "",
        "## Runs",
        "",
        _md_table(_SUMMARY_HEAD, summary),
        "",
        f"## Per joint ({metrics[0]['label']})",
        "",
        _md_table(jhead, joints),
        "",
        "## Plots",
        "",
    ]
    md += [f"![{p}]({p})" for p in plots]
    body = [
        "<h1>Replay evaluation</h1>",
        _html_table(["", ""], info),
        "<h2>Runs</h2>",
        _html_table(_SUMMARY_HEAD, summary),
        f"<h2>Per joint ({html.escape(metrics[0]['label'])})</h2>",
        _html_table(jhead, joints),
        "<h2>Plots</h2>",
    ] + [f'<p><img src="{p}" alt="{p}" style="max-width:100%"></p>' for p in plots]
    style = (
        "table{border-collapse:collapse}"
        "td,th{border:1px solid #aaa;padding:2px 6px;font:13px sans-serif}"
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Replay evaluation</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>"
    )
    return "\n".join(md) + "\n", page


def write_report(
    out: str | os.PathLike[str],
    results: Sequence[ReplayResult],
    metrics: Sequence[dict[str, Any]],
    layout: ActionLayout,
    meta: dict[str, Any],
    t0: float,
    overwrite: bool = False,
) -> Path:
    """Write the report folder atomically; return its path.

    Raises:
        FileExistsError: ``out`` exists and ``overwrite`` is False.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"report folder {out} exists already; choose another or overwrite")
    tmp = out.parent / f".{out.name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        plots = []
        for r in results:
            s = _slug(r.label)
            plot_joints(r, layout, tmp / f"joints_{s}.png", t0)
            plot_errors(r, layout, tmp / f"errors_{s}.png", t0)
            plots += [f"joints_{s}.png", f"errors_{s}.png"]
            np.savez_compressed(
                tmp / f"commands_{s}.npz",
                tick_times=r.tick_times,
                predicted=r.predicted,
                recorded=r.recorded,
            )
        if sum(m["timing"] == "simulated" for m in metrics) > 1:
            plot_delay_sweep(metrics, tmp / "delay_sweep.png")
            plots.insert(0, "delay_sweep.png")
        md, page = _documents(meta, metrics, plots)
        (tmp / "report.md").write_text(md, encoding="utf-8")
        (tmp / "report.html").write_text(page, encoding="utf-8")
        (tmp / "metrics.json").write_text(
            json.dumps({"meta": meta, "runs": list(metrics)}, indent=2, default=str)
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


__all__ = ["plot_delay_sweep", "plot_errors", "plot_joints", "write_report"]
