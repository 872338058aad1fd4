"""Experiment tracking: console progress and Weights & Biases (rank 0, network-failure tolerant)."""

from vla_lego.tracking.console import (
    LOGGER_NAME,
    ConsoleProgress,
    MetricsFile,
    format_duration,
    setup_console_logging,
)
from vla_lego.tracking.wandb_tracker import WandbTracker

__all__ = [
    "LOGGER_NAME",
    "ConsoleProgress",
    "MetricsFile",
    "WandbTracker",
    "format_duration",
    "setup_console_logging",
]
