"""A tiny EO-1 *release-format* checkpoint written from a tiny project policy (no download),
and the same weights in LeRobot's ``policies/eo1`` layout.

The layout follows EO-Robotics/EO1's code (``eo/model/modeling_eo1.py``, its bundled pre-4.52
Qwen2.5-VL class and ``configuration_eo1.py``): the backbone is ``vlm_backbone.visual.*`` /
``vlm_backbone.model.*`` with the LM head tied (not stored), ``action_time_mlp_in/out``, and the
output head ``action_out_proj.0`` -> identity -> ``action_out_proj.2``. The names are written out
here independently of the importer's rule table, so the test checks one against the other.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from vla_lego.models.eo1 import EO1Policy

SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
# A chat template that renders EO-1's prompt layout (system / user / assistant, images, state,
# text, then the noise prompt), written here for the fixture from the layout's description.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if loop.first and m['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'state' %}<|state_start|><|state_pad|><|state_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}{{ noise_prompt }}"
)
INDEX = "model.safetensors.index.json"
EO1_TOKENS = (
    "<|action_start|>",
    "<|action_pad|>",
    "<|action_pass|>",
    "<|action_end|>",
    "<|state_start|>",
    "<|state_pad|>",
    "<|state_end|>",
    "<|vla|>",
)


@dataclass
class Release:
    """A written release folder and the two-layer head it holds (float32)."""

    path: Path
    w1: torch.Tensor
    b1: torch.Tensor
    w2: torch.Tensor
    b2: torch.Tensor


class TwoLayerHead(nn.Module):
    """EO-1's output head ``Linear -> identity -> Linear``, for reference outputs.

    ``weight`` is the first layer's, so ``EO1Policy`` code that reads the head's dtype works.
    """

    def __init__(self, rel: Release) -> None:
        super().__init__()
        self.first = nn.Linear(rel.w1.shape[1], rel.w1.shape[0])
        self.second = nn.Linear(rel.w2.shape[1], rel.w2.shape[0])
        with torch.no_grad():
            self.first.weight.copy_(rel.w1)
            self.first.bias.copy_(rel.b1)
            self.second.weight.copy_(rel.w2)
            self.second.bias.copy_(rel.b2)

    @property
    def weight(self) -> torch.Tensor:
        return self.first.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(self.first(x))  # type: ignore[no-any-return]


def eo1_key(key: str) -> str | None:
    """EO-1's name of a project state-dict key (``None``: not stored, the tied LM head)."""
    if key == "vlm.lm_head.weight":
        return None
    for ours, theirs in (
        ("vlm.model.visual.", "vlm_backbone.visual."),
        ("vlm.model.language_model.", "vlm_backbone.model."),
        ("action_time_mlp.0.", "action_time_mlp_in."),
        ("action_time_mlp.2.", "action_time_mlp_out."),
    ):
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    assert key.split(".")[0] in ("state_proj", "action_in_proj"), key
    return key


def _config(policy: EO1Policy) -> dict[str, Any]:
    t: Any = policy.vlm.config.text_config
    v: Any = policy.vlm.config.vision_config
    c = policy.config
    text = {
        "model_type": "qwen2_5_vl_text",
        "vocab_size": t.vocab_size,
        "hidden_size": t.hidden_size,
        "intermediate_size": t.intermediate_size,
        "num_hidden_layers": t.num_hidden_layers,
        "num_attention_heads": t.num_attention_heads,
        "num_key_value_heads": t.num_key_value_heads,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "max_position_embeddings": 128000,
        "use_sliding_window": False,
        # transformers 4.5x style, as EO-1's release was written
        "rope_theta": float(t.rope_parameters["rope_theta"]),
        "rope_scaling": {"type": "mrope", "mrope_section": list(c.mrope_section)},
        "tie_word_embeddings": True,
    }
    vision = {
        "model_type": "qwen2_5_vl",
        "depth": v.depth,
        "hidden_size": v.hidden_size,
        "intermediate_size": v.intermediate_size,
        "num_heads": v.num_heads,
        "in_channels": 3,
        "hidden_act": "silu",
        "patch_size": v.patch_size,
        "spatial_merge_size": v.spatial_merge_size,
        "temporal_patch_size": v.temporal_patch_size,
        "window_size": v.window_size,
        "out_hidden_size": v.out_hidden_size,
        "fullatt_block_indexes": list(v.fullatt_block_indexes),
        "tokens_per_second": 2,
    }
    return {
        "architectures": ["EO1VisionFlowMatchingModel"],
        "model_type": "eo1",
        "text_config": text,
        "vision_config": vision,
        "image_token_id": 151655,
        "video_token_id": 151656,
        "action_chunk_size": c.action_horizon,
        "max_action_dim": c.max_action_dim,
        "num_denoise_steps": c.num_denoise_steps,
        "action_act": "linear",
        "num_action_layers": 2,
        "state_token_id": 151670,
        "action_token_id": 151666,
        "action_pass_id": 151667,
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.56.0",
    }


def round_backbone_to_bf16(policy: EO1Policy) -> None:
    """Round the backbone's weights to bfloat16 in place (the release stores them so)."""
    with torch.no_grad():
        for p in policy.vlm.parameters():
            p.copy_(p.bfloat16().float())


