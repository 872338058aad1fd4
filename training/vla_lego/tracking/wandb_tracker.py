"""Weights & Biases from rank 0 only, never blocking training on the network.

``mode`` is online, offline or disabled. ``wandb.init`` gets a bounded ``init_timeout``; any
failure (no API key, host unreachable, timeout) turns W&B off for the run with a warning and the
console log carries on. ``finish`` runs in a daemon thread with a time limit, so an upload stuck
on a dead network cannot hold the job.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("vla_lego.train")

MODES = ("online", "offline", "disabled")


class WandbTracker:
    """Thin, failure-tolerant wrapper around one W&B run.

    Args:
        enabled: False on ranks other than 0 (nothing is imported or started there).
        mode: ``online``, ``offline`` or ``disabled``.
        project: W&B project.
        run_name: Display name of the run.
        run_id: Stable id, so a resumed job continues the same W&B run.
        directory: Where W&B writes its ``wandb/`` folder.
        config: Flat or nested dict logged as the run config.
        entity: W&B entity (team/user) or None.
        group: Run group or None.
        tags: Run tags.
        init_timeout_s: Longest time ``wandb.init`` may take.
    """

    def __init__(
        self,
        enabled: bool,
        mode: str,
        project: str,
        run_name: str,
        run_id: str,
        directory: Path,
        config: dict[str, Any],
        entity: str | None = None,
        group: str | None = None,
        tags: list[str] | None = None,
        init_timeout_s: float = 30.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"W&B mode must be one of {MODES}, got {mode!r}")
        self.run: Any = None
        self.mode = mode
        if not enabled or mode == "disabled":
            return
        directory.mkdir(parents=True, exist_ok=True)
        self.run = self._init_with_deadline(
            dict(
                project=project,
                entity=entity,
                group=group,
                tags=list(tags or []),
                name=run_name,
                id=run_id,
                resume="allow",
                dir=str(directory),
                mode=mode,
                config=config,
            ),
            init_timeout_s,
        )

    @staticmethod
    def _init_with_deadline(kwargs: dict[str, Any], timeout_s: float) -> Any:
        """``wandb.init`` in a helper thread; gives up after ``timeout_s`` (W&B's own timeout does
        not cover its login check, which retries against an unreachable host for much longer)."""
        outcome: dict[str, Any] = {}

        def _init() -> None:
            try:
                import wandb

                settings = wandb.Settings(init_timeout=timeout_s, console="off")
                outcome["run"] = wandb.init(settings=settings, **kwargs)
            except Exception as exc:  # network, auth, timeout: training must go on
                outcome["error"] = exc
            if outcome.get("abandoned") and outcome.get("run") is not None:
                outcome["run"].finish(quiet=True)  # too late: close the stray run quietly

        thread = threading.Thread(target=_init, name="wandb-init", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            outcome["abandoned"] = True
            log.warning(
                "W&B %s init failed (no answer within %.0f s); logging to console only",
                kwargs["mode"], timeout_s,
            )  # fmt: skip
            return None
        if "error" in outcome:
            exc = outcome["error"]
            log.warning(
                "W&B %s init failed (%s: %s); logging to console only",
                kwargs["mode"], type(exc).__name__, exc,
            )  # fmt: skip
            return None
        return outcome.get("run")

    @property
    def active(self) -> bool:
        """True while a W&B run is receiving metrics."""
        return self.run is not None

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Logs metrics; the first failure switches W&B off with a warning."""
        if self.run is None:
            return
        try:
            self.run.log(metrics, step=step)
        except Exception as exc:
            log.warning("W&B log failed (%s); logging to console only from now on", exc)
            self.run = None

    def finish(self, timeout_s: float = 60.0) -> None:
        """Closes the run, waiting at most ``timeout_s`` for W&B to flush."""
        run, self.run = self.run, None
        if run is None:
            return

        def _finish() -> None:
            try:
                run.finish()
            except Exception as exc:
                log.warning("W&B finish failed: %s", exc)

        thread = threading.Thread(target=_finish, name="wandb-finish", daemon=True)
        thread.start()
        thread.join(timeout_s)
        if thread.is_alive():
            log.warning("W&B did not finish within %.0f s; leaving it to sync later", timeout_s)


__all__ = ["MODES", "WandbTracker"]
