"""Random processed observations: what the graphs are traced with and the parity gate checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from vla_lego.models.eo1.modeling_eo1 import EO1Policy

_VOCAB = ("pick", "the", "red", "brick", "stack", "on", "blue", "place", "left", "hand", "2x4")


def example_inputs(policy: EO1Policy, views: int, words: int, seed: int) -> Any:
    """Processed inputs of a random observation (``views`` cameras, ``words``-word instruction).

    Args:
        policy: The policy whose processor, config and robot layout shape the inputs.
        views: Camera views (1 .. ``config.max_views``).
        words: Instruction length in words.
        seed: Seed of the images, state and instruction.

    Returns:
        The processor's output for a batch of one (``EO1Inputs``).
    """
    cfg = policy.config
    rng = np.random.default_rng(seed)
    instruction = " ".join(rng.choice(list(_VOCAB), size=words))
    lo, hi = policy.layout.lower, policy.layout.upper
    batch = {
        "images": rng.integers(0, 256, (1, views, cfg.image_size, cfg.image_size, 3), np.uint8),
        "state": (lo + (hi - lo) * rng.random(policy.layout.dim))[None],
        "instruction": [instruction],
    }
    return policy.processor(batch)


__all__ = ["example_inputs"]
