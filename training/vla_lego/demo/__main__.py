"""The main job end to end: demonstrations -> trained policy -> ONNX -> ROS 2 stack -> report.

Usage::

    python -m vla_lego.demo [--preset full|quick] [--fresh] [--out DIR] [key=value ...]

``key=value`` sets any :class:`vla_lego.demo.config.DemoConfig` field (e.g. ``episodes=20``).
Artifacts are cached under ``out``: a second run reuses the data, the trained policy and the
export unless their inputs changed or ``--fresh`` is given. Evaluation always runs again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import fields
from typing import Any

import numpy as np

from vla_lego.demo.config import PRESETS, DemoConfig
from vla_lego.demo.report import write_report
from vla_lego.demo.ros_eval import (
    EpisodeOutcome,
    EvalClient,
    Stack,
    command_periods_ms,
    start_recorder,
    stop_recorder,
)
from vla_lego.demo.stages import export_policy, generate_demos, train_policy
from vla_lego.eval import replay_eval


def _log(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def _coerce(cfg: DemoConfig, key: str, value: str) -> Any:
    ftype = {f.name: f.type for f in fields(cfg)}.get(key)
    if ftype is None:
        raise ValueError(f"unknown option {key!r}; known: {sorted(f.name for f in fields(cfg))}")
    current = getattr(cfg, key)
    if isinstance(current, bool):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{key} must be true or false, got {value!r}")
        return value.lower() in ("true", "1")
    if isinstance(current, tuple):
        return tuple(v for v in value.split(",") if v)
    try:
        return type(current)(value)
    except ValueError:
        raise ValueError(f"{key} must be a {type(current).__name__}, got {value!r}") from None


def parse_args(argv: list[str] | None) -> tuple[DemoConfig, bool]:
    p = argparse.ArgumentParser(prog="python -m vla_lego.demo", description=__doc__.split("\n")[0])
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


def run_ros_episodes(cfg: DemoConfig, export_dir: str) -> dict[str, Any]:
    """Stage 4: bring up the stack and run the evaluation episodes through ROS."""
    out = cfg.root / "eval"
    out.mkdir(parents=True, exist_ok=True)
    bag = out / "episode0_bag"
    if bag.exists():
        import shutil

        shutil.rmtree(bag)
    stack = Stack(export_dir, cfg.backend, cfg.task, out / "stack.log")
    _log(f"ros: started with {stack.launcher}: {' '.join(stack.argv[1:])} (logs: {out})")
    client = EvalClient(gif_frames=cfg.gif_frames)
    outcomes: list[EpisodeOutcome] = []
    recorder = None
    try:
        client.wait_ready(stack, timeout=120.0)
        for i in range(cfg.episodes):
            if i == 0 and cfg.record_episode:
                recorder = start_recorder(bag, out / "record.log")
                time.sleep(2.0)  # discovery of the recorder's subscriptions
            seed = cfg.eval_seed + i
            o = client.run_episode(cfg.task, seed, cfg.episode_seconds, stack)
            if recorder is not None:
                rc = stop_recorder(recorder)
                recorder = None
                if rc != 0:
                    raise RuntimeError(f"recorder exited {rc}; see {out / 'record.log'}")
            outcomes.append(o)
            mark = "success" if o.success else f"fail: {o.outcome or 'no outcome'}"
            _log(f"ros: episode {i + 1}/{cfg.episodes} seed {seed}: {mark} ({o.sim_seconds:.1f} s)")
    finally:
        if recorder is not None:
            stop_recorder(recorder)
        client.close()
        rc = stack.stop()
    if rc not in (0, -2, 130):
        _log(f"ros: stack exited with {rc} (see {stack.log_file})")
    periods = command_periods_ms(client.stats.command_times)
    return {
        "outcomes": outcomes,
        "periods_ms": periods,
        "inference_s": np.asarray(client.stats.inference_s),
        "subtasks": client.stats.subtasks,
        "clamps": client.stats.clamps.summary(),
        "frames": client.frames,
        "bag": str(bag) if bag.exists() else None,
        "stack_exit": rc,
        "launched_with": stack.launcher,
    }


def run_replay(cfg: DemoConfig, bag: str, export_dir: str, instruction: str) -> dict[str, Any]:
    """Stage 5: replay-eval of the recorded episode (deterministic, offline)."""
    out = cfg.root / "eval" / "replay"
    _log(f"replay: replay-eval of {bag}")
    rc = replay_eval.main(
        [
            bag,
            "--policy",
            f"{cfg.backend}:{export_dir}",
            "--instruction",
            instruction,  # set through the SetTask service, so not on a recorded topic
            "-o",
            str(out),
            "--overwrite",
            "-q",
        ]
    )
    if rc != 0:
        raise RuntimeError(f"replay-eval of {bag} failed with exit code {rc}")
    metrics: dict[str, Any] = {}
    mfile = out / "metrics.json"
    if mfile.is_file():
        metrics = json.loads(mfile.read_text())
    return {"exit_code": rc, "report": str(out), "metrics": metrics}


def main(argv: list[str] | None = None) -> int:
    try:
        cfg, fresh = parse_args(argv)
    except ValueError as e:
        print(f"vla_lego.demo: error: {e}", file=sys.stderr)
        return 2
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    t0 = time.monotonic()
    cfg.root.mkdir(parents=True, exist_ok=True)
    _log(f"[1/6] demonstrations -> {cfg.root / 'data'}")
    data = generate_demos(cfg, fresh)
    _log(f"[2/6] training -> {cfg.root / 'train'}")
    train = train_policy(cfg, data["dataset"], fresh)
    _log(f"[3/6] export -> {cfg.root / 'export'}")
    export = export_policy(cfg, train["checkpoint"], fresh, upstream=train["cache_key"])
    _log(f"[4/6] {cfg.episodes} evaluation episodes through the ROS 2 graph")
    ros = run_ros_episodes(cfg, export["export"])
    replay = None
    if ros["bag"]:
        _log("[5/6] replay-eval of the recorded episode")
        replay = run_replay(cfg, ros["bag"], export["export"], ros["outcomes"][0].instruction)
    _log("[6/6] report")
    summary = write_report(cfg, data, train, export, ros, replay, time.monotonic() - t0)
    print(summary["table"], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
