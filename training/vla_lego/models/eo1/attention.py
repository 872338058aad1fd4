"""EO-1 attention: the additive masks of the prefix / text / action-block layout and the attention
ops of the cached inference path (grouped-query sdpa, rotary, RMSNorm) in export-friendly form.

Masks are additive float masks (0 keeps, dtype-min drops) so sdpa and eager attention agree.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def additive_mask(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Bool mask (True = attend) -> additive float mask for sdpa/eager attention."""
    zero = torch.zeros((), dtype=dtype, device=allowed.device)
    return torch.where(
        allowed, zero, torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=allowed.device)
    )


def prefix_mask(prefix_valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive causal mask ``[B, 1, P, P]`` of the prefix over its valid (unpadded) tokens."""
    p = prefix_valid.shape[1]
    causal = torch.ones(p, p, dtype=torch.bool, device=prefix_valid.device).tril()
    return additive_mask((causal[None] & prefix_valid[:, None, :]).unsqueeze(1), dtype)


def sequence_attention_mask(
    valid: torch.Tensor,
    visible_to_action: torch.Tensor,
    num_action: int,
    causal_actions: bool = False,
) -> torch.Tensor:
    """Mask of a full sequence ``[prefix | text | action block]``: bool ``[B, 1, L, L]``.

    Non-action tokens attend causally to valid non-action tokens (never to the action block).
    Action tokens attend to every ``visible_to_action`` non-action token and to the action block:
    all of it, or with ``causal_actions`` (EO-1's plain causal mask) action i to actions j <= i.
    """
    b, n = valid.shape
    is_act = torch.zeros(n, dtype=torch.bool, device=valid.device)
    is_act[n - num_action :] = True
    causal = torch.tril(torch.ones(n, n, dtype=torch.bool, device=valid.device))
    text_rows = causal & ~is_act[None, :] & valid[:, None, :]
    act_cols = is_act[None, :] & causal if causal_actions else is_act[None, :].expand(n, n)
    act_rows = (visible_to_action & ~is_act[None, :])[:, None, :] | act_cols[None]
    allowed = torch.where(is_act[None, :, None], act_rows.expand(b, n, n), text_rows)
    return allowed.unsqueeze(1)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """RoPE's rotation: ``(x1, x2) -> (-x2, x1)`` over the last axis halves."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def is_exporting() -> bool:
    """Inside ``torch.onnx.export`` / ``torch.export`` (ops the exporters cannot convert are
    avoided there)."""
    return bool(torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting())


def rms_norm(norm: Any, x: torch.Tensor, exporting: bool) -> torch.Tensor:
    """A Qwen2.5-VL RMSNorm module applied as one fused op where that is the same maths (fp32,
    eager); other dtypes and the exporters (no ``aten::rms_norm`` at opset 18) keep the module's
    fp32-upcast forward."""
    if x.dtype == torch.float32 and norm.weight.dtype == torch.float32 and not exporting:
        return F.rms_norm(x, norm.weight.shape, norm.weight, norm.variance_epsilon)
    return norm(x)  # type: ignore[no-any-return]


def gqa_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor,
    scale: float,
    exporting: bool,
) -> torch.Tensor:
    """sdpa with grouped-query heads: native GQA in eager (no copy of the cache per step); the
    ONNX exporters cannot convert ``enable_gqa``, so there the key/value heads are repeated."""
    if exporting:
        groups = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=True)


__all__ = [
    "additive_mask",
    "gqa_attention",
    "is_exporting",
    "prefix_mask",
    "rms_norm",
    "rotate_half",
    "sequence_attention_mask",
]
