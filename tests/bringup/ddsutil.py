"""Test helpers for the Unitree side: this session's DDS domain and a tap on rt/arm_sdk."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
from unitree_sdk2py.core.channel import ChannelSubscriber
from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_

from h1_bringup.bridge_core import unpack_arm_cmd
from h1_bringup.dds import init_channels
from vla_lego.robot import topics as T


def unitree_domain() -> int:
    """This test session's own Unitree DDS domain (next to its ROS domain)."""
    return int(os.environ["ROS_DOMAIN_ID"]) + 1


class WireTap:
    """Everything written to rt/arm_sdk, seen from this process (CycloneDDS on lo)."""

    def __init__(self) -> None:
        self.msgs: list[tuple[float, LowCmd_]] = []
        self._lock = threading.Lock()
        self.sub = ChannelSubscriber(T.ARM_SDK_CHANNEL, LowCmd_)
        self.sub.Init(self._on, 50)

    def _on(self, msg: LowCmd_) -> None:
        with self._lock:
            self.msgs.append((time.monotonic(), msg))

    def weights(self) -> list[float]:
        with self._lock:
            return [unpack_arm_cmd(m).weight for _, m in self.msgs]

    def close(self) -> None:
        self.sub.Close()


@pytest.fixture
def tap() -> Iterator[WireTap]:
    """A :class:`WireTap` on this session's Unitree domain (bound to lo)."""
    init_channels(unitree_domain(), "lo")
    t = WireTap()
    yield t
    t.close()


__all__ = ["WireTap", "tap", "unitree_domain"]
