#!/usr/bin/env python3
"""Composes every combination of the training config groups and checks each one.

Usage:
    python scripts/validate_configs.py [--config-dir training/vla_lego/configs] [--world-size 1 2 4]

For every combination of options of the groups found in the config directory (model, trainer,
data, cluster, logging, ...) it composes ``config.yaml`` with Hydra, resolves every
interpolation, runs the trainer's value checks (optionally for several world sizes) and builds the
model config. Exit status 0 when all pass; otherwise 1, with one readable line per broken
combination naming its group choices and the error.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

from hydra import initialize_config_dir
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "training" / "vla_lego" / "configs"  # shipped as package data


def discover_groups(config_dir: Path) -> dict[str, list[str]]:
    """Group name -> sorted option names (``*.yaml`` stems) of every group folder."""
    if not (config_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{config_dir}: no config.yaml")
    groups = {}
    for sub in sorted(p for p in config_dir.iterdir() if p.is_dir()):
        options = sorted(p.stem for p in sub.glob("*.yaml"))
        if options:
            groups[sub.name] = options
    return groups


def check_combination(overrides: list[str], world_sizes: list[int]) -> None:
    """Composes one combination (inside an initialised Hydra context) and raises on a problem."""
    from hydra import compose

    from vla_lego.train.builders import model_config
    from vla_lego.train.config import validate_config

    cfg = compose(config_name="config", overrides=overrides)
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    validate_config(cfg)
    for world in world_sizes:
        validate_config(cfg, world_size=world)
    if "model" in cfg:
        model_config(cfg.model)


def validate_all(config_dir: Path, world_sizes: list[int]) -> list[str]:
    """Returns one error line per failing combination (empty when all pass)."""
    groups = discover_groups(config_dir)
    names = list(groups)
    failures = []
    combos = list(itertools.product(*(groups[n] for n in names)))
    with initialize_config_dir(version_base="1.3", config_dir=str(config_dir)):
        for combo in combos:
            overrides = [f"{n}={o}" for n, o in zip(names, combo, strict=True)]
            try:
                check_combination(overrides, world_sizes)
            except Exception as exc:
                message = " ".join(str(exc).split())
                failures.append(f"{' '.join(overrides)}: {type(exc).__name__}: {message}")
    sizes = ", ".join(f"{n}({len(groups[n])})" for n in names)
    print(f"checked {len(combos)} combinations of {sizes}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, default=CONFIG_DIR)
    parser.add_argument(
        "--world-size", type=int, nargs="*", default=[], help="also check the batch split for these"
    )
    args = parser.parse_args(argv)
    try:
        failures = validate_all(args.config_dir.absolute(), args.world_size)
    except FileNotFoundError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1
    for line in failures:
        print(f"BROKEN {line}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} broken combination(s)", file=sys.stderr)
        return 1
    print("all configs compose and validate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
