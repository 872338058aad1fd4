"""Test session set-up: DDS stays on loopback and every session gets its own ROS domain id."""

from __future__ import annotations

import os
import random
import shutil
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Before anything imports rclpy: localhost-only discovery and a domain id of this session's own,
# so parallel runs (or a developer's own graph) never see each other.
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
if "VLA_TEST_DOMAIN_ID" not in os.environ:
    os.environ["VLA_TEST_DOMAIN_ID"] = str(random.Random(os.getpid()).randint(110, 220))
os.environ["ROS_DOMAIN_ID"] = os.environ["VLA_TEST_DOMAIN_ID"]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MUJOCO_GL", "egl")

sys.path.insert(0, str(REPO_ROOT / "tests"))


def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _has_cuda():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU; none is present on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """Environment for child processes that join this session's ROS graph."""
    if shutil.which("python") is None:
        pytest.fail("python not on PATH; source scripts/env.sh")
    env = dict(os.environ)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["ROS_DOMAIN_ID"] = os.environ["ROS_DOMAIN_ID"]
    env["PYTHONUNBUFFERED"] = "1"
    return env
