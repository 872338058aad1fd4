"""The two ways a micro-batch becomes an update: plain PyTorch (single process / DDP) and DeepSpeed.

Both expose the same small surface to the trainer: ``micro_step`` (forward + backward of one
micro-batch), ``finish_step`` (clip, optimizer and LR step at the accumulation boundary),
``save``/``load`` of optimizer and scheduler state, and ``policy`` (the unwrapped model).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from vla_lego.train.distributed import DistInfo
from vla_lego.train.state_io import load_state, save_state

Batch = dict[str, Any]


class LossModule(nn.Module):
    """Wraps a policy so that ``forward(batch)`` is its ``compute_loss`` (DDP/DeepSpeed need the
    loss computed inside the wrapper's forward to hook gradient synchronisation)."""

    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        return self.policy.compute_loss(batch)  # type: ignore[operator]


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on GPU when requested; a no-op otherwise (fp32)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def standalone_parameters(module: nn.Module) -> Iterator[None]:
    """Temporarily gives every parameter its own storage.

    DeepSpeed ZeRO keeps parameters as views into flat buffers, which safetensors refuses to
    save; inside this context they are contiguous copies, and the views come back afterwards
    (so DeepSpeed's buffers stay linked).
    """
    originals = [(p, p.data) for p in module.parameters()]
    try:
        for param, data in originals:
            param.data = data.detach().clone().contiguous()
        yield
    finally:
        for param, data in originals:
            param.data = data


class Engine(Protocol):
    """What the trainer needs from a training backend."""

    policy: nn.Module

    def micro_step(self, batch: Batch, last: bool) -> tuple[float, dict[str, float]]: ...

    def finish_step(self) -> float | None: ...

    def lr(self) -> float: ...

    def save(self, ckpt: Path, is_main: bool) -> None: ...

    def load(self, ckpt: Path) -> None: ...

    def train_mode(self, mode: bool) -> None: ...

    def saving_context(self) -> contextlib.AbstractContextManager: ...


class TorchEngine:
    """Single process or DDP with gradient accumulation (``no_sync`` between boundaries).

    Args:
        policy: Model (already on its device, frozen parts set).
        optimizer: Optimizer over its trainable parameters.
        scheduler: Per-optimizer-step LR scheduler.
        info: Rank layout; DDP when ``info.distributed``.
        precision: ``fp32`` or ``bf16`` (autocast).
        grad_clip_norm: Max global grad norm (``None``/0 = off).
        accum_steps: Micro-batches per optimizer step.
        find_unused_parameters: Passed to DDP.
    """

    def __init__(
        self,
        policy: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        info: DistInfo,
        precision: str,
        grad_clip_norm: float | None,
        accum_steps: int,
        find_unused_parameters: bool = False,
    ) -> None:
        self.policy = policy
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.info = info
        self.precision = precision
        self.grad_clip_norm = grad_clip_norm or 0.0
        self.accum_steps = accum_steps
        loss_module: nn.Module = LossModule(policy)
        if info.distributed:
            ids = [info.device.index] if info.device.type == "cuda" else None
            loss_module = DistributedDataParallel(
                loss_module, device_ids=ids, find_unused_parameters=find_unused_parameters
            )
        self.loss_module = loss_module

    def _sync_context(self, last: bool) -> contextlib.AbstractContextManager:
        if isinstance(self.loss_module, DistributedDataParallel) and not last:
            return self.loss_module.no_sync()
        return contextlib.nullcontext()

    def micro_step(self, batch: Batch, last: bool) -> tuple[float, dict[str, float]]:
        """Forward + backward of one micro-batch; gradients sync only on the last one."""
        with self._sync_context(last):
            with autocast_context(self.info.device, self.precision):
                loss, metrics = self.loss_module(batch)
            (loss / self.accum_steps).backward()
        return float(loss.detach().item()), metrics

    def _trainable(self) -> Iterator[nn.Parameter]:
        return (p for p in self.policy.parameters() if p.requires_grad)

    def finish_step(self) -> float | None:
        """Clips, steps the optimizer and the scheduler, clears gradients; returns the grad norm."""
        norm = None
        if self.grad_clip_norm > 0:
            total = torch.nn.utils.clip_grad_norm_(list(self._trainable()), self.grad_clip_norm)
            norm = float(total.item())
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return norm

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def train_mode(self, mode: bool) -> None:
        self.loss_module.train(mode)

    def saving_context(self) -> contextlib.AbstractContextManager:
        """Parameters are plain tensors here: nothing to prepare."""
        return contextlib.nullcontext()

    def save(self, ckpt: Path, is_main: bool) -> None:
        """Optimizer + scheduler state (identical on every DDP rank, so rank 0 writes it)."""
        if is_main:
            save_state(self.optimizer.state_dict(), ckpt / "optimizer")
            save_state(self.scheduler.state_dict(), ckpt / "scheduler")

    def load(self, ckpt: Path) -> None:
        self.optimizer.load_state_dict(load_state(ckpt / "optimizer"))
        self.scheduler.load_state_dict(load_state(ckpt / "scheduler"))


def deepspeed_config(
    cfg: Any, micro_batch: int, accum_steps: int, world_size: int, precision: str
) -> dict[str, Any]:
    """DeepSpeed JSON config from the trainer/cluster configs (one source for every value)."""
    ds = cfg.cluster.deepspeed
    clip = cfg.trainer.training.grad_clip_norm or 0.0
    return {
        "train_micro_batch_size_per_gpu": micro_batch,
        "gradient_accumulation_steps": accum_steps,
        "train_batch_size": micro_batch * accum_steps * world_size,
        "gradient_clipping": float(clip),
        "zero_optimization": {
            "stage": int(ds.zero_stage),
            "reduce_bucket_size": int(ds.reduce_bucket_size),
            "allgather_bucket_size": int(ds.allgather_bucket_size),
            "overlap_comm": bool(ds.overlap_comm),
            "contiguous_gradients": bool(ds.contiguous_gradients),
        },
        "bf16": {"enabled": precision == "bf16"},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 2**31 - 1,
        "wall_clock_breakdown": False,
    }


class DeepSpeedEngine:
    """DeepSpeed ZeRO (stage from config) around the same policy, torch AdamW and LR schedule.

    DeepSpeed accumulates and steps on its own boundaries; ``finish_step`` only reads back the
    grad norm. Its optimizer/scheduler state is saved with DeepSpeed's own checkpoint format
    under ``deepspeed/`` (covered by the manifest like every other file).
    """

    def __init__(
        self,
        policy: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler_factory: Any,
        info: DistInfo,
        precision: str,
        ds_config: dict[str, Any],
    ) -> None:
        import deepspeed

        self.policy = policy
        self.info = info
        self.precision = precision
        engine, _, _, scheduler = deepspeed.initialize(
            model=LossModule(policy),
            optimizer=optimizer,
            lr_scheduler=scheduler_factory,
            config=ds_config,
            dist_init_required=False,
        )
        self.engine = engine
        self.scheduler = scheduler
        # DeepSpeed bf16 converts the module; the policy attribute must point at the live copy.
        self.policy = engine.module.policy

    def micro_step(self, batch: Batch, last: bool) -> tuple[float, dict[str, float]]:
        """Forward, backward and DeepSpeed's step (which only updates at the boundary)."""
        with autocast_context(self.info.device, self.precision):
            loss, metrics = self.engine(batch)
        self.engine.backward(loss)
        self.engine.step()
        return float(loss.detach().float().item()), metrics

    def finish_step(self) -> float | None:
        norm = self.engine.get_global_grad_norm()
        return None if norm is None else float(norm)

    def lr(self) -> float:
        return float(self.engine.get_lr()[0])

    def train_mode(self, mode: bool) -> None:
        self.engine.train(mode)

    def saving_context(self) -> contextlib.AbstractContextManager:
        """ZeRO's flat-buffer views become standalone tensors while the policy is saved."""
        return standalone_parameters(self.policy)

    def save(self, ckpt: Path, is_main: bool) -> None:
        self.engine.save_checkpoint(str(ckpt / "deepspeed"), tag="engine", save_latest=False)

    def load(self, ckpt: Path) -> None:
        path, _ = self.engine.load_checkpoint(
            str(ckpt / "deepspeed"),
            tag="engine",
            load_optimizer_states=True,
            load_lr_scheduler_states=True,
        )
        if path is None:
            raise RuntimeError(f"DeepSpeed could not load its state from {ckpt / 'deepspeed'}")


__all__ = [
    "DeepSpeedEngine",
    "Engine",
    "LossModule",
    "TorchEngine",
    "autocast_context",
    "deepspeed_config",
    "standalone_parameters",
]
