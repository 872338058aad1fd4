"""Model registry: a name (``eo1``) -> the :class:`~vla_lego.models.base.PolicyModel` class.

Families register with :func:`register_model`; the built-in ones are imported lazily on the first
lookup (so importing the registry stays cheap and a family's heavy imports, e.g. ``transformers``,
happen only when it is used). Everything generic goes through here:

* :func:`preset_config` — the config of a shipped preset (``tiny``, ``base``, ...).
* :func:`create_model` — a fresh model from a Hydra ``model`` group / dict (its ``type`` key,
  default ``eo1``, picks the class; the rest is the family's config).
* :func:`load_model` — a checkpoint directory; ``model.json`` names the family (checkpoints from
  before it existed are ``eo1``).
* :func:`get_model_class` / :func:`model_config_class` / :func:`model_processor_class`.
"""

from __future__ import annotations

import difflib
import importlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from vla_lego.configs import model_preset_file, model_presets
from vla_lego.models.base import (
    CACHED_MEMBERS,
    DEFAULT_MODEL_TYPE,
    MODEL_FILE,
    POLICY_MEMBERS,
    CachedPolicyModel,
    PolicyModel,
    read_model_type,
)

T = TypeVar("T", bound=type)

# Modules that register the built-in families when imported.
_BUILTIN: dict[str, str] = {"eo1": "vla_lego.models.eo1"}
_MODELS: dict[str, type] = {}


class UnknownModelError(ValueError):
    """No model family is registered under the requested name."""


def register_model(name: str) -> Callable[[T], T]:
    """Class decorator: register a :class:`PolicyModel` class under ``name``.

    Sets ``cls.model_type = name`` when the class does not define it.

    Raises:
        TypeError: the class lacks a member of the contract, or its ``model_type`` differs.
        ValueError: another class is already registered under ``name``.
    """

    def decorate(cls: T) -> T:
        declared = getattr(cls, "model_type", None)
        if not declared:
            cls.model_type = name  # type: ignore[attr-defined]
        elif declared != name:
            raise TypeError(f"{cls.__name__}.model_type is {declared!r}, registered as {name!r}")
        missing = [m for m in POLICY_MEMBERS if not hasattr(cls, m)]
        if missing:
            raise TypeError(f"{cls.__name__} does not implement PolicyModel: missing {missing}")
        old = _MODELS.get(name)
        if old is not None and old is not cls and old.__qualname__ != cls.__qualname__:
            raise ValueError(f"model {name!r} is already registered ({old.__module__}.{old})")
        _MODELS[name] = cls  # a re-import of the same module re-registers the same class
        return cls

    return decorate


def available_models() -> list[str]:
    """Registered and built-in model names, sorted."""
    return sorted(set(_MODELS) | set(_BUILTIN))


