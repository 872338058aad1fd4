"""Configuration of the MuJoCo LEGO scene (frozen dataclass, validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

# Camera names the scene can render. ``head`` sits where the H1's head camera is.
CAMERA_NAMES: tuple[str, ...] = ("head", "left_wrist", "right_wrist")

# RGBA colours of the bricks, chosen to contrast with the grey table in small images.
BRICK_COLOURS: dict[str, tuple[float, float, float, float]] = {
    "red": (0.85, 0.08, 0.08, 1.0),
    "blue": (0.05, 0.25, 0.85, 1.0),
    "yellow": (0.95, 0.80, 0.05, 1.0),
    "green": (0.10, 0.65, 0.15, 1.0),
    "orange": (0.95, 0.45, 0.05, 1.0),
}


# Randomisation presets. ``easy`` is the scene every earlier result was measured on; ``hard``
# widens positions and yaw and adds a distractor brick of a colour the instruction never names.
PRESETS: dict[str, dict[str, Any]] = {
    "easy": {"position_noise": 0.03, "yaw_noise_deg": 10.0, "distractors": 0},
    "hard": {"position_noise": 0.05, "yaw_noise_deg": 30.0, "distractors": 1},
}


@dataclass(frozen=True)
class SimConfig:
    """Everything that shapes the simulated scene and its control loop.

    Args:
        mjcf_path: H1 MJCF; ``None`` resolves via ``vla_lego.robot.resolve_h1_mjcf``.
        image_height: Rendered image height in pixels (> 0).
        image_width: Rendered image width in pixels (> 0).
        cameras: Camera views returned in observations, in model view order.
        fps: Control / dataset rate in Hz; one ``step`` advances ``1 / fps`` seconds.
        physics_dt: MuJoCo time step in seconds; ``control_dt`` must be a multiple of it.
        table_height: Height of the table top above the floor (m). The H1 ball hand reaches
            the space in front of the robot only from z ~ 1.0 m up.
        table_x: Distance of the table centre in front of the pelvis (m).
        brick_scale: Scale of the bricks relative to LEGO (2.0 = DUPLO size); 2.5 keeps a 2x2 brick
            about 10 px wide in the default 128 px head image.
        arm_kp: Default PD stiffness of the arm joints for ``step`` (N m / rad).
        arm_kd: Default PD damping of the arm joints for ``step`` (N m s / rad).
        grasp_radius: A closed empty hand grasps the nearest brick whose centre is within this
            distance of the hand's grasp point (m); see ``vla_lego.sim.grasp``.
        grasp_close: Hand closure (1 - mean finger opening) at or above which a grasp happens.
        grasp_open: Closure at or below which a held brick is released (hysteresis).
        head_camera_pitch_deg: Downward pitch of the head camera (degrees below horizontal); the
            workspace lies just in front of the chest, so the camera looks steeply down.
        head_camera_fovy: Vertical field of view of the head camera (degrees).
        position_noise: Half-range of the uniform brick position randomisation (m).
        yaw_noise_deg: Half-range of the uniform brick yaw randomisation (degrees).
        episode_seconds: Time limit of an episode (s); ``None`` takes the task's own limit
            (12 s for pick_place and stack, 16 s for handover).
        stack_tolerance_m: Stack success: horizontal offset allowed between the bricks (m).
        stack_tolerance_deg: Stack success: yaw error allowed (degrees, modulo symmetry).
        place_tolerance_m: Pick-and-place success: horizontal distance to the target (m).
        distractors: Bricks on the table that the task does not use (the instruction never names
            their colour; grasping one is the failure ``wrong_brick``).
        colours: Colours the tasks draw brick colours from.
    """

    mjcf_path: str | None = None
    image_height: int = 128
    image_width: int = 128
    cameras: tuple[str, ...] = ("head",)
    fps: float = 10.0
    physics_dt: float = 0.002
    table_height: float = 0.95
    table_x: float = 0.37
    brick_scale: float = 2.5
    arm_kp: float = 120.0
    arm_kd: float = 4.0
    grasp_radius: float = 0.06
    grasp_close: float = 0.6
    grasp_open: float = 0.4
    head_camera_pitch_deg: float = 84.0
    head_camera_fovy: float = 40.0
    position_noise: float = 0.03
    yaw_noise_deg: float = 10.0
    episode_seconds: float | None = None
    stack_tolerance_m: float = 0.005
    stack_tolerance_deg: float = 5.0
    place_tolerance_m: float = 0.03
    distractors: int = 0
    colours: tuple[str, ...] = field(default_factory=lambda: tuple(BRICK_COLOURS))

    def __post_init__(self) -> None:
        for name in ("image_height", "image_width"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"SimConfig.{name} must be a positive int, got {v!r}")
        if not self.cameras:
            raise ValueError("SimConfig.cameras must name at least one camera")
        for cam in self.cameras:
            if cam not in CAMERA_NAMES:
                raise ValueError(f"unknown camera {cam!r}; expected one of {list(CAMERA_NAMES)}")
        if self.episode_seconds is not None and not self.episode_seconds > 0:
            raise ValueError(f"SimConfig.episode_seconds must be > 0, got {self.episode_seconds}")
        for name in ("fps", "physics_dt", "brick_scale", "grasp_radius"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SimConfig.{name} must be > 0, got {getattr(self, name)!r}")
        ratio = (1.0 / self.fps) / self.physics_dt
        if ratio < 1 or abs(ratio - round(ratio)) > 1e-6:
            raise ValueError(
                f"control period 1/fps = {1 / self.fps:g} s must be a whole multiple of "
                f"physics_dt = {self.physics_dt:g} s"
            )
        if not 0 <= self.grasp_open < self.grasp_close <= 1:
            raise ValueError(
                f"need 0 <= grasp_open < grasp_close <= 1, got {self.grasp_open}, "
                f"{self.grasp_close}"
            )
        if not 0.85 <= self.table_height <= 1.2:
            raise ValueError(
                f"table_height {self.table_height} m is outside the H1 arm's reach "
                "(expected 0.85..1.2 m)"
            )
        unknown = [c for c in self.colours if c not in BRICK_COLOURS]
        if unknown or not self.colours:
            raise ValueError(f"colours {unknown or '()'} invalid; known: {list(BRICK_COLOURS)}")
        if self.position_noise < 0 or self.yaw_noise_deg < 0:
            raise ValueError("position_noise and yaw_noise_deg must be >= 0")
        if self.position_noise > 0.05 or self.yaw_noise_deg > 45:
            raise ValueError(
                f"position_noise {self.position_noise} m / yaw_noise_deg {self.yaw_noise_deg} "
                "exceed 0.05 m / 45 deg: bricks would leave the arms' reach"
            )
        if not isinstance(self.distractors, int) or not 0 <= self.distractors <= 2:
            raise ValueError(f"distractors must be an int in 0..2, got {self.distractors!r}")

    @property
    def control_dt(self) -> float:
        """Seconds per control step (``1 / fps``)."""
        return 1.0 / self.fps

    @property
    def substeps(self) -> int:
        """Physics steps per control step."""
        return round(self.control_dt / self.physics_dt)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> SimConfig:
        """The config of randomisation preset ``name`` (see :data:`PRESETS`) plus ``overrides``.

        Raises:
            ValueError: unknown preset (the known ones are named) or unknown override keys.
        """
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
        return cls().with_overrides(**{**PRESETS[name], **overrides})

    def with_overrides(self, **overrides: Any) -> SimConfig:
        """Copy with ``overrides``; unknown keys raise ``ValueError`` naming the known ones."""
        known = {f.name for f in fields(self)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise ValueError(f"unknown SimConfig keys {bad}; known: {sorted(known)}")
        return replace(self, **overrides)


__all__ = ["BRICK_COLOURS", "CAMERA_NAMES", "PRESETS", "SimConfig"]
