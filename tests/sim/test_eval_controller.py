"""The direct sim evaluation runs the robot's controller: a recorded direct episode replays to the
same commands, and the node settings (safety limits, inference pacing) act in it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vla_lego.bags.reader import BagReader
from vla_lego.eval.replay import ReplayConfig, replay
from vla_lego.eval.replay_eval import recorded_params
from vla_lego.eval.sim import EvalConfig, evaluate, main
from vla_lego.robot import H1_LAYOUT
from vla_lego.robot import topics as T
from vla_lego.runtime.build import load_policy, node_values
from vla_lego.sim import SimConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    from vla_lego.models.eo1 import EO1Config, EO1Policy

    torch.manual_seed(11)
    mid = (H1_LAYOUT.lower + H1_LAYOUT.upper) / 2
    half = (H1_LAYOUT.upper - H1_LAYOUT.lower) / 2
    # Wide statistics: the untrained model's chunks jump around, so the safety filter must act.
    feature = {
        "mean": mid,
        "std": 0.5 * half,
        "min": H1_LAYOUT.lower,
        "max": H1_LAYOUT.upper,
        "q01": H1_LAYOUT.lower,
        "q99": H1_LAYOUT.upper,
    }
    policy = EO1Policy(EO1Config.from_preset("tiny"), stats={"state": feature, "actions": feature})
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    policy.eval().save_pretrained(path)
    return path


def _recorded_commands(bag: Path) -> tuple[np.ndarray, np.ndarray]:
    times, cmds = [], []
    with BagReader(bag) as r:
        for m in r.messages([T.ARM_COMMAND_TOPIC]):
            times.append(m.log_time_ns)
            cmds.append(np.asarray(m.msg.position, np.float64))
    return np.asarray(times), np.stack(cmds)


@pytest.mark.parametrize("delay", [0.0, 0.15])
def test_direct_episode_replays_to_the_same_commands(
    tiny_checkpoint: Path, tmp_path: Path, delay: float
) -> None:
    """With and without a simulated inference delay (chunks usable 0.15 s after the start)."""
    spec = f"torch:{tiny_checkpoint}"
    values = node_values(overrides={"min_inference_period": 0.3})
    cfg = EvalConfig(
        task="pick_place",
        episodes=1,
        seed=5,
        time_limit=3.0,
        gif_episodes=0,
        inference_delay=delay,
    )
    bag = tmp_path / "episode"
    summary = evaluate(spec, cfg, sim=SimConfig(), values=values, record_bag=bag, progress=False)
    ep = summary["per_episode"][0]
    assert ep["policy_calls"] >= 8  # 3 s, one inference every 0.3 s once the first frame is in
    if delay:
        with BagReader(bag) as reader:
            chunks = list(reader.messages([T.ACTION_CHUNK_TOPIC]))
        # Each chunk was accepted `delay` after its inference started (its frame at the latest).
        assert all(m.msg.inference_time == delay for m in chunks)
        lag = [
            m.log_time_ns / 1e9 - (m.msg.header.stamp.sec + m.msg.header.stamp.nanosec / 1e9)
            for m in chunks
        ]
        assert min(lag) >= delay - 1e-6
    # The deployed feasible_targets shapes the stream to the limits: the filter has nothing left.
    assert summary["safety_clamps"] == 0
    times, direct = _recorded_commands(bag)
    assert len(times) == 150  # 3 s at the node's 50 Hz
    # Commands obey the node's limits: velocity within arm/hand max_velocity per tick.
    step = np.abs(np.diff(direct, axis=0)) * values["control_rate"]
    arm = np.array([j.kind == "arm" for j in H1_LAYOUT.joints])
    assert step[:, arm].max() <= values["arm_max_velocity"] + 1e-6
    assert step[:, ~arm].max() <= values["hand_max_velocity"] + 1e-6

    # The same checkpoint and seed, loaded afresh, replayed on the bag's observations.
    policy = load_policy({**values, "policy": spec})
    with BagReader(bag) as reader:
        recorded = recorded_params(reader)
    assert recorded is not None and recorded[0] == values  # the bag carries the settings
    rcfg = ReplayConfig(recorded[0], instruction=ep["instruction"], timing="recorded")
    res = replay(bag, policy, rcfg, progress=False)
    assert res.stats["observation_mismatch"] == 0 and res.stats["not_reproduced"] == 0
    assert res.stats["accepted_chunks"] == ep["policy_calls"]
    assert res.predicted.shape == direct.shape
    np.testing.assert_allclose(res.predicted, direct, atol=1e-6, rtol=0)

    # A different seed changes the chunks, so the comparison above can fail.
    other = load_policy({**values, "policy": spec, "seed": 1})
    res2 = replay(bag, other, rcfg, progress=False)
    assert np.nanmax(np.abs(res2.predicted - direct)) > 1e-3


def test_node_settings_change_the_direct_evaluation(tiny_checkpoint: Path, tmp_path: Path) -> None:
    spec = f"torch:{tiny_checkpoint}"
    cfg = EvalConfig(task="pick_place", episodes=1, seed=5, time_limit=2.0, gif_episodes=0)
    raw = {"min_inference_period": 0.0, "feasible_targets": False}
    fast = evaluate(spec, cfg, values=node_values(overrides=raw), progress=False)
    slow = evaluate(spec, cfg, progress=False)  # the deployed 0.5 s
    assert fast["per_episode"][0]["policy_calls"] > slow["per_episode"][0]["policy_calls"]
    # The safety filter is in the direct path: it acts on the untrained model's unshaped jumps.
    assert fast["safety_clamps"] > 0 and slow["safety_clamps"] == 0
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters:\n    control_rate: 500.5\n")
    assert main(["--policy", spec, "--episodes", "1", "--params", str(params)]) == 2
    assert main(["--policy", spec, "--episodes", "1", "--param", "no_such=1"]) == 2
    assert main(["--policy", spec, "--episodes", "1", "--inference-delay", "-0.1"]) == 2
    # A delay at or above max_inference_latency would drop every chunk: refused.
    assert main(["--policy", spec, "--episodes", "1", "--inference-delay", "1.0"]) == 2
