"""End-to-end training on CPU with the tiny EO-1 model and the dummy dataset.

* the debug trainer through the CLI: loss goes down, validation and progress are logged;
* kill -9 at a random step + ``trainer.resume=auto`` ends bitwise equal to an uninterrupted run;
* a truncated newest checkpoint is detected; resume (through the ``run()`` API) falls back to the
  previous one and still ends bitwise equal;
* DDP x2 (torchrun, gloo) and DeepSpeed ZeRO-2 x2 match a single process on the same global batch;
* bad input (too small / missing dataset) fails before any training step.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from vla_lego.train import compose_config, run
from vla_lego.train.checkpoint import step_dir_name
from vla_lego.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
STEPS = 16
CKPT_EVERY = 4
# Tiny model at the smallest image size it takes; one thread per process so that every run
# (uninterrupted, killed, resumed, in-process) computes with the same kernels.
BASE = [
    "trainer=debug",
    "model=tiny",
    "model.image_size=56",
    "logging=disabled",
    "trainer.num_threads=1",
    "trainer.log_every_n_steps=1",
    "trainer.optimizer.lr=2e-3",
    "trainer.scheduler.warmup_steps=3",
    "data.num_samples=64",
    "data.val_num_samples=8",
]
REF = [
    *BASE,
    f"trainer.max_steps={STEPS}",
    f"trainer.checkpoint.every_n_steps={CKPT_EVERY}",
    "trainer.checkpoint.keep_last=3",
    f"trainer.validation.every_n_steps={STEPS // 2}",
    "run_name=ref",
]
LOSS_RE = re.compile(r"step (\d+)/\d+ .*?\| loss ([-0-9.e+]+)")

pytestmark = pytest.mark.slow


def _env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        VLA_SCRATCH_ROOT=str(root),
        WANDB_MODE="disabled",
        HYDRA_FULL_ERROR="1",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
        DS_BUILD_OPS="0",
        # DeepSpeed JIT-compiles a comm op on first start (~1 min): keep it across test runs.
        TORCH_EXTENSIONS_DIR=str(REPO / "cache" / "torch_extensions"),
    )
    return env


def _train_cmd(overrides: list[str], nproc: int = 1) -> list[str]:
    if nproc == 1:
        return [sys.executable, "-m", "vla_lego.train", *overrides]
    port = str(random.Random().randint(29700, 29999))
    return [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
        "--master_addr", "127.0.0.1", "--master_port", port, "-m", "vla_lego.train", *overrides,
    ]  # fmt: skip


def _train(root: Path, overrides: list[str], nproc: int = 1, timeout: float = 400) -> None:
    proc = subprocess.run(
        _train_cmd(overrides, nproc),
        env=_env(root),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"training failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


def _losses(root: Path, run_name: str) -> dict[int, float]:
    text = (root / "logs" / run_name / "train.log").read_text()
    return {int(m.group(1)): float(m.group(2)) for m in LOSS_RE.finditer(text)}


def _ckpt(root: Path, step: int, run_name: str = "ref") -> Path:
    return root / "checkpoints" / run_name / step_dir_name(step)


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _assert_bitwise(want: dict[str, torch.Tensor], got: dict[str, torch.Tensor], what: str) -> None:
    assert want.keys() == got.keys()
    diff = [k for k in want if not torch.equal(want[k], got[k])]
    assert not diff, f"{what}: {len(diff)} tensors differ, e.g. {diff[:3]}"


def _one_observation() -> dict[str, Any]:
    from vla_lego.data import DummyDataset

    sample = DummyDataset(length=2, horizon=50, image_size=(56, 56))[0]
    return {
        "images": torch.from_numpy(sample["images"])[None],
        "state": torch.from_numpy(sample["state"])[None],
        "instruction": [sample["instruction"]],
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted single-process run through the CLI, checkpointing every 4 steps."""
    root = tmp_path_factory.mktemp("reference")
    _train(root, REF)
    return root


