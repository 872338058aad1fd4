"""``torchvision.transforms.ToTensor`` only: a PIL image or HWC array to a float CHW tensor."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torchvision
from PIL import Image


class ToTensor:
    """PIL image or numpy HWC array to a float32 tensor [C, H, W]; uint8 data is scaled to [0, 1]
    (8-bit PIL modes and uint8 arrays), other data is converted as it is, like torchvision's."""

    def __call__(self, pic: Any) -> torch.Tensor:
        if isinstance(pic, np.ndarray):
            arr = pic[:, :, None] if pic.ndim == 2 else pic
            t = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
            return t.to(torch.float32).div(255) if t.dtype == torch.uint8 else t
        if not isinstance(pic, Image.Image):
            raise TypeError(f"pic should be a PIL Image or ndarray, got {type(pic)}")
        if pic.mode not in ("L", "RGB", "RGBA", "P", "LA", "CMYK", "YCbCr"):
            raise torchvision._unsupported(f"ToTensor of a PIL image in mode {pic.mode!r}")
        arr = np.array(pic, dtype=np.uint8, copy=True)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        t = torch.from_numpy(arr.transpose(2, 0, 1).copy())
        return t.to(torch.float32).div(255)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    raise torchvision._unsupported(f"torchvision.transforms.{name}")
