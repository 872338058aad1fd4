"""bridge_core: Unitree packing and CRC, the arm_sdk weight state machine, delta clamp, watchdog."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_
from unitree_sdk2py.utils.crc import CRC

from h1_bringup.bridge_core import (
    ArmBridge,
    BridgeConfig,
    BridgeMode,
    crc_ok,
    pack_arm_cmd,
    pack_hand_cmd,
    pack_lowstate,
    unpack_arm_cmd,
    unpack_hand_cmd,
    unpack_lowstate,
)
from vla_lego.robot import (
    ARM_SDK_WEIGHT_INDEX,
    H1_LAYOUT,
    INSPIRE_HAND_INDEX,
    MOTOR_INDEX,
    WAIST_LIMITS,
    WAIST_MOTOR_INDEX,
)

RATE = 50.0
DT = 1.0 / RATE


def _cfg(**kw: object) -> BridgeConfig:
    base: dict[str, object] = dict(
        control_rate=RATE, ramp_up_time=1.0, ramp_down_time=0.5, command_timeout=0.1
    )
    base.update(kw)
    return BridgeConfig(**base)  # type: ignore[arg-type]


def _cmd(arm: np.ndarray | None = None, hand: float = 0.5) -> np.ndarray:
    v = np.full(H1_LAYOUT.dim, hand)
    v[H1_LAYOUT.arm_slice] = 0.0 if arm is None else arm
    return v


def test_crc_is_the_sdks_and_catches_a_flipped_byte() -> None:
    q = np.linspace(-0.5, 0.5, 8)
    msg = pack_arm_cmd(q, [60.0] * 8, [1.5] * 8, 0.25)
    assert msg.crc == CRC().Crc(msg) and msg.crc != 0
    wire = bytearray(msg.serialize())
    back = LowCmd_.deserialize(bytes(wire))
    assert crc_ok(back)
    # Flip one byte inside the q field of motor slot 12 (right shoulder pitch) on the wire.
    needle = np.float32(back.motor_cmd[12].q).tobytes()
    pos = bytes(wire).find(needle)
    assert pos > 0
    wire[pos + 1] ^= 0x10
    corrupted = LowCmd_.deserialize(bytes(wire))
    assert corrupted.motor_cmd[12].q != back.motor_cmd[12].q
    assert not crc_ok(corrupted)
    assert CRC().Crc(corrupted) != corrupted.crc


def test_arm_slots_follow_h1_motor_order() -> None:
    q = np.arange(1, 9) / 10.0  # layout order: left sp, sr, sy, elbow, right sp, sr, sy, elbow
    kp = np.arange(11, 19, dtype=float)
    msg = pack_arm_cmd(q, kp, [2.0] * 8, 0.75)
    for i, name in enumerate(H1_LAYOUT.arm_names):
        slot = MOTOR_INDEX[name]
        assert msg.motor_cmd[slot].q == pytest.approx(q[i])
        assert msg.motor_cmd[slot].kp == pytest.approx(kp[i])
    assert msg.motor_cmd[16].q == pytest.approx(0.1)  # left shoulder pitch
    assert msg.motor_cmd[12].q == pytest.approx(0.5)  # right shoulder pitch
    assert msg.motor_cmd[ARM_SDK_WEIGHT_INDEX].q == pytest.approx(0.75)
    untouched = set(range(20)) - set(MOTOR_INDEX.values()) - {ARM_SDK_WEIGHT_INDEX}
    assert all(msg.motor_cmd[s].kp == 0.0 and msg.motor_cmd[s].q == 0.0 for s in untouched)
    back = unpack_arm_cmd(msg)
    np.testing.assert_allclose(back.q, q, atol=1e-6)
    assert back.weight == pytest.approx(0.75)


def test_hand_packing_uses_inspire_order() -> None:
    hand = np.linspace(0.0, 1.0, 12)  # layout: left hand 6, right hand 6
    msg = pack_hand_cmd(hand)
    assert len(msg.cmds) == 12
    assert msg.cmds[INSPIRE_HAND_INDEX["right_hand_pinky"]].q == pytest.approx(hand[6])
    assert msg.cmds[INSPIRE_HAND_INDEX["left_hand_pinky"]].q == pytest.approx(hand[0])
    np.testing.assert_allclose(unpack_hand_cmd(msg), hand, atol=1e-6)


@pytest.mark.parametrize(
    "bad", [dict(q=np.zeros(7)), dict(q=[math.nan] + [0.0] * 7), dict(weight=1.5)]
)
def test_pack_rejects_bad_values(bad: dict) -> None:
    args: dict[str, Any] = dict(q=np.zeros(8), kp=[60.0] * 8, kd=[1.5] * 8, weight=0.5)
    args.update(bad)
    with pytest.raises(ValueError, match=r"expected|weight"):
        pack_arm_cmd(**args)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="ramp_up_time"):
        _cfg(ramp_up_time=0.0)
    with pytest.raises(ValueError, match="kp"):
        _cfg(kp=(1.0, 2.0))


def _run(bridge: ArmBridge, t0: float, n: int, q: np.ndarray, command: np.ndarray | None) -> list:
    out = []
    for k in range(n):
        t = t0 + k * DT
        bridge.on_lowstate(pack_lowstate(q, np.zeros(8), k), t)
        if command is not None:
            bridge.on_command(command, t)
        out.append(bridge.tick(t))
    return out


def test_silent_robot_gets_nothing() -> None:
    b = ArmBridge(_cfg())
    for k in range(100):
        b.on_command(_cmd(), k * DT)
        o = b.tick(k * DT)
        assert o.arm is None and o.hand is None and o.mode is BridgeMode.WAITING_FOR_STATE


def test_bad_state_crc_is_not_a_valid_state() -> None:
    b = ArmBridge(_cfg())
    s = pack_lowstate(np.zeros(8), np.zeros(8), 1)
    s.crc ^= 1
    assert not b.on_lowstate(s, 0.0) and b.rejected_states == 1
    b.on_command(_cmd(), 0.0)
    assert b.tick(0.0).arm is None


def test_ramp_up_profile_and_delta_clamp() -> None:
    cfg = _cfg(ramp_up_time=1.0, arm_max_velocity=0.5, max_tracking_error=10.0)  # q stays
    b = ArmBridge(cfg)
    q0 = np.array([0.1, 0.2, 0.0, 0.3, -0.1, -0.2, 0.0, 0.3])
    target = q0 + 2.0
    outs = _run(b, 0.0, 80, q0, _cmd(np.clip(target, -1.2, 2.5)))
    weights = [o.weight for o in outs]
    expected = [min(1.0, (k + 1) * DT / cfg.ramp_up_time) for k in range(80)]
    np.testing.assert_allclose(weights, expected, atol=1e-9)
    assert outs[48].mode is BridgeMode.RAMP_UP and outs[49].mode is BridgeMode.ACTIVE
    first = unpack_arm_cmd(outs[0].arm)
    step = cfg.arm_max_velocity * DT
    assert np.all(np.abs(first.q - q0) <= step + 1e-6)
    prev = first.q
    for o in outs[1:]:
        cur = unpack_arm_cmd(o.arm).q
        assert np.all(np.abs(cur - prev) <= step + 1e-6)
        assert H1_LAYOUT.within_limits(np.concatenate([cur, np.zeros(12)]), tol=1e-6)
        prev = cur
    assert all(crc_ok(o.arm) for o in outs)
    assert outs[-1].hand is not None


def test_stale_stream_ramps_to_zero_in_configured_time() -> None:
    cfg = _cfg(ramp_up_time=0.2, ramp_down_time=0.5, command_timeout=0.1)
    b = ArmBridge(cfg)
    q = np.zeros(8)
    _run(b, 0.0, 20, q, _cmd())
    assert b.weight == 1.0 and b.mode is BridgeMode.ACTIVE
    t_last = 19 * DT
    sent_after_zero = 0
    t_zero = None
    for k in range(20, 120):
        t = k * DT
        b.on_lowstate(pack_lowstate(q, np.zeros(8), k), t)
        o = b.tick(t)
        if o.arm is not None:
            if t - t_last > cfg.command_timeout:
                assert o.hand is None  # stale: nothing new for the hands
            if t_zero is not None:
                sent_after_zero += 1
                assert unpack_arm_cmd(o.arm).weight == 0.0
        if t_zero is None and b.weight == 0.0:
            t_zero = t
    assert t_zero is not None
    assert t_zero - t_last <= cfg.command_timeout + cfg.ramp_down_time + 2 * DT
    assert t_zero - t_last >= cfg.ramp_down_time  # a ramp, not a jump
    assert sent_after_zero == cfg.zero_weight_frames - 1
    assert b.mode is BridgeMode.IDLE


def test_fresh_commands_ramp_back_up_from_measured_position() -> None:
    b = ArmBridge(_cfg(ramp_up_time=0.2, ramp_down_time=0.1))
    _run(b, 0.0, 20, np.zeros(8), _cmd())
    _run(b, 1.0, 30, np.zeros(8), None)
    assert b.mode is BridgeMode.IDLE
    moved = np.full(8, 0.3)
    outs = _run(b, 2.0, 5, moved, _cmd(moved))
    assert outs[0].mode is BridgeMode.RAMP_UP
    np.testing.assert_allclose(unpack_arm_cmd(outs[0].arm).q, moved, atol=1e-6)


def test_out_of_limit_command_is_clipped_and_nan_rejected() -> None:
    b = ArmBridge(_cfg())
    b.on_command(_cmd(np.full(8, 10.0), hand=3.0), 0.0)
    assert b.clamped_values == 20
    with pytest.raises(ValueError, match="finite"):
        b.on_command(_cmd(np.full(8, math.nan)), 0.1)
    with pytest.raises(ValueError, match="20"):
        b.on_command(np.zeros(8), 0.1)
    assert b.rejected_commands == 2


def test_shutdown_ramps_to_zero_then_goes_quiet() -> None:
    cfg = _cfg(ramp_up_time=0.2, ramp_down_time=0.4)
    b = ArmBridge(cfg)
    _run(b, 0.0, 20, np.zeros(8), _cmd())
    b.request_stop()
    outs = _run(b, 1.0, 40, np.zeros(8), _cmd())
    weights = [o.weight for o in outs]
    assert all(a >= c for a, c in itertools.pairwise(weights))
    assert weights[int(cfg.ramp_down_time * RATE)] == 0.0
    assert b.finished and b.mode is BridgeMode.STOPPED
    assert outs[-1].arm is None


def test_silent_state_is_a_latched_fault() -> None:
    cfg = _cfg(ramp_up_time=0.2, ramp_down_time=0.2, state_timeout=0.1)
    b = ArmBridge(cfg)
    _run(b, 0.0, 20, np.zeros(8), _cmd())
    t = 20 * DT
    outs = []
    for k in range(40):  # commands keep coming, the robot's state does not
        b.on_command(_cmd(), t + k * DT)
        outs.append(b.tick(t + k * DT))
    assert b.mode is BridgeMode.FAULT and "rt/lowstate" in b.fault_reason
    assert b.weight == 0.0 and outs[-1].arm is None
    later = _run(b, 5.0, 20, np.zeros(8), _cmd())  # even a returning state does not re-arm
    assert all(o.weight == 0.0 for o in later)


def test_silent_state_while_idle_waits_instead_of_faulting() -> None:
    """A robot (or sim) that stalls before anything was commanded costs nothing: the bridge
    goes back to waiting, sends nothing meanwhile, and ramps up normally once state returns."""
    cfg = _cfg(ramp_up_time=0.2, ramp_down_time=0.2, state_timeout=0.1)
    b = ArmBridge(cfg)
    _run(b, 0.0, 5, np.zeros(8), None)  # state but no commands: idle, weight 0
    assert b.mode is BridgeMode.IDLE
    t = 5 * DT
    gap = [b.tick(t + k * DT) for k in range(20)]  # 0.4 s without rt/lowstate
    assert b.mode is BridgeMode.WAITING_FOR_STATE and b.state_gaps == 1
    assert all(o.arm is None and o.weight == 0.0 for o in gap)
    b.on_command(_cmd(), t + 20 * DT)  # a command during the gap does not re-arm without state
    assert b.tick(t + 20 * DT).arm is None
    outs = _run(b, t + 21 * DT, 40, np.zeros(8), _cmd())
    assert b.mode is BridgeMode.ACTIVE and outs[-1].weight == 1.0 and b.fault_reason == ""


def test_state_vector_in_layout_order() -> None:
    b = ArmBridge(_cfg())
    assert b.state_vector() is None
    q = np.arange(8) / 10.0
    b.on_lowstate(pack_lowstate(q, np.zeros(8), 0), 0.0)
    back_q, _ = unpack_lowstate(pack_lowstate(q, np.zeros(8), 0))
    np.testing.assert_allclose(back_q, q, atol=1e-6)
    s = b.state_vector()
    assert s is not None and s.shape == (20,)
    np.testing.assert_allclose(s[:8], q, atol=1e-6)
    assert np.all(s[8:] == 1.0)  # hand_initial until a hand state or command is known


def test_large_tracking_error_restarts_from_the_measured_position() -> None:
    cfg = _cfg(ramp_up_time=0.2, max_tracking_error=0.5, arm_max_velocity=1.0)
    b = ArmBridge(cfg)
    q = np.zeros(8)
    _run(b, 0.0, 20, q, _cmd(q))
    assert b.mode is BridgeMode.ACTIVE and b.tracking_resyncs == 0
    moved = q.copy()
    moved[3] = 1.2  # the measured left elbow jumps (sim reset / pushed arm)
    out = _run(b, 1.0, 1, moved, _cmd(q))[0]
    sent = unpack_arm_cmd(out.arm).q
    assert sent[3] == pytest.approx(1.2 - cfg.arm_max_velocity * DT, abs=1e-5)
    assert b.tracking_resyncs == 1 and "left_elbow_joint" in b.last_resync
    assert out.weight == 1.0


def test_speed_cap_never_exceeds_a_joints_hardware_limit() -> None:
    """A configured cap above a joint's hardware velocity (9 rad/s for the shoulder pitch/roll,
    2 /s for the hands) is lowered to it per joint; faster joints get the configured cap."""
    cfg = _cfg(
        ramp_up_time=0.1, arm_max_velocity=20.0, hand_max_velocity=20.0, max_tracking_error=10.0
    )
    b = ArmBridge(cfg)
    q0 = np.zeros(8)
    far = np.clip(np.full(8, 2.5), H1_LAYOUT.lower[:8], H1_LAYOUT.upper[:8])
    outs = _run(b, 0.0, 3, q0, _cmd(far, hand=0.0))
    arm_limit = H1_LAYOUT.max_velocity[H1_LAYOUT.arm_slice] * DT
    hand_limit = H1_LAYOUT.max_velocity[H1_LAYOUT.hand_slice] * DT
    prev_q, prev_h = q0, np.full(12, cfg.hand_initial)
    for o in outs:
        q, h = unpack_arm_cmd(o.arm).q, unpack_hand_cmd(o.hand)
        assert np.all(np.abs(q - prev_q) <= arm_limit + 1e-6)
        assert np.all(np.abs(h - prev_h) <= hand_limit + 1e-6)
        prev_q, prev_h = q, h
    first = unpack_arm_cmd(outs[0].arm).q
    # shoulder pitch (9 rad/s) moved its own limit, the elbow (20 rad/s) the configured 20 rad/s
    pitch, elbow = H1_LAYOUT.index("left_shoulder_pitch_joint"), H1_LAYOUT.index("left_elbow_joint")
    assert first[pitch] == pytest.approx(9.0 * DT, abs=1e-6)
    assert first[elbow] == pytest.approx(20.0 * DT, abs=1e-6)


def test_waist_is_held_where_it_was_when_the_weight_left_zero() -> None:
    """The arm_sdk takes the waist over with the arms (Unitree's H1 arm_sdk example commands it),
    so every weighted message holds it at the position measured before the ramp, with gains."""
    b = ArmBridge(_cfg(ramp_up_time=0.1, ramp_down_time=0.1, waist_kp=55.0, waist_kd=2.0))
    q = np.zeros(8)
    outs = []
    for k in range(20):
        waist_now = 0.3 + 0.01 * k  # the waist drifts under load after the ramp started
        b.on_lowstate(pack_lowstate(q, np.zeros(8), k, waist_q=waist_now), k * DT)
        b.on_command(_cmd(), k * DT)
        outs.append(b.tick(k * DT))
    for o in outs:
        back = LowCmd_.deserialize(o.arm.serialize())
        assert crc_ok(back)
        assert unpack_arm_cmd(back).waist == pytest.approx((0.3, 55.0, 2.0))
        assert back.motor_cmd[WAIST_MOTOR_INDEX].mode == 0x0A
    # back to idle, then a new ramp holds the waist where it is now
    _run(b, 1.0, 30, q, None)
    assert b.mode is BridgeMode.IDLE
    b.on_lowstate(pack_lowstate(q, np.zeros(8), 99, waist_q=-0.2), 2.0)
    b.on_command(_cmd(), 2.0)
    assert unpack_arm_cmd(b.tick(2.0).arm).waist == pytest.approx((-0.2, 55.0, 2.0))


def test_non_finite_or_out_of_range_waist() -> None:
    b = ArmBridge(_cfg())
    assert not b.on_lowstate(pack_lowstate(np.zeros(8), np.zeros(8), 1, waist_q=math.nan), 0.0)
    assert b.rejected_states == 1
    # a waist measured beyond its range (encoder glitch) is held at the limit, not beyond
    b.on_lowstate(pack_lowstate(np.zeros(8), np.zeros(8), 2, waist_q=3.0), 0.0)
    b.on_command(_cmd(), 0.0)
    assert unpack_arm_cmd(b.tick(0.0).arm).waist[0] == pytest.approx(WAIST_LIMITS[1])
    with pytest.raises(ValueError, match="waist target"):
        pack_arm_cmd(np.zeros(8), [60.0] * 8, [1.5] * 8, 1.0, waist=(2.5, 60.0, 1.5))
    with pytest.raises(ValueError, match="waist_kp"):
        _cfg(waist_kp=-1.0)
