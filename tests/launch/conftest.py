"""Fixtures and collection rules of the launch tests.

Files named ``test_*_launch.py`` are launch_testing files (``generate_test_description`` plus
unittest classes). pytest never collects them from the directory: ``test_launch_files.py`` runs
each through ``python -m launch_testing.launch_test`` (launch_testing's own pytest plugin does not
load under pytest 9) and fails if one is skipped or runs no test. Named explicitly on the command
line they are collected only where launch_testing's pytest plugin is active (older pytest, apt
ROS 2); elsewhere that is a usage error rather than a run of their test classes without a launch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bringup.ddsutil import tap  # noqa: F401 (a fixture: rt/arm_sdk seen from the test)

LAUNCH_TEST_GLOB = "test_*_launch.py"
HERE = Path(__file__).resolve().parent


def is_launch_test_file(path: Path) -> bool:
    """True for a launch_testing file of this folder (run by test_launch_files.py)."""
    return path.parent == HERE and path.match(LAUNCH_TEST_GLOB)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if is_launch_test_file(collection_path):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.pluginmanager.hasplugin("launch_testing"):
        return
    named = sorted({str(i.path) for i in items if is_launch_test_file(Path(i.path))})
    if named:
        raise pytest.UsageError(
            f"{', '.join(named)}: a launch_testing file; run it with `python -m "
            "launch_testing.launch_test FILE` or through tests/launch/test_launch_files.py "
            "(launch_testing's pytest plugin is not loaded)"
        )
