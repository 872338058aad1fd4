"""Where a run writes: checkpoints/, logs/, wandb/ and cache/ under one root.

The root is ``paths.root`` from the config, else ``$VLA_SCRATCH_ROOT`` (on Gilbreth the job
templates point it at scratch space and symlink the four folders into the checkout), else the
current working directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

SCRATCH_ENV = "VLA_SCRATCH_ROOT"
SUBDIRS = ("checkpoints", "logs", "wandb", "cache")


@dataclass(frozen=True)
class RunPaths:
    """Resolved folders of one run.

    Attributes:
        root: Root holding checkpoints/, logs/, wandb/, cache/.
        run_dir: Checkpoints of this run (``<root>/checkpoints/<run_name>`` by default).
        log_dir: Text logs of this run.
        wandb_dir: Parent of W&B's own ``wandb/`` run folders.
        cache_dir: Caches shared by runs (compiled extensions, dataset caches).
    """

    root: Path
    run_dir: Path
    log_dir: Path
    wandb_dir: Path
    cache_dir: Path

    def create(self) -> None:
        """Creates every folder (idempotent)."""
        for path in (self.run_dir, self.log_dir, self.wandb_dir, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True)


def resolve_root(configured: str | None) -> Path:
    """Returns the configured root, else ``$VLA_SCRATCH_ROOT``, else the working directory."""
    if configured:
        return Path(configured).expanduser().absolute()
    env = os.environ.get(SCRATCH_ENV)
    if env:
        return Path(env).expanduser().absolute()
    return Path.cwd()


def resolve_run_paths(cfg: DictConfig) -> RunPaths:
    """Builds the :class:`RunPaths` of a composed training config (no folders are created)."""
    root = resolve_root(cfg.paths.root)
    run_name = str(cfg.run_name)
    if not run_name or "/" in run_name or run_name in (".", ".."):
        raise ValueError(f"run_name must be a plain folder name, got {run_name!r}")
    run_dir = Path(cfg.paths.run_dir).absolute() if cfg.paths.run_dir else None
    return RunPaths(
        root=root,
        run_dir=run_dir or root / "checkpoints" / run_name,
        log_dir=root / "logs" / run_name,
        wandb_dir=root / "wandb",
        cache_dir=root / "cache",
    )


__all__ = ["SCRATCH_ENV", "SUBDIRS", "RunPaths", "resolve_root", "resolve_run_paths"]
