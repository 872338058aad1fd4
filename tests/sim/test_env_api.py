"""The low-level API used by the DDS sim node, and the grasp model."""

from __future__ import annotations

import numpy as np
import pytest

from vla_lego.robot import H1_LAYOUT, INSPIRE_HAND_INDEX, MOTOR_INDEX
from vla_lego.sim import ARM_MOTOR_JOINTS, HAND_INSPIRE_ORDER, LegoEnv
from vla_lego.sim.env import HOME_ARM_Q


@pytest.fixture(scope="module")
def env() -> LegoEnv:
    return LegoEnv()


def test_orders_come_from_robot_module() -> None:
    assert [MOTOR_INDEX[n] for n in ARM_MOTOR_JOINTS] == list(range(12, 20))
    assert [INSPIRE_HAND_INDEX[n] for n in HAND_INSPIRE_ORDER] == list(range(12))


def test_pd_tracks_target_and_weight_blends_to_hold(env: LegoEnv) -> None:
    env.reset("pick_place", 0, render=False)
    target = np.array([-0.4, -0.2, 0.1, 1.0, -0.3, 0.25, -0.1, 1.2])
    kp, kd = np.full(8, 120.0), np.full(8, 4.0)
    env.set_arm_command(target, kp, kd, weight=1.0)
    env.physics_step(1000)
    q, dq = env.arm_joint_state()
    np.testing.assert_allclose(q, target, atol=0.02)
    assert np.max(np.abs(dq)) < 0.05
    env.set_arm_command(target, kp, kd, weight=0.0)  # hold controller owns the arms again
    env.physics_step(1000)
    np.testing.assert_allclose(env.arm_joint_state()[0], HOME_ARM_Q, atol=0.02)
    env.set_arm_command(target, kp, kd, weight=0.5)
    env.physics_step(1500)
    np.testing.assert_allclose(env.arm_joint_state()[0], 0.5 * target + 0.5 * HOME_ARM_Q, atol=0.03)


def test_motor_order_maps_to_layout(env: LegoEnv) -> None:
    env.reset("pick_place", 0, render=False)
    cmd = HOME_ARM_Q.copy()
    cmd[0] = -0.6  # motor 12: right shoulder pitch
    env.set_arm_command(cmd, np.full(8, 120.0), np.full(8, 4.0), 1.0)
    env.physics_step(800)
    state = env.state()
    assert abs(state[H1_LAYOUT.index("right_shoulder_pitch_joint")] + 0.6) < 0.02
    assert abs(state[H1_LAYOUT.index("left_shoulder_pitch_joint")]) < 0.02


def test_arm_command_validation_and_clipping(env: LegoEnv) -> None:
    env.reset("pick_place", 0, render=False)
    ok = np.zeros(8)
    with pytest.raises(ValueError):
        env.set_arm_command(np.zeros(7), ok, ok, 1.0)
    with pytest.raises(ValueError):
        env.set_arm_command(np.full(8, np.nan), ok, ok, 1.0)
    with pytest.raises(ValueError):
        env.set_arm_command(ok, ok, ok, 1.5)
    with pytest.raises(ValueError):
        env.set_arm_command(ok, -ok - 1, ok, 1.0)
    env.set_arm_command(np.full(8, 10.0), np.full(8, 120.0), np.full(8, 4.0), 1.0)
    lo = np.array([H1_LAYOUT.lower[H1_LAYOUT.index(n)] for n in ARM_MOTOR_JOINTS])
    hi = np.array([H1_LAYOUT.upper[H1_LAYOUT.index(n)] for n in ARM_MOTOR_JOINTS])
    act = [env.model.actuator(n).id for n in ARM_MOTOR_JOINTS]
    assert np.all(env.data.ctrl[act] <= hi) and np.all(env.data.ctrl[act] >= lo)
    with pytest.raises(ValueError):
        env.step(np.zeros(19))


def test_fingers_move_at_the_hand_speed_limit(env: LegoEnv) -> None:
    env.reset("pick_place", 0, render=False)
    cmd = np.ones(12)
    cmd[:6] = 0.0  # close the right hand (Inspire 0-5)
    env.set_hand_command(cmd)
    env.physics_step(100)  # 0.2 s at 2 /s -> 0.4 closed
    h = env.hand_state()
    np.testing.assert_allclose(h[:6], 0.6, atol=1e-6)
    np.testing.assert_allclose(h[6:], 1.0)
    assert env.hand_closure("right") == pytest.approx(0.4)
    env.physics_step(500)
    assert env.hand_closure("right") == pytest.approx(1.0)
    with pytest.raises(ValueError):
        env.set_hand_command(np.ones(6))


def _up(dz: float) -> np.ndarray:
    return np.array([0.0, 0.0, dz])


def _move_grasp_point(env: LegoEnv, side: str, target: np.ndarray, hand: float) -> None:
    from vla_lego.sim.ik import ArmIK

    ik = ArmIK(env.model, side)
    q_layout = env.state()
    res = ik.solve(target, q_layout[ik.layout_idx] + np.array([-0.5, 0, 0, -0.5]), None, 150)
    assert res.ok
    q_layout[ik.layout_idx] = res.q
    action = np.concatenate([q_layout[:8], np.full(12, hand)])
    for _ in range(15):
        env.step(action, render=False)


def test_grasp_attach_carry_release(env: LegoEnv) -> None:
    env.reset("pick_place", 4, render=False)
    body = env.instance.bricks["object"].body
    c = env.brick_pose(body)[:3]
    _move_grasp_point(env, "right", c + _up(0.10), 1.0)
    _move_grasp_point(env, "right", c + _up(0.04), 1.0)
    assert env.holder_of(body) is None
    _move_grasp_point(env, "right", c + _up(0.04), 0.0)  # close
    assert env.holder_of(body) == "right"
    _move_grasp_point(env, "right", c + _up(0.12), 0.0)  # lift: the brick follows
    assert env.brick_pose(body)[2] > c[2] + 0.06
    _move_grasp_point(env, "right", c + _up(0.12), 1.0)  # open: released, falls back down
    assert env.holder_of(body) is None
    for _ in range(10):
        env.step(env.state(), render=False)
    assert abs(env.brick_pose(body)[2] - c[2]) < 0.003


def test_closed_hand_grasps_only_within_the_radius(env: LegoEnv) -> None:
    env.reset("pick_place", 4, render=False)
    body = env.instance.bricks["object"].body
    c = env.brick_pose(body)[:3]
    _move_grasp_point(env, "right", c + _up(0.15), 0.0)  # closed, 15 cm above: nothing
    assert env.holder_of(body) is None
    _move_grasp_point(env, "right", c + _up(0.04), 0.0)  # arrives closed: grasps on arrival
    assert env.holder_of(body) == "right"


def test_unknown_task_and_use_before_reset() -> None:
    env = LegoEnv()
    with pytest.raises(RuntimeError):
        env.success()
    with pytest.raises(ValueError, match="pick_place"):
        env.reset("juggle", 0)


def test_reset_is_deterministic_per_seed(env: LegoEnv) -> None:
    env.reset("stack", 11, render=False)
    a = (env.instance.instruction, env.brick_pose(env.instance.bricks["top"].body))
    env.reset("stack", 12, render=False)
    b = env.brick_pose(env.instance.bricks["top"].body)
    env.reset("stack", 11, render=False)
    assert env.instance.instruction == a[0]
    np.testing.assert_allclose(env.brick_pose(env.instance.bricks["top"].body), a[1])
    assert not np.allclose(a[1], b)
