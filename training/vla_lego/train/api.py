"""Python entry points: compose the Hydra config and train (used by the CLI, tests and the demo)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch.distributed as dist
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from vla_lego.configs import CONFIG_DIR_ENV
from vla_lego.configs import config_dir as _shipped_config_dir
from vla_lego.train.distributed import shutdown_distributed
from vla_lego.train.trainer import Trainer, TrainResult


def config_dir() -> Path:
    """``$VLA_LEGO_CONFIG_DIR`` when set, else the configs shipped in ``vla_lego.configs``."""
    return _shipped_config_dir()


def compose_config(
    overrides: Sequence[str] = (), config_directory: Path | str | None = None
) -> DictConfig:
    """Composes ``config.yaml`` with command-line style overrides (Hydra struct mode).

    Raises:
        hydra.errors.ConfigCompositionException: Unknown key or group option in ``overrides``.
    """
    directory = Path(config_directory) if config_directory else config_dir()
    with initialize_config_dir(
        version_base="1.3", config_dir=str(directory.absolute()), job_name="vla_lego_train"
    ):
        return compose(config_name="config", overrides=list(overrides))


def train_from_config(cfg: DictConfig) -> TrainResult:
    """Sets up and runs a :class:`Trainer`; leaves the process group if it created one."""
    created_group = not dist.is_initialized()
    trainer = Trainer(cfg)
    try:
        trainer.setup()
        return trainer.train()
    finally:
        trainer.close()
        if created_group:
            shutdown_distributed()


def run(overrides: Sequence[str] = (), config_directory: Path | str | None = None) -> Path:
    """Trains with Hydra-style overrides and returns the policy checkpoint directory.

    Example:
        ``run(["trainer=debug", "model=tiny", "trainer.max_minutes=5"])``

    Returns:
        The ``policy/`` folder of the best checkpoint (lowest validation loss), else of the last
        one; loadable with ``models.registry.load_model`` / ``inference.load_policy``.

    Raises:
        RuntimeError: Training ended without writing a checkpoint.
    """
    result = train_from_config(compose_config(overrides, config_directory))
    if result.policy_dir is None:
        raise RuntimeError("training finished without a checkpoint")
    return result.policy_dir


__all__ = ["CONFIG_DIR_ENV", "compose_config", "config_dir", "run", "train_from_config"]
