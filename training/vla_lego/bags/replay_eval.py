"""``vla-replay-eval``: evaluate a policy offline on a bag, or play a bag into a live graph.

Offline (default): the bag's camera frames, joint states and instruction drive the policy node's
own runtime (:class:`~vla_lego.runtime.controller.PolicyController` with its ObservationSync,
ChunkScheduler and SafetyFilter) on a simulated clock taken from the bag, and the commands it
produces are compared with the recorded ``/h1/arm_command``. Node settings come from the node's
parameter file (``--params``, default: the installed ``vla_lego_policy/config/policy.yaml``), then
from the command line. The report folder holds ``report.md``, ``report.html``, ``metrics.json``,
PNG plots and the commands.

``--live``: publish the bag on its topics at the recorded rate (like ``ros2 bag play``), the
policy's own output topics left out unless ``--all-topics``.

Examples::

    vla-replay-eval runs/demo_001 --policy onnxruntime:exports/eo1 --out reports/demo_001
    vla-replay-eval runs/demo_001 --policy python:vla_lego.runtime.scripted:SinePolicy \\
        --timing simulated --inference-delay 0 0.05 0.1 0.2 --out reports/delays
    vla-replay-eval --live runs/demo_001 --restamp
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from vla_lego.bags.reader import BagReader
from vla_lego.bags.replay import TIMINGS, ReplayConfig, ReplayResult, replay
from vla_lego.bags.streams import parse_camera_args
from vla_lego.bags.typestore import BagError
from vla_lego.inference.types import Policy
from vla_lego.robot import LayoutMismatchError
from vla_lego.robot.topics import camera_name_from_topic
from vla_lego.runtime import SchedulerConfig, load_limit_overrides

POLICY_PACKAGE = "vla_lego_policy"
_REPO_ROOT = Path(__file__).resolve().parents[3]
# node parameter -> ReplayConfig field
_PARAM_FIELDS = {
    "joint_states_topic": "joint_topics",
    "command_topic": "command_topic",
    "instruction_topic": "instruction_topic",
    "action_chunk_topic": "chunk_topic",
    "control_rate": "control_rate",
    "arm_max_velocity": "arm_max_velocity",
    "hand_max_velocity": "hand_max_velocity",
    "arm_max_acceleration": "arm_max_acceleration",
    "hand_max_acceleration": "hand_max_acceleration",
    "max_input_age": "max_input_age",
    "max_time_skew": "max_time_skew",
    "max_future_stamp": "max_future_stamp",
    "max_inference_latency": "max_inference_latency",
    "min_inference_period": "min_inference_period",
    "max_consecutive_failures": "max_consecutive_failures",
}


def default_params_file() -> Path | None:
    """The policy node's ``config/policy.yaml``: installed (ament index) or in the source tree."""
    candidates = [
        Path(p) / "share" / POLICY_PACKAGE / "config" / "policy.yaml"
        for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)
        if p
    ]
    candidates.append(_REPO_ROOT / "ros2_ws" / "src" / POLICY_PACKAGE / "config" / "policy.yaml")
    return next((c for c in candidates if c.is_file()), None)


