"""``python -m vla_lego.train [overrides...]`` — Hydra CLI for training.

Examples:
    python -m vla_lego.train trainer=debug cluster=local model=tiny
    python -m vla_lego.train trainer.optimizer.lr=1e-5 trainer.training.batch_size_per_device=16
    torchrun --nproc_per_node 2 -m vla_lego.train trainer=debug cluster=gilbreth
"""

from __future__ import annotations

import os
import sys

import hydra
from omegaconf import DictConfig

from vla_lego.configs import hydra_config_path
from vla_lego.train.api import train_from_config
from vla_lego.train.config import ConfigError


# pkg://vla_lego.configs: found through the installed package, so a wheel needs no checkout.
@hydra.main(version_base="1.3", config_path=hydra_config_path(), config_name="config")
def main(cfg: DictConfig) -> None:
    """Trains and prints where the result went."""
    try:
        result = train_from_config(cfg)
    except ConfigError as exc:  # a wrong value: the message says it all, no traceback
        print(f"error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    if os.environ.get("RANK", "0") != "0":
        return
    print(
        f"finished at step {result.step}: last {result.last_checkpoint}, "
        f"best {result.best_checkpoint}, policy {result.policy_dir}",
        flush=True,
    )


if __name__ == "__main__":
    main()
