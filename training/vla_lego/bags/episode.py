"""A direct sim episode written as the bag the ROS graph would have recorded.

:class:`EpisodeBag` receives the inputs, chunks and commands of
:func:`vla_lego.eval.sim.run_episode` and writes them, on the node's topics and message types
(``sensor_msgs/Image`` rgb8, ``sensor_msgs/JointState``, ``vla_lego_msgs/ActionChunk``,
``std_msgs/String``), to an MCAP bag whose log times and header stamps are sim seconds, like a
``vla-record --use-sim-time`` bag of ``policy.launch.py robot:=sim``. Chunks carry the simulated
inference delay as ``inference_time`` (0 by default: on the sim clock predict takes no time).
``vla-replay-eval`` with ``recorded`` timing then reruns the policy on the same observations at
the same instants.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)

from vla_lego.bags.writer import BagWriter
from vla_lego.robot import H1_LAYOUT, ActionLayout
from vla_lego.runtime.build import camera_map
from vla_lego.runtime.controller import ChunkEvent
from vla_lego.runtime.policy_params import effective_params_yaml
from vla_lego.runtime.safety import SafeCommand

_IMAGE, _JOINTS = "sensor_msgs/msg/Image", "sensor_msgs/msg/JointState"
_CHUNK, _STRING = "vla_lego_msgs/msg/ActionChunk", "std_msgs/msg/String"


# How the policy node offers its params topic (rosbag2 replays it latched from this).
_LATCHED = Qos(
    history=QosHistory.KEEP_LAST,
    depth=1,
    reliability=QosReliability.RELIABLE,
    durability=QosDurability.TRANSIENT_LOCAL,
    deadline=QosTime(0, 0),
    lifespan=QosTime(0, 0),
    liveliness=QosLiveliness.AUTOMATIC,
    liveliness_lease_duration=QosTime(0, 0),
    avoid_ros_namespace_conventions=False,
)


def _ns(t: float) -> int:
    return round(t * 1e9)


class EpisodeBag:
    """Writes one episode's graph traffic to a bag (a context manager; aborts on error).

    Args:
        path: Bag directory to create.
        cameras: Sim camera names, in model order.
        values: The policy node's settings (topic names; cameras not named there get
            ``/h1/camera/<name>/image_raw``).
        layout: Robot layout (joint names).
        overwrite: Replace an existing bag.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        cameras: Iterable[str],
        values: Mapping[str, Any],
        layout: ActionLayout = H1_LAYOUT,
        overwrite: bool = False,
    ) -> None:
        named = camera_map(values)
        self.camera_topics = {c: named.get(c, f"/h1/camera/{c}/image_raw") for c in cameras}
        self.layout = layout
        self.topics = {
            "joints": str(values["joint_states_topic"]),
            "command": str(values["command_topic"]),
            "chunk": str(values["action_chunk_topic"]),
            "instruction": str(values["instruction_topic"]),
            "params": str(values["params_topic"]),
        }
        self.values = dict(values)
        self.writer = BagWriter(
            Path(path), "mcap", overwrite=overwrite, custom_data={"source": "vla_lego.eval.sim"}
        )
        self.types = self.writer.typestore.types

    def __enter__(self) -> EpisodeBag:
        self.writer.open()
        for topic in self.camera_topics.values():
            self.writer.add_topic(topic, _IMAGE)
        self.writer.add_topic(self.topics["joints"], _JOINTS)
        self.writer.add_topic(self.topics["command"], _JOINTS)
        self.writer.add_topic(self.topics["chunk"], _CHUNK)
        self.writer.add_topic(self.topics["instruction"], _STRING)
        self.writer.add_topic(self.topics["params"], _STRING, qos=[_LATCHED])
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.writer.close()
        else:
            self.writer.abort()

    # -- messages ------------------------------------------------------------------------------
    def _header(self, t: float, frame_id: str = "") -> Any:
        ns = _ns(t)
        stamp = self.types["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)
        return self.types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def _joint_state(self, t: float, position: np.ndarray, velocity: np.ndarray | None) -> Any:
        return self.types[_JOINTS](
            header=self._header(t),
            name=list(self.layout.names),
            position=np.asarray(position, np.float64),
            velocity=np.zeros(0) if velocity is None else np.asarray(velocity, np.float64),
            effort=np.zeros(0),
        )

    def instruction(self, t: float, text: str) -> None:
        # The node publishes its parameters (latched) before any instruction can reach it.
        text_params = effective_params_yaml(self.values, t)
        self.writer.write_msg(self.topics["params"], _ns(t), self.types[_STRING](data=text_params))
        self.writer.write_msg(self.topics["instruction"], _ns(t), self.types[_STRING](data=text))

    def frame(self, camera: str, t: float, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        msg = self.types[_IMAGE](
            header=self._header(t, f"{camera}_camera"),
            height=h,
            width=w,
            encoding="rgb8",
            is_bigendian=0,
            step=3 * w,
            data=np.ascontiguousarray(rgb, np.uint8).reshape(-1),
        )
        self.writer.write_msg(self.camera_topics[camera], _ns(t), msg)

    def joint_state(self, t: float, position: np.ndarray) -> None:
        self.writer.write_msg(self.topics["joints"], _ns(t), self._joint_state(t, position, None))

    def command(self, t: float, command: SafeCommand) -> None:
        msg = self._joint_state(t, command.position, command.velocity)
        self.writer.write_msg(self.topics["command"], _ns(t), msg)

    def chunk(self, t: float, event: ChunkEvent, inference_time: float = 0.0) -> None:
        c = event.chunk
        msg = self.types[_CHUNK](
            header=self._header(float(c.observation_time)),
            joint_names=list(self.layout.names),
            dt=float(c.dt),
            horizon=int(c.horizon),
            positions=np.asarray(c.actions, np.float64).reshape(-1),
            subtask_text=c.subtask_text,
            chunk_id=int(event.accept.chunk_id),
            inference_time=float(inference_time),
        )
        self.writer.write_msg(self.topics["chunk"], _ns(t), msg)


__all__ = ["EpisodeBag"]
