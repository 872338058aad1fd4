"""sim_core: the simulated H1 honours the arm_sdk weight and CRC and reports state like the H1."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from h1_bringup.bridge_core import (
    crc_ok,
    pack_arm_cmd,
    pack_hand_cmd,
    unpack_hand_state,
    unpack_lowstate,
)
from h1_bringup.sim_core import SimRobot
from vla_lego.robot import H1_LAYOUT

sim_env = pytest.importorskip("vla_lego.sim.env", reason="vla_lego.sim not available")

KP, KD = [60.0] * 8, [1.5] * 8
L_ELBOW = H1_LAYOUT.index("left_elbow_joint")


@pytest.fixture(scope="module")
def env() -> Iterator[object]:
    from vla_lego.sim.config import SimConfig

    e = sim_env.LegoEnv(SimConfig())
    yield e
    e.close()


@pytest.fixture
def robot(env: object) -> SimRobot:
    env.reset("pick_place", 0, render=False)  # type: ignore[attr-defined]
    return SimRobot(env, float(env.model.opt.timestep))  # type: ignore[arg-type, attr-defined]


def _arm_q(robot: SimRobot) -> np.ndarray:
    msg = robot.lowstate()
    assert crc_ok(msg)
    return unpack_lowstate(msg)[0]


def test_lowstate_is_the_env_state_in_layout_order(robot: SimRobot) -> None:
    q = _arm_q(robot)
    state = robot.env.state()  # type: ignore[attr-defined]
    np.testing.assert_allclose(q, state[H1_LAYOUT.arm_slice], atol=1e-6)
    assert q[L_ELBOW] == pytest.approx(1.5, abs=0.05)  # the hold posture: elbows bent


def test_command_moves_the_arm_with_weight_one(robot: SimRobot) -> None:
    q0 = _arm_q(robot)
    target = q0.copy()
    target[L_ELBOW] = 0.5
    assert robot.on_arm_sdk(pack_arm_cmd(target, KP, KD, 1.0))
    robot.advance(robot.env.sim_time + 1.5)
    assert _arm_q(robot)[L_ELBOW] == pytest.approx(0.5, abs=0.1)
    assert robot.counters.arm_cmds == 1 and robot.counters.last_weight == 1.0


def test_weight_zero_leaves_the_arm_to_the_hold_controller(robot: SimRobot) -> None:
    q0 = _arm_q(robot)
    target = q0.copy()
    target[L_ELBOW] = 0.5
    assert robot.on_arm_sdk(pack_arm_cmd(target, KP, KD, 0.0))
    robot.advance(robot.env.sim_time + 1.0)
    np.testing.assert_allclose(_arm_q(robot), q0, atol=0.05)


def test_bad_crc_is_ignored_and_counted(robot: SimRobot) -> None:
    q0 = _arm_q(robot)
    target = q0.copy()
    target[L_ELBOW] = 0.5
    msg = pack_arm_cmd(target, KP, KD, 1.0)
    msg.crc ^= 0x1
    assert not robot.on_arm_sdk(msg)
    robot.advance(robot.env.sim_time + 1.0)
    assert robot.counters.bad_crc == 1 and robot.counters.arm_cmds == 0
    np.testing.assert_allclose(_arm_q(robot), q0, atol=0.05)


def test_hand_command_closes_the_hand(robot: SimRobot) -> None:
    hand = np.ones(12)
    hand[:6] = 0.2  # left hand nearly closed, right open
    assert robot.on_hand_cmd(pack_hand_cmd(hand))
    robot.advance(robot.env.sim_time + 1.5)
    np.testing.assert_allclose(unpack_hand_state(robot.hand_state()), hand, atol=0.02)


def test_advance_follows_the_clock(robot: SimRobot) -> None:
    t0 = robot.env.sim_time
    n = robot.advance(t0 + 0.1)
    assert n == round(0.1 / robot.physics_dt)
    assert robot.env.sim_time == pytest.approx(t0 + 0.1, abs=robot.physics_dt)
    assert robot.advance(t0) == 0  # never backwards


def _params(**over: object) -> dict[str, object]:
    from h1_bringup.node_params import SIM_PARAMS

    return {**SIM_PARAMS.defaults(), **over}


def test_preset_parameter_reaches_the_scene() -> None:
    """The node's ``preset`` builds the scene: ``hard`` places a distractor brick on the table,
    ``easy`` none; an unknown preset is refused naming the known ones."""
    from h1_bringup.sim_core import SimEpisode, scene_config
    from vla_lego.sim.config import PRESETS

    assert _params()["preset"] == "easy"
    for preset, distractors in (("easy", 0), ("hard", 1)):
        cfg = scene_config(_params(preset=preset, image_width=32, image_height=32))
        assert cfg.position_noise == PRESETS[preset]["position_noise"]
        assert (cfg.image_width, cfg.cameras) == (32, ("head",))
        env = sim_env.LegoEnv(cfg)
        episode = SimEpisode(env, "pick_place", 3)
        roles = [r for r in env.instance.bricks if r.startswith("distractor")]
        assert len(roles) == distractors, env.instance.bricks
        for role in roles:  # on the table in front of the robot, not parked
            body = env.instance.bricks[role].body
            z = env.brick_pose(body)[2]
            assert z == pytest.approx(cfg.table_height + env.brick_half_height(body), abs=0.01)
        assert episode.status().task == "pick_place"
        env.close()
    with pytest.raises(
        ValueError, match=r"unknown preset 'brutal'; expected one of \['easy', 'hard'\]"
    ):
        scene_config(_params(preset="brutal"))


def test_episode_status_and_the_instruction_check(env: object) -> None:
    """TaskStatus values (outcome, true subtask); a reset whose instruction names a colour that
    is not on the table is refused and the previous episode restarts."""
    from h1_bringup.sim_core import SimEpisode
    from vla_lego.sim.config import BRICK_COLOURS
    from vla_lego.sim.tasks import FAILURE_CATEGORIES

    ep = SimEpisode(env, "stack", 3)  # type: ignore[arg-type]
    s = ep.status()
    assert (s.task, s.seed, s.success) == ("stack", 3, False)
    assert s.instruction == env.instance.instruction  # type: ignore[attr-defined]
    assert s.outcome in FAILURE_CATEGORIES  # nothing grasped yet
    assert s.subtask == env.subtask() and s.subtask.startswith("grasp")  # type: ignore[attr-defined]
    present = sorted({b.colour for b in env.instance.bricks.values()})  # type: ignore[attr-defined]
    absent = next(c for c in BRICK_COLOURS if c not in present)
    with pytest.raises(ValueError, match=absent):
        ep.reset("pick_place", 4, f"put the {absent} brick on the white pad")
    assert (ep.task, ep.seed, ep.status().instruction) == ("stack", 3, s.instruction)
    assert env.instance.task == "stack" and env.instance.seed == 3  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="unknown task"):
        ep.reset("juggle", 1)
    assert ep.status().task == "stack"
    text = ep.reset("stack", 3, f"stack the {present[0]} brick on the other one")
    assert text == ep.status().instruction and present[0] in text
    assert ep.reset("pick_place", 5) == env.instance.instruction  # type: ignore[attr-defined]
