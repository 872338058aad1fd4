"""Build the LEGO workcell around the real H1 MJCF with ``mujoco.MjSpec``.

The H1 model is read from wherever ``vla_lego.robot.resolve_h1_mjcf`` finds it (never copied)
and edited in memory:

* the pelvis freejoint and every leg / torso joint are deleted, so the robot stands welded in
  place at the model's pelvis height; only the 8 arm joints stay;
* the model's 20 torque motors are replaced by 8 PD position actuators (``kp``/``kd`` are written
  into the actuator parameters at run time) whose torque is limited to the motors' ranges, and
  the arm links get gravity compensation (the arm_sdk controller on the robot holds the arms
  against gravity too);
* the robot's geoms do not collide with the scene: the grasp model is kinematic (see
  ``vla_lego.sim.grasp``), so arm / brick contacts would only add noise;
* the leg meshes (half of the model's triangles) are dropped: the legs are welded and hidden
  under the table, and CPU rendering time grows with the triangle count;
* a table, a pool of bricks (three 2x4, three 2x2, studs as visual cylinders), target pads, a head
  camera where the H1's head camera is, wrist cameras and shadow-free lighting are added.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from vla_lego.robot import ARM_JOINT_NAMES, resolve_h1_mjcf
from vla_lego.sim.config import SimConfig

# LEGO geometry at scale 1 (m): stud pitch, brick height without studs, stud size.
_PITCH = 0.008
_BRICK_H = 0.0096
_STUD_R = 0.0024
_STUD_H = 0.0017

# The brick pool every scene carries; tasks use a subset and park the rest under the table.
BRICK_POOL: tuple[tuple[str, int, int], ...] = (
    ("brick_0", 2, 4),
    ("brick_1", 2, 4),
    ("brick_2", 2, 2),
    ("brick_3", 2, 4),
    ("brick_4", 2, 2),
    ("brick_5", 2, 2),
)
TARGET_NAMES: tuple[str, ...] = ("target_0", "target_1")
# Centre of the H1 ball hand in its elbow link frame (measured from the link mesh).
BALL_CENTER = (0.29, 0.0, -0.0186)
BALL_RADIUS = 0.036
# Head camera in the torso frame: in front of the face plate, pitched down at the table.
HEAD_CAM_POS = (0.15, 0.0, 0.68)
_TABLE_SIZE = (0.25, 0.55)  # half extents x, y (m)
_HOLD_JOINT_GAINS = (5.0, 1.0)
_LEG_LINKS = ("hip", "knee", "ankle")  # placeholder gains until the env writes real ones


@dataclass(frozen=True)
class BrickGeometry:
    """Size of one brick type in metres (half extents of the body box)."""

    studs_x: int
    studs_y: int
    half: tuple[float, float, float]


def brick_geometry(studs_x: int, studs_y: int, scale: float) -> BrickGeometry:
    """Half extents of a ``studs_x`` x ``studs_y`` brick at ``scale`` times LEGO size."""
    # The long side lies along the brick's local x axis.
    nx, ny = max(studs_x, studs_y), min(studs_x, studs_y)
    return BrickGeometry(
        nx, ny, (nx * _PITCH * scale / 2, ny * _PITCH * scale / 2, _BRICK_H * scale / 2)
    )


def _look_quat(pitch_deg: float, yaw_deg: float = 0.0) -> np.ndarray:
    """Quaternion of a camera looking along +x of its parent, turned by ``yaw_deg`` about +z and
    pitched down by ``pitch_deg`` (image "up" stays towards the parent's +z)."""
    th, ps = np.deg2rad(pitch_deg), np.deg2rad(yaw_deg)
    fwd = np.array([np.cos(th) * np.cos(ps), np.cos(th) * np.sin(ps), -np.sin(th)])
    x_axis = np.cross(fwd, [0.0, 0.0, 1.0])
    x_axis /= np.linalg.norm(x_axis)
    y_axis = np.cross(-fwd, x_axis)
    mat = np.stack([x_axis, y_axis, -fwd], axis=1)  # columns: camera x, y, z in parent frame
    quat = np.zeros(4)
    mujoco.mju_mat2Quat(quat, mat.reshape(-1))
    return quat


def _strip_robot(spec: mujoco.MjSpec) -> None:
    """Weld the robot in place: keep only the arm joints, drop motors, sensors, dummy body."""
    keep = set(ARM_JOINT_NAMES)
    for key in list(spec.keys):  # keyframes hold full-robot qpos vectors
        spec.delete(key)
    for joint in list(spec.joints):
        if joint.name not in keep:
            spec.delete(joint)
    for act in list(spec.actuators):
        spec.delete(act)
    for sensor in list(spec.sensors):
        spec.delete(sensor)
    dummy = spec.body("not_use_body")
    if dummy is not None:
        spec.delete(dummy)
    for geom in list(spec.geoms):
        if any(k in geom.parent.name for k in _LEG_LINKS):
            spec.delete(geom)  # welded legs are never in a camera's view: skip their meshes
            continue
        geom.contype = 0
        geom.conaffinity = 0


def _add_arm_actuators(spec: mujoco.MjSpec) -> None:
    """PD position actuators; gains are placeholders the env overwrites every command."""
    torque = {"shoulder_pitch": 40.0, "shoulder_roll": 40.0, "shoulder_yaw": 18.0, "elbow": 18.0}
    kp, kd = _HOLD_JOINT_GAINS
    for name in ARM_JOINT_NAMES:
        joint = spec.joint(name)
        act = spec.add_actuator()
        act.name = name
        act.target = name
        act.trntype = mujoco.mjtTrn.mjTRN_JOINT
        act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        act.gainprm[0] = kp
        act.biasprm[0:3] = [0.0, -kp, -kd]
        act.ctrllimited = 1
        act.ctrlrange = joint.range
        limit = next(v for k, v in torque.items() if k in name)
        act.forcelimited = 1
        act.forcerange = [-limit, limit]
        body = joint.parent
        body.gravcomp = 1.0


def _add_hand_sites_and_cams(spec: mujoco.MjSpec, cfg: SimConfig) -> None:
    for side in ("left", "right"):
        elbow = spec.body(f"{side}_elbow_link_ball_hand")
        site = elbow.add_site()
        site.name = f"{side}_grasp"
        site.pos = list(BALL_CENTER)
        site.size = [0.01, 0.01, 0.01]
        cam = elbow.add_camera()
        cam.name = f"{side}_wrist"
        # Beside the forearm on the outer side, turned in: the ball hand sits at the image edge
        # and the table under it stays visible.
        out = -1.0 if side == "right" else 1.0
        cam.pos = [0.05, 0.09 * out, 0.07]
        cam.quat = _look_quat(30.0, -20.0 * out)
        cam.fovy = 75.0
    torso = spec.body("torso_link")
    head = torso.add_camera()
    head.name = "head"
    head.pos = list(HEAD_CAM_POS)
    head.quat = _look_quat(cfg.head_camera_pitch_deg)
    head.fovy = cfg.head_camera_fovy


def _add_table_and_floor(spec: mujoco.MjSpec, cfg: SimConfig) -> None:
    world = spec.worldbody
    floor = world.add_geom()
    floor.name = "floor"
    floor.type = mujoco.mjtGeom.mjGEOM_PLANE
    floor.size = [3.0, 3.0, 0.05]
    floor.rgba = [0.25, 0.27, 0.30, 1.0]
    floor.contype = 2
    floor.conaffinity = 2
    table = world.add_body()
    table.name = "table"
    table.pos = [cfg.table_x, 0.0, cfg.table_height / 2]
    top = table.add_geom()
    top.name = "table_top"
    top.type = mujoco.mjtGeom.mjGEOM_BOX
    top.size = [_TABLE_SIZE[0], _TABLE_SIZE[1], cfg.table_height / 2]
    top.rgba = [0.45, 0.45, 0.48, 1.0]
    top.contype = 2
    top.conaffinity = 2
    top.friction = [1.0, 0.01, 0.001]


def _add_brick(spec: mujoco.MjSpec, name: str, geo: BrickGeometry, park: tuple) -> None:
    body = spec.worldbody.add_body()
    body.name = name
    body.pos = list(park)
    joint = body.add_freejoint()
    joint.name = f"{name}_free"
    box = body.add_geom()
    box.name = f"{name}_body"
    box.type = mujoco.mjtGeom.mjGEOM_BOX
    box.size = list(geo.half)
    box.mass = 0.02
    box.contype = 2
    box.conaffinity = 2
    box.friction = [1.0, 0.01, 0.001]
    box.condim = 4
    scale = geo.half[0] * 2 / (geo.studs_x * _PITCH)
    for i in range(geo.studs_x):
        for j in range(geo.studs_y):
            stud = body.add_geom()
            stud.name = f"{name}_stud_{i}_{j}"
            stud.type = mujoco.mjtGeom.mjGEOM_CYLINDER
            stud.size = [_STUD_R * scale, _STUD_H * scale / 2, 0]
            stud.pos = [
                (i - (geo.studs_x - 1) / 2) * _PITCH * scale,
                (j - (geo.studs_y - 1) / 2) * _PITCH * scale,
                geo.half[2] + _STUD_H * scale / 2,
            ]
            stud.contype = 0
            stud.conaffinity = 0
            stud.mass = 0.0005


def _add_targets(spec: mujoco.MjSpec, cfg: SimConfig) -> None:
    for k, name in enumerate(TARGET_NAMES):
        body = spec.worldbody.add_body()
        body.name = name
        body.mocap = True
        body.pos = [cfg.table_x, 0.1 * k, -1.0]
        pad = body.add_geom()
        pad.name = f"{name}_pad"
        pad.type = mujoco.mjtGeom.mjGEOM_BOX
        pad.size = [0.045, 0.045, 0.001]
        pad.rgba = [0.95, 0.95, 0.95, 1.0]
        pad.contype = 0
        pad.conaffinity = 0


def _add_lighting(spec: mujoco.MjSpec, cfg: SimConfig) -> None:
    light = spec.worldbody.add_light()
    light.name = "key"
    light.pos = [cfg.table_x, 0.0, 3.0]
    light.dir = [0.0, 0.0, -1.0]
    light.castshadow = False
    light.diffuse = [0.45, 0.45, 0.45]
    spec.visual.headlight.ambient = [0.3, 0.3, 0.3]
    spec.visual.headlight.diffuse = [0.25, 0.25, 0.25]
    spec.visual.headlight.specular = [0.0, 0.0, 0.0]
    spec.visual.quality.shadowsize = 0
    spec.visual.quality.offsamples = 0  # no multisampling: 2x faster on CPU rasterisers
    spec.visual.global_.offwidth = max(cfg.image_width, 640)
    spec.visual.global_.offheight = max(cfg.image_height, 480)


def park_position(index: int) -> tuple[float, float, float]:
    """Where unused bricks rest: on the floor behind the robot, out of every camera's view."""
    return (-0.6, -0.3 + 0.15 * index, 0.03)


def build_scene(cfg: SimConfig) -> mujoco.MjModel:
    """Compile the workcell for ``cfg``.

    Raises:
        FileNotFoundError: when the H1 MJCF cannot be found (names every location tried).
    """
    path = resolve_h1_mjcf(cfg.mjcf_path)
    spec = mujoco.MjSpec.from_file(str(path))
    spec.modelname = "h1_lego"
    spec.option.timestep = cfg.physics_dt
    _strip_robot(spec)
    _add_arm_actuators(spec)
    _add_hand_sites_and_cams(spec, cfg)
    _add_table_and_floor(spec, cfg)
    for k, (name, sx, sy) in enumerate(BRICK_POOL):
        _add_brick(spec, name, brick_geometry(sx, sy, cfg.brick_scale), park_position(k))
    _add_targets(spec, cfg)
    _add_lighting(spec, cfg)
    return spec.compile()


__all__ = [
    "BALL_CENTER",
    "BALL_RADIUS",
    "BRICK_POOL",
    "TARGET_NAMES",
    "BrickGeometry",
    "brick_geometry",
    "build_scene",
    "park_position",
]
