"""The three exportable pieces of a :class:`~vla_lego.models.base.CachedPolicyModel` (EO-1) as
flat-tensor ``nn.Module`` s.

Each wrapper runs the policy's own inference pieces (``run_layers``, ``denoise_step``,
``decode_step``: the eager path is the exported path); only the KV cache plumbing differs: the
per-layer keys/values are plain graph inputs/outputs (``key_<i>``, ``value_<i>``,
``[B, kv_heads, L, head_dim]``), so ONNX Runtime / TensorRT keep them as device buffers and the
host passes them from the prefix graph to every denoise / decode step.

* :class:`PrefixGraph` — images + instruction + state -> first text logits + KV of the prefix.
* :class:`DenoiseStepGraph` — one flow-matching velocity of the action block given the KV.
* :class:`DecodeStepGraph` — one greedy text token: logits + KV extended by one position.

The model's ``embed_prefix_dynamic`` fills the image tokens by a gather on the image-pad
positions (computed in the graph from ``input_ids``), so the number of views and the instruction
length are dynamic axes.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from vla_lego.models.base import CachedPolicyModel
from vla_lego.models.kv_cache import kv_flat, kv_pairs

BATCH = 1  # the runtime predicts one observation at a time


def kv_names(num_layers: int, prefix: str = "") -> list[str]:
    """``key_0, value_0, key_1, ...`` (optionally prefixed, e.g. ``present_``)."""
    return [f"{prefix}{kind}_{i}" for i in range(num_layers) for kind in ("key", "value")]


class PrefixGraph(nn.Module):
    """``(input_ids, pixel_values, state, state_mask, prefix_valid, position_ids)`` ->
    ``(logits [B, vocab], key_0, value_0, ...)``.

    Shapes: input_ids/state_mask/prefix_valid ``[B, P]``; pixel_values ``[B*V, N, Dp]``;
    state ``[B, max_action_dim]``; position_ids ``[3, B, P]``; keys/values
    ``[B, kv_heads, P, head_dim]``. The logits are those of the last valid prefix position
    (the first subtask token).
    """

    input_names: ClassVar[list[str]] = [
        "input_ids",
        "pixel_values",
        "state",
        "state_mask",
        "prefix_valid",
        "position_ids",
    ]

    def __init__(self, policy: CachedPolicyModel) -> None:
        super().__init__()
        self.policy = policy

    def forward(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor,
        state: torch.Tensor,
        state_mask: torch.Tensor,
        prefix_valid: torch.Tensor,
        position_ids: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        pol = self.policy
        emb, mask = pol.embed_prefix_dynamic(
            input_ids, pixel_values, state, state_mask, prefix_valid
        )
        present, hidden = pol.prefix_forward(emb, mask, position_ids)
        last = prefix_valid.to(torch.int64).sum(1) - 1
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        logits = pol.vlm.lm_head(hidden[rows, last])
        return (logits, *kv_flat(present))


class DenoiseStepGraph(nn.Module):
    """``(x_t [B, H, D], t [B], position_ids [3, B, H], kv_valid [B, L], key_0, value_0, ...)``
    -> ``velocity [B, H, D]``. The action block attends to the valid cached tokens and
    bidirectionally to itself (as the model's ``denoise_step``)."""

    input_names: ClassVar[list[str]] = ["x_t", "t", "position_ids", "kv_valid"]

    def __init__(self, policy: CachedPolicyModel) -> None:
        super().__init__()
        self.policy = policy

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        position_ids: torch.Tensor,
        kv_valid: torch.Tensor,
        *kv: torch.Tensor,
    ) -> torch.Tensor:
        velocity = self.policy.denoise_step(kv_pairs(kv), kv_valid, x_t, t, position_ids)
        return velocity  # type: ignore[no-any-return]


class DecodeStepGraph(nn.Module):
    """``(token_ids [B, 1], position_ids [3, B, 1], kv_valid [B, L], key_0, value_0, ...)`` ->
    ``(logits [B, vocab], present_key_0, present_value_0, ...)`` with caches of length L + 1."""

    input_names: ClassVar[list[str]] = ["token_ids", "position_ids", "kv_valid"]

    def __init__(self, policy: CachedPolicyModel) -> None:
        super().__init__()
        self.policy = policy

    def forward(
        self,
        token_ids: torch.Tensor,
        position_ids: torch.Tensor,
        kv_valid: torch.Tensor,
        *kv: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        logits, present = self.policy.decode_step(kv_pairs(kv), kv_valid, token_ids, position_ids)
        return (logits, *kv_flat(present))


__all__ = [
    "BATCH",
    "DecodeStepGraph",
    "DenoiseStepGraph",
    "PrefixGraph",
    "kv_names",
]
