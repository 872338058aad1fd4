"""Scene construction, configuration validation and rendering."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from vla_lego.robot import ARM_JOINT_NAMES, DEFAULT_H1_MJCF, resolve_h1_mjcf
from vla_lego.sim import LegoEnv, SimConfig
from vla_lego.sim.scene import BRICK_POOL, build_scene


def test_model_loads_from_default_path() -> None:
    model = build_scene(SimConfig())
    names = {model.joint(i).name for i in range(model.njnt)}
    assert set(ARM_JOINT_NAMES) <= names
    # Robot welded: no robot freejoint, no leg joints; only the bricks float.
    assert "left_knee_joint" not in names
    free = [model.joint(i).name for i in range(model.njnt) if model.jnt_type[i] == 0]
    assert sorted(free) == sorted(f"{n}_free" for n, _, _ in BRICK_POOL)
    assert model.nu == 8
    for cam in ("head", "left_wrist", "right_wrist"):
        assert model.camera(cam) is not None


def test_model_loads_from_explicit_path_and_dir() -> None:
    path = resolve_h1_mjcf()
    assert build_scene(SimConfig(mjcf_path=str(path))).nu == 8
    assert build_scene(SimConfig(mjcf_path=str(path.parent))).nu == 8


def test_missing_model_names_both_locations(tmp_path) -> None:
    missing = tmp_path / "nowhere" / "h1.xml"
    with pytest.raises(FileNotFoundError) as err:
        build_scene(SimConfig(mjcf_path=str(missing)))
    assert str(missing) in str(err.value) and str(DEFAULT_H1_MJCF) in str(err.value)


@pytest.mark.parametrize(
    "override",
    [
        {"image_height": 0},
        {"image_width": -3},
        {"cameras": ("nose",)},
        {"cameras": ()},
        {"fps": 0.0},
        {"fps": 7.0},  # 1/7 s is not a multiple of 2 ms
        {"grasp_open": 0.7, "grasp_close": 0.6},
        {"table_height": 0.5},
        {"colours": ("purple",)},
    ],
)
def test_bad_config_is_rejected(override) -> None:
    with pytest.raises(ValueError):
        SimConfig(**override)


def test_with_overrides_rejects_unknown_key() -> None:
    with pytest.raises(ValueError, match="unknown SimConfig keys"):
        SimConfig().with_overrides(image_sise=64)


def test_legs_stay_put_and_arms_hold_home() -> None:
    env = LegoEnv()
    env.reset("pick_place", 0, render=False)
    pelvis = env.data.xpos[env.model.body("pelvis").id].copy()
    q0, _ = env.arm_joint_state()
    env.physics_step(500)
    np.testing.assert_allclose(env.data.xpos[env.model.body("pelvis").id], pelvis)
    q1, dq = env.arm_joint_state()
    assert np.max(np.abs(q1 - q0)) < 0.01 and np.max(np.abs(dq)) < 0.05


def test_head_camera_sees_the_brick() -> None:
    env = LegoEnv(SimConfig(colours=("red",)))
    obs = env.reset("pick_place", 3)
    img = obs["images"]["head"]
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    red = (img[..., 0] > 150) & (img[..., 1] < 80) & (img[..., 2] < 80)
    assert red.sum() >= 20, "the red brick should cover a visible patch of the head image"
    # Parking the brick out of view makes the red patch disappear.
    adr = env.model.jnt_qposadr[env.model.body_jntadr[env.model.body("brick_0").id]]
    adr2 = env.model.jnt_qposadr[env.model.body_jntadr[env.model.body("brick_2").id]]
    for a in (adr, adr2):
        env.data.qpos[a : a + 3] = (-0.6, 0.0, 0.05)
    mujoco.mj_forward(env.model, env.data)
    img2 = env.render("head")
    red2 = (img2[..., 0] > 150) & (img2[..., 1] < 80) & (img2[..., 2] < 80)
    assert red2.sum() == 0


def test_render_size_and_wrist_cameras() -> None:
    env = LegoEnv(SimConfig(image_height=48, image_width=64, cameras=("head", "right_wrist")))
    obs = env.reset("stack", 1)
    assert list(obs["images"]) == ["head", "right_wrist"]
    assert obs["images"]["right_wrist"].shape == (48, 64, 3)
    with pytest.raises(ValueError):
        env.render("nose")


def test_layout_limits_are_the_mjcfs_joint_ranges() -> None:
    """vla_lego.robot's position limits (arms and the held waist) are the H1 model's ranges."""
    import mujoco

    from vla_lego.robot import H1_LAYOUT, WAIST_JOINT_NAME, WAIST_LIMITS

    model = mujoco.MjModel.from_xml_path(str(resolve_h1_mjcf()))
    for name in ARM_JOINT_NAMES:
        j = H1_LAYOUT.index(name)
        lo, hi = model.joint(name).range
        assert (H1_LAYOUT.lower[j], H1_LAYOUT.upper[j]) == pytest.approx((lo, hi), abs=1e-6), name
    assert pytest.approx(tuple(model.joint(WAIST_JOINT_NAME).range), abs=1e-6) == WAIST_LIMITS
