"""Random processed observations: what the graphs are traced with and the parity gate checks."""

from __future__ import annotations

from typing import Any

from vla_lego.models.base import PolicyModel


def example_inputs(policy: PolicyModel, views: int, words: int, seed: int) -> Any:
    """Processed inputs of a random observation (``views`` cameras, ``words``-word instruction).

    The model builds them (:meth:`PolicyModel.example_inputs`): its processor, config and robot
    layout shape the inputs.

    Args:
        policy: The policy.
        views: Camera views (1 .. ``config.max_views``).
        words: Instruction length in words.
        seed: Seed of the images, state and instruction.

    Returns:
        The processor's output for a batch of one.
    """
    return policy.example_inputs(views=views, words=words, seed=seed)


__all__ = ["example_inputs"]
