"""Joining the robot's DDS (CycloneDDS through unitree_sdk2py) once per process."""

from __future__ import annotations

import threading

from unitree_sdk2py.core.channel import ChannelFactoryInitialize

_lock = threading.Lock()
_joined: tuple[int, str] | None = None


def init_channels(domain: int, interface: str) -> None:
    """Bind the SDK's channel factory to ``domain`` on ``interface`` ("" lets CycloneDDS choose).

    The SDK keeps one factory per process; joining a second, different domain or interface
    would be silently ignored by it, so that raises here instead.

    Raises:
        ValueError: bad domain id, or the process already joined another domain/interface.
        RuntimeError: CycloneDDS could not create the domain (e.g. unknown interface).
    """
    global _joined
    if not 0 <= domain <= 232:
        raise ValueError(f"DDS domain id must be in 0..232, got {domain}")
    with _lock:
        if _joined is not None:
            if _joined != (domain, interface):
                raise ValueError(
                    f"this process already joined DDS domain {_joined[0]} on "
                    f"{_joined[1]!r}; cannot also join {domain} on {interface!r}"
                )
            return
        try:
            ChannelFactoryInitialize(domain, interface or None)
        except Exception as e:  # the SDK raises a bare Exception
            raise RuntimeError(
                f"cannot join Unitree DDS domain {domain} on interface {interface!r}: {e} "
                "(see /tmp/cdds.LOG)"
            ) from e
        _joined = (domain, interface)


__all__ = ["init_channels"]
