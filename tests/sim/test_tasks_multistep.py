"""Multi-step and bimanual tasks, the randomisation presets, and the sim's failure categories.

Every scene here is the real MuJoCo workcell driven by the scripted expert or by joint targets;
wrong outcomes are produced by perturbing a finished episode (moving a brick as a hand would),
so each check is exercised on the state it has to judge.
"""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np
import pytest

from vla_lego.robot import ACTION_DIM, H1_LAYOUT
from vla_lego.sim import LegoEnv, ScriptedExpert, SimConfig
from vla_lego.sim.config import BRICK_COLOURS, PRESETS
from vla_lego.sim.env import ARM_MOTOR_JOINTS, HOME_ARM_Q
from vla_lego.sim.expert import GRASP_DZ
from vla_lego.sim.grasp import quat_of_yaw
from vla_lego.sim.ik import ArmIK
from vla_lego.sim.tasks import (
    MIN_SEPARATION,
    TASKS,
    check_instruction,
    get_task,
    goal_state,
    reachable,
)

NEW_TASKS = ("tower", "pick_named", "assemble")


@pytest.fixture(scope="module")
def env_easy() -> LegoEnv:
    env = LegoEnv(SimConfig.from_preset("easy"))
    yield env
    env.close()


@pytest.fixture(scope="module")
def env_hard() -> LegoEnv:
    env = LegoEnv(SimConfig.from_preset("hard"))
    yield env
    env.close()


def _run(env: LegoEnv, task: str, seed: int, mode: str = "bimanual", until: str | None = None):
    """Run the expert to the end of its plan (or to the start of phase ``until``)."""
    env.reset(task, seed, render=False)
    expert = ScriptedExpert(env, assemble_mode=mode)
    subtasks: list[str] = []
    while not expert.finished:
        if until is not None:
            k = round(env.sim_time / env.cfg.control_dt)
            names = [p.name for p, s in zip(expert.phases, expert._phase_start) if s <= k]
            if names and names[-1] == until:
                break
        env.step(expert.act(), render=False)
        if not subtasks or subtasks[-1] != env.subtask():
            subtasks.append(env.subtask())
    return expert, subtasks


def _move_brick(env: LegoEnv, body: str, xyz, yaw: float) -> None:
    """Place a free brick (as a hand would have) and let it settle."""
    b = env.model.body(body).id
    adr = env.model.jnt_qposadr[env.model.body_jntadr[b]]
    dof = env.model.jnt_dofadr[env.model.body_jntadr[b]]
    env.data.qpos[adr : adr + 3] = xyz
    env.data.qpos[adr + 3 : adr + 7] = quat_of_yaw(yaw)
    env.data.qvel[dof : dof + 6] = 0.0
    env.physics_step(300)


# ------------------------------------------------------------------------------- presets
def test_presets_and_unknown_preset() -> None:
    hard = SimConfig.from_preset("hard")
    assert (hard.position_noise, hard.yaw_noise_deg, hard.distractors) == (0.05, 30.0, 1)
    assert SimConfig.from_preset("easy") == SimConfig()  # easy is the scene of earlier results
    with pytest.raises(ValueError, match=r"unknown preset 'medium'.*easy.*hard"):
        SimConfig.from_preset("medium")
    with pytest.raises(ValueError, match="distractors"):
        SimConfig(distractors=5)
    assert set(PRESETS) == {"easy", "hard"}


@pytest.mark.parametrize("task", sorted(TASKS))
def test_layouts_reachable_separated_and_distractors_unnamed(task: str) -> None:
    t = get_task(task)
    for preset in ("easy", "hard"):
        cfg = SimConfig.from_preset(preset)
        for seed in range(150):
            inst = t.sample(np.random.default_rng(seed), cfg, seed)
            used = t.task_roles(inst) | {r for r in inst.bricks if r.startswith("other_")}
            for role in used:
                b = inst.bricks[role]
                assert any(reachable(s, b.x, b.y) for s in t.sides(role)), (task, seed, role)
            pts = [(b.x, b.y) for b in inst.bricks.values()]
            d = [
                np.hypot(p[0] - q[0], p[1] - q[1]) for i, p in enumerate(pts) for q in pts[i + 1 :]
            ]
            assert min(d, default=1.0) >= MIN_SEPARATION - 1e-9, (task, preset, seed)
            assert len({b.body for b in inst.bricks.values()}) == len(inst.bricks)
            distractors = [b for r, b in inst.bricks.items() if r.startswith("distractor")]
            assert len(distractors) == cfg.distractors
            for b in distractors:  # never named, so the instruction stays unambiguous
                assert b.colour not in inst.instruction
                assert sum(x.colour == b.colour for x in inst.bricks.values()) == 1
            check_instruction(inst, inst.instruction)  # every named colour is on the table
    # the same seed gives the same scene
    cfg = SimConfig.from_preset("hard")
    assert t.sample(np.random.default_rng(7), cfg, 7) == t.sample(np.random.default_rng(7), cfg, 7)


def test_instruction_naming_an_absent_colour_is_refused() -> None:
    inst = get_task("pick_named").sample(np.random.default_rng(3), SimConfig(), 3)
    absent = next(c for c in BRICK_COLOURS if c not in inst.colours)
    with pytest.raises(ValueError, match=f"names \\['{absent}'\\]"):
        check_instruction(inst, f"put the {absent} brick on the white pad")


