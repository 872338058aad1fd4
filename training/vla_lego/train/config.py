"""Checks on a composed training config, run before anything is built or trained.

Hydra's struct mode already rejects unknown keys; this module rejects wrong values (a negative
learning rate, a global batch that does not split across ranks, ...) with one readable error that
lists every problem found.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

PRECISIONS = ("auto", "fp32", "bf16")
BACKENDS = ("ddp", "deepspeed")
WANDB_MODES = ("online", "offline", "disabled")
DATA_KINDS = ("dummy", "lerobot")


class ConfigError(ValueError):
    """A training config holds values that cannot work; the message lists each of them."""


def _number(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key, throw_on_missing=True)


def _check(
    errors: list[str], cfg: DictConfig, key: str, ok: Callable[[Any], bool], expected: str
) -> None:
    try:
        value = _number(cfg, key)
    except Exception as exc:  # missing or unresolvable interpolation
        errors.append(f"{key}: cannot be read ({exc})")
        return
    try:
        good = ok(value)
    except TypeError:
        good = False
    if not good:
        errors.append(f"{key} must be {expected}, got {value!r}")


def _pos(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def _nonneg(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _pos_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


def _optimizer_errors(cfg: DictConfig, errors: list[str]) -> None:
    t = "trainer"
    _check(errors, cfg, f"{t}.optimizer.lr", _pos, "a finite number > 0")
    _check(errors, cfg, f"{t}.optimizer.weight_decay", _nonneg, "a number >= 0")
    _check(errors, cfg, f"{t}.optimizer.eps", _pos, "a number > 0")
    _check(
        errors,
        cfg,
        f"{t}.optimizer.betas",
        lambda b: len(b) == 2 and all(0.0 <= x < 1.0 for x in b),
        "two numbers in [0, 1)",
    )
    _check(errors, cfg, f"{t}.scheduler.warmup_steps", lambda v: _nonneg(v), "an integer >= 0")
    _check(errors, cfg, f"{t}.scheduler.min_lr_ratio", lambda v: 0 <= v <= 1, "in [0, 1]")


def _training_errors(cfg: DictConfig, errors: list[str]) -> None:
    t = "trainer"
    _check(errors, cfg, f"{t}.max_steps", _pos_int, "an integer >= 1")
    _check(errors, cfg, f"{t}.max_minutes", lambda v: v is None or _pos(v), "null or > 0")
    _check(errors, cfg, f"{t}.num_threads", lambda v: v is None or _pos_int(v), "null or >= 1")
    _check(
        errors,
        cfg,
        f"{t}.resume",
        lambda v: isinstance(v, str) and v != "",
        "auto, never or a path",
    )
    _check(errors, cfg, f"{t}.training.batch_size_per_device", _pos_int, "an integer >= 1")
    _check(errors, cfg, f"{t}.training.grad_accum_steps", _pos_int, "an integer >= 1")
    _check(
        errors,
        cfg,
        f"{t}.training.global_batch_size",
        lambda v: v is None or _pos_int(v),
        "null or an integer >= 1",
    )
    _check(
        errors,
        cfg,
        f"{t}.training.grad_clip_norm",
        lambda v: v is None or _nonneg(v),
        "null or >= 0",
    )
    _check(
        errors, cfg, f"{t}.training.precision", lambda v: v in PRECISIONS, f"one of {PRECISIONS}"
    )
    _check(errors, cfg, f"{t}.training.num_workers", lambda v: _nonneg(v), "an integer >= 0")
    _check(errors, cfg, f"{t}.validation.every_n_steps", _pos_int, "an integer >= 1")
    _check(
        errors,
        cfg,
        f"{t}.validation.num_batches",
        lambda v: v is None or _pos_int(v),
        "null or >= 1",
    )
    _check(errors, cfg, f"{t}.validation.sample_batches", _nonneg, "an integer >= 0")
    _check(errors, cfg, f"{t}.checkpoint.every_n_steps", _pos_int, "an integer >= 1")
    _check(errors, cfg, f"{t}.checkpoint.keep_last", _pos_int, "an integer >= 1")
    _check(errors, cfg, f"{t}.log_every_n_steps", _pos_int, "an integer >= 1")


def _other_errors(cfg: DictConfig, errors: list[str]) -> None:
    _check(errors, cfg, "cluster.backend", lambda v: v in BACKENDS, f"one of {BACKENDS}")
    _check(
        errors, cfg, "cluster.device", lambda v: v in ("auto", "cpu", "cuda"), "auto, cpu or cuda"
    )
    _check(
        errors,
        cfg,
        "cluster.dist_backend",
        lambda v: v in ("auto", "nccl", "gloo"),
        "auto, nccl or gloo",
    )
    _check(errors, cfg, "cluster.deepspeed.zero_stage", lambda v: v in (0, 1, 2, 3), "0, 1, 2 or 3")
    _check(errors, cfg, "logging.wandb.mode", lambda v: v in WANDB_MODES, f"one of {WANDB_MODES}")
    _check(errors, cfg, "logging.wandb.init_timeout_s", _pos, "a number > 0")
    _check(errors, cfg, "data.kind", lambda v: v in DATA_KINDS, f"one of {DATA_KINDS}")
    _check(errors, cfg, "seed", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0")
    init = OmegaConf.select(cfg, "init_from")
    if init is not None and not (Path(str(init)).expanduser() / "model.safetensors").is_file():
        errors.append(
            f"init_from={init!r}: not a policy checkpoint folder (no model.safetensors); give the "
            "OUT folder of import_eo1 or a training checkpoint's policy/ folder"
        )
    if OmegaConf.select(cfg, "data.kind") == "lerobot":
        _check(errors, cfg, "data.path", lambda v: isinstance(v, str) and v != "", "a dataset path")
        _check(errors, cfg, "data.val_fraction", lambda v: 0 <= v < 1, "in [0, 1)")
    if OmegaConf.select(cfg, "data.kind") == "dummy":
        _check(errors, cfg, "data.num_samples", _pos_int, "an integer >= 1 (an empty dataset)")
        _check(errors, cfg, "data.val_num_samples", _nonneg, "an integer >= 0")


def grad_accum_steps(cfg: DictConfig, world_size: int) -> int:
    """Micro-batches per optimizer step on each rank.

    Raises:
        ConfigError: ``global_batch_size`` is not a multiple of ``batch_size_per_device *
            world_size``.
    """
    tr = cfg.trainer.training
    per_step = int(tr.batch_size_per_device) * world_size
    if tr.global_batch_size is None:
        return int(tr.grad_accum_steps)
    if int(tr.global_batch_size) % per_step != 0:
        raise ConfigError(
            f"trainer.training.global_batch_size={tr.global_batch_size} is not divisible by "
            f"batch_size_per_device ({tr.batch_size_per_device}) x world size ({world_size}) = "
            f"{per_step}; pick a global batch that is a multiple of {per_step}"
        )
    return int(tr.global_batch_size) // per_step


def validate_config(cfg: DictConfig, world_size: int | None = None) -> None:
    """Raises :class:`ConfigError` listing every invalid value of a composed training config.

    Args:
        cfg: The composed config (``config.yaml`` and its groups).
        world_size: Number of ranks, when known, to check that the global batch splits evenly.
    """
    errors: list[str] = []
    _optimizer_errors(cfg, errors)
    _training_errors(cfg, errors)
    _other_errors(cfg, errors)
    if not errors and world_size is not None:
        try:
            grad_accum_steps(cfg, world_size)
        except ConfigError as exc:
            errors.append(str(exc))
    if errors:
        raise ConfigError("invalid training config:\n  - " + "\n  - ".join(errors))


__all__ = ["ConfigError", "grad_accum_steps", "validate_config"]
