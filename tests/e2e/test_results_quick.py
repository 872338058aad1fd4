"""The short version of the results run: every stage produces its artifacts, a rerun resumes.

A few demonstrations per task, a few training steps, one episode per task directly and through
the ROS graph (``ros2 launch`` of the sim stack). Nothing is expected to succeed; what is
asserted is that every stage ran and wrote what the docs promise, in the format other tools read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vla_lego.results.config import ALL_TASKS
from vla_lego.sim.tasks import FAILURE_CATEGORIES

pytestmark = pytest.mark.slow


def _run(
    args: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vla_lego.results", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("tasks=pick_place,juggle", "unknown task 'juggle'"),
        ("presets=easy,extreme", "unknown preset 'extreme'"),
        ("direct_episodes=50", "50 episodes asked for, but the held-out seed range"),
        ("eval_seed=10", "may overlap the demonstration seeds"),
    ],
)
def test_bad_options_fail_before_any_work(option, message, tmp_path, ros_env, repo_root) -> None:
    out = tmp_path / "never"
    args = ["--preset", "quick", "--out", str(out), "eval_seeds=20", option]
    r = _run(args, ros_env, repo_root, 120)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert not out.exists()


def test_quick_results_every_stage(tmp_path, ros_env, repo_root) -> None:
    out, docs = tmp_path / "res", tmp_path / "docs"
    args = ["--preset", "quick", "--out", str(out), f"docs={docs}"]
    r = _run(args, ros_env, repo_root, 1500)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for run in ("main_s0", "no_text_s0"):
        assert (out / "runs" / run / "train" / "policy").is_dir()
        assert (out / "runs" / run / "export" / "export" / "manifest.json").is_file()
    data = json.loads((docs / "results.json").read_text())
    assert data["commit"] and data["command"].startswith("python -m vla_lego.results")
    recs = data["records"]
    for task in ALL_TASKS:
        got = {r["evaluator"] for r in recs if r["task"] == task}
        assert got == {"expert", "direct", "direct_no_text", "ros"}, (task, got)
        assert (docs / "results" / f"{task}.gif").stat().st_size > 0
    for rec in recs:
        assert {"task", "preset", "evaluator", "episodes", "successes", "failures"} <= set(rec)
        assert rec["episodes"] == 1 and 0 <= rec["successes"] <= 1
        assert set(rec["failures"]) <= set(FAILURE_CATEGORIES)
        assert sum(rec["failures"].values()) == rec["episodes"] - rec["successes"]
    # The expert solves its held-out scene; the ROS records came through the launched graph.
    assert all(r["successes"] == 1 for r in recs if r["evaluator"] == "expert")
    assert all(r["launched_with"] for r in recs if r["evaluator"] == "ros")
    md = (docs / "results.md").read_text()
    for heading in (
        "## Success",
        "## Failure categories",
        "## Subtask-text ablation",
        "## Targets",
    ):
        assert heading in md
    # Resumable: a second run reuses every stage and every evaluation job.
    r2 = _run(args, ros_env, repo_root, 600)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert "job(s) to run" not in r2.stdout
    assert "ros: " not in r2.stdout
    assert r2.stdout.count("reusing") >= 5  # data, and train + export of both runs
