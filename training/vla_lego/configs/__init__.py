"""Hydra configs shipped as package data (groups ``model``, ``trainer``, ``data``, ``cluster``,
``logging``; ``config.yaml`` composes them).

They live inside the package so an installed wheel finds them with :mod:`importlib.resources`
(Hydra: ``pkg://vla_lego.configs``); nothing is looked up relative to a source checkout.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

PACKAGE = __name__
SEARCH_PATH = f"pkg://{PACKAGE}"
CONFIG_DIR_ENV = "VLA_LEGO_CONFIG_DIR"


def package_dir() -> Path:
    """The shipped config directory of this installation (source tree or site-packages).

    Raises:
        RuntimeError: The package is not on a file system (e.g. imported from a zip), which Hydra's
            directory-based composition cannot read.
    """
    root = resources.files(PACKAGE)
    if not isinstance(root, Path):  # a zip import: no directory to hand to Hydra or OmegaConf
        raise RuntimeError(f"{PACKAGE} is not installed on a file system ({root!r})")
    return root


def config_dir() -> Path:
    """``$VLA_LEGO_CONFIG_DIR`` when set (a user's own config tree), else :func:`package_dir`."""
    env = os.environ.get(CONFIG_DIR_ENV)
    return Path(env).absolute() if env else package_dir()


def hydra_config_path() -> str:
    """``config_path`` for ``hydra.main``: the override directory, else ``pkg://vla_lego.configs``."""
    env = os.environ.get(CONFIG_DIR_ENV)
    return str(Path(env).absolute()) if env else SEARCH_PATH


def model_preset_file(name: str) -> Path:
    """``model/<name>.yaml`` of the shipped configs (may not exist; callers check)."""
    return package_dir() / "model" / f"{name}.yaml"


def model_presets() -> tuple[str, ...]:
    """Names of the shipped model presets (the ``model`` group's options), sorted."""
    return tuple(sorted(p.stem for p in (package_dir() / "model").glob("*.yaml")))


__all__ = [
    "CONFIG_DIR_ENV",
    "PACKAGE",
    "SEARCH_PATH",
    "config_dir",
    "hydra_config_path",
    "model_preset_file",
    "model_presets",
    "package_dir",
]
