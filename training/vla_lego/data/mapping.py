"""What a dataset has -> what the model needs: camera slots and the H1 joint order.

Cameras: ``{slot: dataset feature key}`` (``head: observation.images.cam_high``); without a map
every camera feature is served under its own name (key minus ``observation.images.``).

Joints: a vector feature's ``names`` are matched to the layout's joints by
:func:`vla_lego.robot.joint_name_key` (this project's names, the Unitree SDK's ``kLeftElbow``,
``unitree_IL_lerobot``'s names) and :data:`vla_lego.robot.JOINT_ALIASES` (the Inspire hands' URDF
joints), plus ``joint_aliases`` from the data config. A layout joint the dataset lacks is an error
listing them all, unless ``missing_joints`` gives it a value: then it is filled with that value and
masked out of the action loss. Dataset joints that match nothing are listed and dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vla_lego.robot import H1_LAYOUT, JOINT_ALIASES, ActionLayout, joint_name_key

IMAGE_PREFIX = "observation.images."


class MappingError(ValueError):
    """The dataset cannot be mapped onto the model's cameras or joints."""


@dataclass(frozen=True)
class JointMap:
    """Layout joint i takes dataset column ``index[i]`` (``-1``: filled with ``fill[i]``).

    Attributes:
        feature: The dataset feature (``observation.state`` or ``action``).
        names: The dataset's names of that feature, in its order.
        index: ``int [D]`` source column per layout joint, ``-1`` where missing.
        fill: ``float32 [D]`` value of missing joints (0 elsewhere).
        dropped: Dataset names that match no layout joint.
    """

    feature: str
    names: tuple[str, ...]
    index: np.ndarray
    fill: np.ndarray
    dropped: tuple[str, ...]

    @property
    def valid(self) -> np.ndarray:
        """``bool [D]``: True where the joint comes from the dataset."""
        return self.index >= 0

    @property
    def is_identity(self) -> bool:
        return len(self.names) == len(self.index) and bool(
            np.all(self.index == np.arange(len(self.index)))
        )

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Dataset vectors ``[N, len(names)]`` -> layout order ``float32 [N, D]``."""
        if x.ndim != 2 or x.shape[1] != len(self.names):
            raise MappingError(
                f"{self.feature}: data has width {x.shape[-1]}, its names list {len(self.names)}"
            )
        out = np.broadcast_to(self.fill, (len(x), len(self.index))).astype(np.float32)
        ok = self.valid
        out[:, ok] = x[:, self.index[ok]]
        return out


def _alias_keys(layout: ActionLayout, extra: Mapping[str, Sequence[str]]) -> dict[str, int]:
    keys: dict[str, int] = {}
    for i, name in enumerate(layout.names):
        spellings = [name, *JOINT_ALIASES.get(name, ()), *extra.get(name, ())]
        for s in spellings:
            k = joint_name_key(s)
            if keys.get(k, i) != i:
                raise MappingError(f"alias {s!r} of {name!r} also names {layout.names[keys[k]]!r}")
            keys[k] = i
    return keys


def map_joints(
    feature: str,
    names: Sequence[str] | None,
    layout: ActionLayout = H1_LAYOUT,
    joint_aliases: Mapping[str, Sequence[str]] | None = None,
    missing_joints: Mapping[str, float] | None = None,
) -> JointMap:
    """Match a feature's joint ``names`` to ``layout``.

    Args:
        feature: Feature key, for messages.
        names: The feature's ``names`` in the dataset (``None``: the dataset does not name them,
            accepted only when the width equals the layout's and ``names`` is then the layout's).
        layout: Target layout.
        joint_aliases: Layout joint -> further names it goes by.
        missing_joints: Layout joint -> value used where the dataset lacks it (masked).

    Raises:
        MappingError: Unknown joints in the config, a dataset name matching two joints, or layout
            joints the dataset lacks (all listed).
    """
    extra = dict(joint_aliases or {})
    fills = dict(missing_joints or {})
    unknown = [n for n in [*extra, *fills] if n not in layout.names]
    if unknown:
        raise MappingError(
            f"joint_aliases/missing_joints name joints not in the layout: {sorted(set(unknown))}; "
            f"the layout has {list(layout.names)}"
        )
    if names is None:
        raise MappingError(
            f"{feature}: the dataset does not name its joints (features.{feature}.names is "
            "null); name them in info.json"
        )
    keys = _alias_keys(layout, extra)
    index = np.full(layout.dim, -1, dtype=np.int64)
    dropped = []
    for col, n in enumerate(names):
        i = keys.get(joint_name_key(n))
        if i is None:
            dropped.append(n)
            continue
        if index[i] >= 0:
            raise MappingError(
                f"{feature}: dataset names {names[index[i]]!r} and {n!r} both match "
                f"{layout.names[i]!r}"
            )
        index[i] = col
    missing = [layout.names[i] for i in np.flatnonzero(index < 0) if layout.names[i] not in fills]
    if missing:
        raise MappingError(
            f"{feature}: the dataset lacks joints {missing} (its names: {list(names)}); "
            "add aliases (data.joint_aliases) or fill them (data.missing_joints: {name: value})"
        )
    fill = np.zeros(layout.dim, dtype=np.float32)
    for n, v in fills.items():
        i = layout.index(n)
        if index[i] < 0:
            fill[i] = float(v)
    return JointMap(feature, tuple(names), index, fill, tuple(dropped))


@dataclass(frozen=True)
class CameraMap:
    """Model camera slot -> dataset feature key (``None``: allowed missing, served black)."""

    slots: dict[str, str | None] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.slots)


def map_cameras(
    available: Sequence[str],
    camera_map: Mapping[str, str] | None = None,
    cameras: Sequence[str] | None = None,
    allow_missing: Sequence[str] = (),
) -> CameraMap:
    """Model camera slots from the dataset's camera feature keys.

    Args:
        available: The dataset's camera feature keys.
        camera_map: Slot -> dataset key (full key, or the part after ``observation.images.``).
        cameras: Without a map: which cameras to serve (short names), default all.
        allow_missing: Slots that may be absent from the dataset (served as black frames).

    Raises:
        MappingError: A slot mapped to a camera the dataset does not have (listing what it has).
    """
    have = list(available)
    short = {k[len(IMAGE_PREFIX) :] if k.startswith(IMAGE_PREFIX) else k: k for k in have}
    if camera_map:
        wanted = {str(s): str(k) for s, k in camera_map.items()}
    else:
        names = list(cameras) if cameras is not None else list(short)
        wanted = {n: n for n in names}
    slots: dict[str, str | None] = {}
    bad = []
    for slot, key in wanted.items():
        full = key if key in have else short.get(key)
        if full is None:
            if slot in allow_missing:
                slots[slot] = None
                continue
            bad.append(f"{slot} -> {key}")
        slots[slot] = full
    if bad or not slots:
        raise MappingError(
            f"cameras {bad or '[]'} not in the dataset; it has {have}"
            + ("" if not bad else " (map them with data.camera_map: {slot: key})")
        )
    return CameraMap(slots)


def describe(cams: CameraMap, joints: Sequence[JointMap], layout: ActionLayout) -> str:
    """A printable table of the mapping (what training will read from where)."""
    lines = ["cameras (model slot <- dataset key):"]
    lines += [
        f"  {s:<14} <- {k if k else '(missing: black frames)'}" for s, k in cams.slots.items()
    ]
    for jm in joints:
        lines.append(f"{jm.feature} (layout joint <- dataset name):")
        for i, n in enumerate(layout.names):
            src = (
                jm.names[jm.index[i]] if jm.index[i] >= 0 else f"(missing: {jm.fill[i]:g}, masked)"
            )
            lines.append(f"  {n:<28} <- {src}")
        if jm.dropped:
            lines.append(f"  dropped (no layout joint): {list(jm.dropped)}")
    return "\n".join(lines)


def mapping_config(data: Any) -> dict[str, Any]:
    """The mapping options of a ``data`` config (a DictConfig or dict; absent keys -> None)."""
    get = data.get if hasattr(data, "get") else (lambda k, d=None: getattr(data, k, d))

    def plain(v: Any) -> Any:
        try:
            from omegaconf import OmegaConf

            if OmegaConf.is_config(v):
                return OmegaConf.to_container(v, resolve=True)
        except ImportError:  # pragma: no cover
            pass
        return v

    return {
        "camera_map": plain(get("camera_map", None)),
        "allow_missing_cameras": list(plain(get("allow_missing_cameras", None)) or []),
        "joint_aliases": plain(get("joint_aliases", None)),
        "missing_joints": plain(get("missing_joints", None)),
    }


__all__ = [
    "CameraMap",
    "JointMap",
    "MappingError",
    "describe",
    "map_cameras",
    "map_joints",
    "mapping_config",
]
