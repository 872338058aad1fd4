"""EO-1 image preprocessing (PIL / numpy, no torchvision) and static ViT window metadata.

Camera images become Qwen2-VL style ViT patches on the host; the window order, window mask and
rotary positions of the Qwen2.5-VL vision tower are computed once per image size, so the network
(and every exported graph) takes them as plain tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from vla_lego.models.eo1.configuration_eo1 import EO1Config

IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP, as Qwen2-VL
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


def check_images(images: Any, max_views: int, min_side: int) -> np.ndarray:
    """Validate camera images ``uint8 [B, V, H, W, 3]`` and return them as a numpy array."""
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    arr = np.asarray(images)
    if arr.ndim != 5:
        raise ValueError(f"images: expected uint8 [B, V, H, W, 3], got shape {arr.shape}")
    if arr.shape[-1] != 3:
        raise ValueError(
            f"images: expected 3 channels (RGB) in the last axis, got shape {arr.shape}"
        )
    if arr.dtype != np.uint8:
        raise ValueError(f"images: expected dtype uint8 (0..255), got {arr.dtype}")
    if not 1 <= arr.shape[1] <= max_views:
        raise ValueError(f"images: expected 1..{max_views} camera views, got {arr.shape[1]}")
    if min(arr.shape[2], arr.shape[3]) < min_side:
        raise ValueError(
            f"images: expected height and width >= {min_side} px, got {arr.shape[2]}x{arr.shape[3]}"
        )
    return arr


def preprocess_images(images: np.ndarray, cfg: EO1Config) -> np.ndarray:
    """``uint8 [B, V, H, W, 3]`` -> ViT patches ``float32 [B*V, N, 3*T*P*P]`` (Qwen2-VL layout).

    Each image is resized (PIL bicubic, as Qwen2-VL) to ``cfg.view_hw``, rescaled to 0..1,
    normalised with the CLIP mean/std and cut into ``patch_size`` patches ordered by 2x2 merge
    blocks; the still image is repeated ``temporal_patch_size`` times.
    """
    b, v, h, w, _ = images.shape
    th, tw = cfg.view_hw
    flat = images.reshape(b * v, h, w, 3)
    if (h, w) != (th, tw):
        flat = np.stack(
            [
                np.asarray(Image.fromarray(im).resize((tw, th), Image.Resampling.BICUBIC))
                for im in flat
            ]
        )
    scaled = flat.astype(np.float32) * np.float32(1.0 / 255.0)
    normed = (scaled - np.asarray(IMAGE_MEAN, np.float32)) / np.asarray(IMAGE_STD, np.float32)
    return patchify(normed.transpose(0, 3, 1, 2), cfg)


def patchify(x: np.ndarray, cfg: EO1Config) -> np.ndarray:
    """``float32 [M, C, H, W]`` -> ``[M, (H/P)(W/P), C*T*P*P]`` in Qwen2-VL's merge-block order."""
    m, c, h, w = x.shape
    p, k, t = cfg.patch_size, cfg.spatial_merge_size, cfg.temporal_patch_size
    gh, gw = h // p, w // p
    x = x.reshape(m, c, gh // k, k, p, gw // k, k, p)
    x = x.transpose(0, 2, 5, 3, 6, 1, 4, 7)  # (M, gh, gw, mh, mw, C, ph, pw)
    x = np.broadcast_to(x[:, :, :, :, :, :, None], (*x.shape[:6], t, p, p))
    return np.ascontiguousarray(x.reshape(m, gh * gw, c * t * p * p), dtype=np.float32)


@dataclass(frozen=True)
class VisionMeta:
    """Static ViT metadata for one image size (same for every view; host-computed).

    Attributes:
        rope_pos: ``long [N, 2]`` (row, col) of each patch, already in window order.
        window_index: ``long [N/4]`` merge-block order used by windowed attention.
        reverse_index: ``long [N/4]`` inverse permutation of ``window_index``.
        window_mask: ``bool [N, N]`` True where patch i may attend patch j (same window).
        window_len: Patches per window when the image has several windows of the same size
            (its side is a multiple of the window), so windowed attention can run per window
            without a mask; ``None`` otherwise (one window: plain full attention; unequal ones).
    """

    rope_pos: torch.Tensor
    window_index: torch.Tensor
    reverse_index: torch.Tensor
    window_mask: torch.Tensor
    window_len: int | None = None


def vision_metadata(cfg: EO1Config) -> VisionMeta:
    """Compute :class:`VisionMeta` with transformers' own Qwen2.5-VL helpers (plain function)."""
    from transformers.vision_utils import get_vision_position_ids, get_vision_window_index

    gh, gw = cfg.grid_hw
    grid = torch.tensor([[1, gh, gw]])
    k = cfg.spatial_merge_size
    unit = k * k
    pos = get_vision_position_ids(grid, k)
    window_index, cu = get_vision_window_index(
        grid, spatial_merge_size=k, window_size=cfg.vision_window_size, patch_size=cfg.patch_size
    )
    n = gh * gw
    pos = pos.reshape(n // unit, unit, 2)[window_index].reshape(n, 2)
    seg = torch.searchsorted(cu[1:].long(), torch.arange(n), right=True)
    window_mask = seg[:, None] == seg[None, :]
    sizes = set(torch.diff(cu.long()).tolist())
    window_len = sizes.pop() if len(sizes) == 1 and len(cu) > 2 else None
    return VisionMeta(
        pos.long(), window_index.long(), torch.argsort(window_index), window_mask, window_len
    )


__all__ = [
    "IMAGE_MEAN",
    "IMAGE_STD",
    "VisionMeta",
    "check_images",
    "patchify",
    "preprocess_images",
    "vision_metadata",
]
