"""EO-1 configuration: one frozen dataclass, sizes read from ``vla_lego/configs/model/*.yaml``.

The YAML files (package data of :mod:`vla_lego.configs`) are the single source of model sizes:
the size fields have no defaults. :meth:`EO1Config.from_preset` reads them (``tiny``, ``base``,
``large``, ``eo1_3b``) and Hydra's trainer composes the same files as the ``model`` config group,
then calls :meth:`EO1Config.from_dict` on ``cfg.model``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vla_lego.configs import model_preset_file, model_presets

CONFIG_DIR: Path = model_preset_file("tiny").parent
PRESETS = model_presets()
MODEL_TYPE = "eo1"  # registry name (vla_lego.models.registry)
NORM_MODES = ("mean_std", "quantile")
# ``compat``: "project" = this project's layout (subtask text, bidirectional action block);
# "eo1" = what EO-Robotics/EO1 computes (its tokens and chat template, no subtask text, plain
# causal attention over the action block too, MEAN_STD with std + 1e-8).
COMPAT_MODES = ("project", "eo1")
ATTENTION_MODES = ("bidirectional_actions", "causal_actions")
# The settings an EO-1 release was trained with (eo/model/modeling_eo1.py, processing_eo1.py and
# LeRobot's NormalizationMode.MEAN_STD, which divides by std + 1e-8).
EO1_COMPAT: dict[str, Any] = {
    "compat": "eo1",
    "attention": "causal_actions",
    "norm_mode": "mean_std",
    "norm_eps": 1e-8,
    "subtask_drop_prob": 0.0,
}


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"EO1Config.{name} must be > 0, got {value!r}")


@dataclass(frozen=True)
class EO1Config:
    """Configuration of the EO-1 policy (backbone sizes, sequence, flow matching, loss).

    Args:
        name: Preset name this config came from (informational).
        backbone_path: Local directory of a Hugging Face Qwen2.5-VL checkpoint. When set, the
            backbone's shape comes from its ``config.json`` (the ``text_*``/``vision_*`` fields are
            ignored) and its weights are loaded from there. ``None`` builds a fresh backbone.
        require_backbone: Refuse to build a fresh backbone (``eo1_3b``: a randomly initialised
            3B model is never what is wanted); ``backbone_path`` must then be set.
        text_hidden_size: Decoder width.
        text_num_layers: Decoder layers.
        text_num_heads: Attention heads; ``text_hidden_size / text_num_heads`` must be a multiple
            of 16 so that M-RoPE's (t, h, w) split is exact.
        text_num_kv_heads: Key/value heads (grouped-query attention).
        text_intermediate_size: Decoder MLP width.
        rope_theta: RoPE base of the decoder.
        vision_depth: ViT blocks.
        vision_hidden_size: ViT width.
        vision_num_heads: ViT heads (head dim must be a multiple of 4).
        vision_intermediate_size: ViT MLP width.
        vision_fullatt_blocks: ViT blocks with full (not windowed) attention.
        vision_window_size: Window of the windowed ViT attention in pixels (Qwen2.5-VL: 112).
        patch_size: ViT patch side in pixels (14).
        spatial_merge_size: Patches merged per side into one decoder token (2).
        temporal_patch_size: Frames per ViT patch; still images are repeated (2).
        image_size: Side every camera image is resized to; a multiple of
            ``patch_size * spatial_merge_size`` (28).
        image_height: Height views are resized to instead of ``image_size`` (non-square views,
            e.g. what Qwen's ``smart_resize`` gives a fixed camera resolution in ``compat="eo1"``:
            ``import_eo1 --camera-size HxW``); a multiple of 28. ``None``: ``image_size``.
        image_width: Width, as ``image_height``.
        max_views: Most camera views one sample may carry.
        vocab_prune: Keep only the BPE ranks below this value (plus all special tokens) in the
            embedding table; other tokens are re-spelled losslessly with kept tokens. ``None``
            keeps the full Qwen2.5 vocabulary (needed to load real Qwen weights unchanged).
        max_instruction_tokens: Longest instruction (in tokens) accepted; longer ones raise.
        max_subtask_tokens: Longest subtask text (tokens, end marker included) trained on and
            decoded greedily.
        action_horizon: Actions per chunk (H).
        num_denoise_steps: Euler steps at inference (N).
        max_action_dim: Width of the padded action/state vector.
        norm_mode: ``"mean_std"`` or ``"quantile"`` (q01/q99 mapped to -1/1).
        time_beta_alpha: Alpha of the Beta distribution for flow-matching time.
        time_beta_beta: Beta of the Beta distribution for flow-matching time.
        time_min: Smallest training time; ``t = time_min + (1 - time_min) * Beta(a, b)``.
        time_min_period: Shortest period of the sinusoidal time embedding.
        time_max_period: Longest period of the sinusoidal time embedding.
        flow_loss_weight: Weight of the flow-matching MSE.
        text_loss_weight: Weight of the subtask next-token cross-entropy.
        subtask_drop_prob: Probability (training) that the action block does not see the subtask
            text, so actions can also be sampled with ``decode_text=False``.
        attn_implementation: ``"sdpa"`` or ``"eager"`` for the training forward (custom masks
            rule out flash attention); cached inference always runs sdpa.
        fps: Rate (Hz) of the dataset the policy learned from: the actions of a chunk are
            ``1 / fps`` apart. The trainer sets it from the dataset; ``None`` (checkpoints from
            before it was stored) is read as 10 Hz.
        initializer_range: Std of the initial weights of a fresh backbone.
        compat: ``"project"`` (default for new training: subtask text, bidirectional action
            block, the project's 4 tokens) or ``"eo1"`` (EO-1's 8 added tokens and chat template,
            no subtask text, ``attention="causal_actions"``); imported EO-1 checkpoints get
            ``"eo1"`` (:data:`EO1_COMPAT`).
        attention: Attention inside the action block: ``"bidirectional_actions"`` (every action
            token sees the whole block) or ``"causal_actions"`` (action token i sees j <= i, as
            EO-1's plain causal mask over the whole sequence).
        norm_eps: Added to the std (``mean_std``) or half-range (``quantile``) before dividing;
            EO-1: 1e-8. Dimensions whose spread is below ``normalization.MIN_SCALE`` keep scale 1
            in either mode.
    """

    # Sizes: no defaults, every preset YAML (``vla_lego/configs/model``) states them all, so the
    # files are the one source (``from_preset``; checkpoints store the full dict).
    name: str
    text_hidden_size: int
    text_num_layers: int
    text_num_heads: int
    text_num_kv_heads: int
    text_intermediate_size: int
    rope_theta: float
    vision_depth: int
    vision_hidden_size: int
    vision_num_heads: int
    vision_intermediate_size: int
    vision_fullatt_blocks: tuple[int, ...]
    image_size: int
    max_views: int
    vocab_prune: int | None
    max_instruction_tokens: int
    max_subtask_tokens: int
    action_horizon: int
    num_denoise_steps: int
    max_action_dim: int
    subtask_drop_prob: float
    # Constants of the EO-1 / Qwen2.5-VL design (no preset changes them) and run-time settings.
    backbone_path: str | None = None
    require_backbone: bool = False
    vision_window_size: int = 112
    patch_size: int = 14
    spatial_merge_size: int = 2
    temporal_patch_size: int = 2
    norm_mode: str = "mean_std"
    time_beta_alpha: float = 1.5
    time_beta_beta: float = 1.0
    time_min: float = 0.001
    time_min_period: float = 4e-3
    time_max_period: float = 4.0
    flow_loss_weight: float = 1.0
    text_loss_weight: float = 0.1
    attn_implementation: str = "sdpa"
    initializer_range: float = 0.02
    fps: float | None = None
    compat: str = "project"
    attention: str = "bidirectional_actions"
    norm_eps: float = 0.0
    image_height: int | None = None
    image_width: int | None = None

    def __post_init__(self) -> None:
        for name in (
            "text_hidden_size",
            "text_num_layers",
            "text_num_heads",
            "text_num_kv_heads",
            "vision_depth",
            "vision_num_heads",
            "image_size",
            "max_views",
            "max_instruction_tokens",
            "max_subtask_tokens",
            "action_horizon",
            "num_denoise_steps",
            "max_action_dim",
        ):
            _positive(name, getattr(self, name))
        object.__setattr__(self, "vision_fullatt_blocks", tuple(self.vision_fullatt_blocks))
        factor = self.patch_size * self.spatial_merge_size
        for name in ("image_size", "image_height", "image_width"):
            value = getattr(self, name)
            if value is not None and (value <= 0 or value % factor):
                raise ValueError(
                    f"EO1Config.{name} must be a positive multiple of {factor} (patch_size * "
                    f"spatial_merge_size), got {value}"
                )
        if self.backbone_path is None:
            self._check_fresh_backbone()
        if self.norm_mode not in NORM_MODES:
            raise ValueError(
                f"EO1Config.norm_mode must be one of {NORM_MODES}, got {self.norm_mode!r}"
            )
        if not 0.0 < self.time_min < 1.0:
            raise ValueError(f"EO1Config.time_min must be in (0, 1), got {self.time_min}")
        if not 0.0 <= self.subtask_drop_prob <= 1.0:
            raise ValueError(
                f"EO1Config.subtask_drop_prob must be in [0, 1], got {self.subtask_drop_prob}"
            )
        if self.attn_implementation not in ("sdpa", "eager"):
            raise ValueError(
                "EO1Config.attn_implementation must be 'sdpa' or 'eager' (the action block needs a "
                f"custom attention mask), got {self.attn_implementation!r}"
            )
        if self.compat not in COMPAT_MODES:
            raise ValueError(f"EO1Config.compat must be one of {COMPAT_MODES}, got {self.compat!r}")
        if self.attention not in ATTENTION_MODES:
            raise ValueError(
                f"EO1Config.attention must be one of {ATTENTION_MODES}, got {self.attention!r}"
            )
        if self.compat == "eo1" and self.attention != "causal_actions":
            raise ValueError(
                "EO1Config: compat='eo1' computes what EO-1 computes, whose action block is "
                "causal: "
                f"attention must be 'causal_actions', got {self.attention!r}"
            )
        if not (math.isfinite(self.norm_eps) and 0.0 <= self.norm_eps < 1e-2):
            raise ValueError(f"EO1Config.norm_eps must be in [0, 0.01), got {self.norm_eps!r}")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"EO1Config.fps must be a finite rate > 0 (Hz), got {self.fps}")
        if self.vocab_prune is not None and self.vocab_prune < 256:
            raise ValueError(
                "EO1Config.vocab_prune must keep at least the 256 byte tokens, got "
                f"{self.vocab_prune}"
            )

    def _check_fresh_backbone(self) -> None:
        head_dim, rem = divmod(self.text_hidden_size, self.text_num_heads)
        if rem or head_dim % 16:
            raise ValueError(
                "EO1Config: text_hidden_size / text_num_heads must be an integer multiple of 16 "
                f"(M-RoPE split), got {self.text_hidden_size} / {self.text_num_heads}"
            )
        if self.text_num_heads % self.text_num_kv_heads:
            raise ValueError(
                f"EO1Config.text_num_heads ({self.text_num_heads}) must be divisible by "
                f"text_num_kv_heads ({self.text_num_kv_heads})"
            )
        vhead, rem = divmod(self.vision_hidden_size, self.vision_num_heads)
        if rem or vhead % 4:
            raise ValueError(
                "EO1Config: vision_hidden_size / vision_num_heads must be a multiple of 4, got "
                f"{self.vision_hidden_size} / {self.vision_num_heads}"
            )
        bad = [b for b in self.vision_fullatt_blocks if not 0 <= b < self.vision_depth]
        if bad:
            raise ValueError(
                f"EO1Config.vision_fullatt_blocks {bad} out of range [0, {self.vision_depth})"
            )

    # ----------------------------------------------------------------- derived values
    @property
    def has_subtask_text(self) -> bool:
        """Whether the model decodes subtask text before the action block (project mode)."""
        return self.compat == "project"

    @property
    def causal_actions(self) -> bool:
        return self.attention == "causal_actions"

    @property
    def text_head_dim(self) -> int:
        return self.text_hidden_size // self.text_num_heads

    @property
    def mrope_section(self) -> list[int]:
        """(t, h, w) split of half the head dim, scaled from Qwen2.5-VL's [16, 24, 24] of 64."""
        half = self.text_head_dim // 2
        return [half // 4, 3 * half // 8, 3 * half // 8]

    @property
    def view_hw(self) -> tuple[int, int]:
        """``(height, width)`` every camera view is resized to."""
        return (self.image_height or self.image_size, self.image_width or self.image_size)

    @property
    def grid_hw(self) -> tuple[int, int]:
        """ViT patches per image column and row."""
        h, w = self.view_hw
        return h // self.patch_size, w // self.patch_size

    @property
    def llm_grid_hw(self) -> tuple[int, int]:
        """Decoder tokens per image column and row (after the 2x2 merge)."""
        gh, gw = self.grid_hw
        return gh // self.spatial_merge_size, gw // self.spatial_merge_size

    @property
    def tokens_per_view(self) -> int:
        """Decoder tokens one camera view becomes (after the 2x2 merge)."""
        lh, lw = self.llm_grid_hw
        return lh * lw

    # ----------------------------------------------------------------- construction
    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EO1Config:
        """Build from a plain dict (e.g. Hydra's ``cfg.model``); unknown keys raise with a hint.

        A ``type`` key (the registry name the ``model`` group carries) must be ``"eo1"``.
        """
        d = dict(d)
        kind = d.pop("type", MODEL_TYPE)
        if kind != MODEL_TYPE:
            raise ValueError(f"EO1Config is model type {MODEL_TYPE!r}, got type {kind!r}")
        known = set(cls.field_names())
        unknown = [k for k in d if k not in known]
        if unknown:
            hints = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
            msg = ", ".join(
                f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items()
            )
            raise ValueError(f"unknown EO1Config field(s): {msg}")
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [k for k in required if k not in d]
        if missing:
            raise ValueError(
                f"EO1Config: missing size field(s) {missing}; build it from a preset "
                "(EO1Config.from_preset(name, **overrides)) or a full stored config"
            )
        return cls(**d)

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> EO1Config:
        """Read the shipped ``vla_lego/configs/model/<name>.yaml`` and apply ``overrides``.

        Raises:
            ValueError: unknown preset (with a "did you mean") or unknown override keys.
        """
        path = model_preset_file(name)
        if not path.is_file():
            near = difflib.get_close_matches(name, PRESETS, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise ValueError(f"unknown EO1 preset {name!r}, expected one of {PRESETS}{hint}")
        from omegaconf import OmegaConf

        data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        assert isinstance(data, dict)
        data.update(overrides)
        return cls.from_dict({str(k): v for k, v in data.items()})

    def replace(self, **changes: Any) -> EO1Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["vision_fullatt_blocks"] = list(self.vision_fullatt_blocks)
        return d


__all__ = [
    "ATTENTION_MODES",
    "COMPAT_MODES",
    "CONFIG_DIR",
    "EO1_COMPAT",
    "MODEL_TYPE",
    "NORM_MODES",
    "PRESETS",
    "EO1Config",
]