def read_node_params(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``ros__parameters`` of the first node entry of a ROS 2 parameter YAML file.

    Raises:
        FileNotFoundError / ValueError: missing file, or no ``<node>: ros__parameters:`` mapping.
    """
    import yaml

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"node parameter file {p} does not exist")
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    for entry in (data or {}).values() if isinstance(data, dict) else ():
        if isinstance(entry, dict) and isinstance(entry.get("ros__parameters"), dict):
            return dict(entry["ros__parameters"])
    raise ValueError(f"{p}: expected '<node>: ros__parameters: {{...}}', found no such mapping")


def config_from_params(params: dict[str, Any], cameras: dict[str, str]) -> ReplayConfig:
    """A :class:`ReplayConfig` with the node's parameter values."""
    kw: dict[str, Any] = {}
    for name, fld in _PARAM_FIELDS.items():
        if name in params:
            kw[fld] = (params[name],) if fld == "joint_topics" else params[name]
    sched = {k: params[k] for k in ("blend", "blend_time", "ensemble_decay") if k in params}
    limits = params.get("limits_file") or ""
    return ReplayConfig(
        cameras=cameras,
        scheduler=SchedulerConfig(**sched),
        limit_overrides=load_limit_overrides(limits) if limits else None,
        **kw,
    )


def node_config(
    cameras: dict[str, str] | None = None,
    params_file: str | os.PathLike[str] | None = None,
    reader: BagReader | None = None,
) -> ReplayConfig:
    """The policy node's settings (``params_file``, default its installed ``policy.yaml``) as a
    :class:`ReplayConfig`; cameras from the argument, the node's ``camera_topics``, or ``reader``.

    Raises:
        ValueError: no cameras can be determined.
    """
    path = params_file or default_params_file()
    params = read_node_params(path) if path else {}
    if cameras is None:
        items = node_cameras(params)
        if items is None and reader is None:
            raise ValueError("no cameras: pass them, or a bag reader to discover them from")
        cameras = (
            parse_camera_args(items, reader)
            if reader is not None
            else dict(i.split("=", 1) for i in items or [])
        )
    return config_from_params(params, cameras)


def node_cameras(params: dict[str, Any]) -> list[str] | None:
    """``NAME=TOPIC`` items from the node's ``camera_topics`` / ``camera_names``."""
    topics = [t for t in params.get("camera_topics") or [] if t]
    if not topics:
        return None
    names = [n for n in params.get("camera_names") or [] if n]
    if not names:
        names = [camera_name_from_topic(t) for t in topics]
    return [f"{n}={t}" for n, t in zip(names, topics, strict=True)]


def load_policy(
    spec: str,
    kwargs: dict[str, Any],
    seed: int | None,
    backend_options: dict[str, Any] | None = None,
) -> Policy:
    """Resolve ``--policy`` the way the node resolves its ``policy`` parameter."""
    from vla_lego.inference.loading import load_policy_from_spec

    return load_policy_from_spec(
        spec, kwargs=kwargs, seed=seed, backend_options=backend_options or None
    )


def _add_offline_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("offline evaluation")
    g.add_argument(
        "--policy",
        help="python:module:attr | BACKEND:PATH | PATH (default: the " "node parameter 'policy')",
    )
    g.add_argument("--policy-kwargs", default=None, help="JSON kwargs for a python: factory")
    g.add_argument(
        "--backend-options",
        default=None,
        help="JSON backend options of a model policy (default: the node parameter "
        "'backend_options' when --policy is not given), e.g. '{\"threads\": 1}'",
    )
    g.add_argument("--seed", type=int, help="seed of a model policy's noise")
    g.add_argument("-o", "--out", help="report folder to create (default: <bag>_replay)")
    g.add_argument("--overwrite", action="store_true", help="replace an existing report folder")
    g.add_argument("--params", help="policy node parameter YAML (default: installed policy.yaml)")
    g.add_argument("--instruction", help="instruction to use instead of the bag's topic")
    g.add_argument(
        "--camera",
        action="append",
        metavar="NAME=TOPIC",
        help="camera view name and topic, in model order (repeat); default: the "
        "node's camera_topics, else every .../camera/<name>/image_raw topic",
    )
    g.add_argument(
        "--joint-topics",
        nargs="+",
        metavar="TOPIC",
        help="JointState topics that together carry all layout joints",
    )
    g.add_argument(
        "--timing",
        choices=TIMINGS,
        default="auto",
        help="recorded: inferences when the node's happened (needs the recorded "
        "action chunks); simulated: back to back with --inference-delay",
    )
    g.add_argument(
        "--inference-delay",
        type=float,
        nargs="+",
        metavar="S",
        help="simulated inference delay(s) in seconds; several give a delay sweep",
    )
    g.add_argument("--control-rate", type=float, help="Hz (default: node parameter)")
    g.add_argument("--blend", choices=("crossfade", "ensemble", "none"))
    g.add_argument("--blend-time", type=float)
    g.add_argument("--min-inference-period", type=float)
    g.add_argument(
        "--warmup",
        type=float,
        metavar="S",
        help="seconds after the first replayed chunk blended in that are left out of the "
        "comparison (default 0.5)",
    )
    g.add_argument(
        "--allow-extra-joints",
        action="store_true",
        help="ignore joint names outside the robot layout instead of failing",
    )


def _add_live_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("live play (--live)")
    g.add_argument("--live", action="store_true", help="publish the bag into the running graph")
    g.add_argument("--rate", type=float, default=1.0, help="playback speed factor")
    g.add_argument("--topics", nargs="+", metavar="TOPIC", help="topics to publish")
    g.add_argument(
        "--all-topics",
        action="store_true",
        help="also publish the policy's outputs (arm command, chunks, status)",
    )
    g.add_argument(
        "--restamp",
        action="store_true",
        help="shift header stamps to now so staleness checks accept the inputs",
    )
    g.add_argument(
        "--clock",
        type=float,
        default=0.0,
        metavar="HZ",
        help="publish bag time on /clock at HZ (for use_sim_time nodes)",
    )
    g.add_argument("--loop", action="store_true", help="play again and again until Ctrl-C")
    g.add_argument(
        "--wait-for-subscribers",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for a subscriber on every played topic before starting",
    )
    g.add_argument("--start-delay", type=float, default=0.5, help="s to wait for discovery")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vla-replay-eval",
        description="Replay a bag through the policy node's runtime on a simulated clock and "
        "compare with the recorded commands (report folder with markdown, HTML, PNG plots); or "
        "--live: publish the bag into a running graph.",
    )
    p.add_argument("bag", help="rosbag2 bag directory (MCAP or sqlite3) or a .mcap/.db3 file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    _add_offline_args(p)
    _add_live_args(p)
    return p


def _base_config(
    args: argparse.Namespace, reader: BagReader
) -> tuple[ReplayConfig, dict[str, Any]]:
    params_path = args.params or default_params_file()
    params = read_node_params(params_path) if params_path else {}
    cameras = parse_camera_args(args.camera or node_cameras(params), reader)
    cfg = config_from_params(params, cameras)
    over: dict[str, Any] = {"timing": args.timing, "allow_extra_joints": args.allow_extra_joints}
    if args.instruction is not None:
        over["instruction"] = args.instruction
    if args.joint_topics:
        over["joint_topics"] = tuple(args.joint_topics)
    if args.control_rate is not None:
        over["control_rate"] = args.control_rate
    if args.warmup is not None:
        over["settle_time"] = args.warmup
    if args.min_inference_period is not None:
        over["min_inference_period"] = args.min_inference_period
    sched = {
        k: v for k, v in (("blend", args.blend), ("blend_time", args.blend_time)) if v is not None
    }
    if sched:
        over["scheduler"] = replace(cfg.scheduler, **sched)
    params["_file"] = str(params_path) if params_path else "(built-in defaults)"
    return replace(cfg, **over), params


def _runs(
    cfg: ReplayConfig, reader: BagReader, delays: Sequence[float] | None
) -> list[ReplayConfig]:
    has_chunks = cfg.chunk_topic in reader.topics and reader.topics[cfg.chunk_topic].count > 0
    runs = []
    if cfg.timing == "recorded" or (cfg.timing == "auto" and has_chunks):
        runs.append(replace(cfg, timing="recorded"))
    if cfg.timing == "simulated" or (cfg.timing == "auto" and (delays or not has_chunks)):
        runs += [replace(cfg, timing="simulated", inference_delay=d) for d in (delays or [0.0])]
    return runs


def evaluate(args: argparse.Namespace) -> Path:
    """The offline evaluation behind the CLI; returns the report folder."""
    from vla_lego.bags.metrics import replay_metrics
    from vla_lego.bags.report import write_report

    bag = Path(args.bag)
    out = Path(args.out) if args.out else bag.with_name(bag.name + "_replay")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"report folder {out} exists already; use --out or --overwrite")
    with BagReader(bag) as reader:
        cfg, params = _base_config(args, reader)
        spec = args.policy or str(params.get("policy") or "")
        if not spec:
            raise ValueError("no policy: pass --policy (the node parameter 'policy' is empty)")
        kwargs = json.loads(args.policy_kwargs or params.get("policy_kwargs") or "{}")
        # The recorded node's backend options belong to its own policy, not to a --policy given
        # here (they may name another backend's options).
        recorded = "" if args.policy else params.get("backend_options")
        options = json.loads(args.backend_options or recorded or "{}")
        policy = load_policy(spec, kwargs, args.seed, options)
        results: list[ReplayResult] = []
        for run in _runs(cfg, reader, args.inference_delay):
            result = replay(reader, policy, run, progress=not args.quiet)
            errors = result.stats["inference_errors"]
            if errors and not result.chunks:
                raise ValueError(
                    f"policy {spec!r} failed on every observation of {bag}: {next(iter(errors))}"
                )
            rejected = result.stats["rejected_inputs"]
            if not result.stats["accepted_chunks"] and sum(rejected.values()):
                # Comparing the hold pose with the recording would look like a (bad) result.
                raise ValueError(
                    f"{bag}: no action chunk could be produced: the node's checks rejected "
                    f"{rejected} inputs (stale or future stamps). Header stamps and log times "
                    "are probably on different clocks: record a sim-time graph with "
                    "`vla-record --use-sim-time`"
                )
            results.append(result)
        t0 = reader.start_ns / 1e9
        meta = {
            "bag": str(bag),
            "policy": spec,
            "policy_kwargs": json.dumps(kwargs),
            "node parameters": params["_file"],
            "cameras": dict(cfg.cameras),
            "bag duration s": round(reader.duration_s, 3),
            "messages": reader.message_count,
            "blend": f"{cfg.scheduler.blend} ({cfg.scheduler.blend_time} s)",
            "control rate Hz": cfg.control_rate,
        }
    metrics = [replay_metrics(r, cfg.layout) for r in results]
    return write_report(out, results, metrics, cfg.layout, meta, t0, overwrite=args.overwrite)


def live(args: argparse.Namespace) -> int:
    """The ``--live`` player behind the CLI; returns the number of messages published."""
    from vla_lego.bags.play import PlayOptions, play

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    opts = PlayOptions(
        topics=tuple(args.topics) if args.topics else None,
        exclude=() if args.all_topics else PlayOptions().exclude,
        rate=args.rate,
        start_delay=args.start_delay,
        restamp=args.restamp,
        clock_hz=args.clock,
        loop=args.loop,
        wait_for_subscribers=args.wait_for_subscribers,
    )
    return play(args.bag, opts, stop=stop, progress=not args.quiet)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.live:
            live(args)
            return 0
        out = evaluate(args)
    except (BagError, LayoutMismatchError, ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"vla-replay-eval: error: {e}", file=sys.stderr)
        return 2
    print(f"vla-replay-eval: report written to {out}/report.md")
    return 0


__all__ = [
    "build_parser",
    "config_from_params",
    "evaluate",
    "main",
    "node_config",
    "read_node_params",
]

if __name__ == "__main__":
    sys.exit(main())
