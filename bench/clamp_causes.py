"""Where the safety filter acts: its changes in the direct sim evaluation by cause and phase.

Runs :func:`vla_lego.eval.sim.evaluate` (the policy node's controller on sim time) and wraps each
episode's :class:`~vla_lego.runtime.safety.SafetyFilter` to attribute every changed joint-tick:

* cause: the filter's own per-cause counters (``position``, ``velocity``, ``acceleration``,
  ``nonfinite``; one joint-tick can count under several) and ``changed`` (what
  ``clamp_count`` / ``safety_clamp_share`` count: the command differs from the target);
* phase: ``hold`` (no chunk yet: after the task is set), ``first`` (the first chunk's fade-in and
  the second after it), ``join`` (``blend_time`` after a later chunk's arrival), ``knot`` (the
  first tick after the stream passes an action of the 10 Hz chunk: where linear interpolation
  steps its velocity), ``steady`` (everything else).

    python bench/clamp_causes.py --policy expert --episodes 5 --seed 40
    python bench/clamp_causes.py --policy onnxruntime:EXPORT --episodes 20 --seed 100000 \
        --param interpolation=linear

Prints a table and (``--json``) writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import yaml

import vla_lego.eval.sim as sim_eval
from vla_lego.runtime.build import node_values

PHASES = ("hold", "first", "join", "knot", "steady")
CAUSES = ("changed", "position", "velocity", "acceleration", "nonfinite")


class _Probe:
    """Wraps one episode's controller: per-tick phase and filter counter deltas."""

    def __init__(self, controller: Any, blend_time: float, table: dict[str, dict[str, int]]):
        self.c, self.blend_time, self.table = controller, blend_time, table
        self.arrivals: list[float] = []
        self.chunk_dt = math.nan
        self.first_index = math.nan
        inner_call = controller.safety.__call__
        safety = controller.safety
        probe = self

        class _Filter(type(safety)):  # type: ignore[misc]
            def __call__(self, target: np.ndarray) -> Any:
                before = dict(safety.counts)
                cmd = inner_call(target)
                probe.record(before, cmd)
                return cmd

        safety.__class__ = _Filter
        self.now = math.nan

    def on_chunk(self, event: Any) -> None:
        self.arrivals.append(float(self.c.clock()))
        self.chunk_dt = float(event.chunk.dt)

    def phase(self, now: float) -> str:
        s = self.c.scheduler
        if not self.arrivals:
            return "hold"
        if now < self.arrivals[0] + self.blend_time + 1.0:
            return "first"
        if any(a <= now < a + self.blend_time + 1e-9 for a in self.arrivals[1:]):
            return "join"
        newest = next((g for g in reversed(s._segments) if not g.is_hold), None)
        if newest is not None and math.isfinite(newest.dt):
            x = (now - newest.t0) / newest.dt + 1e-6
            if x - math.floor(x) < self.c.safety.dt / newest.dt - 1e-6:
                return "knot"
        return "steady"

    def record(self, before: dict[str, int], cmd: Any) -> None:
        ph = self.phase(self.c._ticks[-1])
        row = self.table[ph]
        row["ticks"] += 1
        row["joint_ticks"] += len(cmd.position)
        row["changed"] += cmd.changed
        for k in CAUSES[1:]:
            row[k] += self.c.safety.counts[k] - before[k]


def run(policy: str, episodes: int, seed: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """Evaluate and return the summary plus the per-phase table."""
    values = node_values((), overrides)
    table: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    probes: list[_Probe] = []
    build = sim_eval.build_controller

    def patched(values_: Any, policy_: Any, clock: Any, **kw: Any) -> Any:
        hook = kw.pop("on_chunk", None)
        holder: list[_Probe] = []

        def on_chunk(event: Any) -> None:
            holder[0].on_chunk(event)
            if hook is not None:
                hook(event)

        c = build(values_, policy_, clock, on_chunk=on_chunk, **kw)
        holder.append(_Probe(c, float(values_["blend_time"]), table))
        probes.append(holder[0])
        return c

    sim_eval.build_controller = patched
    try:
        cfg = sim_eval.EvalConfig(episodes=episodes, seed=seed, gif_episodes=0)
        summary = sim_eval.evaluate(policy, cfg, None, progress=False, values=values)
    finally:
        sim_eval.build_controller = build
    summary.pop("per_episode", None)
    summary.pop("node_settings", None)
    summary["phases"] = {p: dict(table[p]) for p in PHASES if p in table}
    # What the scheduler's own shaping changed (settings interpolation / feasible_targets).
    stats = [pr.c.scheduler.stats for pr in probes]
    joint_ticks = max(1, sum(r["joint_ticks"] for r in summary["phases"].values()))
    summary["scheduler"] = {
        "clipped_actions": sum(s["clipped_actions"] for s in stats),
        "shaped_values": sum(s["shaped_values"] for s in stats),
        "shaped_share": sum(s["shaped_values"] for s in stats) / joint_ticks,
    }
    return summary


def format_table(summary: dict[str, Any]) -> str:
    """The per-phase table as Markdown."""
    phases = summary["phases"]
    total = sum(r["joint_ticks"] for r in phases.values())
    lines = [
        "| phase | ticks | " + " | ".join(CAUSES) + " | changed share of all joint-ticks |",
        "|---" * (len(CAUSES) + 3) + "|",
    ]
    for p, r in phases.items():
        cells = " | ".join(str(r.get(k, 0)) for k in CAUSES)
        lines.append(f"| {p} | {r['ticks']} | {cells} | {100 * r['changed'] / total:.1f} % |")
    sums = {k: sum(r.get(k, 0) for r in phases.values()) for k in CAUSES}
    ticks = sum(r["ticks"] for r in phases.values())
    cells = " | ".join(str(sums[k]) for k in CAUSES)
    lines.append(f"| all | {ticks} | {cells} | {100 * sums['changed'] / total:.1f} % |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policy", default="expert")
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--seed", type=int, default=40)
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--json", default=None, help="write the summary here")
    args = p.parse_args(argv)
    overrides = {}
    for item in args.param:
        name, _, value = item.partition("=")
        overrides[name.strip()] = yaml.safe_load(value)
    summary = run(args.policy, args.episodes, args.seed, overrides)
    print(
        f"{args.policy}: success {summary['successes']}/{summary['episodes']}, "
        f"safety_clamp_share {100 * summary['safety_clamp_share']:.2f} %, "
        f"max_join_jump {summary['max_join_jump']:.3f}; scheduler shaped "
        f"{100 * summary['scheduler']['shaped_share']:.2f} % of joint-ticks, clipped "
        f"{summary['scheduler']['clipped_actions']} action values"
    )
    print(format_table(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
