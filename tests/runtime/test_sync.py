"""ObservationSync: per-joint merging, rejection reasons, staleness and skew."""

from __future__ import annotations

import numpy as np
import pytest

from vla_lego.robot import H1_LAYOUT
from vla_lego.runtime.sync import InputRejectedError, ObservationSync, SyncConfig

NAMES = list(H1_LAYOUT.names)
IMG = np.zeros((4, 4, 3), np.uint8)


def make(max_age: float = 0.2, max_skew: float = 0.1) -> ObservationSync:
    return ObservationSync(H1_LAYOUT, SyncConfig(("head", "wrist"), max_age, max_skew, 0.05))


def fill(s: ObservationSync, t: float) -> None:
    s.add_image("head", IMG, t, t)
    s.add_image("wrist", IMG, t, t)
    s.add_joint_state(NAMES, np.arange(20) * 0.01, t, t)


def test_complete_fresh_inputs_give_observation_in_layout_order() -> None:
    s = make()
    assert s.latest(0.0, "x") is None and s.problems(0.0)
    fill(s, 1.0)
    obs = s.latest(1.05, "stack")
    assert obs is not None and obs.instruction == "stack" and obs.timestamp == 1.0
    assert list(obs.images) == ["head", "wrist"]
    np.testing.assert_allclose(obs.state, np.arange(20) * 0.01, atol=1e-7)


def test_other_order_and_extra_joints_are_mapped_by_name() -> None:
    s = make()
    order = [*NAMES[::-1], "left_knee_joint"]
    s.add_joint_state(order, [float(NAMES.index(n)) if n in NAMES else np.nan for n in order], 0, 0)
    np.testing.assert_array_equal(s.joint_positions(), np.arange(20.0))


def test_missing_joint_keeps_old_value_then_goes_stale() -> None:
    s = make()
    fill(s, 0.0)
    s.add_joint_state(NAMES[1:], np.ones(19), 0.15, 0.15)
    assert s.joint_positions()[0] == 0.0 and s.joint_positions()[1] == 1.0
    s.add_image("head", IMG, 0.25, 0.25)
    s.add_image("wrist", IMG, 0.25, 0.25)
    probs = s.problems(0.25)
    assert any("joint state stale" in p and NAMES[0] in p for p in probs)


@pytest.mark.parametrize(
    ("names", "pos", "stamp", "match"),
    [
        (NAMES, [np.nan] + [0.0] * 19, 1.0, "non-finite"),
        (NAMES, [np.inf] * 20, 1.0, "non-finite"),
        (NAMES, [0.0] * 19, 1.0, "names but"),
        (NAMES[:2] + NAMES[:1], [0.0] * 3, 1.0, "repeats"),
        (["a", "b"], [0.0, 0.0], 1.0, "none of the layout"),
        (NAMES, [0.0] * 20, 5.0, "future"),
        (NAMES, [0.0] * 20, 0.0, "old"),
    ],
)
def test_bad_joint_states_are_rejected_with_reason(names, pos, stamp, match) -> None:
    s = make()
    fill(s, 1.0)
    before = s.joint_positions()
    with pytest.raises(InputRejectedError, match=match):
        s.add_joint_state(names, pos, stamp, 1.0)
    np.testing.assert_array_equal(s.joint_positions(), before)
    assert s.rejected["joint_state"] == 1


def test_bad_images_are_rejected() -> None:
    s = make()
    with pytest.raises(InputRejectedError, match="unknown camera"):
        s.add_image("tail", IMG, 0.0, 0.0)
    with pytest.raises(InputRejectedError, match="uint8"):
        s.add_image("head", IMG.astype(np.float32), 0.0, 0.0)
    with pytest.raises(InputRejectedError, match="future"):
        s.add_image("head", IMG, 10.0, 0.0)
    assert s.rejected["image"] == 3


def test_stale_camera_and_skew_are_reported() -> None:
    s = make()
    fill(s, 1.0)
    assert any("camera head stale" in p for p in s.problems(1.3))
    s.add_image("head", IMG, 1.15, 1.15)
    s.add_joint_state(NAMES, np.zeros(20), 1.15, 1.15)
    probs = s.problems(1.16)  # wrist frame (1.0) is 0.15 s behind: skew, not yet stale
    assert probs and "apart" in probs[0]


def test_wait_for_update_wakes_on_input() -> None:
    s = make()
    v = s.version
    assert s.wait_for_update(v, 0.01) == v
    fill(s, 0.0)
    assert s.wait_for_update(v, 0.01) > v