def write_release(policy: EO1Policy, path: Path, seed: int = 0) -> Release:
    """Write ``policy`` as an EO-1 release folder: bf16 backbone, float32 heads, 2 shards.

    The policy's single output Linear ``(W, b)`` is split into EO-1's two Linears: ``W1`` a
    scaled random orthogonal matrix, ``W2 = W W1^-1``, ``b2 = b - W2 b1``, so the chain computes
    (up to float32 rounding) what the policy computes. Call :func:`round_backbone_to_bf16` on
    the policy first to make it the exact reference of the written weights.
    """
    path.mkdir(parents=True)
    g = torch.Generator().manual_seed(seed)
    sd = policy.state_dict()
    shards: list[dict[str, torch.Tensor]] = [{}, {}]
    for key, value in sd.items():
        if key.startswith("action_out_proj."):
            continue  # split into EO-1's two Linears below
        name = eo1_key(key)
        if name is None:
            continue
        backbone = name.startswith("vlm_backbone.")
        tensor = value.detach().to(torch.bfloat16 if backbone else torch.float32).contiguous()
        shards[1 if name.startswith("vlm_backbone.model.") else 0][name] = tensor.clone()
    w = sd["action_out_proj.weight"].double()
    b = sd["action_out_proj.bias"].double()
    h = w.shape[1]
    q, _ = torch.linalg.qr(torch.randn(h, h, generator=g, dtype=torch.float64))
    w1 = 0.5 * q
    b1 = 0.1 * torch.randn(h, generator=g, dtype=torch.float64)
    w2 = w @ (2.0 * q.T)  # W1^-1 = 2 Q^T
    b2 = b - w2 @ b1
    head = {"0.weight": w1, "0.bias": b1, "2.weight": w2, "2.bias": b2}
    for k, v in head.items():
        shards[0][f"action_out_proj.{k}"] = v.float().contiguous()
    weight_map = {}
    for fname, tensors in zip(SHARDS, shards):
        save_file(tensors, str(path / fname), metadata={"format": "pt"})
        weight_map.update({k: fname for k in tensors})
    total = sum(t.numel() * t.element_size() for s in shards for t in s.values())
    write_json(path / INDEX, {"metadata": {"total_size": total}, "weight_map": weight_map})
    write_json(path / "config.json", _config(policy))
    write_json(path / "added_tokens.json", {t: 151665 + i for i, t in enumerate(EO1_TOKENS)})
    policy.processor.tokenizer.backend_tokenizer.save(str(path / "tokenizer.json"))
    write_json(path / "chat_template.json", {"chat_template": CHAT_TEMPLATE})
    write_json(
        path / "preprocessor_config.json",
        {"min_pixels": 64 * 28 * 28, "max_pixels": 128 * 28 * 28, "patch_size": 14},
    )
    return Release(path, *(t.float() for t in (w1, b1, w2, b2)))


def lerobot_key(release_key: str) -> str:
    """LeRobot's ``policies/eo1`` name of an EO-1 release key: the policy keeps the model as
    ``model`` and its backbone is transformers 5's Qwen2.5-VL (``model.visual``,
    ``model.language_model``)."""
    for old, new in (
        ("vlm_backbone.visual.", "vlm_backbone.model.visual."),
        ("vlm_backbone.model.", "vlm_backbone.model.language_model."),
    ):
        if release_key.startswith(old):
            return "model." + new + release_key[len(old) :]
    return "model." + release_key


def write_lerobot(rel: Release, policy: EO1Policy, path: Path) -> Path:
    """The same weights as the release ``rel``, as a LeRobot eo1 policy folder (one file)."""
    path.mkdir(parents=True)
    tensors: dict[str, torch.Tensor] = {}
    for shard in SHARDS:
        with safe_open(str(rel.path / shard), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
                tensors[lerobot_key(key)] = f.get_tensor(key)
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})
    c = policy.config
    write_json(
        path / "config.json",
        {
            "type": "eo1",
            "vlm_base": "Qwen/Qwen2.5-VL-3B-Instruct",
            "vlm_config": json.loads(policy.vlm.config.to_json_string()),
            "image_min_pixels": 64 * 28 * 28,
            "image_max_pixels": 128 * 28 * 28,
            "n_obs_steps": 1,
            "chunk_size": c.action_horizon,
            "n_action_steps": c.action_horizon,
            "max_state_dim": c.max_action_dim,
            "max_action_dim": c.max_action_dim,
            "num_denoise_steps": c.num_denoise_steps,
            "num_action_layers": 2,
            "action_act": "linear",
            "dtype": "bfloat16",
        },
    )
    return path


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1))


def clone(src: Path, dst: Path) -> Path:
    """Hard-link copy of a release folder; mutate files only through :func:`rewrite`."""
    shutil.copytree(src, dst, copy_function=os.link)
    return dst


def rewrite(path: Path, data: bytes) -> None:
    """Replace a (possibly hard-linked) file without touching the original's inode."""
    path.unlink()
    path.write_bytes(data)


__all__ = [
    "CHAT_TEMPLATE",
    "EO1_TOKENS",
    "INDEX",
    "SHARDS",
    "Release",
    "TwoLayerHead",
    "clone",
    "eo1_key",
    "lerobot_key",
    "rewrite",
    "round_backbone_to_bf16",
    "write_json",
    "write_lerobot",
    "write_release",
]
