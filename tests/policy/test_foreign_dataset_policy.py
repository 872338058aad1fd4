"""A policy trained on a dataset another lab recorded (LeRobot v3.0 video, Unitree joint names,
written by LeRobot itself) exports to ONNX and drives the policy node within the limits."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from tests.data.lerobot_ref import ref

pytestmark = [
    pytest.mark.ros,
    pytest.mark.slow,
    pytest.mark.skipif(not ref.available(), reason=ref.UNAVAILABLE),
]

RUNNING = 1


def test_policy_trained_on_lerobot_video_dataset_runs_in_the_node(
    tmp_path: Path, make_graph, check_safe
) -> None:
    from tests.data.foreign import write_lerobot_unitree
    from vla_lego.export import ExportOptions, export_checkpoint
    from vla_lego.train import compose_config, train_from_config

    root = tmp_path / "unitree_h1_lego"
    write_lerobot_unitree(
        root, [12, 10], {"observation.images.cam_high": (48, 64)}, ["stack it", "stack again"]
    )
    cfg = compose_config(
        [
            "trainer=debug",
            "model.image_size=56",
            "logging=disabled",
            "data=sim",
            f"data.path={root}",
            "data.camera_map={head: cam_high}",
            "data.image_size=56",
            "data.val_fraction=0",
            "trainer.max_steps=3",
            "trainer.training.batch_size_per_device=2",
            "trainer.num_threads=1",
            f"paths.root={tmp_path}",
        ]
    )
    result = train_from_config(cfg)
    assert result.policy_dir is not None
    out = tmp_path / "onnx"
    export_checkpoint(result.policy_dir, out, ExportOptions(exporter="torchscript"))
    g = make_graph(
        policy=f"onnxruntime:{out}",
        policy_kwargs="{}",
        max_inference_latency=2.0,
        inference_nice=10,
        startup_timeout=90.0,
        backend_options='{"threads": 1, "spin": "never"}',
    )
    d = g.driver
    g.start_task("stack it")
    assert d.wait_state(RUNNING, 30.0), d.statuses[-1][1].reason if d.statuses else "no status"
    t0 = d.now()
    time.sleep(3.0)
    cmds = [(t, m) for t, m in d.commands if t >= t0]
    assert len(cmds) >= 0.5 * 50 * 3.0, len(cmds)  # the rate itself: test_tiny_model.py
    check_safe(d.commands)
    chunks = [m for _, m in d.chunks]
    assert chunks and all(abs(c.dt - 0.1) < 1e-9 for c in chunks)  # the dataset's 10 fps
    assert np.isfinite(np.asarray(chunks[-1].positions)).all()
