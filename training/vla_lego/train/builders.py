"""Adapters from the Hydra config to the data and model parts (the only place that knows their
constructors). Models come from :mod:`vla_lego.models.registry`: the ``model`` group's ``type``
(default ``eo1``) picks the class, a checkpoint's ``model.json`` picks it when resuming."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig
from torch.utils.data import Dataset

from vla_lego.models import registry
from vla_lego.models.base import PolicyModel


def model_config(model_cfg: DictConfig) -> Any:
    """The model family's config (``EO1Config`` for ``type: eo1``) from the ``model`` group.

    Raises:
        ValueError: unknown model type, unknown or invalid fields.
    """
    return registry.model_config(model_cfg)


def build_policy(
    model_cfg: DictConfig, stats: dict[str, Any] | None, fps: float | None = None
) -> PolicyModel:
    """A fresh policy whose normalisation uses the dataset statistics and whose chunks are
    timed at the dataset's ``fps`` (stored in the checkpoint config; deployment reads it).

    Raises:
        ValueError: ``model.fps`` was set and differs from the dataset's rate.
    """
    cfg = model_config(model_cfg)
    if fps is not None:
        if cfg.fps is not None and abs(cfg.fps - float(fps)) > 1e-9:
            raise ValueError(
                f"model.fps={cfg.fps} but the training dataset is recorded at {fps} Hz; the "
                "actions of a chunk must be timed like the data (drop the model.fps override)"
            )
        cfg = cfg.replace(fps=float(fps))
    return registry.create_model(cfg, stats=stats)


def adapt_to_dataset(
    policy: PolicyModel, stats: dict[str, Any] | None, fps: float | None
) -> PolicyModel:
    """A loaded policy (``init_from``) set up for fine-tuning on a dataset: the dataset's
    normalisation statistics (an imported EO-1 checkpoint carries identity ones, and another
    robot's would be wrong) and its ``fps`` (the chunk timing deployment reads).

    Raises:
        ValueError: the dataset has no statistics (a fine-tune must not train on raw units).
    """
    if stats is None:
        raise ValueError(
            "init_from: the training dataset has no normalisation statistics; the policy must be "
            "fine-tuned with the dataset's (robot units never reach the network)"
        )
    policy.set_norm_stats(stats)
    p: Any = policy
    if fps is not None and getattr(p.config, "fps", None) != float(fps):
        p.config = p.config.replace(fps=float(fps))
        if getattr(p, "processor", None) is not None:
            p.processor.config = p.config
    return policy


def load_policy_checkpoint(path: Path) -> PolicyModel:
    """A policy checkpoint directory, loaded by the class its ``model.json`` names."""
    return registry.load_model(path)


class EpisodeSubset(Dataset):
    """Frames of some episodes of a dataset; keeps the parent's ``stats``, ``fps``, cameras and
    layout (the normalisation statistics stay those of the whole dataset)."""

    def __init__(self, parent: Any, indices: np.ndarray) -> None:
        self.parent = parent
        self.indices = indices.astype(np.int64)
        self.stats = parent.stats
        self.fps = parent.fps
        self.camera_names = parent.camera_names
        self.layout = parent.layout

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.parent[int(self.indices[index])]


def split_by_episode(dataset: Any, val_fraction: float) -> tuple[Dataset, Dataset | None]:
    """Holds out the last ``ceil(val_fraction * episodes)`` episodes for validation (at least one
    when ``val_fraction > 0`` and there are two or more episodes)."""
    episodes = np.unique(dataset.episode_index)
    n_val = math.ceil(val_fraction * len(episodes)) if val_fraction > 0 else 0
    n_val = min(n_val, len(episodes) - 1)
    if n_val <= 0:
        return dataset, None
    val_eps = episodes[-n_val:]
    is_val = np.isin(dataset.episode_index, val_eps)
    train = EpisodeSubset(dataset, np.flatnonzero(~is_val))
    return train, EpisodeSubset(dataset, np.flatnonzero(is_val))


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

        size = int(data.image_size)
        common: dict[str, Any] = dict(
            horizon=horizon,
            camera_names=tuple(data.camera_names),
            image_size=(size, size),
            episode_length=int(data.episode_length),
        )
        train = DummyDataset(length=int(data.num_samples), seed=int(data.seed), **common)
        val = None
        if int(data.val_num_samples) > 0:
            val = DummyDataset(length=int(data.val_num_samples), seed=int(data.seed) + 1, **common)
        return train, val
    if data.kind == "lerobot":
        from vla_lego.data import LegoDataset

        root = Path(str(data.path)).expanduser()
        if not (root / "meta" / "info.json").is_file():
            raise FileNotFoundError(
                f"data.path={str(data.path)!r}: no LeRobot dataset there (meta/info.json missing)"
            )
        from vla_lego.data.mapping import mapping_config

        cameras = list(data.camera_names) if data.camera_names else None
        size = data.get("image_size")
        full = LegoDataset(
            root,
            horizon=horizon,
            cameras=cameras,
            image_size=int(size) if size else None,
            tolerance_s=float(data.get("tolerance_s") or 1e-4),
            **mapping_config(data),
        )
        full.check_videos()  # a video shorter than its episode fails here, not at step 10^4
        # Printed before training starts: what is read from where, and what is dropped.
        print(f"[data] {root} ({full.source.version}, {full.fps:g} fps, {len(full)} frames)")
        print(full.describe_mapping())
        return split_by_episode(full, float(data.val_fraction))
    raise ValueError(f"data.kind must be dummy or lerobot, got {data.kind!r}")


def collate_fn() -> Any:
    """The data part's collate function (stacks samples into the training batch)."""
    from vla_lego.data import collate

    return collate


__all__ = [
    "EpisodeSubset",
    "build_datasets",
    "build_policy",
    "collate_fn",
    "load_policy_checkpoint",
    "model_config",
    "split_by_episode",
]
