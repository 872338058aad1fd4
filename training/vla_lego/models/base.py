"""The model contract train, export, inference and bench program against.

A model family (``eo1`` today) is three classes: a frozen config, a host-side processor and the
``nn.Module`` policy. The policy class names the other two (``config_class``,
``processor_class``) and its ``model_type``, and registers under that name
(:func:`vla_lego.models.registry.register_model`); callers then pick the class by name from a
Hydra ``model`` group (its ``type`` key) or from a checkpoint's ``model.json``, never by importing
a concrete module. The split follows openpi's ``BaseModelConfig.create`` / ``load`` and LeRobot's
``PreTrainedPolicy`` + ``make_policy``.

Two protocols:

* :class:`PolicyModel` — what every model offers: build from a config or a checkpoint, save,
  the training loss, sampling action chunks in robot units, example inputs, its processor.
* :class:`CachedPolicyModel` — additionally the prefix-cache pieces (prefix forward, text decode
  step, shared denoise context + velocity) that the ``torch`` inference backend, the ONNX graphs
  and the benchmarks drive. A model without them can train and sample but not be exported.

Both are structural (:class:`typing.Protocol`): a model need not inherit anything, the registry
checks the members when the class registers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import torch

from vla_lego.robot import ActionLayout

# File of a checkpoint directory naming the model family that wrote it (``{"model_type": ...}``).
MODEL_FILE = "model.json"
# What checkpoints written before MODEL_FILE existed hold.
DEFAULT_MODEL_TYPE = "eo1"


class ModelConfig(Protocol):
    """A model's frozen configuration (sizes from a preset YAML of ``vla_lego/configs/model``).

    Attributes:
        name: Preset the config came from.
        action_horizon: Actions per chunk (H).
        num_denoise_steps: Sampling steps (N).
        max_action_dim: Width of the padded action/state vector.
        fps: Rate (Hz) of the training data, ``None`` when not recorded.
    """

    name: str
    action_horizon: int
    num_denoise_steps: int
    max_action_dim: int
    fps: float | None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """From a plain dict (Hydra's ``cfg.model`` minus ``type``, a stored checkpoint config)."""
        ...

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> Self:
        """From the shipped preset YAML ``name`` with ``overrides`` applied."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dict; ``from_dict(to_dict())`` gives an equal config."""
        ...

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (validated again)."""
        ...


class ModelProcessor(Protocol):
    """Host-side pre/post-processing: raw batch -> model inputs, model actions -> robot units.

    Attributes:
        config: The model config it was built for.
        normalizer: The normalisation statistics (``vla_lego.models.normalization.Normalizer``).
    """

    config: Any
    normalizer: Any

    def __call__(self, batch: dict[str, Any], with_targets: bool = False) -> Any:
        """Validate and convert a raw batch (``vla_lego.data`` format) into model inputs."""
        ...

    def postprocess_actions(self, actions: torch.Tensor | np.ndarray) -> np.ndarray:
        """Model actions ``[B, H, max_action_dim]`` -> robot units ``float32 [B, H, dim]``."""
        ...

    def save(self, directory: str | Path) -> None:
        """Write the processor's files (tokenizer, statistics, ...) into ``directory``."""
        ...

    @classmethod
    def load(
        cls, directory: str | Path, config: Any, layout: ActionLayout, vocab_size: int | None
    ) -> Self:
        """Inverse of :meth:`save` for a config and robot layout."""
        ...


class TextProcessor(ModelProcessor, Protocol):
    """A processor of a model that also decodes subtask text (the inference host loop's view).

    Attributes:
        subtask_end_id: Token id that ends a decoded subtask.
    """

    subtask_end_id: int

    def decode_text(self, ids: Any) -> str:
        """Token ids -> text (stops at the end marker)."""
        ...


@runtime_checkable
class PolicyModel(Protocol):
    """A trainable, saveable VLA policy (an ``nn.Module``).

    Attributes:
        model_type: Registry name (``"eo1"``); written into checkpoints' ``model.json``.
        config_class: The :class:`ModelConfig` class.
        processor_class: The :class:`ModelProcessor` class.
        config: This instance's config.
        layout: Robot action/state layout.
        processor: This instance's processor (the same object inference backends use).
    """

    model_type: ClassVar[str]
    config_class: ClassVar[type[Any]]
    processor_class: ClassVar[type[Any]]
    config: Any
    layout: ActionLayout
    processor: Any

    @property
    def device(self) -> torch.device: ...

    # ---- construction and files
    @classmethod
    def from_config(
        cls,
        config: Any,
        layout: ActionLayout = ...,
        stats: dict[str, Any] | None = None,
        dtype: torch.dtype | None = None,
    ) -> Self:
        """A new model of ``config`` (fresh or pretrained backbone, per the config)."""
        ...

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        layout: ActionLayout = ...,
        device: str | torch.device = "cpu",
    ) -> Self:
        """Load a directory written by :meth:`save_pretrained` (eval mode)."""
        ...

    def save_pretrained(self, directory: str | Path) -> None:
        """Write an atomic, checksummed checkpoint directory (with ``model.json``)."""
        ...

    def set_norm_stats(self, stats: dict[str, Any]) -> None:
        """Install dataset statistics (saved with the checkpoint)."""
        ...

    # ---- training / inference
    def compute_loss(
        self, batch: Any, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Training forward: ``(loss, metrics)`` of a raw or processed batch."""
        ...

    def sample_actions(
        self,
        batch: dict[str, Any],
        noise: torch.Tensor | None = None,
        decode_text: bool = True,
        generator: torch.Generator | None = None,
        num_steps: int | None = None,
    ) -> tuple[torch.Tensor, list[str]]:
        """``(actions float32 [B, H, layout.dim] robot units, subtask texts)``."""
        ...

    def example_inputs(self, views: int = 1, words: int = 6, seed: int = 0) -> Any:
        """Processed inputs of a random observation (tracing, parity checks, benchmarks)."""
        ...

    def num_parameters(self) -> int:
        """Unique parameters."""
        ...

    # ---- the nn.Module surface callers rely on
    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...

    def train(self, mode: bool = True) -> Self: ...

    def eval(self) -> Self: ...

    def to(self, *args: Any, **kwargs: Any) -> Self: ...


@runtime_checkable
class CachedPolicyModel(PolicyModel, Protocol):
    """A :class:`PolicyModel` whose sampling splits into prefix-cache steps (exportable).

    ``kv`` is a per-layer tuple of ``(key, value)`` tensors ``[B, kv_heads, L, head_dim]``.

    Attributes:
        vlm: The backbone (its ``lm_head`` turns hidden states into text logits).
    """

    vlm: Any

    def prefix_inputs(self, feeds: dict[str, torch.Tensor]) -> Any:
        """Processed inputs from the prefix graph's named feeds (for :meth:`embed_prefix`)."""
        ...

    def embed_prefix(self, inputs: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(embeds [B, P, hidden], additive mask [B, 1, P, P], position_ids)``."""
        ...

    def embed_prefix_dynamic(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor,
        state: torch.Tensor,
        state_mask: torch.Tensor,
        prefix_valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(embeds, additive mask)`` of the prefix with dynamic views / instruction length
        (what the exported prefix graph traces)."""
        ...

    def prefix_forward(
        self, embeds: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor
    ) -> tuple[Any, torch.Tensor]:
        """``(kv of the prefix, hidden [B, P, hidden])``."""
        ...

    def decode_step(
        self, kv: Any, kv_valid: torch.Tensor, token_ids: torch.Tensor, position_ids: torch.Tensor
    ) -> tuple[torch.Tensor, Any]:
        """One greedy text step: ``(logits [B, vocab], kv extended by one)``."""
        ...

    def prepare_denoise(self, kv: Any, kv_valid: torch.Tensor, position_ids: torch.Tensor) -> Any:
        """What the denoise steps of one chunk share (cache, mask, rotary tables)."""
        ...

    def denoise_with(self, ctx: Any, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Velocity ``[B, H, D]`` of noisy actions ``x_t`` at times ``t [B]``."""
        ...

    def denoise_step(
        self,
        kv: Any,
        kv_valid: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        position_ids: torch.Tensor,
    ) -> torch.Tensor:
        """``denoise_with(prepare_denoise(kv, kv_valid, position_ids), x_t, t)``."""
        ...

    def sample_normalized(
        self,
        inputs: Any,
        noise: torch.Tensor | None = None,
        decode_text: bool = True,
        generator: torch.Generator | None = None,
        num_steps: int | None = None,
        use_cache: bool = True,
    ) -> tuple[torch.Tensor, list[str], torch.Tensor, torch.Tensor]:
        """Model-space sampling: ``(x0 [B, H, D], texts, text_ids, text_valid)``."""
        ...


# Members a class must define to register (the Protocol's, checked by name: methods of
# ``typing.Protocol`` cannot be checked structurally on a class before it is instantiated).
POLICY_MEMBERS: tuple[str, ...] = (
    "model_type",
    "config_class",
    "processor_class",
    "device",
    "from_config",
    "from_pretrained",
    "save_pretrained",
    "set_norm_stats",
    "compute_loss",
    "sample_actions",
    "example_inputs",
    "num_parameters",
)
CACHED_MEMBERS: tuple[str, ...] = (
    "prefix_inputs",
    "embed_prefix",
    "embed_prefix_dynamic",
    "prefix_forward",
    "decode_step",
    "prepare_denoise",
    "denoise_with",
    "denoise_step",
    "sample_normalized",
)


def model_record(model_type: str) -> dict[str, Any]:
    """Contents of a checkpoint's ``model.json``."""
    return {"model_type": model_type}


def read_model_type(record: Mapping[str, Any] | None) -> str:
    """The model type of a parsed ``model.json`` (``None``: an old checkpoint, ``eo1``)."""
    if record is None:
        return DEFAULT_MODEL_TYPE
    value = record.get("model_type")
    if not isinstance(value, str) or not value:
        raise ValueError(f"{MODEL_FILE}: expected a non-empty 'model_type' string, got {value!r}")
    return value


__all__ = [
    "CACHED_MEMBERS",
    "DEFAULT_MODEL_TYPE",
    "MODEL_FILE",
    "POLICY_MEMBERS",
    "CachedPolicyModel",
    "ModelConfig",
    "ModelProcessor",
    "PolicyModel",
    "TextProcessor",
    "model_record",
    "read_model_type",
]
