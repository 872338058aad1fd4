"""Fixtures for the EO-1 model tests: tiny policies and random raw batches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from vla_lego.models.eo1 import EO1Config, EO1Policy

# Two shared cores: one intra-op thread avoids oversubscription (measured 30x faster here).
torch.set_num_threads(1)

HORIZON = 8
IMAGE = 56
INSTRUCTIONS = ["pick up the red brick", "stack the blue 2x4 brick on the red one", "hand over"]
SUBTASKS = ["grasp red", "", "lift the blue brick"]


def make_batch(
    b: int, v: int, seed: int = 0, size: int = IMAGE, horizon: int = HORIZON, dim: int = 20
) -> dict[str, Any]:
    """A raw batch in the ``vla_lego.data`` format with random content."""
    rng = np.random.default_rng(seed)
    return {
        "images": rng.integers(0, 256, (b, v, size, size, 3), dtype=np.uint8),
        "state": rng.normal(size=(b, dim)).astype(np.float32),
        "actions": rng.normal(size=(b, horizon, dim)).astype(np.float32),
        "action_is_pad": np.zeros((b, horizon), dtype=bool),
        "instruction": [INSTRUCTIONS[i % 3] for i in range(b)],
        "subtask": [SUBTASKS[i % 3] for i in range(b)],
    }


def obs(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: batch[k] for k in ("images", "state", "instruction")}


@pytest.fixture(scope="session")
def tiny_config() -> EO1Config:
    return EO1Config.from_preset("tiny", action_horizon=HORIZON, image_size=IMAGE)


@pytest.fixture(scope="session")
def tiny_policy(tiny_config: EO1Config) -> EO1Policy:
    torch.manual_seed(0)
    return EO1Policy(tiny_config).eval()


@pytest.fixture
def batch_factory() -> Callable[..., dict[str, Any]]:
    return make_batch


@pytest.fixture
def obs_of() -> Callable[[dict[str, Any]], dict[str, Any]]:
    return obs
