"""Fast unit tests of the trainer's parts: state I/O, checkpoints, sampler, optimizer, env parsing,
console progress, config checks and composition."""

from __future__ import annotations

import json
import math
import random
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.errors import ConfigCompositionException

from vla_lego.tracking import ConsoleProgress, format_duration, setup_console_logging
from vla_lego.train import ConfigError, compose_config, validate_config
from vla_lego.train.checkpoint import (
    MANIFEST,
    CheckpointCorruptError,
    CheckpointManager,
    step_dir_name,
    verify_checkpoint,
)
from vla_lego.train.config import grad_accum_steps
from vla_lego.train.distributed import DistInfo, env_rank_info
from vla_lego.train.optim import build_optimizer, build_scheduler, parameter_groups, warmup_cosine
from vla_lego.train.paths import resolve_run_paths
from vla_lego.train.rng import capture_rng, restore_rng
from vla_lego.train.sampler import ResumableShardedSampler
from vla_lego.train.state_io import load_state, save_state

SINGLE = DistInfo(0, 1, 0, torch.device("cpu"), "none")


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(10, 4)
        self.proj = torch.nn.Linear(4, 4)
        self.norm = torch.nn.LayerNorm(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(self.embed_tokens(x)))


def test_state_roundtrip_restores_optimizer_and_rng(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = _Net()
    opt = build_optimizer(net, 1e-2, 0.1, [0.9, 0.95], 1e-8, ["bias", "norm", "embed"])
    sched = build_scheduler(opt, 2, 10, 0.1)
    for _ in range(3):
        net(torch.tensor([1, 2, 3])).pow(2).sum().backward()
        opt.step()
        sched.step()
        opt.zero_grad()
    save_state(opt.state_dict(), tmp_path / "opt")
    save_state(sched.state_dict(), tmp_path / "sched")
    random.seed(1)
    np.random.seed(2)
    save_state(capture_rng(), tmp_path / "rng")
    expected = (random.random(), float(np.random.rand()), torch.rand(3))

    net2 = _Net()
    net2.load_state_dict(net.state_dict())
    opt2 = build_optimizer(net2, 1e-2, 0.1, [0.9, 0.95], 1e-8, ["bias", "norm", "embed"])
    sched2 = build_scheduler(opt2, 2, 10, 0.1)
    opt2.load_state_dict(load_state(tmp_path / "opt"))
    sched2.load_state_dict(load_state(tmp_path / "sched"))
    restore_rng(load_state(tmp_path / "rng"))
    got = (random.random(), float(np.random.rand()), torch.rand(3))
    assert got[:2] == expected[:2] and torch.equal(got[2], expected[2])
    for model, o, s in ((net, opt, sched), (net2, opt2, sched2)):
        model(torch.tensor([4, 5])).pow(2).sum().backward()
        o.step()
        s.step()
    for a, b in zip(net.parameters(), net2.parameters()):
        assert torch.equal(a, b)
    assert sched.get_last_lr() == sched2.get_last_lr()


def _write_files(payload: bytes):
    def write(tmp: Path) -> None:
        (tmp / "policy").mkdir()
        (tmp / "policy" / "model.safetensors").write_bytes(payload)
        (tmp / "trainer_state.json").write_text("{}")

    return write


def test_checkpoint_manifest_truncation_fallback_and_pruning(tmp_path: Path) -> None:
    mgr = CheckpointManager(tmp_path, keep_last=2, keep_best=True, info=SINGLE)
    mgr.save(1, _write_files(b"a" * 1000), val_loss=0.5)
    mgr.save(2, _write_files(b"b" * 1000), val_loss=0.9)
    mgr.save(3, _write_files(b"c" * 1000), val_loss=None)
    mgr.save(4, _write_files(b"d" * 1000), val_loss=None)
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("step_"))
    # last two kept + the best (step 1, lowest val loss); step 2 pruned
    assert names == [step_dir_name(1), step_dir_name(3), step_dir_name(4)]
    assert mgr.best() == tmp_path / step_dir_name(1)
    assert verify_checkpoint(tmp_path / step_dir_name(4)) == 4

    weights = tmp_path / step_dir_name(4) / "policy" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:500])  # truncated by a crash / full disk
    with pytest.raises(CheckpointCorruptError, match="truncated"):
        verify_checkpoint(tmp_path / step_dir_name(4))
    with pytest.warns(RuntimeWarning, match="falling back"):
        assert mgr.latest_valid() == tmp_path / step_dir_name(3)

    # same size, different bytes: caught by the hash
    other = tmp_path / step_dir_name(3) / "trainer_state.json"
    other.write_text("[]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert mgr.latest_valid() == tmp_path / step_dir_name(1)

    # a half-written temp folder never counts and is cleaned up
    (tmp_path / ".tmp-step_00000009").mkdir()
    mgr.clean_temp()
    assert not (tmp_path / ".tmp-step_00000009").exists()
    assert json.loads((tmp_path / "best.json").read_text())["step"] == 1


def test_sampler_shards_equal_single_process_batches_and_resume() -> None:
    n, batch, world = 37, 2, 2
    single = ResumableShardedSampler(n, 0, 1, batch * world, seed=5)
    ranks = [ResumableShardedSampler(n, r, world, batch, seed=5) for r in range(world)]
    for epoch in (0, 1):
        single.set_epoch(epoch)
        for s in ranks:
            s.set_epoch(epoch)
        full = list(single)
        per_rank = [list(s) for s in ranks]
        assert len(full) == (n // (batch * world)) * batch * world
        for step in range(len(full) // (batch * world)):
            want = set(full[step * batch * world : (step + 1) * batch * world])
            got = set()
            for r in range(world):
                got |= set(per_rank[r][step * batch : (step + 1) * batch])
            assert got == want
    # epochs differ, and resuming at micro-step 3 continues exactly
    single.set_epoch(0)
    e0 = list(single)
    single.set_epoch(1)
    assert list(single) != e0
    single.set_epoch(0, start_micro_step=3)
    assert list(single) == e0[3 * batch * world :]


def test_no_decay_groups_and_schedule() -> None:
    net = _Net()
    decay, no_decay = parameter_groups(net, 0.1, ["bias", "norm", "embed"])
    assert [p.shape for p in decay["params"]] == [net.proj.weight.shape]
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert len(no_decay["params"]) == 4  # embedding, proj bias, norm weight + bias
    f = warmup_cosine(4, 14, 0.1)
    assert f(0) == pytest.approx(0.25) and f(3) == pytest.approx(1.0)
    assert f(9) == pytest.approx(0.55) and f(14) == pytest.approx(0.1)
    assert all(f(s) >= f(s + 1) for s in range(4, 20))


def test_env_rank_info_from_torchrun_and_slurm() -> None:
    assert env_rank_info({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1"}) == (3, 8, 1)
    env = {
        "SLURM_PROCID": "5",
        "SLURM_NTASKS": "8",
        "SLURM_LOCALID": "1",
        "SLURM_JOB_NODELIST": "gilbreth-k[010-011]",
    }
    assert env_rank_info(env) == (5, 8, 1)
    assert env["MASTER_ADDR"] == "gilbreth-k010" and env["WORLD_SIZE"] == "8"
    assert env_rank_info({}) == (0, 1, 0)


def test_console_progress_line() -> None:
    logger = setup_console_logging(None, is_main=True)
    prog = ConsoleProgress(100, 0, 8, logger)
    prog.t0 -= 10.0  # 10 s elapsed
    line = prog.line(20, {"loss": 1.2345, "lr": 1e-3})
    assert "step 20/100 [####................] 20.0%" in line and "loss 1.234" in line
    assert "2.00 steps/s" in line and "16.0 samples/s" in line and "ETA 0:00:40" in line
    assert format_duration(math.inf) == "?"


def test_unknown_override_key_is_rejected() -> None:
    with pytest.raises(ConfigCompositionException, match=r"trainer\.optimizer\.lrr"):
        compose_config(["trainer.optimizer.lrr=1e-4"])
    with pytest.raises(Exception, match="Available options"):
        compose_config(["trainer=nonexistent"])


def test_bad_values_are_rejected_with_names() -> None:
    cfg = compose_config(["trainer.optimizer.lr=-1e-4", "trainer.max_steps=0"])
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert "trainer.optimizer.lr must be a finite number > 0, got -0.0001" in str(err.value)
    assert "trainer.max_steps" in str(err.value)
    cfg = compose_config(["data.num_samples=0"])
    with pytest.raises(ConfigError, match="empty dataset"):
        validate_config(cfg)
    cfg = compose_config(
        ["trainer.training.global_batch_size=12", "trainer.training.batch_size_per_device=4"]
    )
    assert grad_accum_steps(cfg, 1) == 3 and grad_accum_steps(cfg, 3) == 1
    with pytest.raises(ConfigError, match="not divisible"):
        validate_config(cfg, world_size=2)


def test_paths_under_scratch_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLA_SCRATCH_ROOT", str(tmp_path))
    paths = resolve_run_paths(compose_config(["trainer=debug"]))
    assert paths.run_dir == tmp_path / "checkpoints" / "debug-local"
    assert paths.log_dir == tmp_path / "logs" / "debug-local"
    assert (paths.wandb_dir, paths.cache_dir) == (tmp_path / "wandb", tmp_path / "cache")


class _Regressor(torch.nn.Module):
    """A deterministic policy-shaped module: ``compute_loss(batch) -> (loss, metrics)``."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 1)

    def compute_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        loss = (self.lin(batch["x"]).squeeze(-1) - batch["y"]).pow(2).mean()
        return loss, {"mse": float(loss.detach())}


def _engine(accum: int, clip: float | None):
    from vla_lego.train.engine import TorchEngine

    torch.manual_seed(0)
    model = _Regressor()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = build_scheduler(opt, 0, 10, 1.0)
    return model, TorchEngine(model, opt, sched, SINGLE, "fp32", clip, accum)


def test_grad_accumulation_equals_full_batch_and_clipping() -> None:
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(4, 3, generator=gen), torch.randn(4, generator=gen)
    full_model, full = _engine(1, None)
    full.micro_step({"x": x, "y": y}, last=True)
    full.finish_step()
    acc_model, acc = _engine(2, None)
    acc.micro_step({"x": x[:2], "y": y[:2]}, last=False)
    acc.micro_step({"x": x[2:], "y": y[2:]}, last=True)
    acc.finish_step()
    for a, b in zip(full_model.parameters(), acc_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    _, clipped = _engine(1, 1e-3)
    clipped.micro_step({"x": x * 100, "y": y}, last=True)
    norm = clipped.finish_step()
    assert norm is not None and norm > 1e-3  # pre-clip norm is reported


def test_freeze_vision_tower_and_llm() -> None:
    from vla_lego.models.eo1 import EO1Config, EO1Policy
    from vla_lego.train.optim import freeze_parameters

    policy = EO1Policy(EO1Config.from_preset("tiny"))
    assert freeze_parameters(policy, ["visual"], "vision_tower") > 0
    assert freeze_parameters(policy, ["language_model"], "llm") > 0
    opt = build_optimizer(policy, 1e-3, 0.1, [0.9, 0.95], 1e-8, ["bias", "norm", "embed"])
    trainable = {id(p) for g in opt.param_groups for p in g["params"]}
    for name, param in policy.named_parameters():
        frozen = "visual" in name or "language_model" in name
        assert (id(param) in trainable) != frozen, name
    with pytest.raises(ValueError, match=r"freeze\.llm=true but no parameter name"):
        freeze_parameters(policy, ["no_such_module"], "llm")


def test_malformed_manifest_entries_fall_back_and_resave_never_loses_a_step(
    tmp_path: Path,
) -> None:
    mgr = CheckpointManager(tmp_path, keep_last=3, keep_best=False, info=SINGLE)
    mgr.save(1, _write_files(b"a" * 100), val_loss=None)
    mgr.save(2, _write_files(b"b" * 100), val_loss=None)
    manifest = tmp_path / step_dir_name(2) / MANIFEST
    data = json.loads(manifest.read_text())
    data["files"]["trainer_state.json"] = "not a mapping"
    manifest.write_text(json.dumps(data))
    with pytest.raises(CheckpointCorruptError, match="malformed 'files'"):
        verify_checkpoint(tmp_path / step_dir_name(2))
    with pytest.warns(RuntimeWarning, match="falling back"):
        assert mgr.latest_valid() == tmp_path / step_dir_name(1)

    # killed between moving the old step aside and renaming the new one into place
    final = tmp_path / step_dir_name(1)
    final.rename(tmp_path / f".old-{step_dir_name(1)}")
    (tmp_path / f".tmp-{step_dir_name(1)}").mkdir()
    mgr.clean_temp()
    assert verify_checkpoint(final) == 1 and not list(tmp_path.glob(".old-*"))
    mgr.save(1, _write_files(b"c" * 100), val_loss=None)  # re-save replaces it whole
    assert verify_checkpoint(final) == 1 and not list(tmp_path.glob(".old-*"))
    assert (final / "policy" / "model.safetensors").read_bytes() == b"c" * 100
