"""The results run: every task learned by one policy, measured directly and through ROS 2.

Usage::

    python -m vla_lego.results [--preset full|small|quick] [--fresh] [--out DIR] [key=value ...]

Stages (each cached under ``out``; an interrupted run resumes where it stopped, down to single
evaluation jobs): mixed-task demonstrations -> the scripted expert's own success -> training and
ONNX export of every run (the main model per seed, the no-text ablation) -> direct evaluation of
every run x task x preset on held-out seeds -> episodes through the ROS graph (ResetSim, SetTask,
TaskStatus) -> ``results.md`` / ``results.json`` / one GIF per task in ``docs``.
``key=value`` sets any :class:`vla_lego.results.config.ResultsConfig` field.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from vla_lego.atomic import atomic_write_json
from vla_lego.demo.stages import cached
from vla_lego.results.config import PRESETS, STAGE_FIELDS, ResultsConfig, Run
from vla_lego.results.jobs import Job, direct_job, expert_job, job_key, mean, run_jobs


def _log(msg: str) -> None:
    print(f"[results] {msg}", flush=True)


# ------------------------------------------------------------------------------ arguments
def _coerce(cfg: ResultsConfig, key: str, value: str) -> Any:
    known = {f.name for f in fields(cfg)}
    if key not in known:
        raise ValueError(f"unknown option {key!r}; known: {sorted(known)}")
    current = getattr(cfg, key)
    if isinstance(current, bool):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value.lower() in ("true", "1")
    if isinstance(current, tuple):
        items = [v for v in value.split(",") if v]
        return tuple(int(v) for v in items) if key == "seeds" else tuple(items)
    try:
        return type(current)(value)
    except ValueError:
        raise ValueError(f"{key} must be a {type(current).__name__}, got {value!r}") from None


def parse_args(argv: list[str] | None) -> tuple[ResultsConfig, bool]:
    p = argparse.ArgumentParser(
        prog="python -m vla_lego.results", description=__doc__.split("\n")[0]
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="full")
    p.add_argument("--fresh", action="store_true", help="redo every stage, ignoring the cache")
    p.add_argument("--out", help="artifact folder (default: the preset's)")
    p.add_argument("options", nargs="*", metavar="key=value")
    a = p.parse_args(argv)
    cfg = PRESETS[a.preset]
    kw: dict[str, Any] = {}
    for opt in a.options:
        if "=" not in opt:
            p.error(f"expected key=value, got {opt!r}")
        k, v = opt.split("=", 1)
        kw[k] = _coerce(cfg, k, v)
    if a.out:
        kw["out"] = a.out
    return cfg.with_overrides(**kw), a.fresh


# ------------------------------------------------------------------------------ stages
def stage_data(cfg: ResultsConfig, fresh: bool) -> dict[str, Any]:
    """Mixed-task demonstrations (round-robin over the tasks) at ``train_preset``."""

    def build(out: Path) -> dict[str, Any]:
        from vla_lego.sim.generate import generate_dataset  # lazy: MuJoCo

        n = cfg.demos_per_task * len(cfg.tasks)
        _log(f"data: {n} demonstrations of {', '.join(cfg.tasks)} at preset {cfg.train_preset}")
        rep = generate_dataset(
            list(cfg.tasks), n, out / "dataset", seed=cfg.demo_seed, cfg=cfg.train_preset
        )
        return {"dataset": str(out / "dataset"), "episodes": rep.episodes, "frames": rep.frames}

    return cached(cfg, "data", fresh, build, stage_fields=STAGE_FIELDS)


def stage_expert(cfg: ResultsConfig) -> list[dict[str, Any]]:
    jobs = [
        Job(
            cfg.root / "eval" / "expert" / f"{t}_{p}",
            job_key("expert", t, p, cfg.expert_episodes, cfg.eval_seed),
            expert_job,
            (t, p, cfg.expert_episodes, cfg.eval_seed),
            {},
        )
        for t in cfg.tasks
        for p in cfg.presets
    ]
    return run_jobs(jobs, cfg.workers)


def _demo_shim(cfg: ResultsConfig, run: Run) -> Any:
    """The demo's training and export stages, sized and seeded for one run of this one."""
    from vla_lego.demo.config import DemoConfig

    return DemoConfig(
        out=str(cfg.root / "runs" / run.name),
        task="+".join(cfg.tasks),
        demos=cfg.demos_per_task * len(cfg.tasks),
        demo_seed=cfg.demo_seed,
        model=cfg.model,
        train_overrides=run.overrides,
        train_steps=cfg.train_steps,
        train_minutes=cfg.train_minutes,
        train_batch_size=cfg.train_batch_size,
        train_lr=cfg.train_lr,
        action_horizon=cfg.action_horizon,
        eval_seed=cfg.eval_seed,
        backend=cfg.backend,
    )


