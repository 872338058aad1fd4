"""The training loop: setup (distributed, data, model, optimizer, engine, resume) and train.

Exact resume: the data order is a function of (seed, epoch) only, the position inside the epoch,
optimizer/scheduler state and every rank's RNG state are stored in each checkpoint, and
validation runs on a forked RNG, so a run killed at any step and resumed with
``trainer.resume=auto`` ends with bitwise the same weights as an uninterrupted one (CPU, fp32,
``trainer.deterministic=true``).
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, Dataset

from vla_lego.tracking import ConsoleProgress, MetricsFile, WandbTracker, setup_console_logging
from vla_lego.train import builders
from vla_lego.train.checkpoint import CheckpointManager, verify_checkpoint
from vla_lego.train.config import ConfigError, grad_accum_steps, validate_config
from vla_lego.train.distributed import (
    DistInfo,
    all_reduce_mean,
    any_rank,
    barrier,
    init_distributed,
)
from vla_lego.train.engine import DeepSpeedEngine, Engine, TorchEngine, deepspeed_config
from vla_lego.train.optim import build_optimizer, build_scheduler, freeze_parameters, warmup_cosine
from vla_lego.train.paths import RunPaths, resolve_run_paths
from vla_lego.train.rng import capture_rng, restore_rng, seed_everything
from vla_lego.train.sampler import ResumableShardedSampler
from vla_lego.train.state_io import load_state, save_state

TRAINER_STATE = "trainer_state.json"
POLICY_DIR = "policy"


@dataclass
class TrainResult:
    """What a finished (or time-bounded) run leaves behind.

    Attributes:
        step: Last optimizer step reached.
        last_checkpoint: Newest checkpoint folder.
        best_checkpoint: Checkpoint with the lowest validation loss (None without validation).
        metrics: Last training and validation metrics (rank-averaged).
        time_limited: True when ``trainer.max_minutes`` ended the run before ``max_steps``.
        stopped_by: Name of the signal (``SIGTERM``, ``SIGUSR1``) that ended the run early after
            a checkpoint, e.g. SLURM's warning before a time limit or a preemption.
    """

    step: int
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    metrics: dict[str, float] = field(default_factory=dict)
    time_limited: bool = False
    stopped_by: str | None = None

    @property
    def policy_dir(self) -> Path | None:
        """Policy checkpoint directory of the best checkpoint, else of the last one."""
        ckpt = self.best_checkpoint or self.last_checkpoint
        return None if ckpt is None else ckpt / POLICY_DIR


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


class Trainer:
    """Trains an EO-1 policy from a composed Hydra config.

    Args:
        cfg: The composed config (``vla_lego/configs/config.yaml`` with its groups).
    """

    def __init__(self, cfg: DictConfig) -> None:
        validate_config(cfg)
        self.cfg = cfg
        self.tcfg = cfg.trainer
        self.step = 0
        self.epoch = 0
        self.micro_in_epoch = 0
        self.best_val = math.inf
        self.wandb_id = uuid.uuid4().hex[:12]
        self._iter: Any = None
        self._is_setup = False
        self._torch_state: tuple[int, bool, bool, bool] | None = None

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Joins the process group, checks the batch split, builds data/model/optimizer, resumes.

        Raises:
            ConfigError: Invalid values or a global batch that does not split across ranks.
            ValueError: Empty dataset, or fewer samples than one global micro-batch.
        """
        self.t_start = time.monotonic()
        self._stop_signal: str | None = None
        cl = self.cfg.cluster
        self.info: DistInfo = init_distributed(
            cl.device, cl.dist_backend, cl.timeout_minutes, single_group=cl.backend == "deepspeed"
        )
        validate_config(self.cfg, self.info.world_size)
        self.accum = grad_accum_steps(self.cfg, self.info.world_size)
        self.micro_batch = int(self.tcfg.training.batch_size_per_device)
        self.precision = self._resolve_precision()
        self._configure_torch()
        self.paths: RunPaths = resolve_run_paths(self.cfg)
        if self.info.is_main:
            self.paths.create()
        barrier(self.info)
        os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(self.paths.cache_dir / "torch_ext"))
        log_file = self.paths.log_dir / "train.log" if self.cfg.logging.console.to_file else None
        self.log = setup_console_logging(log_file, self.info.is_main)
        self._init_policy = self._load_init_from()
        self._build_data()
        self.ckpt = CheckpointManager(
            self.paths.run_dir,
            int(self.tcfg.checkpoint.keep_last),
            bool(self.tcfg.checkpoint.keep_best),
            self.info,
        )
        self.ckpt.clean_temp()
        resume_from = self._find_resume()
        self._build_model(resume_from)
        self._build_engine()
        seed_everything(int(self.cfg.seed) + self.info.rank)
        if resume_from is not None:
            self._load_checkpoint(resume_from)
        self._start_tracker()
        self._is_setup = True
        self.log.info(
            "setup: %d rank(s) on %s (%s), precision %s, backend %s, micro-batch %d x accum %d "
            "= global %d, %d train samples, run dir %s",
            self.info.world_size, self.info.device, self.info.backend, self.precision,
            self.cfg.cluster.backend, self.micro_batch, self.accum, self.global_batch,
            self.num_train_samples, self.paths.run_dir,
        )  # fmt: skip

    def close(self) -> None:
        """Gives back process-wide torch settings changed by setup (threads, determinism), so an
        in-process caller (e.g. the demo) continues with its own."""
        if self._torch_state is None:
            return
        threads, deterministic, warn_only, fill = self._torch_state
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill  # type: ignore[attr-defined]
        self._torch_state = None

    @property
    def global_batch(self) -> int:
        """Samples per optimizer step over all ranks."""
        return self.micro_batch * self.accum * self.info.world_size

    def _resolve_precision(self) -> str:
        precision = str(self.tcfg.training.precision)
        if precision == "auto":
            return "bf16" if self.info.device.type == "cuda" else "fp32"
        return precision

    def _configure_torch(self) -> None:
        self._torch_state = (
            torch.get_num_threads(),
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.utils.deterministic.fill_uninitialized_memory,  # type: ignore[attr-defined]
        )
        if self.tcfg.num_threads:
            torch.set_num_threads(int(self.tcfg.num_threads))
        if self.tcfg.deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
            # Filling every torch.empty with NaN (a debugging aid of deterministic mode) costs
            # seconds per step with DeepSpeed's large gradient buckets and changes no result.
            torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
            if self.info.device.type == "cuda":
                os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
                torch.backends.cudnn.benchmark = False

    def _build_data(self) -> None:
        train, val = builders.build_datasets(self.cfg)
        self.train_set: Dataset = train
        self.val_set: Dataset | None = val
        n = len(train)  # type: ignore[arg-type]  # map-style datasets are Sized
        self.num_train_samples = n
        gmb = self.micro_batch * self.info.world_size
        if n == 0:
            raise ValueError(
                f"the training dataset is empty (data.kind={self.cfg.data.kind}, "
                f"data.path={self.cfg.data.path}); it needs at least {gmb} samples"
            )
        if n < gmb:
            raise ValueError(
                f"the training dataset has {n} samples, fewer than one global micro-batch "
                f"(batch_size_per_device {self.micro_batch} x {self.info.world_size} ranks = {gmb})"
            )
        self.stats = getattr(train, "stats", None)
        self.fps = getattr(train, "fps", None)
        self.sampler = ResumableShardedSampler(
            n, self.info.rank, self.info.world_size, self.micro_batch, int(self.cfg.seed),
            shuffle=True, drop_last=bool(self.tcfg.training.drop_last),
        )  # fmt: skip
        self.loader = self._loader(train, self.sampler)
        self.val_loader = None
        if val is not None and len(val) >= self.info.world_size:  # type: ignore[arg-type]
            val_sampler = ResumableShardedSampler(
                len(val), self.info.rank, self.info.world_size, self.micro_batch,  # type: ignore
                int(self.cfg.seed), shuffle=False, drop_last=False,
            )  # fmt: skip
            self.val_loader = self._loader(val, val_sampler)

    def _loader(self, dataset: Dataset, sampler: ResumableShardedSampler) -> DataLoader:
        workers = int(self.tcfg.training.num_workers)
        return DataLoader(
            dataset,
            batch_size=self.micro_batch,
            sampler=sampler,
            num_workers=workers,
            collate_fn=builders.collate_fn(),
            pin_memory=self.info.device.type == "cuda",
            drop_last=False,
            persistent_workers=False,
            # An explicit generator keeps DataLoader from drawing worker seeds from the global
            # torch RNG (which would shift the model's noise stream on resume).
            generator=torch.Generator().manual_seed(int(self.cfg.seed)),
        )

    def _load_init_from(self) -> Any:
        """The ``init_from`` checkpoint (loaded before the data: its chunk length is the one the
        dataset must cut), or ``None``."""
        init = self.cfg.get("init_from")
        if init is None:
            return None
        path = Path(str(init)).expanduser()
        policy = builders.load_policy_checkpoint(path)
        mcfg = policy.config
        kind = str(self.cfg.model.get("type", "eo1"))
        if kind != policy.model_type:
            raise ConfigError(
                f"init_from={str(path)!r} holds a {policy.model_type!r} model, but the model "
                f"group is type {kind!r}"
            )
        horizon = int(mcfg.action_horizon)
        if int(self.cfg.model.action_horizon) != horizon:
            self.log.info(
                "init_from: the checkpoint's chunk length %d replaces model.action_horizon=%s",
                horizon, self.cfg.model.action_horizon,
            )  # fmt: skip
            self.cfg.model.action_horizon = horizon
        self.log.info(
            "init_from %s: %s model (compat=%s), %d parameters; the model group's sizes are not "
            "used", path, policy.model_type, getattr(mcfg, "compat", "project"),
            sum(p.numel() for p in policy.parameters()),
        )  # fmt: skip
        return policy

    def _build_model(self, resume_from: Path | None) -> None:
        # Same seed on every rank so each builds identical initial weights.
        seed_everything(int(self.cfg.seed))
        if resume_from is not None and (resume_from / POLICY_DIR).is_dir():
            policy = builders.load_policy_checkpoint(resume_from / POLICY_DIR)
        elif self._init_policy is not None:
            policy = builders.adapt_to_dataset(self._init_policy, self.stats, self.fps)
            self._init_policy = None
        else:
            policy = builders.build_policy(
                self.cfg.model, self.stats, self.fps  # type: ignore[arg-type]
            )
        fr = self.tcfg.freeze
        module = cast(torch.nn.Module, policy)  # every PolicyModel is an nn.Module
        if fr.vision_tower:
            freeze_parameters(module, list(fr.vision_tower_patterns), "vision_tower")
        if fr.llm:
            freeze_parameters(module, list(fr.llm_patterns), "llm")
        self.policy: Any = policy.to(self.info.device)
        self.policy.train()

    def _build_engine(self) -> None:
        opt = self.tcfg.optimizer
        sch = self.tcfg.scheduler
        optimizer = build_optimizer(
            self.policy, float(opt.lr), float(opt.weight_decay), list(opt.betas), float(opt.eps),
            list(opt.no_decay_patterns),
        )  # fmt: skip
        steps = int(self.tcfg.max_steps)
        if self.cfg.cluster.backend == "deepspeed":
            factor = warmup_cosine(int(sch.warmup_steps), steps, float(sch.min_lr_ratio))
            self.engine: Engine = DeepSpeedEngine(
                self.policy,
                optimizer,
                lambda o: torch.optim.lr_scheduler.LambdaLR(o, factor),
                self.info,
                self.precision,
                deepspeed_config(
                    self.cfg, self.micro_batch, self.accum, self.info.world_size, self.precision
                ),
            )
            self.policy = self.engine.policy
            return
        scheduler = build_scheduler(
            optimizer, int(sch.warmup_steps), steps, float(sch.min_lr_ratio)
        )
        self.engine = TorchEngine(
            self.policy, optimizer, scheduler, self.info, self.precision,
            self.tcfg.training.grad_clip_norm, self.accum,
            bool(self.cfg.cluster.find_unused_parameters),
        )  # fmt: skip

    def _start_tracker(self) -> None:
        wb = self.cfg.logging.wandb
        self.tracker = WandbTracker(
            enabled=self.info.is_main,
            mode=str(wb.mode),
            project=str(wb.project),
            run_name=str(self.cfg.run_name),
            run_id=self.wandb_id,
            directory=self.paths.wandb_dir,
            config=OmegaConf.to_container(self.cfg, resolve=True),  # type: ignore[arg-type]
            entity=wb.entity,
            group=wb.group,
            tags=list(wb.tags),
            init_timeout_s=float(wb.init_timeout_s),
        )

    # ------------------------------------------------------------------ resume
    def _find_resume(self) -> Path | None:
        mode = str(self.tcfg.resume)
        if mode == "never":
            if self.ckpt.step_dirs():
                raise ValueError(
                    f"trainer.resume=never but {self.paths.run_dir} already holds checkpoints; "
                    "use trainer.resume=auto or another run_name"
                )
            return None
        if mode == "auto":
            return self.ckpt.latest_valid()
        path = Path(mode).expanduser()
        verify_checkpoint(path)
        return path

    def _load_checkpoint(self, ckpt: Path) -> None:
        state = load_state(ckpt / TRAINER_STATE.removesuffix(".json"))
        backend = str(self.cfg.cluster.backend)
        if state["backend"] != backend:
            raise ValueError(
                f"checkpoint {ckpt} was written by cluster.backend={state['backend']}, this run "
                f"uses {backend}; resume with the same backend or start a new run_name"
            )
        self.engine.load(ckpt)
        self.step = int(state["step"])
        self.epoch = int(state["epoch"])
        gmb = self.micro_batch * self.info.world_size
        samples = int(state["samples_in_epoch"])
        if samples % gmb:
            self.log.warning("resume with another batch layout: data position rounded down")
        self.micro_in_epoch = samples // gmb
        self.best_val = float(state["best_val_loss"])
        self.wandb_id = str(state["wandb_id"])
        rng_stem = ckpt / "rng" / f"rank_{self.info.rank:05d}"
        if rng_stem.with_suffix(".json").is_file():
            restore_rng(load_state(rng_stem))
        else:
            self.log.warning("no RNG state for rank %d in %s; reseeding", self.info.rank, ckpt)
            seed_everything(int(self.cfg.seed) + self.info.rank + 7919 * self.step)
        self.log.info("resumed from %s at step %d (epoch %d)", ckpt, self.step, self.epoch)

    # ------------------------------------------------------------------ training
    def _next_batch(self) -> dict[str, Any]:
        while True:
            if self._iter is None:
                self.sampler.set_epoch(self.epoch, self.micro_in_epoch)
                self._iter = iter(self.loader)
            try:
                batch = next(self._iter)
            except StopIteration:
                self.epoch += 1
                self.micro_in_epoch = 0
                self._iter = None
                continue
            self.micro_in_epoch += 1
            return _to_device(batch, self.info.device)

    def _optimizer_step(self) -> dict[str, float]:
        losses: list[float] = []
        sums: dict[str, float] = {}
        for i in range(self.accum):
            loss, metrics = self.engine.micro_step(self._next_batch(), last=i == self.accum - 1)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"loss is {loss} at step {self.step + 1} (rank {self.info.rank})"
                )
            losses.append(loss)
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + float(value)
        grad_norm = self.engine.finish_step()
        out = {f"train/{k}": v / self.accum for k, v in sums.items()}
        out["loss"] = sum(losses) / len(losses)
        if grad_norm is not None:
            out["grad_norm"] = grad_norm
        return out

    def _time_up(self) -> bool:
        """``max_minutes`` is over, or a stop signal arrived, on any rank (one collective)."""
        limit = self.tcfg.max_minutes
        over = limit is not None and (time.monotonic() - self.t_start) > 60.0 * float(limit)
        return any_rank(over or self._stop_signal is not None, self.info)

    @contextmanager
    def _stop_signals(self) -> Iterator[None]:
        """SIGTERM / SIGUSR1 (SLURM's warning before a time limit or preemption, torchrun passing
        one on) end the run after the current step with a checkpoint, instead of losing every
        step since the last one; the previous handlers come back afterwards."""
        self._stop_signal = None
        if threading.current_thread() is not threading.main_thread():
            yield  # handlers can only be installed from the main thread
            return

        def on_signal(signum: int, _frame: Any) -> None:
            self._stop_signal = signal.Signals(signum).name

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGUSR1)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def train(self) -> TrainResult:
        """Runs optimizer steps until ``trainer.max_steps`` or ``trainer.max_minutes``.

        Returns:
            The :class:`TrainResult` (checkpoints written, final metrics).
        """
        if not self._is_setup:
            self.setup()
        max_steps = int(self.tcfg.max_steps)
        progress = ConsoleProgress(max_steps, self.step, self.global_batch, self.log)
        metrics_path = self.paths.log_dir / "metrics.jsonl"
        self.metrics_file = MetricsFile(metrics_path if self.info.is_main else None)
        metrics: dict[str, float] = {}
        last_ckpt = self.ckpt.latest_valid() if self.step > 0 else None
        self.engine.train_mode(True)
        with self._stop_signals():
            return self._loop(max_steps, progress, metrics, last_ckpt)

    def _loop(
        self,
        max_steps: int,
        progress: ConsoleProgress,
        metrics: dict[str, float],
        last_ckpt: Path | None,
    ) -> TrainResult:
        stop = False
        while self.step < max_steps:
            step_metrics = self._optimizer_step()
            self.step += 1
            if self.step % int(self.tcfg.log_every_n_steps) == 0 or self.step == max_steps:
                metrics.update(self._log_train(step_metrics, progress))
            val_loss = None
            if self._validation_due(max_steps):
                val_metrics = self.validate()
                metrics.update(val_metrics)
                val_loss = val_metrics.get("val/loss")
            stop = self._time_up() and self.step < max_steps
            if self._checkpoint_due(max_steps, val_loss) or stop:
                last_ckpt = self.save_checkpoint(val_loss)
            if stop:
                break
        stopped_by = self._stop_signal if stop else None
        if stopped_by:
            self.log.warning(
                "%s: stopped at step %d after saving a checkpoint; run again with the same "
                "run_name to resume",
                stopped_by,
                self.step,
            )
        elif stop:
            self.log.info(
                "trainer.max_minutes=%s reached at step %d", self.tcfg.max_minutes, self.step
            )
        self.tracker.finish(float(self.cfg.logging.wandb.finish_timeout_s))
        return TrainResult(
            self.step, last_ckpt, self.ckpt.best(), metrics, stop and not stopped_by, stopped_by
        )

    def _validation_due(self, max_steps: int) -> bool:
        if self.val_loader is None:
            return False
        return self.step % int(self.tcfg.validation.every_n_steps) == 0 or self.step == max_steps

    def _checkpoint_due(self, max_steps: int, val_loss: float | None) -> bool:
        if self.step % int(self.tcfg.checkpoint.every_n_steps) == 0 or self.step == max_steps:
            return True
        # A new best validation loss is kept even between regular checkpoint steps.
        return (
            bool(self.tcfg.checkpoint.keep_best)
            and val_loss is not None
            and val_loss < self.best_val
        )

    def _log_train(
        self, step_metrics: dict[str, float], progress: ConsoleProgress
    ) -> dict[str, float]:
        reduced = {k: all_reduce_mean(v, self.info) for k, v in sorted(step_metrics.items())}
        reduced["lr"] = self.engine.lr()
        reduced["epoch"] = float(self.epoch)
        progress.update(self.step, reduced)
        rate, _ = progress.rates(self.step)
        reduced["perf/samples_per_s"] = rate * self.global_batch
        self.tracker.log(reduced, self.step)
        self.metrics_file.write(self.step, reduced)
        return reduced

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Validation loss and sampled-chunk action MSE, averaged over ranks.

        Runs on a forked RNG seeded by ``trainer.validation.seed``: numbers are comparable across
        steps and the training RNG stream is untouched (exact resume).
        """
        assert self.val_loader is not None
        vcfg = self.tcfg.validation
        devices = [self.info.device] if self.info.device.type == "cuda" else []
        self.engine.train_mode(False)
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(vcfg.seed) + self.info.rank)
            sums, count, mse_sum, mse_count = self._val_batches(vcfg)
        self.engine.train_mode(True)
        out = {f"val/{k}": all_reduce_mean(v / max(count, 1), self.info) for k, v in sums.items()}
        if vcfg.sample_actions and int(vcfg.sample_batches) > 0:
            out["val/action_mse"] = all_reduce_mean(mse_sum / max(mse_count, 1), self.info)
        self.log.info(
            "validation at step %d: %s",
            self.step,
            ", ".join(f"{k} {v:.4g}" for k, v in out.items()),
        )
        self.tracker.log(out, self.step)
        self.metrics_file.write(self.step, out)
        return out

    def _val_batches(self, vcfg: DictConfig) -> tuple[dict[str, float], int, float, int]:
        from vla_lego.train.engine import autocast_context

        limit = vcfg.num_batches
        sums: dict[str, float] = {}
        count, mse_sum, mse_count = 0, 0.0, 0
        for index, raw in enumerate(self.val_loader):  # type: ignore[arg-type]
            if limit is not None and index >= int(limit):
                break
            batch = _to_device(raw, self.info.device)
            with autocast_context(self.info.device, self.precision):
                loss, metrics = self.policy.compute_loss(batch)
            sums["loss"] = sums.get("loss", 0.0) + float(loss.float().item())
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + float(value)
            count += 1
            if vcfg.sample_actions and index < int(vcfg.sample_batches):
                mse_sum += self._sampled_mse(batch)
                mse_count += 1
        return sums, count, mse_sum, mse_count

    def _sampled_mse(self, batch: dict[str, Any]) -> float:
        target = batch["actions"].float()
        valid = (~batch["action_is_pad"]).float().unsqueeze(-1)
        obs = {k: v for k, v in batch.items() if k not in ("actions", "action_is_pad")}
        with torch.autocast(
            device_type=self.info.device.type,
            enabled=self.precision == "bf16",
            dtype=torch.bfloat16,
        ):
            pred, _ = self.policy.sample_actions(obs, decode_text=False)
        err = (pred.float() - target) ** 2 * valid
        return float(err.sum().item() / max(valid.sum().item() * target.shape[-1], 1.0))

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, val_loss: float | None = None) -> Path:
        """Writes the checkpoint of the current step atomically (every rank must call it)."""
        if val_loss is not None:
            self.best_val = min(self.best_val, val_loss)
        path = self.ckpt.save(self.step, self._write_checkpoint, val_loss)
        self.log.info("checkpoint %s", path)
        return path

    def _write_checkpoint(self, tmp: Path) -> None:
        if self.info.is_main:
            with self.engine.saving_context():
                self.policy.save_pretrained(tmp / POLICY_DIR)
        self.engine.save(tmp, self.info.is_main)
        if self.info.is_main:
            state = {
                "step": self.step,
                "epoch": self.epoch,
                "samples_in_epoch": self.micro_in_epoch * self.micro_batch * self.info.world_size,
                "best_val_loss": self.best_val,
                "world_size": self.info.world_size,
                "global_batch": self.global_batch,
                "wandb_id": self.wandb_id,
                "backend": str(self.cfg.cluster.backend),
                "config": OmegaConf.to_container(self.cfg, resolve=True),
            }
            save_state(state, tmp / TRAINER_STATE.removesuffix(".json"))
        (tmp / "rng").mkdir(exist_ok=True)
        save_state(capture_rng(), tmp / "rng" / f"rank_{self.info.rank:05d}")


__all__ = ["POLICY_DIR", "TRAINER_STATE", "TrainResult", "Trainer"]
