"""W&B tracking: offline runs write locally, disabled does nothing, an unreachable server never
blocks (init times out, training continues on the console)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from vla_lego.tracking import WandbTracker


def _tracker(tmp_path: Path, mode: str, enabled: bool = True, timeout: float = 30.0):
    return WandbTracker(
        enabled=enabled,
        mode=mode,
        project="vla-lego-test",
        run_name="t",
        run_id="testrun0001",
        directory=tmp_path,
        config={"a": 1},
        init_timeout_s=timeout,
    )


@pytest.mark.slow
def test_offline_run_writes_locally(tmp_path: Path) -> None:
    tr = _tracker(tmp_path, "offline")
    assert tr.active
    tr.log({"loss": 1.0}, step=1)
    tr.finish(timeout_s=60)
    runs = list((tmp_path / "wandb").glob("offline-run-*testrun0001"))
    assert runs and any(runs[0].glob("*.wandb"))


def test_disabled_and_non_main_rank_do_nothing(tmp_path: Path) -> None:
    assert not _tracker(tmp_path, "disabled").active
    assert not _tracker(tmp_path, "online", enabled=False).active
    assert not (tmp_path / "wandb").exists()
    with pytest.raises(ValueError, match="W&B mode must be one of"):
        _tracker(tmp_path, "sometimes")


@pytest.mark.slow
def test_online_with_unreachable_server_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    t0 = time.monotonic()
    with caplog.at_level("WARNING", logger="vla_lego.train"):
        tr = _tracker(tmp_path, "online", timeout=2.0)
        tr.log({"loss": 1.0}, step=1)  # must not raise either way
        tr.finish(timeout_s=2)
    elapsed = time.monotonic() - t0
    assert not tr.active
    assert elapsed < 40, f"W&B blocked training for {elapsed:.0f} s"
    assert "W&B online init failed" in caplog.text