def check_runs(cfg: ResultsConfig) -> None:
    """Compose every run's training config now, so a bad override fails before any work."""
    from vla_lego.demo.stages import train_overrides
    from vla_lego.train import compose_config

    for run in cfg.runs:
        shim = _demo_shim(cfg, run)
        compose_config(train_overrides(shim, str(cfg.root / "data"), cfg.root / "check"))


def stage_train_export(cfg: ResultsConfig, dataset: str, fresh: bool) -> dict[str, dict]:
    from vla_lego.demo.stages import export_policy, train_policy

    out: dict[str, dict] = {}
    for run in cfg.runs:
        shim = _demo_shim(cfg, run)
        _log(f"train: run {run.name} ({'EO-1 as built' if run.text else 'no text targets'})")
        train = train_policy(shim, dataset, fresh)
        export = export_policy(shim, train["checkpoint"], fresh, upstream=train["cache_key"])
        out[run.name] = {"train": train, "export": export, "run": asdict(run)}
    return out


def stage_direct(cfg: ResultsConfig, models: dict[str, dict]) -> list[dict[str, Any]]:
    jobs = []
    for run in cfg.runs:
        export = models[run.name]["export"]
        spec = f"{cfg.backend}:{export['export']}"
        evaluator = "direct" if run.text else "direct_no_text"
        for t in cfg.tasks:
            for p in cfg.presets:
                n, seed, cap = cfg.direct_episodes, cfg.eval_seed, cfg.episode_seconds
                key = job_key(export["cache_key"], t, p, n, seed, cap)
                folder = cfg.root / "eval" / "direct" / run.name / f"{t}_{p}"
                args = (spec, t, p, n, seed, run.text, str(folder), cap)
                tags = {"evaluator": evaluator, "run": run.name, "train_seed": run.seed}
                jobs.append(Job(folder, key, direct_job, args, tags))
    return run_jobs(jobs, cfg.workers)


def stage_ros(cfg: ResultsConfig, models: dict[str, dict]) -> list[dict[str, Any]]:
    """The first main run through the ROS graph: one stack at ``ros_preset``, every task."""
    if cfg.ros_episodes == 0:
        return []
    from vla_lego.demo.ros_eval import EvalClient, Stack
    from vla_lego.sim.tasks import get_task

    run = cfg.runs[0]
    export = models[run.name]["export"]
    base = cfg.root / "eval" / "ros" / run.name
    keys = {
        t: job_key(
            export["cache_key"],
            t,
            cfg.ros_preset,
            cfg.ros_episodes,
            cfg.eval_seed,
            cfg.episode_seconds,
        )
        for t in cfg.tasks
    }
    records: dict[str, dict[str, Any]] = {}
    for t in cfg.tasks:
        rec = base / t / "record.json"
        if rec.is_file() and json.loads(rec.read_text()).get("key") == keys[t]:
            records[t] = json.loads(rec.read_text())["record"]
    todo = [t for t in cfg.tasks if t not in records]
    if todo:
        base.mkdir(parents=True, exist_ok=True)
        stack = Stack(
            export["export"], cfg.backend, todo[0], base / "stack.log", preset=cfg.ros_preset
        )
        _log(f"ros: {stack.launcher} at preset {cfg.ros_preset}; tasks {', '.join(todo)}")
        client = EvalClient(gif_frames=0)
        try:
            client.wait_ready(stack, timeout=180.0)
            for t in todo:
                limit = cfg.episode_seconds or get_task(t).time_limit
                outcomes = []
                for i in range(cfg.ros_episodes):
                    o = client.run_episode(t, cfg.eval_seed + i, limit, stack)
                    outcomes.append(o)
                    _log(f"  ros {t} seed {cfg.eval_seed + i}: {o.outcome or o.success}")
                failures: dict[str, int] = {}
                for o in outcomes:
                    if not o.success:
                        k = o.outcome or "timeout"
                        failures[k] = failures.get(k, 0) + 1
                times = [o.sim_seconds for o in outcomes if o.success]
                records[t] = {
                    "task": t,
                    "preset": cfg.ros_preset,
                    "evaluator": "ros",
                    "run": run.name,
                    "train_seed": run.seed,
                    "episodes": len(outcomes),
                    "successes": sum(o.success for o in outcomes),
                    "failures": failures,
                    "mean_completion_time": sum(times) / len(times) if times else None,
                    "subtask_accuracy": mean([o.subtask_accuracy for o in outcomes]),
                    "seeds": [cfg.eval_seed, cfg.eval_seed + cfg.ros_episodes],
                    "launched_with": stack.launcher,
                }
                (base / t).mkdir(parents=True, exist_ok=True)
                atomic_write_json(base / t / "record.json", {"key": keys[t], "record": records[t]})
        finally:
            client.close()
            stack.stop()
    return [records[t] for t in cfg.tasks]


