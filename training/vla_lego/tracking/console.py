"""Console progress for training: one line per log step with steps/s, loss and ETA."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

LOGGER_NAME = "vla_lego.train"
BAR_WIDTH = 20


def setup_console_logging(log_file: Path | None, is_main: bool) -> logging.Logger:
    """Configures the ``vla_lego.train`` logger: INFO to stderr (rank 0 only) and to a file.

    Non-main ranks log warnings and errors only, so a multi-rank job prints one progress stream.
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    logger.addHandler(stream)
    if log_file is not None and is_main:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(fmt)
        logger.addHandler(file_handler)
    return logger


def format_duration(seconds: float) -> str:
    """``H:MM:SS`` for an ETA (``?`` when unknown)."""
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "?"
    s = round(seconds)
    return f"{s // 3600}:{(s % 3600) // 60:02d}:{s % 60:02d}"


class ConsoleProgress:
    """Rate and ETA over the steps of this process (resumed steps do not count toward the rate).

    Args:
        total_steps: Last step of the run.
        start_step: Step the run (re)started at.
        samples_per_step: Global batch, for samples/s.
        logger: Where lines go.
    """

    def __init__(
        self, total_steps: int, start_step: int, samples_per_step: int, logger: logging.Logger
    ) -> None:
        self.total_steps = total_steps
        self.start_step = start_step
        self.samples_per_step = samples_per_step
        self.logger = logger
        self.t0 = time.perf_counter()

    def rates(self, step: int) -> tuple[float, float]:
        """``(steps/s, ETA seconds)`` at ``step``."""
        elapsed = time.perf_counter() - self.t0
        done = step - self.start_step
        rate = done / elapsed if elapsed > 0 and done > 0 else 0.0
        eta = (self.total_steps - step) / rate if rate > 0 else float("inf")
        return rate, eta

    def line(self, step: int, metrics: dict[str, float]) -> str:
        """The progress line for ``step`` (also returned for tests)."""
        rate, eta = self.rates(step)
        frac = step / self.total_steps
        filled = int(BAR_WIDTH * frac)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        parts = [f"step {step}/{self.total_steps} [{bar}] {100.0 * frac:4.1f}%"]
        for key in ("loss", "lr", "grad_norm"):
            if key in metrics:
                parts.append(f"{key} {metrics[key]:.4g}")
        parts.append(f"{rate:.2f} steps/s")
        parts.append(f"{rate * self.samples_per_step:.1f} samples/s")
        parts.append(f"ETA {format_duration(eta)}")
        return " | ".join(parts)

    def update(self, step: int, metrics: dict[str, float]) -> None:
        self.logger.info(self.line(step, metrics))


class MetricsFile:
    """Appends one JSON line per logged step to ``metrics.jsonl`` (rank 0): a machine-readable
    record that needs no W&B (``elapsed_s`` is seconds since the training loop started).

    Args:
        path: File to append to, or ``None`` to record nothing (other ranks).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.t0 = time.perf_counter()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, step: int, metrics: dict[str, float]) -> None:
        if self.path is None:
            return
        record = {"step": step, "elapsed_s": time.perf_counter() - self.t0, **metrics}
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")


__all__ = [
    "LOGGER_NAME",
    "ConsoleProgress",
    "MetricsFile",
    "format_duration",
    "setup_console_logging",
]