# ------------------------------------------------------------------------------- the expert
@pytest.mark.parametrize("task", NEW_TASKS)
def test_expert_solves_new_tasks_at_both_presets(task, env_easy, env_hard) -> None:
    for env in (env_easy, env_hard):
        for seed in (11, 12):
            expert, subtasks = _run(env, task, seed)
            assert env.outcome() == "success", (task, env.cfg.distractors, seed)
            assert env.success()
            assert expert.duration <= env.time_limit
            assert env.first_grasp_ok() is True
            assert len(subtasks) >= 3  # the text target changes with the phase


def test_tower_subtasks_follow_the_named_order(env_easy) -> None:
    _, subtasks = _run(env_easy, "tower", 4)
    b = env_easy.instance.bricks
    mid, top = b["mid"].label, b["top"].label
    first_mid = next(i for i, s in enumerate(subtasks) if mid in s)
    first_top = next(i for i, s in enumerate(subtasks) if s.startswith(f"grasp the {top}"))
    assert first_mid < first_top
    assert any(s == f"put the {top} on the {mid}" for s in subtasks)


# ------------------------------------------------------------------------------- failures
def test_tower_wrong_order_fails(env_easy) -> None:
    _run(env_easy, "tower", 5)
    assert env_easy.success()
    b = env_easy.instance.bricks
    base, mid = (env_easy.brick_pose(b[r].body) for r in ("base", "mid"))
    # The middle brick back on the table, the top one straight onto the base.
    _move_brick(env_easy, b["mid"].body, (0.21, -0.25, mid[2] - 0.024), mid[3])
    _move_brick(env_easy, b["top"].body, base[:3] + np.array([0, 0, 0.0245]), base[3])
    assert not env_easy.success()
    assert env_easy.outcome() == "wrong_order"


def test_misaligned_top_brick_fails(env_easy) -> None:
    _run(env_easy, "stack", 2)
    assert env_easy.success()
    b = env_easy.instance.bricks
    pt = env_easy.brick_pose(b["top"].body)
    _move_brick(env_easy, b["top"].body, pt[:3] + np.array([0.008, 0.0, 0.0005]), pt[3])
    assert not env_easy.success()
    assert env_easy.outcome() == "misaligned"
    _move_brick(env_easy, b["top"].body, pt[:3] + np.array([0.0, 0.0, 0.0005]), pt[3] + 0.2)
    assert env_easy.outcome() == "misaligned"  # yaw outside 5 deg
    _move_brick(env_easy, b["top"].body, pt[:3] + np.array([0.0, 0.0, 0.0005]), pt[3])
    assert env_easy.outcome() == "success"


def test_brick_still_held_fails(env_easy) -> None:
    _run(env_easy, "tower", 6, until="open")  # the middle brick is on the base, still held
    assert env_easy.holder_of(env_easy.instance.bricks["mid"].body) == "right"
    assert not env_easy.success()
    assert env_easy.outcome() == "timeout"


def test_grasping_a_brick_not_named_fails(env_hard) -> None:
    env = env_hard
    env.reset("pick_named", 9, render=False)
    inst = env.instance
    wrong = next(b for r, b in inst.bricks.items() if r != "object")
    ik = ArmIK(env.model, "right" if wrong.y < 0 else "left")
    home = np.zeros(ACTION_DIM)
    for j, name in enumerate(ARM_MOTOR_JOINTS):
        home[H1_LAYOUT.index(name)] = HOME_ARM_Q[j]
    target = np.array([wrong.x, wrong.y, env.brick_pose(wrong.body)[2] + GRASP_DZ])
    q = ik.solve(target, home[ik.layout_idx] + np.array([-0.5, 0, 0, -0.5]), None, 200).q
    action = home.copy()
    action[ik.layout_idx] = q
    hand = [i for i, n in enumerate(H1_LAYOUT.names) if n.startswith(f"{ik.side}_hand")]
    for k in range(40):
        action[hand] = 1.0 if k < 25 else 0.0  # reach with the hand open, then close it
        env.step(action, render=False)
    assert env.holder_of(wrong.body) == ik.side
    assert env.first_grasp_ok() is False
    # Even with the named brick then put on the pad, the episode is a failure.
    tx, ty = inst.targets["target"]
    obj = inst.bricks["object"]
    _move_brick(env, obj.body, (tx, ty, env.cfg.table_height + 0.0125), obj.yaw)
    assert not env.success()
    assert env.outcome() == "wrong_brick"


@pytest.mark.parametrize(
    ("mode", "expected"), [("left_only", "missed_grasp"), ("sequential", "not_bimanual")]
)
def test_assemble_needs_both_arms_at_once(mode, expected, env_easy) -> None:
    expert, _ = _run(env_easy, "assemble", 3, mode=mode)
    assert expert.finished
    assert not env_easy.success()
    assert env_easy.outcome() == expected
    if mode == "sequential":  # the bricks did end in the goal pose: only the hold is missing
        goals = env_easy.task.goals(env_easy.instance)  # base on the pad, top on the base
        assert [goal_state(env_easy, g) for g in goals] == ["ok", "ok"]


def test_unused_expert_mode_is_refused(env_easy) -> None:
    with pytest.raises(ValueError, match="assemble_mode"):
        ScriptedExpert(env_easy, assemble_mode="one_arm")
