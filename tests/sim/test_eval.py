"""Closed-loop evaluation: the expert as a policy succeeds, hold/zero policies do not."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v2 as imageio
import pytest

from vla_lego.eval.sim import EvalConfig, evaluate, main, wilson_interval


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=1e-4)
    lo, hi = wilson_interval(5, 10)
    assert (lo, hi) == (pytest.approx(0.2366, abs=1e-4), pytest.approx(0.7634, abs=1e-4))
    assert wilson_interval(10, 10)[1] == 1.0


@pytest.mark.slow
def test_expert_policy_reaches_its_success_and_writes_report(tmp_path: Path) -> None:
    cfg = EvalConfig(task="pick_place", episodes=2, seed=40, gif_episodes=1)
    summary = evaluate("expert", cfg, tmp_path / "rep", progress=False)
    assert summary["success_rate"] == 1.0
    assert 4.0 < summary["mean_completion_time"] < 10.0
    saved = json.loads((tmp_path / "rep/results.json").read_text())
    assert saved["successes"] == 2 and len(saved["per_episode"]) == 2
    for name in ("success.png", "joints.png"):
        assert imageio.imread(tmp_path / "rep" / name).shape[-1] in (3, 4)
    assert len(imageio.mimread(tmp_path / "rep/episodes.gif")) > 10
    assert "Wilson" in (tmp_path / "rep/summary.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec", ["python:vla_lego.runtime.scripted:hold", "python:vla_lego.eval.sim:zero_policy"]
)
def test_hold_and_zero_policies_never_succeed(spec: str) -> None:
    summary = evaluate(spec, EvalConfig(task="pick_place", episodes=1, seed=40), progress=False)
    assert summary["successes"] == 0 and summary["mean_completion_time"] is None
    assert summary["success_ci95"][0] == 0.0


def test_cli_bad_input(capsys) -> None:
    assert main(["--policy", "expert", "--task", "juggle", "--episodes", "1"]) == 2
    assert "unknown task" in capsys.readouterr().err
    assert main(["--policy", "expert", "--episodes", "0"]) == 2
    assert main(["--policy", "python:no_such_module:thing", "--episodes", "1"]) == 2


def test_time_limits_fit_the_expert() -> None:
    from vla_lego.sim import LegoEnv, ScriptedExpert, SimConfig

    env = LegoEnv()
    expert = ScriptedExpert(env)
    for task in ("pick_place", "stack", "handover"):
        env.reset(task, 0, render=False)
        expert.reset()
        assert expert.duration + 1.0 < env.time_limit
    assert LegoEnv(SimConfig(episode_seconds=3.0)).cfg.episode_seconds == 3.0
    with pytest.raises(ValueError):
        SimConfig(episode_seconds=0.0)