def test_debug_run_loss_goes_down(reference: Path) -> None:
    losses = _losses(reference, "ref")
    assert sorted(losses) == list(range(1, STEPS + 1))
    first = sum(losses[s] for s in range(1, 5)) / 4
    last = sum(losses[s] for s in range(STEPS - 3, STEPS + 1)) / 4
    assert last < 0.9 * first, f"loss did not go down: first {first:.3f}, last {last:.3f}"
    log = (reference / "logs" / "ref" / "train.log").read_text()
    assert "val/action_mse" in log and "steps/s" in log and "ETA" in log
    best = (reference / "checkpoints" / "ref" / "best.json").read_text()
    assert step_dir_name(STEPS // 2) in best or step_dir_name(STEPS) in best


def _train_until_checkpoint(root: Path, step: int) -> subprocess.Popen[bytes]:
    """The reference run in a child process, returned once the checkpoint of ``step`` exists
    (the caller signals and reaps it)."""
    proc = subprocess.Popen(
        _train_cmd(REF), env=_env(root), cwd=REPO,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not _ckpt(root, step).exists():
        if proc.poll() is not None or time.monotonic() >= deadline:
            proc.kill()
            proc.wait(timeout=30)
            raise AssertionError(f"training ended or stalled before the checkpoint of {step}")
        time.sleep(0.05)
    return proc


def test_kill_and_resume_is_bitwise_identical(reference: Path, tmp_path: Path) -> None:
    kill_after = CKPT_EVERY * random.Random().randint(1, STEPS // CKPT_EVERY - 2)
    proc = _train_until_checkpoint(tmp_path, kill_after)
    try:
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert not _ckpt(tmp_path, STEPS).exists(), "killed too late"
    _train(tmp_path, REF)  # trainer.resume=auto is the default
    assert "resumed from" in (tmp_path / "logs" / "ref" / "train.log").read_text()
    for name in ("policy/model.safetensors", "optimizer.safetensors"):
        _assert_bitwise(
            _tensors(_ckpt(reference, STEPS) / name),
            _tensors(_ckpt(tmp_path, STEPS) / name),
            f"{name} after kill at step > {kill_after}",
        )


def test_sigterm_checkpoints_the_current_step_and_resume_is_bitwise_identical(
    reference: Path, tmp_path: Path
) -> None:
    """SLURM's time-limit warning / preemption (SIGTERM, or SIGUSR1) ends the run after the
    current step with a checkpoint of that step, not the last periodic one."""
    proc = _train_until_checkpoint(tmp_path, CKPT_EVERY)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "logs" / "ref" / "train.log").read_text()
    match = re.search(r"SIGTERM: stopped at step (\d+) after saving a checkpoint", log)
    assert match, log[-2000:]
    stopped = int(match.group(1))
    if stopped == STEPS:
        pytest.skip("the run finished before the signal arrived")
    assert _ckpt(tmp_path, stopped).exists() and not _ckpt(tmp_path, STEPS).exists()
    _train(tmp_path, REF)
    _assert_bitwise(
        _tensors(_ckpt(reference, STEPS) / "policy/model.safetensors"),
        _tensors(_ckpt(tmp_path, STEPS) / "policy/model.safetensors"),
        f"after SIGTERM at step {stopped}",
    )


def test_truncated_checkpoint_falls_back_via_run_api(
    reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vla_lego.models.eo1 import EO1Policy

    shutil.copytree(reference / "checkpoints", tmp_path / "checkpoints")
    newest = _ckpt(tmp_path, STEPS) / "policy" / "model.safetensors"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    monkeypatch.setenv("VLA_SCRATCH_ROOT", str(tmp_path))
    threads = torch.get_num_threads()
    with pytest.warns(RuntimeWarning, match="falling back"):
        policy_dir = run(REF)
    assert torch.get_num_threads() == threads  # run() gives process-wide settings back
    assert not torch.are_deterministic_algorithms_enabled()
    log = (tmp_path / "logs" / "ref" / "train.log").read_text()
    assert f"at step {STEPS - CKPT_EVERY} " in log
    _assert_bitwise(
        _tensors(_ckpt(reference, STEPS) / "policy/model.safetensors"),
        _tensors(_ckpt(tmp_path, STEPS) / "policy/model.safetensors"),
        "after falling back",
    )
    assert policy_dir.name == "policy"
    assert policy_dir.parent.parent == tmp_path / "checkpoints" / "ref"
    policy = EO1Policy.from_pretrained(policy_dir)
    actions, _ = policy.sample_actions(_one_observation(), decode_text=False)
    assert actions.shape == (1, 50, 20) and torch.isfinite(actions).all()


def test_two_ranks_match_single_process(reference: Path, tmp_path: Path) -> None:
    """DDP (cluster=local) and DeepSpeed ZeRO-2 (cluster=gilbreth), 2 ranks x 2 samples, against
    one process with 4 samples: same data and initial weights. The flow-matching noise is drawn
    per rank, so against one process the losses agree within a tolerance; DDP and DeepSpeed draw
    the same per-rank noise, so they agree with each other to float precision."""
    losses = {}
    for cluster in ("local", "gilbreth"):
        overrides = [
            *BASE,
            "trainer.max_steps=3",
            "trainer.training.batch_size_per_device=2",
            "trainer.validation.every_n_steps=3",
            "trainer.checkpoint.every_n_steps=3",
            f"cluster={cluster}",
            f"run_name={cluster}",
        ]
        _train(tmp_path, overrides, nproc=2)
        losses[cluster] = _losses(tmp_path, cluster)
        state = (_ckpt(tmp_path, 3, cluster) / "trainer_state.json").read_text()
        assert '"world_size": 2' in state and '"global_batch": 4' in state
        assert (_ckpt(tmp_path, 3, cluster) / "rng" / "rank_00001.json").is_file()
    assert (_ckpt(tmp_path, 3, "gilbreth") / "deepspeed").is_dir()
    single = _losses(reference, "ref")
    for step in (1, 2, 3):
        for cluster in ("local", "gilbreth"):
            assert losses[cluster][step] == pytest.approx(single[step], rel=0.1), (step, losses)
        assert losses["gilbreth"][step] == pytest.approx(losses["local"][step], rel=1e-3), losses


def test_bad_dataset_fails_before_training(tmp_path: Path) -> None:
    root = f"paths.root={tmp_path}"
    cfg = compose_config([*BASE[:4], "data.num_samples=3", root, "run_name=small"])
    with pytest.raises(ValueError, match="fewer than one global micro-batch"):
        Trainer(cfg).setup()
    assert not any((tmp_path / "checkpoints" / "small").glob("step_*"))
    cfg = compose_config([*BASE[:4], "data=sim", "data.path=/nonexistent/ds", root])
    with pytest.raises(FileNotFoundError, match="no LeRobot dataset"):
        Trainer(cfg).setup()


def test_wall_clock_bound_stops_and_checkpoints(tmp_path: Path) -> None:
    from vla_lego.train import train_from_config

    cfg = compose_config(
        [*BASE, "trainer.max_steps=50", "trainer.max_minutes=0.0001", f"paths.root={tmp_path}"]
    )
    result = train_from_config(cfg)
    assert result.time_limited and result.step == 1
    assert result.last_checkpoint == _ckpt(tmp_path, 1, "debug-local")
    assert result.policy_dir is not None and (result.policy_dir / "model.safetensors").is_file()
