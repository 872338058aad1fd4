"""The demo's per-phase safety-filter counts: deltas of /vla/status counters per episode phase."""

from __future__ import annotations

from vla_lego.demo.report import _clamp_row
from vla_lego.demo.ros_eval import CLAMP_FIELDS, PHASES, ClampSnapshot, PhaseClamps


def snap(total: int, pos: int, vel: int, acc: int, values: int) -> ClampSnapshot:
    return ClampSnapshot((total, pos, vel, acc, 0), values)


def test_phases_get_the_change_between_their_snapshots() -> None:
    c = PhaseClamps()
    s = [snap(10, 0, 10, 0, 100), snap(30, 0, 25, 5, 600), snap(31, 0, 25, 6, 1600)]
    s.append(snap(31, 0, 25, 6, 9600))
    for phase, a, b in zip(PHASES, s[:-1], s[1:], strict=True):
        c.add(phase, a, b)
    assert c.counts["after reset"]["safety_clamp_count"] == 20
    assert c.counts["after reset"]["clamp_velocity"] == 15
    assert c.counts["after SetTask"]["clamp_acceleration"] == 1
    assert c.share("after reset") == 20 / 500 and c.share("steady running") == 0.0
    row = _clamp_row(c.summary())
    assert row == "4.0 % (velocity) / 0.1 % (acceleration) / 0.0 %"


def test_a_restarted_node_counts_from_zero_and_an_unsent_phase_has_no_share() -> None:
    c = PhaseClamps()
    c.add("after reset", snap(500, 0, 500, 0, 10), snap(7, 7, 0, 0, 20))  # counters reset
    assert c.counts["after reset"]["safety_clamp_count"] == 7
    assert c.counts["after reset"]["clamp_position"] == 7
    assert c.share("after SetTask") is None
    assert set(c.summary()["after reset"]) == {*CLAMP_FIELDS, "joint_values", "share"}
    assert _clamp_row(None) == "n/a"
