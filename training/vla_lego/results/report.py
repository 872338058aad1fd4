"""``results.md`` and ``results.json`` of the results run (no sim imports: the records suffice)."""

from __future__ import annotations

import math
import os
import platform
import time
from pathlib import Path
from typing import Any

from vla_lego.atomic import atomic_write_json
from vla_lego.eval.types import wilson_interval
from vla_lego.results.config import ResultsConfig

# Issue #17's targets through ROS at the hard preset (success rate), and grounding's own.
TARGETS: dict[str, float] = {
    "pick_place": 0.90,
    "stack": 0.80,
    "handover": 0.70,
    "assemble": 0.60,
    "tower": 0.60,
}
GROUNDING_TARGET = 0.95
CATEGORIES = (
    "missed_grasp",
    "dropped_brick",
    "misaligned",
    "wrong_brick",
    "wrong_order",
    "not_bimanual",
    "timeout",
)


def newcombe_interval(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """95 % interval of p1 - p2 from the two Wilson intervals (Newcombe's method 10)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1)
    l2, u2 = wilson_interval(k2, n2)
    d = p1 - p2
    return (
        d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2),
        d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2),
    )


def _rate(r: dict[str, Any] | None) -> str:
    if not r:
        return "—"
    k, n = r["successes"], r["episodes"]
    lo, hi = wilson_interval(k, n)
    t = r.get("mean_completion_time")
    ts = f", {t:.1f} s" if t is not None else ""
    return f"{k}/{n} = {k / n:.0%} ({lo:.0%}–{hi:.0%}){ts}"


def _find(records: list[dict[str, Any]], **kw: Any) -> dict[str, Any] | None:
    for r in records:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def write_results(
    cfg: ResultsConfig,
    data: dict[str, Any],
    models: dict[str, dict[str, Any]],
    expert: list[dict[str, Any]],
    direct: list[dict[str, Any]],
    ros: list[dict[str, Any]],
    gifs: dict[str, str],
    timings: dict[str, float],
    commit: str,
    argv: list[str] | None,
) -> str:
    """Write ``results.md`` / ``results.json`` into ``cfg.docs``; returns the markdown."""
    docs = Path(cfg.docs)
    docs.mkdir(parents=True, exist_ok=True)
    records = []
    for r in [*expert, *direct, *ros]:
        lo, hi = wilson_interval(r["successes"], r["episodes"])
        records.append(
            {
                **{k: v for k, v in r.items() if k != "report"},
                "success_rate": r["successes"] / r["episodes"],
                "success_ci95": [lo, hi],
            }
        )
    command = "python -m vla_lego.results " + " ".join(argv or [])
    main_runs = [r for r in cfg.runs if r.text]
    ablation = next((r for r in cfg.runs if not r.text), None)
    lines = [
        "# Results: one policy for every task, measured directly and through ROS 2",
        "",
        f"Produced by `{command.strip()}` at commit `{commit}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, no GPU. Total {timings.get('total', 0) / 60:.1f} min "
        f"("
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items() if k != "total")
        + ").",
        "",
        f"Configuration: {cfg.demos_per_task} demonstrations per task at preset "
        f"`{cfg.train_preset}` ({data.get('episodes')} episodes, {data.get('frames')} frames), "
        f"model `{cfg.model}`, <= {cfg.train_steps} steps / {cfg.train_minutes:g} min per run, "
        f"batch {cfg.train_batch_size}, chunk {cfg.action_horizon}; held-out seeds from "
        f"{cfg.eval_seed}; {cfg.direct_episodes} direct episodes per run x task x preset, "
        f"{cfg.ros_episodes} per task through ROS at `{cfg.ros_preset}`; backend "
        f"`{cfg.backend}`. Intervals are Wilson 95 %; times are mean completion times of the "
        "successful episodes (sim seconds).",
        "",
        "| run | steps | time-limited | train min | train loss | val flow loss | val text acc |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, m in models.items():
        tr = m["train"]
        met = tr.get("metrics", {})
        lines.append(
            f"| {name} | {tr.get('steps')} | {tr.get('time_limited')} | "
            f"{tr.get('train_seconds', 0) / 60:.1f} | {met.get('loss', float('nan')):.3f} | "
            f"{met.get('val/flow_loss', float('nan')):.3f} | "
            f"{met.get('val/text_acc', float('nan')):.2f} |"
        )
    head = "| task | preset | expert | " + " | ".join(f"direct {r.name}" for r in main_runs)
    head += " | ROS " + (main_runs[0].name if main_runs else "") + " |"
    lines += ["", "## Success", "", head, "|---" * (4 + len(main_runs)) + "|"]
    for t in cfg.tasks:
        for p in cfg.presets:
            cells = [_rate(_find(expert, task=t, preset=p))]
            cells += [_rate(_find(direct, task=t, preset=p, run=r.name)) for r in main_runs]
            cells.append(_rate(_find(ros, task=t, preset=p)))
            lines.append(f"| {t} | {p} | " + " | ".join(cells) + " |")
    # Failure categories.
    lines += [
        "",
        "## Failure categories (counted by the sim: `LegoEnv.outcome`)",
        "",
        "| task | evaluator | preset | " + " | ".join(CATEGORIES) + " |",
        "|---" * (3 + len(CATEGORIES)) + "|",
    ]
    first = main_runs[0].name if main_runs else None
    for t in cfg.tasks:
        for r in [x for x in [*direct, *ros] if x["task"] == t and x.get("run") == first]:
            f = r.get("failures", {})
            lines.append(
                f"| {t} | {r['evaluator']} | {r['preset']} | "
                + " | ".join(str(f.get(c, 0)) for c in CATEGORIES)
                + " |"
            )
    # Ablation.
    if ablation is not None:
        lines += [
            "",
            f"## Subtask-text ablation (seed {ablation.seed}, same data and steps)",
            "",
            "(a) EO-1 as built: subtask text decoded autoregressively, the action block attends "
            "to it; (b) no text targets (`model.text_loss_weight=0`, `model.subtask_drop_prob=1`, "
            "node `decode_text=false`): actions conditioned on the instruction only. Difference "
            "a - b with Newcombe's 95 % interval.",
            "",
            "| task | preset | (a) text | (b) no text | a - b (95 % CI) | text accuracy (a) |",
            "|---|---|---|---|---|---|",
        ]
        a_name = f"main_s{ablation.seed}"
        for t in cfg.tasks:
            for p in cfg.presets:
                a = _find(direct, task=t, preset=p, run=a_name)
                b = _find(direct, task=t, preset=p, run=ablation.name)
                if not a or not b:
                    continue
                lo, hi = newcombe_interval(
                    a["successes"], a["episodes"], b["successes"], b["episodes"]
                )
                d = a["successes"] / a["episodes"] - b["successes"] / b["episodes"]
                lines.append(
                    f"| {t} | {p} | {_rate(a)} | {_rate(b)} | {d:+.0%} ({lo:+.0%} to {hi:+.0%})"
                    f" | {_pct(a.get('subtask_accuracy'))} |"
                )
    # Targets, ROS vs direct.
    lines += [
        "",
        f"## Targets (through ROS, preset `{cfg.ros_preset}`) and ROS vs direct",
        "",
        "| task | target | ROS | met | direct (same run, preset) | ROS - direct (95 % CI) | "
        "agree |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in cfg.tasks:
        rr = _find(ros, task=t)
        dd = _find(direct, task=t, preset=cfg.ros_preset, run=first)
        target = TARGETS.get(t)
        met = "—"
        if rr and target is not None:
            met = "yes" if rr["successes"] / rr["episodes"] >= target else "**no**"
        diff, agree = "—", "—"
        if rr and dd:
            lo, hi = newcombe_interval(
                rr["successes"], rr["episodes"], dd["successes"], dd["episodes"]
            )
            diff = f"{lo:+.0%} to {hi:+.0%}"
            agree = "yes" if lo <= 0 <= hi else "**no**"
        tgt = f">= {target:.0%}" if target is not None else "—"
        lines.append(f"| {t} | {tgt} | {_rate(rr)} | {met} | {_rate(dd)} | {diff} | {agree} |")
    g = _find(direct, task="pick_named", preset=cfg.ros_preset, run=first)
    if g is not None:
        rate = g.get("first_grasp_ok_rate")
        ok = "yes" if rate is not None and rate >= GROUNDING_TARGET else "**no**"
        lines += [
            "",
            f"Grounding (`pick_named`, direct, `{cfg.ros_preset}`): the first brick grasped was "
            f"the named one in {_pct(rate)} of the episodes that grasped one (target >= "
            f"{GROUNDING_TARGET:.0%}: {ok}).",
        ]
    if gifs:
        lines += ["", "## One episode per task (first held-out seed, first main run)", ""]
        lines += [f"![{t}]({path})" for t, path in gifs.items()]
    text = "\n".join(lines) + "\n"
    (docs / "results.md").write_text(text)
    atomic_write_json(
        docs / "results.json",
        {
            "command": command.strip(),
            "commit": commit,
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(cfg).items()},
            "timings_s": timings,
            "records": records,
        },
    )
    return text


__all__ = ["TARGETS", "newcombe_interval", "write_results"]