def _commit() -> str:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def copy_gifs(cfg: ResultsConfig, direct: list[dict[str, Any]], docs: Path) -> dict[str, str]:
    """One GIF per task: the first main run's first episode at the hardest preset evaluated."""
    preset = "hard" if "hard" in cfg.presets else cfg.presets[-1]
    gifs: dict[str, str] = {}
    first = cfg.runs[0].name
    (docs / "results").mkdir(parents=True, exist_ok=True)
    for r in direct:
        if r["run"] == first and r["preset"] == preset:
            src = Path(r["report"]) / "episodes.gif"
            if src.is_file():
                dst = docs / "results" / f"{r['task']}.gif"
                shutil.copyfile(src, dst)
                gifs[r["task"]] = f"results/{r['task']}.gif"
    return gifs


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, fresh = parse_args(argv)
    except ValueError as e:
        print(f"vla_lego.results: error: {e}", file=sys.stderr)
        return 2
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("MUJOCO_GL", "egl")
    from vla_lego.results.report import write_results

    t0 = time.monotonic()
    timings: dict[str, float] = {}
    cfg.root.mkdir(parents=True, exist_ok=True)

    def lap(name: str, since: float) -> float:
        timings[name] = round(time.monotonic() - since, 1)
        return time.monotonic()

    check_runs(cfg)
    # The code that runs is the commit at the start, not at report time (a run takes an hour).
    commit = _commit()
    args = list(sys.argv[1:] if argv is None else argv)
    t = time.monotonic()
    _log(f"[1/6] demonstrations -> {cfg.root / 'data'}")
    data = stage_data(cfg, fresh)
    t = lap("data", t)
    _log(f"[2/6] expert on held-out seeds ({cfg.expert_episodes} per task and preset)")
    expert = stage_expert(cfg)
    t = lap("expert", t)
    _log(f"[3/6] training + export of {', '.join(r.name for r in cfg.runs)}")
    models = stage_train_export(cfg, data["dataset"], fresh)
    t = lap("train_export", t)
    _log(f"[4/6] direct evaluation ({cfg.direct_episodes} per run, task and preset)")
    direct = stage_direct(cfg, models)
    t = lap("direct", t)
    _log(f"[5/6] {cfg.ros_episodes} episodes per task through the ROS 2 graph")
    ros = stage_ros(cfg, models)
    t = lap("ros", t)
    _log(f"[6/6] report -> {cfg.docs}")
    docs = Path(cfg.docs)
    gifs = copy_gifs(cfg, direct, docs)
    timings["total"] = round(time.monotonic() - t0, 1)
    text = write_results(cfg, data, models, expert, direct, ros, gifs, timings, commit, args)
    print(text, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
