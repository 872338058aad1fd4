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
    # The sim counts why, one category per failed episode.
    episode = summary["per_episode"][0]
    assert summary["failures"][episode["outcome"]] == 1 == sum(summary["failures"].values())
    if spec.endswith(":hold"):  # never grasps; its chunks say "hold", never the sim's phase
        assert episode["outcome"] == "missed_grasp" and episode["first_grasp_ok"] is None
        assert summary["first_grasp_ok_rate"] is None
        assert episode["subtask_accuracy"] == 0.0 == summary["subtask_accuracy"]
    else:  # closed hands sweep the brick up and keep it: a named brick, held at the end
        assert episode["outcome"] == "timeout" and summary["first_grasp_ok_rate"] == 1.0
        assert episode["subtask_accuracy"] is None is summary["subtask_accuracy"]  # no text


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


@pytest.mark.slow
def test_matrix_over_tasks_and_presets_from_the_command_line(tmp_path: Path, capsys) -> None:
    """``--task a,b --preset easy,hard``: one record per pair, the sim's outcome per episode, the
    expert's subtask text scored against the sim's phase, its first grasp on the named brick."""
    from vla_lego.eval.sim import MATRIX_KEYS
    from vla_lego.sim.config import PRESETS
    from vla_lego.sim.tasks import FAILURE_CATEGORIES

    out = tmp_path / "m"
    argv = ["--policy", "expert", "--task", "pick_place,stack", "--preset", "easy,hard"]
    argv += ["--episodes", "1", "--seed", "40", "--max-seed", "41", "--evaluator", "expert"]
    assert main([*argv, "--out", str(out), "--gif-episodes", "0"]) == 0
    assert "pick_place @ hard: success 1/1" in capsys.readouterr().out
    records = json.loads((out / "matrix.json").read_text())
    pairs = [(r["task"], r["preset"]) for r in records]
    assert pairs == [
        ("pick_place", "easy"),
        ("pick_place", "hard"),
        ("stack", "easy"),
        ("stack", "hard"),
    ]
    for r in records:
        assert set(r) == set(MATRIX_KEYS) and r["evaluator"] == "expert"
        assert (r["episodes"], r["successes"]) == (1, 1)
        assert r["failures"] == dict.fromkeys(FAILURE_CATEGORIES, 0)
        assert r["first_grasp_ok_rate"] == 1.0
        # The expert's text is the sim's phase when it planned the chunk: right but for the
        # ticks between a phase change and the next chunk.
        assert 0.8 < r["subtask_accuracy"] < 1.0
        lo, hi = r["success_ci95"]
        assert lo < 1.0 == hi and r["mean_completion_time"] > 4.0
        cell = json.loads((out / f"{r['task']}_{r['preset']}" / "results.json").read_text())
        assert cell["preset"] == r["preset"] and cell["policy"] == "expert"
        assert cell["scene"] == PRESETS[r["preset"]]  # the scene ran with the preset
        assert cell["per_episode"][0]["outcome"] == "success"
        assert (
            "preset: " + r["preset"] in (out / f"{r['task']}_{r['preset']}/summary.md").read_text()
        )


def test_matrix_and_cli_refuse_bad_input_before_any_work(tmp_path: Path, capsys) -> None:
    from vla_lego.eval.sim import evaluate_matrix

    with pytest.raises(ValueError, match=r"3 episodes asked for, but the seed range \[10, 12\)"):
        evaluate_matrix("expert", ["pick_place"], ["easy"], 3, 10, max_seed=12)
    with pytest.raises(ValueError, match="unknown task 'juggle'"):
        evaluate_matrix("expert", ["pick_place", "juggle"], ["easy"], 1, 0)
    with pytest.raises(ValueError, match="unknown preset 'brutal'"):
        evaluate_matrix("expert", ["pick_place"], ["easy", "brutal"], 1, 0)
    with pytest.raises(ValueError, match="unknown preset"):
        EvalConfig(preset="brutal")
    with pytest.raises(ValueError, match="holds only 2 seeds"):
        EvalConfig(episodes=3, seed=0, max_seed=2)
    base = ["--policy", "expert", "--episodes", "1", "--out", str(tmp_path / "r")]
    for extra, needle in (
        (["--preset", "easy,brutal", "--task", "pick_place,stack"], "unknown preset 'brutal'"),
        (["--task", "stack,juggle"], "unknown task 'juggle'"),
        (["--episodes", "5", "--seed", "0", "--max-seed", "4"], "holds only 4 seeds"),
    ):
        assert main([*base, *extra]) == 2
        assert needle in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
