"""Adapters from the Hydra config to the data and model parts (the only place that knows their
constructors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import Dataset


def model_config(model_cfg: DictConfig) -> Any:
    """``EO1Config`` from the ``model`` group (raises ValueError on unknown/invalid fields)."""
    from vla_lego.models.eo1 import EO1Config

    data = OmegaConf.to_container(model_cfg, resolve=True)
    assert isinstance(data, dict)
    return EO1Config.from_dict({str(k): v for k, v in data.items()})


def build_policy(model_cfg: DictConfig, stats: dict[str, Any]) -> nn.Module:
    """A fresh ``EO1Policy`` whose normalisation uses the dataset statistics."""
    from vla_lego.models.eo1 import EO1Policy

    return EO1Policy(model_config(model_cfg), stats=stats)


def load_policy_checkpoint(path: Path) -> nn.Module:
    """``EO1Policy.from_pretrained`` of a policy checkpoint directory."""
    from vla_lego.models.eo1 import EO1Policy

    return EO1Policy.from_pretrained(path)


def build_datasets(cfg: DictConfig) -> tuple[Dataset, Dataset | None]:
    """Train and validation datasets of the ``data`` group (validation may be ``None``).

    Raises:
        FileNotFoundError: ``data.path`` of a LeRobot dataset does not exist.
        ValueError: Unknown ``data.kind``.
    """
    data = cfg.data
    horizon = int(cfg.model.action_horizon)
    if data.kind == "dummy":
        from vla_lego.data import DummyDataset

        common = dict(
            action_horizon=horizon,
            camera_names=list(data.camera_names),
            image_size=int(data.image_size),
        )
        train = DummyDataset(num_samples=int(data.num_samples), seed=int(data.seed), **common)
        val = None
        if int(data.val_num_samples) > 0:
            val = DummyDataset(
                num_samples=int(data.val_num_samples), seed=int(data.seed) + 1, **common
            )
        return train, val
    if data.kind == "lerobot":
        from vla_lego.data import LeRobotDataset, split_episodes

        root = Path(str(data.path)).expanduser()
        if not (root / "meta" / "info.json").is_file():
            raise FileNotFoundError(
                f"data.path={str(data.path)!r}: no LeRobot dataset there (meta/info.json missing)"
            )
        train_eps, val_eps = split_episodes(root, float(data.val_fraction), seed=int(data.seed))
        train = LeRobotDataset(root, action_horizon=horizon, episodes=train_eps)
        val = LeRobotDataset(root, action_horizon=horizon, episodes=val_eps) if val_eps else None
        return train, val
    raise ValueError(f"data.kind must be dummy or lerobot, got {data.kind!r}")


def collate_fn() -> Any:
    """The data part's collate function (stacks samples into the training batch)."""
    from vla_lego.data import collate

    return collate


__all__ = [
    "build_datasets",
    "build_policy",
    "collate_fn",
    "load_policy_checkpoint",
    "model_config",
]
