"""``vla-replay-eval``: evaluate a policy offline on a bag, or play a bag into a live graph.

Offline (default): the bag's camera frames, joint states and instruction drive the policy node's
own runtime (:class:`~vla_lego.runtime.controller.PolicyController` with its ObservationSync,
ChunkScheduler and SafetyFilter, built by :func:`vla_lego.runtime.build.build_controller`) on a
simulated clock taken from the bag, and the commands it produces are compared with the recorded
``/h1/arm_command``. Node settings: the ``--params`` files when given, else the parameters the
node published (latched) on ``/vla/policy_params`` and the recorder stored in the bag, else the
installed ``policy.yaml`` (with a warning); then the command line. The report names the source.
The report folder holds ``report.md``, ``report.html``, ``metrics.json``, PNG plots and the
commands.

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
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from vla_lego.bags.reader import BagReader
from vla_lego.bags.streams import parse_camera_args
from vla_lego.bags.typestore import BagError
from vla_lego.eval.replay import TIMINGS, ReplayConfig, ReplayResult, replay
from vla_lego.live.play import PlayOptions, play
from vla_lego.robot import LayoutMismatchError
from vla_lego.robot import topics as T
from vla_lego.runtime.build import (
    installed_params_file,
    load_policy,
    node_values,
    values_from_text,
)
from vla_lego.runtime.policy_params import POLICY_PARAMS


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
    g.add_argument(
        "--params",
        action="append",
        metavar="FILE",
        help="policy node parameter file(s), applied in order like --params-file (default: the "
        "parameters the node published on /vla/policy_params, recorded in the bag; else the "
        "installed policy.yaml, with a warning)",
    )
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


def recorded_params(reader: BagReader) -> tuple[dict[str, Any], str] | None:
    """The node settings a bag recorded on its params topic (the first set), with a label.

    Raises:
        ValueError: the message is not a parameter file of the policy node, names unknown
            parameters or holds invalid values.
    """
    topic = T.POLICY_PARAMS_TOPIC
    if topic not in reader.topics or not reader.topics[topic].count:
        return None
    msgs = list(reader.messages([topic]))
    source = f"the bag's {topic} (recorded at {msgs[0].log_time_ns / 1e9:.3f} s)"
    values = values_from_text(str(msgs[0].msg.data), source)
    changed = [m.log_time_ns / 1e9 for m in msgs[1:] if m.msg.data != msgs[0].msg.data]
    if changed:
        print(
            f"vla-replay-eval: warning: the node's parameters changed during the recording (at "
            f"{', '.join(f'{t:.3f}' for t in changed)} s); the replay uses the first set",
            file=sys.stderr,
        )
    return values, source


def _node_settings(files: list[str], reader: BagReader) -> tuple[dict[str, Any], str]:
    """``--params`` files, else the bag's recorded parameters, else the installed file."""
    if files:
        return node_values(files), ", ".join(files)
    recorded = recorded_params(reader)
    if recorded is not None:
        return recorded
    installed = installed_params_file()
    source = str(installed) if installed else "the node's defaults (vla_lego.runtime.policy_params)"
    print(
        f"vla-replay-eval: warning: {reader.path} has no {T.POLICY_PARAMS_TOPIC} (recorded "
        f"before the node published its parameters?); replaying with {source}. Pass the files "
        "the node ran with as --params if they differ.",
        file=sys.stderr,
    )
    return node_values([installed] if installed else []), source


def _base_config(args: argparse.Namespace, reader: BagReader) -> tuple[ReplayConfig, str]:
    """The replay settings and a sentence naming where the node settings came from."""
    params, source = _node_settings(list(args.params or []), reader)
    flags = (
        ("control_rate", args.control_rate),
        ("blend", args.blend),
        ("blend_time", args.blend_time),
        ("min_inference_period", args.min_inference_period),
    )
    changes = {k: v for k, v in flags if v is not None}
    if changes:
        params = POLICY_PARAMS.resolve(params, changes)
        source += " + command line " + ", ".join(f"{k}={v}" for k, v in changes.items())
    over: dict[str, Any] = {"timing": args.timing, "allow_extra_joints": args.allow_extra_joints}
    if args.camera:
        over["cameras"] = parse_camera_args(args.camera, reader)
    if args.instruction is not None:
        over["instruction"] = args.instruction
    if args.joint_topics:
        over["joint_topics"] = tuple(args.joint_topics)
    if args.warmup is not None:
        over["settle_time"] = args.warmup
    return ReplayConfig(params=params, **over), source


def _runs(
    cfg: ReplayConfig, reader: BagReader, delays: Sequence[float] | None
) -> list[ReplayConfig]:
    topic = cfg.action_chunk_topic
    has_chunks = topic in reader.topics and reader.topics[topic].count > 0
    runs = []
    if cfg.timing == "recorded" or (cfg.timing == "auto" and has_chunks):
        runs.append(replace(cfg, timing="recorded"))
    if cfg.timing == "simulated" or (cfg.timing == "auto" and (delays or not has_chunks)):
        runs += [replace(cfg, timing="simulated", inference_delay=d) for d in (delays or [0.0])]
    return runs


def evaluate(args: argparse.Namespace) -> Path:
    """The offline evaluation behind the CLI; returns the report folder."""
    from vla_lego.eval.replay_metrics import replay_metrics
    from vla_lego.eval.replay_report import write_report

    bag = Path(args.bag)
    out = Path(args.out) if args.out else bag.with_name(bag.name + "_replay")
    if out.exists() and not args.overwrite:
        raise FileExistsError(f"report folder {out} exists already; use --out or --overwrite")
    with BagReader(bag) as reader:
        cfg, source = _base_config(args, reader)
        params = cfg.params
        spec = args.policy or str(params["policy"])
        if not spec:
            raise ValueError("no policy: pass --policy (the node parameter 'policy' is empty)")
        kwargs = json.loads(args.policy_kwargs or params["policy_kwargs"] or "{}")
        # The recorded node's backend options belong to its own policy, not to a --policy given
        # here (they may name another backend's options).
        recorded = "" if args.policy else params["backend_options"]
        options = args.backend_options or recorded or "{}"
        policy = load_policy(
            {
                **params,
                "policy": spec,
                "policy_kwargs": json.dumps(kwargs),
                "backend_options": options,
                "seed": params["seed"] if args.seed is None else args.seed,
            }
        )
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
            "node parameters": source,
            "cameras": cfg.camera_topics,
            "bag duration s": round(reader.duration_s, 3),
            "messages": reader.message_count,
            "blend": f"{params['blend']} ({params['blend_time']} s)",
            "min inference period s": params["min_inference_period"],
            "control rate Hz": cfg.control_rate,
        }
    metrics = [replay_metrics(r, cfg.layout) for r in results]
    return write_report(out, results, metrics, cfg.layout, meta, t0, overwrite=args.overwrite)


def live(args: argparse.Namespace) -> int:
    """The ``--live`` player behind the CLI; returns the number of messages published."""
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


__all__ = ["build_parser", "evaluate", "main"]

if __name__ == "__main__":
    sys.exit(main())
