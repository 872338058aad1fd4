"""Pickle-free storage of nested training state (optimizer, scheduler, RNG) as JSON + safetensors.

Tensors and numpy arrays go to a safetensors file; everything else (numbers, strings, lists,
tuples, dicts with int keys) to JSON with small type tags, so that the state loads back exactly
(``random.setstate`` needs tuples, optimizer state uses int keys).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from vla_lego.atomic import fsync_file


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        key = f"t{len(tensors)}"
        # safetensors/torch lack some numpy dtypes (uint32 of the MT19937 state): widen losslessly.
        wide = np.float64 if obj.dtype.kind == "f" else np.int64
        tensors[key] = torch.from_numpy(np.ascontiguousarray(obj).astype(wide))
        return {"__ndarray__": key, "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return _encode(obj.item(), tensors)
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors) for k, v in obj.items()}
        return {"__items__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()]}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint: {obj!r}")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__ndarray__" in obj:
        return tensors[obj["__ndarray__"]].numpy().astype(obj["dtype"])
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
    return {k: _decode(v, tensors) for k, v in obj.items()}


def write_json(path: Path, obj: Any) -> None:
    """Writes JSON and fsyncs it (callers place it in a temp dir or rename it themselves)."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=1, sort_keys=False)
        fh.flush()
        os.fsync(fh.fileno())


def save_state(state: Any, stem: Path) -> list[Path]:
    """Stores ``state`` as ``<stem>.json`` (+ ``<stem>.safetensors`` when it holds tensors).

    Returns:
        The files written (fsynced).
    """
    tensors: dict[str, torch.Tensor] = {}
    encoded = _encode(state, tensors)
    files = [stem.with_suffix(".json")]
    write_json(files[0], {"format": "vla_lego.state/1", "state": encoded})
    if tensors:
        files.append(stem.with_suffix(".safetensors"))
        save_file(tensors, str(files[1]))
        fsync_file(files[1])
    return files


def load_state(stem: Path) -> Any:
    """Loads what :func:`save_state` stored at ``stem``.

    Raises:
        FileNotFoundError: ``<stem>.json`` is missing.
        ValueError: The JSON is not a stored state.
    """
    meta_path = stem.with_suffix(".json")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != "vla_lego.state/1":
        raise ValueError(f"{meta_path} is not a vla_lego state file")
    tensor_path = stem.with_suffix(".safetensors")
    tensors = load_file(str(tensor_path)) if tensor_path.exists() else {}
    return _decode(meta["state"], tensors)


__all__ = [
    "load_state",
    "save_state",
    "write_json",
]
