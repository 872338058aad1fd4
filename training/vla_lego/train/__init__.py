"""Training: Hydra configs, single-process/DDP/DeepSpeed engines, exact resume, validation.

CLI: ``python -m vla_lego.train trainer=debug cluster=local model=tiny``.
Python: ``vla_lego.train.run(["trainer=debug"]) -> Path`` (policy checkpoint directory).
"""

from vla_lego.train.api import compose_config, config_dir, run, train_from_config
from vla_lego.train.config import ConfigError, validate_config
from vla_lego.train.trainer import Trainer, TrainResult

__all__ = [
    "ConfigError",
    "TrainResult",
    "Trainer",
    "compose_config",
    "config_dir",
    "run",
    "train_from_config",
    "validate_config",
]