def get_model_class(name: str) -> type[PolicyModel]:
    """The class registered as ``name`` (importing a built-in family on first use).

    Raises:
        UnknownModelError: nothing is registered under ``name`` (with a "did you mean").
    """
    if name not in _MODELS and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _MODELS:
        near = difflib.get_close_matches(name, available_models(), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise UnknownModelError(
            f"unknown model type {name!r}, expected one of {available_models()}{hint}"
        )
    return _MODELS[name]  # type: ignore[return-value]


def model_config_class(name: str) -> type[Any]:
    """The config class of model ``name``."""
    return get_model_class(name).config_class


def model_processor_class(name: str) -> type[Any]:
    """The processor class of model ``name``."""
    return get_model_class(name).processor_class


def is_cached(model: Any) -> bool:
    """Whether ``model`` offers the prefix-cache pieces (:class:`CachedPolicyModel`)."""
    return isinstance(model, CachedPolicyModel) or all(hasattr(model, m) for m in CACHED_MEMBERS)


def split_model_cfg(model_cfg: Mapping[str, Any] | Any) -> tuple[str, dict[str, Any]]:
    """``(type, config dict)`` of a Hydra ``model`` group (``DictConfig`` or mapping).

    The ``type`` key (default ``eo1``) names the family; interpolations are resolved.
    """
    if not isinstance(model_cfg, Mapping):
        from omegaconf import OmegaConf

        model_cfg = OmegaConf.to_container(model_cfg, resolve=True)
    assert isinstance(model_cfg, Mapping)
    data = {str(k): v for k, v in model_cfg.items()}
    return str(data.pop("type", DEFAULT_MODEL_TYPE) or DEFAULT_MODEL_TYPE), data


def model_config(model_cfg: Mapping[str, Any] | Any) -> Any:
    """The family's config object of a Hydra ``model`` group (``type`` picks the family).

    Raises:
        UnknownModelError: unknown ``type``.
        ValueError: unknown or invalid config fields.
    """
    name, data = split_model_cfg(model_cfg)
    return model_config_class(name).from_dict(data)


def preset_config(name: str, **overrides: Any) -> Any:
    """The config of the shipped model preset ``name`` (``vla_lego/configs/model/<name>.yaml``;
    its ``type`` picks the family), with ``overrides`` applied.

    Raises:
        ValueError: unknown preset (with a "did you mean"), unknown override keys.
    """
    from omegaconf import DictConfig, OmegaConf

    path = model_preset_file(name)
    if not path.is_file():
        near = difflib.get_close_matches(name, model_presets(), n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ValueError(f"unknown model preset {name!r}, expected one of {model_presets()}{hint}")
    raw = OmegaConf.load(path)
    kind = raw.get("type", DEFAULT_MODEL_TYPE) if isinstance(raw, DictConfig) else None
    if kind is None:
        raise ValueError(f"model preset {path} is not a mapping of settings")
    return model_config_class(str(kind)).from_preset(name, **overrides)


def create_model(
    cfg: Mapping[str, Any] | Any,
    stats: dict[str, Any] | None = None,
    **kwargs: Any,
) -> PolicyModel:
    """A new model from a Hydra ``model`` group / mapping, or from a family config object.

    Args:
        cfg: ``{"type": "eo1", ...config fields}`` (``type`` optional), or a config instance of
            a registered family (e.g. ``EO1Config``).
        stats: Normalisation statistics of the training data (``dataset.stats``).
        **kwargs: Passed to the class's ``from_config`` (``layout``, ``dtype``).
    """
    config = _config_object(cfg)
    cls = _class_of_config(config)
    return cls.from_config(config, stats=stats, **kwargs)


def _config_object(cfg: Any) -> Any:
    for cls in _MODELS.values():
        if isinstance(cfg, cls.config_class):  # type: ignore[attr-defined]
            return cfg
    return model_config(cfg)


def _class_of_config(config: Any) -> type[PolicyModel]:
    for cls in _MODELS.values():
        if isinstance(config, cls.config_class):  # type: ignore[attr-defined]
            return cls  # type: ignore[return-value]
    raise UnknownModelError(f"no registered model takes a {type(config).__name__}")


def checkpoint_model_type(directory: str | Path) -> str:
    """The model family of a checkpoint directory (``model.json``; absent: ``eo1``).

    Raises:
        ValueError: ``model.json`` exists but is unreadable or malformed.
    """
    path = Path(directory) / MODEL_FILE
    if not path.is_file():
        return DEFAULT_MODEL_TYPE
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"cannot read {path}: {e}") from e
    if not isinstance(record, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return read_model_type(record)


def load_model(directory: str | Path, **kwargs: Any) -> PolicyModel:
    """Load a checkpoint directory with the class its ``model.json`` names.

    Args:
        directory: A policy checkpoint (``save_pretrained``).
        **kwargs: Passed to ``from_pretrained`` (``layout``, ``device``).
    """
    cls = get_model_class(checkpoint_model_type(directory))
    return cls.from_pretrained(directory, **kwargs)


__all__ = [
    "UnknownModelError",
    "available_models",
    "checkpoint_model_type",
    "create_model",
    "get_model_class",
    "is_cached",
    "load_model",
    "model_config",
    "model_config_class",
    "model_processor_class",
    "preset_config",
    "register_model",
    "split_model_cfg",
]
