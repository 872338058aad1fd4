"""Datasets: LeRobot v3.0 writer and reader, training-sample collation, a dummy dataset."""

from vla_lego.data.dataset import DatasetError, DummyDataset, LegoDataset, collate
from vla_lego.data.lerobot import CODEBASE_VERSION, LeRobotV3Writer

__all__ = [
    "CODEBASE_VERSION",
    "DatasetError",
    "DummyDataset",
    "LeRobotV3Writer",
    "LegoDataset",
    "collate",
]
