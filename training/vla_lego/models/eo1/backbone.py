"""The EO-1 backbone: ``transformers``' Qwen2.5-VL, built fresh at a preset's size or loaded from a
local directory (never downloaded), with the embedding table pruned to the processor's vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from vla_lego.models.eo1.configuration_eo1 import EO1Config
from vla_lego.models.eo1.processing_eo1 import EO1Processor
from vla_lego.robot import ActionLayout


def backbone_config(cfg: EO1Config, processor: EO1Processor) -> Qwen2_5_VLConfig:
    """A fresh ``Qwen2_5_VLConfig`` of the preset's size (no files, no download).

    Special-token ids are embedding rows of ``processor.vocab`` (they differ from Qwen's when the
    vocabulary is pruned).
    """
    ids = processor.token_id
    text = {
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": processor.eos_id,
        "pad_token_id": ids["<|endoftext|>"],
        "vocab_size": processor.vocab.size,
        "hidden_size": cfg.text_hidden_size,
        "intermediate_size": cfg.text_intermediate_size,
        "num_hidden_layers": cfg.text_num_layers,
        "num_attention_heads": cfg.text_num_heads,
        "num_key_value_heads": cfg.text_num_kv_heads,
        "max_position_embeddings": 4096,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": cfg.rope_theta,
            "mrope_section": cfg.mrope_section,
        },
        "initializer_range": cfg.initializer_range,
        "tie_word_embeddings": True,
    }
    vision = {
        "depth": cfg.vision_depth,
        "hidden_size": cfg.vision_hidden_size,
        "num_heads": cfg.vision_num_heads,
        "intermediate_size": cfg.vision_intermediate_size,
        "out_hidden_size": cfg.text_hidden_size,
        "fullatt_block_indexes": list(cfg.vision_fullatt_blocks),
        "window_size": cfg.vision_window_size,
        "patch_size": cfg.patch_size,
        "spatial_merge_size": cfg.spatial_merge_size,
        "temporal_patch_size": cfg.temporal_patch_size,
        "initializer_range": cfg.initializer_range,
    }
    return Qwen2_5_VLConfig(
        text_config=text,
        vision_config=vision,
        tie_word_embeddings=True,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )


def sync_config_with_backbone(cfg: EO1Config, qcfg: Qwen2_5_VLConfig) -> EO1Config:
    """Copy the backbone's real shape into the EO-1 config so the stored config tells the truth."""
    t: Any = qcfg.text_config
    v: Any = qcfg.vision_config
    return cfg.replace(
        text_hidden_size=t.hidden_size,
        text_num_layers=t.num_hidden_layers,
        text_num_heads=t.num_attention_heads,
        text_num_kv_heads=t.num_key_value_heads,
        text_intermediate_size=t.intermediate_size,
        rope_theta=float(t.rope_parameters["rope_theta"]),
        vision_depth=v.depth,
        vision_hidden_size=v.hidden_size,
        vision_num_heads=v.num_heads,
        vision_intermediate_size=v.intermediate_size,
        vision_fullatt_blocks=tuple(v.fullatt_block_indexes),
        vision_window_size=v.window_size,
        patch_size=v.patch_size,
        spatial_merge_size=v.spatial_merge_size,
        temporal_patch_size=v.temporal_patch_size,
    )


def set_special_token_ids(qcfg: Any, processor: EO1Processor) -> None:
    """Point the backbone config's special-token ids at the processor's embedding rows."""
    ids = processor.token_id
    qcfg.text_config.bos_token_id = ids["<|endoftext|>"]
    qcfg.text_config.eos_token_id = processor.eos_id
    qcfg.text_config.pad_token_id = ids["<|endoftext|>"]
    qcfg.image_token_id = ids["<|image_pad|>"]
    qcfg.video_token_id = ids["<|video_pad|>"]
    qcfg.vision_start_token_id = ids["<|vision_start|>"]
    qcfg.vision_end_token_id = ids["<|vision_end|>"]


def prune_embeddings(vlm: Any, kept: list[int]) -> None:
    """Keep only rows ``kept`` of the token embedding (and of an untied LM head)."""
    emb = vlm.get_input_embeddings()
    idx = torch.tensor(kept, dtype=torch.long, device=emb.weight.device)
    tied = vlm.lm_head.weight is emb.weight
    new = nn.Embedding(
        len(kept), emb.embedding_dim, device=emb.weight.device, dtype=emb.weight.dtype
    )
    new.weight.data.copy_(emb.weight.data[idx])
    vlm.set_input_embeddings(new)
    if tied:
        vlm.lm_head.weight = new.weight
    else:
        head = nn.Linear(emb.embedding_dim, len(kept), bias=False)
        head.weight.data = vlm.lm_head.weight.data[idx].clone()
        vlm.lm_head = head
    vlm.config.text_config.vocab_size = len(kept)


