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
    "backbone_config",
    "load_backbone",
    "prune_embeddings",
    "set_special_token_ids",
    "sync_config_with_backbone",
    "text_config",
]
