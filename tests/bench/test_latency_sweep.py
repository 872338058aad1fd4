"""A two-seed latency sweep runs (bench/latency_sweep.py) and delay shows in what it measures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import latency_sweep

pytestmark = pytest.mark.slow
POLICY = "python:vla_lego.runtime.scripted:SinePolicy"


def test_two_seed_sweep_writes_table_and_json(tmp_path: Path) -> None:
    out = tmp_path / "latency.md"
    args = ["--policy", POLICY, "--seeds", "2", "--delays", "0", "0.2", "--modes", "none"]
    assert latency_sweep.main([*args, "--out", str(out)]) == 0
    md = out.read_text()
    assert "| none | 0 ms |" in md and "| none | 200 ms |" in md and "Command:" in md
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(r["mode"], r["delay_s"]) for r in rows] == [("none", 0.0), ("none", 0.2)]
    assert all(r["episodes"] == 2 and 0 <= r["safety_clamp_share"] <= 1 for r in rows)
    # Switching to a chunk computed 0.2 s earlier, without blending, steps the target harder.
    assert rows[1]["max_join_jump"] > rows[0]["max_join_jump"]


def test_bad_delay_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert latency_sweep.main(["--policy", POLICY, "--seeds", "1", "--delays", "-1"]) == 2
    assert "inference_delay must be in [0, 5] s, got -1.0" in capsys.readouterr().err


def test_rtc_with_a_policy_that_cannot_follow_guidance_is_an_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--policy", POLICY, "--seeds", "1", "--delays", "0", "--modes", "rtc"]
    assert latency_sweep.main(args) == 2
    assert "blend 'rtc' needs a policy that follows action guidance" in capsys.readouterr().err
