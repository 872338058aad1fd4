"""``load_policy`` / ``load_policy_from_spec``: the one way every caller gets a :class:`Policy`."""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vla_lego.inference.registry import get_backend, guess_backend, resolve_loader
from vla_lego.inference.types import Policy

_SPEC_KEYS = {
    "path",
    "backend",
    "device",
    "seed",
    "decode_text",
    "backend_options",
    "factory",
    "kwargs",
}


def load_policy(
    path: str | Path,
    backend: str = "torch",
    device: str = "cpu",
    seed: int = 0,
    decode_text: bool = True,
    options: Mapping[str, Any] | None = None,
) -> Policy:
    """Load a policy for inference.

    Args:
        path: A training checkpoint directory (``torch``) or an export directory
            (``onnxruntime``, ``tensorrt``; see ``python -m vla_lego.export``).
        backend: ``torch``, ``onnxruntime`` or ``tensorrt`` (aliases ``ort``, ``trt``).
        device: ``cpu``, ``cuda`` / ``cuda:N``, or ``auto`` (the GPU when the backend can use
            one here: CUDA for torch, the CUDA execution provider for onnxruntime).
        seed: Seed of the host RNG that draws the flow-matching noise; ``reset()`` rewinds it.
        decode_text: Decode the subtask text autoregressively before the actions.
        options: Backend-specific options: ``torch``: ``cuda_graphs`` (bool); ``onnxruntime``:
            ``spin`` (``run`` | ``always`` | ``never``, when idle ORT threads busy-wait) and
            ``threads`` (intra-op threads); ``tensorrt``: none.

    Raises:
        ValueError: an option the backend does not take, or a bad option value.
        UnknownBackendError: ``backend`` is not registered.
        BackendUnavailableError: a library the backend needs is missing (says what to install).
        FileNotFoundError: ``path`` does not exist.
        ManifestError / ModelVersionError: the directory is inconsistent or from another version.
    """
    info = get_backend(backend)
    options = dict(options or {})
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        raise ValueError(
            f"backend {info.name!r} does not take option(s) {unknown}; "
            f"it takes {sorted(info.options) or 'none'}"
        )
    p = Path(path).expanduser()
    if not p.is_dir():
        raise FileNotFoundError(
            f"{info.path_kind} directory for backend {info.name!r} not found: {str(p)!r}"
        )
    if device not in ("cpu", "auto") and not device.startswith("cuda"):
        raise ValueError(f"device must be 'cpu', 'auto' or 'cuda[:N]', got {device!r}")
    if device == "auto":
        device = _auto_device(info.name)
    loader = resolve_loader(info)
    policy = loader(p, device=device, seed=int(seed), decode_text=bool(decode_text), **options)
    return _check_policy(policy, f"backend {info.name!r}")


def _auto_device(backend: str) -> str:
    """``cuda`` if ``backend`` can run on a GPU of this machine, else ``cpu``."""
    if backend == "tensorrt":
        return "cuda"
    if backend == "onnxruntime":
        import onnxruntime

        return "cuda" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _import_attr(target: str) -> Any:
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'module:attr' (e.g. 'my_pkg.policies:make'), got {target!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {module_name!r} for policy {target!r}: {e}") from e
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def _check_policy(obj: Any, what: str) -> Policy:
    if not isinstance(obj, Policy):
        raise TypeError(
            f"{what} returned {type(obj).__name__}, which is not a Policy "
            "(needs reset() and predict(observation) -> ActionChunk)"
        )
    return obj


def _from_factory(target: str, kwargs: Mapping[str, Any]) -> Policy:
    obj = _import_attr(target)
    if isinstance(obj, Policy) and not isinstance(obj, type):
        if kwargs:
            raise ValueError(f"{target!r} is a Policy instance; it takes no kwargs, got {kwargs}")
        return obj
    if not callable(obj):
        raise TypeError(f"{target!r} is neither a Policy nor a factory returning one")
    return _check_policy(obj(**kwargs), f"factory {target!r}")


_MODEL_OPTIONS = {"device", "seed", "decode_text", "backend_options"}


def load_policy_from_spec(
    spec: str | Path | Mapping[str, Any],
    *,
    kwargs: Mapping[str, Any] | None = None,
    **options: Any,
) -> Policy:
    """Load a policy from a one-string (or mapping) description, e.g. a ROS parameter.

    Accepted forms:
        * ``"python:module:attr"`` — ``attr`` is a Policy or a factory returning one (scripted and
          test policies with known output), called with ``kwargs``.
        * ``"BACKEND:PATH"`` with BACKEND a registered backend (``torch:/ckpt``,
          ``onnxruntime:/export``, ``tensorrt:/export``).
        * ``"PATH"`` — an export directory (has ``manifest.json``) loads with ``onnxruntime``,
          anything else as a ``torch`` checkpoint.
        * a mapping with ``path`` and optionally ``backend``, ``device``, ``seed``,
          ``decode_text``, ``backend_options``; or with ``factory`` (``"module:attr"``) and
          optional ``kwargs``.

    Args:
        spec: One of the forms above.
        kwargs: Keyword arguments of a ``python:`` factory (string form only).
        **options: ``device``, ``seed``, ``decode_text``, ``backend_options`` (a mapping, see
            :func:`load_policy`'s ``options``) of a model (string form; ``None`` values keep the
            default; a ``python:`` factory ignores them).

    Raises:
        ValueError / TypeError: the spec is malformed or does not yield a Policy.
    """
    if isinstance(spec, Mapping):
        if kwargs or options:
            raise ValueError("a mapping spec carries its own kwargs/options; pass them inside it")
        return _from_mapping(spec)
    unknown = set(options) - _MODEL_OPTIONS
    if unknown:
        raise ValueError(
            f"unknown policy options {sorted(unknown)}; allowed {sorted(_MODEL_OPTIONS)}"
        )
    text = str(spec).strip()
    if not text:
        raise ValueError("empty policy spec; expected 'python:module:attr', 'BACKEND:PATH' or PATH")
    head, sep, rest = text.partition(":")
    if sep and head == "python":
        return _from_factory(rest, dict(kwargs or {}))
    if kwargs:
        raise ValueError(f"factory kwargs only apply to 'python:' policies, not {text!r}")
    mapping: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    mapping["path"] = text
    if sep and head and not head.startswith(("/", ".", "~")):
        with contextlib.suppress(ValueError):  # not a backend name: a path containing ':'
            mapping.update(backend=get_backend(head).name, path=rest)
    return _from_mapping(mapping)


def _from_mapping(spec: Mapping[str, Any]) -> Policy:
    unknown = set(spec) - _SPEC_KEYS
    if unknown:
        raise ValueError(
            f"unknown policy spec keys {sorted(unknown)}; allowed {sorted(_SPEC_KEYS)}"
        )
    if "factory" in spec:
        if "path" in spec:
            raise ValueError("policy spec has both 'factory' and 'path'; give one")
        return _from_factory(str(spec["factory"]), dict(spec.get("kwargs") or {}))
    if "path" not in spec:
        raise ValueError("policy spec mapping needs 'path' (checkpoint/export dir) or 'factory'")
    path = Path(str(spec["path"])).expanduser()
    return load_policy(
        path,
        backend=str(spec.get("backend") or guess_backend(path)),
        device=str(spec.get("device", "cpu")),
        seed=int(spec.get("seed", 0)),
        decode_text=bool(spec.get("decode_text", True)),
        options=_options_mapping(spec.get("backend_options")),
    )


def _options_mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"backend_options must be a mapping, got {type(value).__name__}")
    return dict(value)


__all__ = ["load_policy", "load_policy_from_spec"]
