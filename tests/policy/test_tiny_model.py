"""The policy node running the tiny EO-1 model exported to ONNX (onnxruntime backend)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from vla_lego.robot import H1_LAYOUT

pytestmark = [pytest.mark.ros, pytest.mark.slow]

RUNNING = 1


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny, untrained EO-1 checkpoint exported to ONNX (~30 s of CPU)."""
    torch = pytest.importorskip("torch")
    from vla_lego.export import ExportOptions, export_checkpoint
    from vla_lego.models.eo1 import EO1Config, EO1Policy

    torch.manual_seed(7)
    mid = (H1_LAYOUT.lower + H1_LAYOUT.upper) / 2
    half = (H1_LAYOUT.upper - H1_LAYOUT.lower) / 2
    # Narrow statistics: the untrained model's actions stay near mid-range and move slowly, so
    # commands can follow them exactly within the hardware limits.
    feature = {
        "mean": mid,
        "std": 0.02 * half,
        "min": mid - 0.05 * half,
        "max": mid + 0.05 * half,
        "q01": mid - 0.05 * half,
        "q99": mid + 0.05 * half,
    }
    policy = EO1Policy(EO1Config.from_preset("tiny"), stats={"state": feature, "actions": feature})
    ckpt = tmp_path_factory.mktemp("ckpt") / "tiny"
    policy.eval().save_pretrained(ckpt)
    out = tmp_path_factory.mktemp("export") / "tiny_onnx"
    export_checkpoint(ckpt, out, ExportOptions(exporter="torchscript"))
    return out


def stamp_s(msg) -> float:
    return msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec


def chunk_value(chunk, t: float) -> np.ndarray:
    """The chunk's trajectory at time t (linear interpolation, held at the ends)."""
    actions = np.asarray(chunk.positions).reshape(chunk.horizon, len(chunk.joint_names))
    x = np.clip((t - stamp_s(chunk)) / chunk.dt, 0, chunk.horizon - 1)
    i = min(int(x), chunk.horizon - 2)
    return actions[i] + (x - i) * (actions[i + 1] - actions[i])


def test_tiny_exported_model_drives_safe_commands_at_rate(make_graph, check_safe, tiny_export):
    g = make_graph(
        policy=f"onnxruntime:{tiny_export}",
        policy_kwargs="{}",
        blend="none",
        interpolation="linear",  # chunk_value below interpolates linearly
        arm_max_velocity=9.0,
        hand_max_velocity=2.0,
        arm_max_acceleration=1000.0,
        hand_max_acceleration=1000.0,
        max_inference_latency=2.0,
        inference_nice=10,
        startup_timeout=90.0,
        # One onnxruntime thread: on a 2-core machine the other core stays with the control loop.
        backend_options='{"threads": 1, "spin": "never"}',
        node_env={"VLA_ORT_THREADS": "not read when the parameter gives threads"},
    )
    d = g.driver
    g.start_task("stack the red brick on the blue one")
    assert d.wait_state(RUNNING, 30.0), d.statuses[-1][1].reason if d.statuses else "no status"
    t0 = d.now()
    time.sleep(4.0)
    cmds = [(t, m) for t, m in d.commands if t >= t0]
    stamps = np.array([stamp_s(m) for _, m in cmds])
    assert abs((len(stamps) - 1) / (stamps[-1] - stamps[0]) - 50.0) <= 5.0
    assert abs(len(cmds) / 4.0 - 50.0) <= 5.0
    check_safe(d.commands, limits=(9.0, 2.0))
    chunks = [m for _, m in d.chunks]
    assert len(chunks) >= 3 and all(c.horizon == 50 and abs(c.dt - 0.1) < 1e-9 for c in chunks)
    assert d.statuses[-1][1].last_inference_latency > 0
    # Follow the chunks: with blend "none" each command is the newest chunk's trajectory at its
    # stamp wherever that is reachable within the (hardware) limits.
    arm = H1_LAYOUT.arm_slice
    hits = []
    for t, m in cmds:
        # The newest chunk received before the command, or the one before it (the chunk and the
        # command travel on different topics, so their arrival order here may swap).
        arrived = [c for tc, c in d.chunks if tc <= t][-2:]
        errs = [
            np.abs(
                np.asarray(m.position)[arm]
                - np.clip(chunk_value(c, stamp_s(m)), H1_LAYOUT.lower, H1_LAYOUT.upper)[arm]
            ).max()
            for c in arrived
        ]
        hits.append(bool(errs) and min(errs) < 1e-3)
    print(f"commands equal to a current chunk: {np.mean(hits):.2f} of {len(hits)}")
    assert np.mean(hits) >= 0.5