# Module names of EO-1 / VLA checkpoints that a plain Qwen2.5-VL checkpoint never has.
NON_QWEN_PARTS = (
    "vlm_backbone",
    "state_proj",
    "action_in_proj",
    "action_out_proj",
    "action_time_mlp",
    "action_time_mlp_in",
    "action_time_mlp_out",
)
QWEN_MODEL_TYPES = ("qwen2_5_vl",)


class BackboneFolderError(ValueError):
    """``backbone_path`` is not a plain Hugging Face Qwen2.5-VL checkpoint folder."""


def check_backbone_folder(path: Path) -> None:
    """Refuse, before any weights are loaded, a folder that is not a plain Qwen2.5-VL checkpoint.

    ``Qwen2_5_VLForConditionalGeneration.from_pretrained`` would otherwise initialise every weight
    it does not find (e.g. all of an EO-1 release's ``vlm_backbone.*``) randomly, with only a
    warning. Checked: ``config.json``'s ``model_type``, and every tensor name in the safetensors
    headers (a module of a VLA head or an EO-1 prefix is refused; the token embedding must exist).

    Raises:
        BackboneFolderError: with the offending model type or key names.
    """
    import json

    from safetensors import safe_open

    cfg_path = path / "config.json"
    try:
        raw = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise BackboneFolderError(f"backbone_path {path}: cannot read config.json: {e}") from e
    kind = raw.get("model_type") if isinstance(raw, dict) else None
    if kind == "eo1" or (isinstance(raw, dict) and raw.get("type") == "eo1"):
        raise BackboneFolderError(
            f"backbone_path {path} is an EO-1 checkpoint, not a plain Qwen2.5-VL backbone: import "
            "it with `python -m vla_lego.models.import_eo1 SRC OUT` and fine-tune with "
            "init_from=OUT"
        )
    if kind not in QWEN_MODEL_TYPES:
        raise BackboneFolderError(
            f"backbone_path {path}: config.json model_type {kind!r} is not a Qwen2.5-VL "
            f"checkpoint (expected one of {QWEN_MODEL_TYPES})"
        )
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise BackboneFolderError(f"backbone_path {path}: no *.safetensors weights")
    keys: list[str] = []
    for f in files:
        try:  # reads the header only (tensor data is memory-mapped, never touched here)
            with safe_open(str(f), framework="pt") as handle:
                keys += list(handle.keys())
        except Exception as e:  # safetensors raises its own error type on a corrupt header
            raise BackboneFolderError(f"backbone_path {path}: {e}") from e
    foreign = [k for k in keys if set(k.split(".")) & set(NON_QWEN_PARTS)]
    if foreign:
        raise BackboneFolderError(
            f"backbone_path {path}: {len(foreign)} tensor(s) are not Qwen2.5-VL weights (a VLA "
            f"checkpoint? import EO-1 releases with vla_lego.models.import_eo1), e.g. "
            f"{sorted(foreign)[:5]}"
        )
    if not any(k.endswith("embed_tokens.weight") for k in keys):
        raise BackboneFolderError(
            f"backbone_path {path}: no token embedding (*embed_tokens.weight) among its "
            f"{len(keys)} tensors, e.g. {sorted(keys)[:5]}"
        )


def load_backbone(
    config: EO1Config,
    layout: ActionLayout,
    stats: dict[str, Any] | None,
    dtype: torch.dtype | None = None,
) -> tuple[EO1Config, Any, EO1Processor]:
    """Load Qwen2.5-VL from the local ``config.backbone_path`` (no download).

    Returns the config synced to the backbone's real shape, the model (embedding pruned to the
    config's ``vocab_prune`` when set) and a matching processor.
    """
    assert config.backbone_path is not None
    path = Path(config.backbone_path).expanduser()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"backbone_path {path}: expected a local Qwen2.5-VL directory with config.json and "
            "*.safetensors (e.g. Qwen2.5-VL-3B-Instruct); nothing is downloaded"
        )
    check_backbone_folder(path)
    qcfg = Qwen2_5_VLConfig.from_pretrained(str(path), local_files_only=True)
    config = sync_config_with_backbone(config, qcfg)
    kwargs: dict[str, Any] = {"config": qcfg, "local_files_only": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    vlm = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        str(path), attn_implementation=config.attn_implementation, **kwargs
    )
    processor = EO1Processor(config, layout, stats, vocab_size=text_config(vlm).vocab_size)
    if processor.vocab.kept_ids is not None:
        prune_embeddings(vlm, processor.vocab.kept_ids)
    set_special_token_ids(vlm.config, processor)
    return config, vlm, processor


def text_config(vlm: Any) -> Any:
    """The decoder (text) part of a Qwen2.5-VL model's config."""
    return vlm.config.text_config


__all__ = [
    "NON_QWEN_PARTS",
    "BackboneFolderError",
    "backbone_config",
    "check_backbone_folder",
    "load_backbone",
    "prune_embeddings",
    "set_special_token_ids",
    "sync_config_with_backbone",
    "text_config",
]
