"""The ``torch`` backend: a training checkpoint run by the model's own PyTorch pieces.

The host loop is the shared :class:`~vla_lego.inference.engine.ChunkPolicy`; the step functions
are the model's :class:`~vla_lego.models.base.CachedPolicyModel` pieces ``embed_prefix`` /
``prefix_forward`` / ``decode_step`` / ``prepare_denoise`` + ``denoise_with``; the checkpoint's
``model.json`` picks the class from the model registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from vla_lego.inference.engine import ChunkPolicy
from vla_lego.models.base import CachedPolicyModel, PolicyModel
from vla_lego.models.kv_cache import kv_flat, kv_pairs
from vla_lego.models.registry import is_cached, load_model
from vla_lego.robot import H1_LAYOUT

DEFAULT_FPS = 10.0  # checkpoints from before EO1Config.fps: all were trained on 10 Hz sim data


def resolve_checkpoint(path: Path) -> Path:
    """A policy checkpoint directory; a training checkpoint (``step_*/``) resolves to its
    ``policy/`` sub-directory."""
    path = Path(path)
    if not (path / "manifest.json").is_file() and (path / "policy" / "manifest.json").is_file():
        return path / "policy"
    return path


def policy_dt(policy: PolicyModel) -> float:
    """Seconds between actions: ``1 / fps`` of the training dataset (stored in the checkpoint
    config), :data:`DEFAULT_FPS` for checkpoints written before the rate was stored."""
    fps = policy.config.fps
    return 1.0 / (fps if fps is not None else DEFAULT_FPS)


class TorchStepGraphs:
    """:class:`~vla_lego.inference.engine.StepGraphs` over an in-memory
    :class:`~vla_lego.models.base.CachedPolicyModel`.

    Args:
        policy: The model (any device).
        cuda_graphs: Replay the denoise step from CUDA graphs (``torch.compile`` in
            ``reduce-overhead`` mode: one graph per prefix length, recorded on first use), which
            removes the per-kernel launch cost that dominates small models on a GPU.

    Raises:
        ValueError: ``cuda_graphs`` for a policy that is not on a CUDA device.
    """

    def __init__(self, policy: CachedPolicyModel, cuda_graphs: bool = False) -> None:
        if not is_cached(policy):
            raise TypeError(
                f"{type(policy).__name__} has no prefix-cache pieces (CachedPolicyModel); the "
                "torch backend cannot step it"
            )
        self.policy = policy.eval()
        self.device = policy.device
        self._denoise: Any = policy.denoise_with
        if cuda_graphs:
            if self.device.type != "cuda":
                raise ValueError(
                    f"cuda_graphs needs the policy on a CUDA device, not {self.device}"
                )
            self._denoise = torch.compile(policy.denoise_with, mode="reduce-overhead")

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _t(self, a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

    @torch.inference_mode()
    def prefix(self, feeds: dict[str, np.ndarray]) -> tuple[np.ndarray, list[Any]]:
        f = {k: self._t(v) for k, v in feeds.items()}
        b = f["input_ids"].shape[0]
        inputs = self.policy.prefix_inputs(f)
        emb, mask, pos = self.policy.embed_prefix(inputs)
        kv, hidden = self.policy.prefix_forward(emb, mask, pos)
        last = inputs.prefix_valid.sum(1) - 1
        logits = self.policy.vlm.lm_head(hidden[torch.arange(b, device=self.device), last])
        return logits.float().cpu().numpy(), list(kv_flat(kv))

    @torch.inference_mode()
    def decode(
        self, kv: list[Any], kv_valid: np.ndarray, token: np.ndarray, pos: np.ndarray
    ) -> tuple[np.ndarray, list[Any]]:
        logits, new = self.policy.decode_step(
            kv_pairs(kv), self._t(kv_valid), self._t(token), self._t(pos)
        )
        return logits.float().cpu().numpy(), list(kv_flat(new))

    @torch.inference_mode()
    def prepare_denoise(self, kv: list[Any], kv_valid: np.ndarray, pos: np.ndarray) -> Any:
        return self.policy.prepare_denoise(kv_pairs(kv), self._t(kv_valid), self._t(pos))

    @torch.inference_mode()
    def denoise(self, ctx: Any, x: np.ndarray, t: float) -> np.ndarray:
        xt = self._t(x.astype(np.float32))
        tt = torch.full((xt.shape[0],), t, dtype=torch.float32, device=self.device)
        return self._denoise(ctx, xt, tt).float().cpu().numpy()  # type: ignore


def torch_policy(
    policy: CachedPolicyModel,
    seed: int = 0,
    decode_text: bool = True,
    dt: float | None = None,
    cuda_graphs: bool = False,
) -> ChunkPolicy:
    """Wrap an in-memory policy (e.g. right after training) as a :class:`Policy`."""
    return ChunkPolicy(
        TorchStepGraphs(policy, cuda_graphs=cuda_graphs),
        policy.processor,
        dt=dt if dt is not None else policy_dt(policy),
        seed=seed,
        decode_text=decode_text,
        backend="torch",
    )


def load_torch_policy(
    path: Path,
    device: str = "cpu",
    seed: int = 0,
    decode_text: bool = True,
    *,
    cuda_graphs: bool = False,
) -> ChunkPolicy:
    """Registry loader: the checkpoint's model class (``load_model``) on ``device``.

    Args:
        cuda_graphs: Replay the denoise step from CUDA graphs (see :class:`TorchStepGraphs`).
    """
    if not isinstance(cuda_graphs, bool):
        raise ValueError(f"torch option cuda_graphs must be true or false, got {cuda_graphs!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but torch sees no CUDA GPU")
    # model.json picks the class; TorchStepGraphs checks that it has the prefix-cache pieces.
    policy: Any = load_model(resolve_checkpoint(path), layout=H1_LAYOUT, device=device)
    return torch_policy(policy, seed=seed, decode_text=decode_text, cuda_graphs=cuda_graphs)


__all__ = [
    "DEFAULT_FPS",
    "TorchStepGraphs",
    "load_torch_policy",
    "policy_dt",
    "resolve_checkpoint",
    "torch_policy",
]
