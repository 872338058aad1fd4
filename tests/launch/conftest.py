"""Fixtures of the launch tests."""

from bringup.ddsutil import tap  # noqa: F401 (a fixture: rt/arm_sdk seen from the test)
