"""EO-1 policy: one Qwen2.5-VL decoder for images, text, state and flow-matching action chunks.

The network is ``transformers``' ``Qwen2_5_VLForConditionalGeneration`` (vision tower, decoder,
LM head) plus four small heads: state projection, action input projection, action/time fusion MLP,
action output projection. There is no separate action expert: the action block is ``H`` extra
tokens of the same decoder.

Export-friendly pieces (every shape static given batch ``B``, prefix ``P``, cache ``L``)::

    encode_images(pixel_values [B*V, N, Dp])                       -> [B*V, N/4, hidden]
    embed_prefix(inputs)            -> embeds [B, P, hidden], mask [B, 1, P, P], pos [3, B, P]
    prefix_forward(embeds, mask, pos)  -> kv ((k, v) per layer, [B, kv_heads, P, head_dim]),
                                          hidden [B, P, hidden]
    decode_step(kv, kv_valid [B, L], token [B, 1], pos [3, B, 1]) -> logits [B, vocab], kv (L+1)
    denoise_step(kv, kv_valid [B, L], x_t [B, H, D], t [B], pos [3, B, H]) -> velocity [B, H, D]
      = denoise_with(prepare_denoise(kv, kv_valid, pos), x_t, t)  (what a chunk's N steps share
        - cache, mask, rotary embeddings - is built once by prepare_denoise)

Position ids and ViT window metadata are computed on the host (``processing_eo1``) and passed in.
Attention masks are additive float masks (0 keeps, dtype-min drops) so sdpa and eager agree
(``attention``); the Qwen2.5-VL backbone is built / loaded / pruned in ``backbone``. Their names
stay importable from here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from vla_lego.models import flow_matching as fm
from vla_lego.models.base import MODEL_FILE, model_record, read_model_type
from vla_lego.models.checkpoint import (
    CheckpointError,
    atomic_directory,
    read_json,
    verify_directory,
)
from vla_lego.models.eo1.attention import (
    additive_mask,
    gqa_attention,
    is_exporting,
    prefix_mask,
    rms_norm,
    rotate_half,
    sequence_attention_mask,
)
from vla_lego.models.eo1.backbone import (
    backbone_config,
    load_backbone,
    prune_embeddings,
    set_special_token_ids,
    sync_config_with_backbone,
    text_config,
)
from vla_lego.models.eo1.configuration_eo1 import MODEL_TYPE, EO1Config
from vla_lego.models.eo1.processing_eo1 import (
    EO1Inputs,
    EO1Processor,
    sequential_position_ids,
)
from vla_lego.models.kv_cache import KV, kv_flat, kv_pairs
from vla_lego.models.registry import register_model
from vla_lego.robot import H1_LAYOUT, ActionLayout

# Words of the random instructions of example_inputs.
_EXAMPLE_WORDS = (
    "pick",
    "the",
    "red",
    "brick",
    "stack",
    "on",
    "blue",
    "place",
    "left",
    "hand",
    "2x4",
)


WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "eo1_config.json"
BACKBONE_FILE = "backbone_config.json"
LAYOUT_FILE = "robot_layout.json"
REQUIRED_FILES = (
    WEIGHTS_FILE,
    CONFIG_FILE,
    BACKBONE_FILE,
    LAYOUT_FILE,
    "norm_stats.json",
    "vocab_map.json",
    "tokenizer/tokenizer.json",
)


@dataclass
class DenoiseContext:
    """What the N denoise steps of one chunk share (built once by ``prepare_denoise``).

    Attributes:
        kv: The cache the action block attends to (prefix, plus decoded text).
        mask: Additive mask ``[B, 1, H, L + H]``: valid cached tokens, the whole block.
        position_embeddings: Rotary ``(cos, sin)`` of the block's positions.
    """

    kv: KV
    mask: torch.Tensor
    position_embeddings: tuple[torch.Tensor, torch.Tensor]


@register_model(MODEL_TYPE)
class EO1Policy(nn.Module):
    """EO-1 vision-language-action policy (see module docstring for the pieces and shapes).

    Implements :class:`vla_lego.models.base.CachedPolicyModel`; registered as ``"eo1"``.

    Args:
        config: Model config (``EO1Config.from_preset(...)``).
        layout: Robot layout; the action/state vector width and padding come from it.
        stats: Normalisation statistics (``dataset.stats``) or ``None`` (identity).
        vlm: An already built/loaded Qwen2.5-VL model (``from_config`` / ``from_pretrained``);
            ``None`` loads ``config.backbone_path`` when set (``eo1_3b``), else builds a fresh
            backbone of the config's size.
        processor: A matching processor (e.g. loaded from a checkpoint); built when ``None``.
    """

    model_type: ClassVar[str] = MODEL_TYPE
    config_class: ClassVar[type[EO1Config]] = EO1Config
    processor_class: ClassVar[type[EO1Processor]] = EO1Processor

    def __init__(
        self,
        config: EO1Config,
        layout: ActionLayout = H1_LAYOUT,
        stats: dict[str, Any] | None = None,
        vlm: Qwen2_5_VLForConditionalGeneration | None = None,
        processor: EO1Processor | None = None,
    ) -> None:
        super().__init__()
        self.layout = layout
        if vlm is None and config.backbone_path is None and config.require_backbone:
            raise ValueError(
                f"preset {config.name!r} loads pretrained Qwen2.5-VL weights: set backbone_path "
                "(model.backbone_path=... or $EO1_BACKBONE_PATH) to a local Qwen2.5-VL directory"
            )
        if vlm is None and processor is None and config.backbone_path is not None:
            # eo1_3b & co: the backbone comes from the user's local directory, never fresh.
            config, vlm, processor = load_backbone(config, layout, stats)
        if processor is None:
            vocab_size = None if vlm is None else text_config(vlm).vocab_size
            processor = EO1Processor(config, layout, stats, vocab_size=vocab_size)
        self.processor = processor
        if vlm is None:
            qcfg = backbone_config(config, processor)
            vlm = Qwen2_5_VLForConditionalGeneration._from_config(
                qcfg, attn_implementation=config.attn_implementation
            )
        self.config = config
        self.vlm: Any = vlm
        hidden = text_config(vlm).hidden_size
        dmax = config.max_action_dim
        self.state_proj = nn.Linear(dmax, hidden)
        self.action_in_proj = nn.Linear(dmax, hidden)
        self.action_time_mlp = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden)
        )
        self.action_out_proj = nn.Linear(hidden, dmax)
        meta = processor.vision
        self.register_buffer("vision_rope_pos", meta.rope_pos, persistent=False)
        self.register_buffer("vision_window_index", meta.window_index, persistent=False)
        self.register_buffer("vision_reverse_index", meta.reverse_index, persistent=False)
        self.register_buffer("vision_window_mask", meta.window_mask, persistent=False)
        self.vision_window_len = meta.window_len

    # ------------------------------------------------------------------ properties
    @property
    def hidden_size(self) -> int:
        return int(text_config(self.vlm).hidden_size)

    @property
    def device(self) -> torch.device:
        return self.state_proj.weight.device

    @property
    def backbone_dtype(self) -> torch.dtype:
        """Dtype the decoder computes in (its token embedding's)."""
        return self.language_model.embed_tokens.weight.dtype  # type: ignore[no-any-return]

    def to_mixed_precision(self, dtype: torch.dtype = torch.bfloat16) -> EO1Policy:
        """EO-1's inference precision: the Qwen2.5-VL backbone in ``dtype``, the state/action
        heads (``state_proj``, ``action_in_proj``, ``action_time_mlp``, ``action_out_proj``) and
        the Euler integration in float32 (EO-1's ``to_float32_flow_matching_head``). In place."""
        self.vlm.to(dtype)
        for head in (self.state_proj, self.action_in_proj, self.action_time_mlp):
            head.float()
        self.action_out_proj.float()
        return self

    @property
    def language_model(self) -> Any:
        return self.vlm.model.language_model

    def num_parameters(self) -> int:
        """Unique parameters (tied embeddings counted once)."""
        return sum(p.numel() for p in {id(p): p for p in self.parameters()}.values())

    # ------------------------------------------------------------------ vision
    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """ViT over equally sized images: ``[M, N, Dp]`` -> ``[M, N/4, hidden]``.

        Same maths as ``Qwen2_5_VisionTransformerPretrainedModel.forward`` but batched over
        images, without data-dependent splits: windowed attention runs as a batch of equal
        windows (or, when the windows differ in size, as full attention under a static mask).
        """
        vis: Any = self.vlm.model.visual
        m, n, _ = pixel_values.shape
        unit = vis.spatial_merge_unit
        # The patch Conv3d has kernel == stride == the whole patch, i.e. one GEMM over flattened
        # (C, T, H, W) patches; as a linear it is ~3x faster in eager and ~8x in ONNX Runtime.
        proj = vis.patch_embed.proj
        weight = proj.weight.reshape(proj.out_channels, -1)
        x = F.linear(pixel_values.reshape(m * n, -1).to(weight.dtype), weight, proj.bias)
        order: torch.Tensor = self.vision_window_index  # type: ignore[assignment]
        x = x.view(m, n // unit, unit, -1)[:, order].reshape(m, n, -1)
        cos, sin = vis.rotary_pos_emb(x, self.vision_rope_pos)
        window: torch.Tensor = self.vision_window_mask  # type: ignore[assignment]
        wlen = self.vision_window_len
        if wlen is not None:
            # Tokens are in window order: [M, N] -> [M * N / wlen, wlen] windows, no mask (the
            # masked full attention spends N / wlen times the attention FLOPs on masked pairs).
            nw = n // wlen
            cos_w, sin_w = (
                e.view(1, nw, 1, wlen, -1).expand(m, -1, -1, -1, -1).reshape(m * nw, 1, wlen, -1)
                for e in (cos, sin)
            )
        for i, blk in enumerate(vis.blocks):
            h = blk.norm1(x)
            if i in vis.fullatt_block_indexes:
                h = self._vision_attention(blk.attn, h, cos, sin, None)
            elif wlen is not None:
                h = self._vision_attention(blk.attn, h.view(m * nw, wlen, -1), cos_w, sin_w, None)
            else:
                h = self._vision_attention(blk.attn, h, cos, sin, window)
            x = x + h.view(m, n, -1)
            x = x + blk.mlp(blk.norm2(x))
        merged = vis.merger(x).view(m, n // unit, -1)
        return merged[:, self.vision_reverse_index]

    @staticmethod
    def _vision_attention(
        attn: Any,
        h: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        m, n, d = h.shape
        qkv = attn.qkv(h).view(m, n, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q = (q * cos + rotate_half(q) * sin).to(v.dtype)
        k = (k * cos + rotate_half(k) * sin).to(v.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=attn.scaling)
        return attn.proj(out.transpose(1, 2).reshape(m, n, d))

    # ------------------------------------------------------------------ embeddings
    def embed_prefix_tensors(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor,
        state: torch.Tensor,
        state_mask: torch.Tensor,
    ) -> torch.Tensor:
        """Prefix embeddings ``[B, P, hidden]``: token rows, image features, state token.

        The image blocks come first (after EO-1's fixed header in ``compat="eo1"``) and have the
        same place in every sample, so they are assembled by static slicing
        (``V = pixel_values.shape[0] // B``).
        """
        b = input_ids.shape[0]
        v = pixel_values.shape[0] // b
        n = self.config.tokens_per_view
        lead = len(self.processor.lead_ids)
        tok = self.vlm.model.language_model.embed_tokens(input_ids)
        img = self.encode_images(pixel_values).view(b, v, n, -1).to(tok.dtype)
        parts = [tok[:, :lead]]
        for i in range(v):
            s = lead + i * (n + 2)
            parts += [tok[:, s : s + 1], img[:, i], tok[:, s + n + 1 : s + n + 2]]
        parts.append(tok[:, lead + v * (n + 2) :])
        emb = torch.cat(parts, dim=1)
        state_emb = self._state_embedding(state, emb.dtype)
        return torch.where(state_mask.unsqueeze(-1), state_emb, emb)

    def prefix_inputs(self, feeds: dict[str, torch.Tensor]) -> EO1Inputs:
        """Processed inputs from the prefix graph's feeds (``input_ids``, ``pixel_values``,
        ``state``, ``state_mask``, ``prefix_valid``, ``position_ids``; batch ``B``) for
        :meth:`embed_prefix`: what a backend that passes feeds, not processor output, hands in."""
        b = feeds["input_ids"].shape[0]
        return EO1Inputs(
            input_ids=feeds["input_ids"],
            prefix_valid=feeds["prefix_valid"],
            state_mask=feeds["state_mask"],
            position_ids=feeds["position_ids"],
            next_pos=torch.zeros(b, dtype=torch.long, device=self.device),  # unused by the prefix
            pixel_values=feeds["pixel_values"],
            num_views=feeds["pixel_values"].shape[0] // b,
            state=feeds["state"],
            action_dim_mask=torch.ones(self.config.max_action_dim, dtype=torch.bool),
        )

    def embed_prefix_dynamic(
        self,
        input_ids: torch.Tensor,
        pixel_values: torch.Tensor,
        state: torch.Tensor,
        state_mask: torch.Tensor,
        prefix_valid: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix embeddings and additive mask for exported graphs: ``(embeds [B, P, hidden],
        mask [B, 1, P, P])``.

        Same result as :meth:`embed_prefix_tensors`, but the image features are gathered at the
        ``<|image_pad|>`` positions of ``input_ids`` instead of sliced, so the number of views
        and the instruction length stay dynamic axes of the graph.
        """
        tok = self.language_model.embed_tokens(input_ids)
        img = self.encode_images(pixel_values).to(tok.dtype)
        img = img.reshape(-1, img.shape[-1])
        is_img = input_ids == int(self.processor.token_id["<|image_pad|>"])
        # Row of the image feature for each image-pad position: views are in token order.
        idx = torch.cumsum(is_img.reshape(-1).to(torch.int64), 0) - 1
        idx = idx.clamp(min=0).reshape(input_ids.shape)
        emb = torch.where(is_img.unsqueeze(-1), img[idx], tok)
        state_emb = self._state_embedding(state, emb.dtype)
        emb = torch.where(state_mask.unsqueeze(-1), state_emb, emb)
        return emb, prefix_mask(prefix_valid, emb.dtype)

    def embed_prefix(self, inputs: EO1Inputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(embeds [B, P, hidden], additive mask [B, 1, P, P], position_ids [3, B, P])``."""
        emb = self.embed_prefix_tensors(
            inputs.input_ids, inputs.pixel_values, inputs.state, inputs.state_mask
        )
        return emb, prefix_mask(inputs.prefix_valid, emb.dtype), inputs.position_ids

    def embed_actions(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Noisy actions ``[B, H, D]`` and times ``[B]`` -> action tokens ``[B, H, hidden]``."""
        cfg = self.config
        a = self.action_in_proj(x_t.to(self.action_in_proj.weight.dtype))
        te = fm.sinusoidal_time_embedding(
            t, self.hidden_size, cfg.time_min_period, cfg.time_max_period
        )
        te = te.to(a.dtype).unsqueeze(1).expand_as(a)
        out = self.action_time_mlp(torch.cat([a, te], dim=-1))
        return out.to(self.backbone_dtype)  # type: ignore[no-any-return]

    def _state_embedding(self, state: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The ``<|state|>`` token ``[B, 1, hidden]``: projected in the head's dtype (float32
        next to a bf16 backbone, as EO-1), handed to the decoder in ``dtype``."""
        return self.state_proj(state.to(self.state_proj.weight.dtype)).to(dtype).unsqueeze(1)

    def _velocity(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.action_out_proj(hidden.to(self.action_out_proj.weight.dtype))  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ decoder pieces
    def _decoder(
        self, embeds: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor
    ) -> torch.Tensor:
        """The language model's own forward without a cache (training and the uncached
        reference), so the cached inference path is checked against ``transformers``' code."""
        out = self.language_model(
            inputs_embeds=embeds,
            attention_mask={"full_attention": mask},
            position_ids=position_ids,
            use_cache=False,
        )
        return out.last_hidden_state  # type: ignore[no-any-return]

    def run_layers(
        self,
        embeds: torch.Tensor,
        mask: torch.Tensor,
        position_embeddings: tuple[torch.Tensor, torch.Tensor],
        past: KV | list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, KV]:
        """The decoder layers and the final norm over new tokens, on top of an optional cache.

        The inference path shared by eager sampling and the export graphs: the same maths and
        modules as ``transformers``' Qwen2.5-VL decoder layer (checked against its forward by the
        cached == uncached tests), written out so that a denoise step runs only the ops it needs
        (rotary tables and the mask come in precomputed, grouped-query attention without copying
        the cache). ``past`` is never modified, so one prefix cache serves every step.

        Args:
            embeds: ``[B, Q, hidden]``; mask: additive ``[B, 1, Q, L + Q]``;
            position_embeddings: rotary ``(cos, sin)`` ``[B, Q, head_dim]`` of the Q positions;
            past: per-layer (key, value) ``[B, kv_heads, L, head_dim]``.

        Returns:
            Normalised hidden states ``[B, Q, hidden]`` and per-layer (key, value) of length L + Q.
        """
        lm = self.language_model
        exporting = is_exporting()  # once per call, not per layer and norm
        cos, sin = (e.unsqueeze(1) for e in position_embeddings)
        b, q_len, _ = embeds.shape
        h = embeds
        present = []
        for i, layer in enumerate(lm.layers):
            attn = layer.self_attn
            x = rms_norm(layer.input_layernorm, h, exporting)
            q, k, v = (
                proj(x).view(b, q_len, -1, attn.head_dim).transpose(1, 2)
                for proj in (attn.q_proj, attn.k_proj, attn.v_proj)
            )
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if past is not None:
                k = torch.cat([past[i][0], k], dim=2)
                v = torch.cat([past[i][1], v], dim=2)
            present.append((k, v))
            o = gqa_attention(q, k, v, mask, attn.scaling, exporting)
            h = h + attn.o_proj(o.transpose(1, 2).reshape(b, q_len, -1))
            h = h + layer.mlp(rms_norm(layer.post_attention_layernorm, h, exporting))
        return rms_norm(lm.norm, h, exporting), tuple(present)

    def rotary(
        self, position_ids: torch.Tensor, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotary ``(cos, sin)`` for M-RoPE ``position_ids [3, B, Q]``."""
        probe = torch.empty(0, dtype=dtype, device=position_ids.device)
        return self.language_model.rotary_emb(probe, position_ids)  # type: ignore[no-any-return]

    def prefix_forward(
        self, embeds: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor
    ) -> tuple[KV, torch.Tensor]:
        """Run the decoder over the prefix once.

        Returns:
            ``kv``: per layer ``(key, value)``, each ``[B, kv_heads, P, head_dim]`` (RoPE applied),
            and the final hidden states ``[B, P, hidden]``.
        """
        hidden, kv = self.run_layers(embeds, mask, self.rotary(position_ids, embeds.dtype))
        return kv, hidden

    def _suffix_mask(
        self, kv_valid: torch.Tensor, self_allowed: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor:
        """Additive mask of Q queries over ``[valid cache | queries per self_allowed [Q, Q]]``."""
        b, q = kv_valid.shape[0], self_allowed.shape[0]
        past = kv_valid[:, None, :].expand(b, q, kv_valid.shape[1])
        allowed = torch.cat([past, self_allowed[None].expand(b, q, q)], dim=-1).unsqueeze(1)
        return additive_mask(allowed, dtype)

    def decode_step(
        self, kv: KV, kv_valid: torch.Tensor, token_ids: torch.Tensor, position_ids: torch.Tensor
    ) -> tuple[torch.Tensor, KV]:
        """One autoregressive text step.

        Args:
            kv: Cache of length ``L``; kv_valid: ``bool [B, L]``; token_ids: ``long [B, 1]``
            (embedding rows); position_ids: ``long [3, B, 1]``.

        Returns:
            ``logits [B, vocab]`` for the next token and the cache extended to ``L + 1``.
        """
        emb = self.language_model.embed_tokens(token_ids)
        one = torch.ones(1, 1, dtype=torch.bool, device=emb.device)
        mask = self._suffix_mask(kv_valid, one, emb.dtype)
        hidden, kv_new = self.run_layers(emb, mask, self.rotary(position_ids, emb.dtype), kv)
        return self.vlm.lm_head(hidden[:, -1]), kv_new

    def prepare_denoise(
        self, kv: KV, kv_valid: torch.Tensor, position_ids: torch.Tensor
    ) -> DenoiseContext:
        """Everything the denoise steps of one chunk share: the action block attends to the valid
        cached tokens (prefix + decoded text) and to itself, bidirectionally or (``attention=
        "causal_actions"``) causally; ``position_ids`` is ``long [3, B, H]``."""
        h = position_ids.shape[-1]
        dtype = self.backbone_dtype
        block = torch.ones(h, h, dtype=torch.bool, device=kv_valid.device)
        if self.config.causal_actions:
            block = block.tril()
        return DenoiseContext(
            kv=tuple(kv),
            mask=self._suffix_mask(kv_valid, block, dtype),
            position_embeddings=self.rotary(position_ids, dtype),
        )

    def denoise_with(self, ctx: DenoiseContext, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Velocity ``[B, H, D]`` of noisy actions ``x_t`` ``[B, H, D]`` at times ``t`` ``[B]``."""
        emb = self.embed_actions(x_t, t)
        hidden, _ = self.run_layers(emb, ctx.mask, ctx.position_embeddings, ctx.kv)
        return self._velocity(hidden)

    def denoise_step(
        self,
        kv: KV,
        kv_valid: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        position_ids: torch.Tensor,
    ) -> torch.Tensor:
        """One velocity evaluation: ``denoise_with(prepare_denoise(kv, kv_valid, pos), x_t, t)``."""
        return self.denoise_with(self.prepare_denoise(kv, kv_valid, position_ids), x_t, t)

    # ------------------------------------------------------------------ full sequence
    def full_sequence(
        self,
        inputs: EO1Inputs,
        text_ids: torch.Tensor,
        text_valid: torch.Tensor,
        x_t: torch.Tensor,
        t: torch.Tensor,
        text_visible: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoder pass over ``[prefix | text | action block]`` without any cache.

        Used by training (teacher-forced text) and as the uncached reference at inference.

        Args:
            text_visible: ``bool [B]``; False hides the text from the action block (and starts
                the action positions right after the prefix, as with ``decode_text=False``).

        Returns:
            ``(hidden [B, P+S+H, hidden], velocity [B, H, D])``.
        """
        b, p = inputs.input_ids.shape
        s, h = text_ids.shape[1], x_t.shape[1]
        if text_visible is None:
            text_visible = torch.ones(b, dtype=torch.bool, device=x_t.device)
        prefix = self.embed_prefix_tensors(
            inputs.input_ids, inputs.pixel_values, inputs.state, inputs.state_mask
        )
        text = self.language_model.embed_tokens(text_ids)
        embeds = torch.cat([prefix, text, self.embed_actions(x_t, t)], dim=1)
        ones = torch.ones(b, h, dtype=torch.bool, device=x_t.device)
        valid = torch.cat([inputs.prefix_valid, text_valid, ones], dim=1)
        vis = torch.cat([inputs.prefix_valid, text_valid & text_visible[:, None], ones], dim=1)
        allowed = sequence_attention_mask(valid, vis, h, self.config.causal_actions)
        mask = additive_mask(allowed, embeds.dtype)
        n_text = torch.where(text_visible, text_valid.sum(1), torch.zeros_like(inputs.next_pos))
        pos = torch.cat(
            [
                inputs.position_ids,
                sequential_position_ids(inputs.next_pos, s),
                sequential_position_ids(inputs.next_pos + n_text, h),
            ],
            dim=2,
        )
        hidden = self._decoder(embeds, mask, pos)
        return hidden, self._velocity(hidden[:, p + s :])

    # ------------------------------------------------------------------ training
    def forward(self, batch: dict[str, Any] | EO1Inputs) -> tuple[torch.Tensor, dict[str, float]]:
        """Same as :meth:`compute_loss` (so DDP / DeepSpeed wrappers can call the module)."""
        return self.compute_loss(batch)

    def compute_loss(
        self, batch: dict[str, Any] | EO1Inputs, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """Flow-matching MSE on the velocity + next-token CE on the subtask text.

        Args:
            batch: A training batch (``vla_lego.data`` format) or processed :class:`EO1Inputs`
                with targets.
            generator: Optional CPU generator for noise, time and subtask dropout.

        Returns:
            ``(loss, {"loss", "flow_loss", "text_loss", "text_acc"})``.
        """
        cfg = self.config
        inputs = batch if isinstance(batch, EO1Inputs) else self.processor(batch, with_targets=True)
        if inputs.actions is None or inputs.text_ids is None:
            raise ValueError("compute_loss needs actions and subtask targets (with_targets=True)")
        inputs = inputs.to(self.device)
        b = inputs.batch_size
        actions, text_ids, text_valid = inputs.actions, inputs.text_ids, inputs.text_valid
        assert actions is not None and text_ids is not None and text_valid is not None
        assert inputs.action_is_pad is not None
        noise = torch.randn(actions.shape, generator=generator).to(actions)
        t = fm.sample_time(
            b, cfg.time_beta_alpha, cfg.time_beta_beta, cfg.time_min, generator, actions.device
        )
        visible = torch.rand(b, generator=generator) >= cfg.subtask_drop_prob
        x_t = fm.interpolate(actions, noise, t)
        hidden, v = self.full_sequence(inputs, text_ids, text_valid, x_t, t, visible.to(x_t.device))
        target = fm.target_velocity(actions, noise)
        flow = fm.masked_mse(v.float(), target, inputs.action_dim_mask, inputs.action_is_pad)
        text_loss, text_acc = self._text_loss(inputs, hidden)
        loss = cfg.flow_loss_weight * flow + cfg.text_loss_weight * text_loss
        metrics = {
            "loss": float(loss.detach()),
            "flow_loss": float(flow.detach()),
            "text_loss": float(text_loss.detach()),
            "text_acc": text_acc,
        }
        return loss, metrics

    def _text_loss(self, inputs: EO1Inputs, hidden: torch.Tensor) -> tuple[torch.Tensor, float]:
        """Cross-entropy of each subtask token given everything before it."""
        assert inputs.text_ids is not None and inputs.text_valid is not None
        b, p = inputs.input_ids.shape
        s = inputs.text_ids.shape[1]
        if s == 0:  # compat="eo1": no subtask text, EO-1 trains robot data on actions only
            return hidden.new_zeros(()), 0.0
        last = inputs.prefix_valid.sum(1, keepdim=True) - 1
        rest = p + torch.arange(s - 1, device=hidden.device).unsqueeze(0).expand(b, -1)
        idx = torch.cat([last, rest], dim=1)
        sel = hidden.gather(1, idx.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        logits = self.vlm.lm_head(sel).float()
        ce = F.cross_entropy(logits.flatten(0, 1), inputs.text_ids.flatten(), reduction="none")
        w = inputs.text_valid.flatten().float()
        loss = (ce * w).sum() / w.sum().clamp_min(1.0)
        hits = (logits.argmax(-1) == inputs.text_ids)[inputs.text_valid]
        return loss, float(hits.float().mean()) if hits.numel() else 0.0

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def sample_actions(
        self,
        batch: dict[str, Any],
        noise: torch.Tensor | None = None,
        decode_text: bool = True,
        generator: torch.Generator | None = None,
        num_steps: int | None = None,
    ) -> tuple[torch.Tensor, list[str]]:
        """Sample an action chunk per sample (robot units) and the decoded subtask texts.

        Args:
            batch: ``images``, ``state``, ``instruction`` as in the training batch.
            noise: Explicit initial noise ``float32 [B, H, max_action_dim]`` (model space), e.g.
                for export parity; ``None`` draws it from ``generator``.
            decode_text: Greedily decode the subtask text first (bounded by
                ``max_subtask_tokens``); the action block then attends to it.
            generator: CPU ``torch.Generator`` seeding the noise.
            num_steps: Euler steps (default ``config.num_denoise_steps``).

        Returns:
            ``(actions float32 [B, H, layout.dim] robot units, texts)``; texts are "" when
            ``decode_text`` is False.
        """
        inputs = self.processor(batch)
        x0, texts, _, _ = self.sample_normalized(inputs, noise, decode_text, generator, num_steps)
        return torch.from_numpy(self.processor.postprocess_actions(x0)), texts

    @torch.inference_mode()
    def sample_normalized(
        self,
        inputs: EO1Inputs,
        noise: torch.Tensor | None = None,
        decode_text: bool = True,
        generator: torch.Generator | None = None,
        num_steps: int | None = None,
        use_cache: bool = True,
    ) -> tuple[torch.Tensor, list[str], torch.Tensor, torch.Tensor]:
        """Model-space sampling: ``(x0 [B, H, D], texts, text_ids [B, S], text_valid [B, S])``.

        ``use_cache=False`` recomputes the whole sequence (prefix included) at every Euler step:
        the reference the cached path is tested and benchmarked against.
        """
        inputs = inputs.to(self.device)
        noise = self._initial_noise(inputs.batch_size, noise, generator)
        decode_text = decode_text and self.config.has_subtask_text
        kv: KV = ()
        kv_valid = inputs.prefix_valid
        if use_cache or decode_text:
            embeds, mask, pos = self.embed_prefix(inputs)
            kv, hidden = self.prefix_forward(embeds, mask, pos)
        if decode_text:
            kv, kv_valid, text_ids, text_valid = self._generate_text(inputs, kv, hidden)
        else:
            text_ids = torch.zeros(inputs.batch_size, 0, dtype=torch.long, device=self.device)
            text_valid = torch.zeros(inputs.batch_size, 0, dtype=torch.bool, device=self.device)
        steps = num_steps or self.config.num_denoise_steps
        x = noise
        if use_cache:
            act_pos = sequential_position_ids(inputs.next_pos + text_valid.sum(1), x.shape[1])
            ctx = self.prepare_denoise(kv, kv_valid, act_pos)
        for tval in fm.euler_times(steps):
            t = torch.full((inputs.batch_size,), tval, device=x.device)
            if use_cache:
                v = self.denoise_with(ctx, x, t)
            else:
                v = self.full_sequence(inputs, text_ids, text_valid, x, t)[1]
            x = fm.euler_step(x, v, -1.0 / steps)
        texts = [
            self.processor.decode_text(ids[ok].tolist()) for ids, ok in zip(text_ids, text_valid)
        ]
        return x, texts, text_ids, text_valid

    def _initial_noise(
        self, b: int, noise: torch.Tensor | None, generator: torch.Generator | None
    ) -> torch.Tensor:
        shape = (b, self.config.action_horizon, self.config.max_action_dim)
        if noise is None:
            return torch.randn(shape, generator=generator).to(self.device)
        if tuple(noise.shape) != shape:
            raise ValueError(f"noise: expected shape {shape}, got {tuple(noise.shape)}")
        return noise.to(device=self.device, dtype=torch.float32)

    def _generate_text(
        self, inputs: EO1Inputs, kv: KV, hidden: torch.Tensor
    ) -> tuple[KV, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Greedy decoding until every sample emitted ``<|subtask_end|>`` (bounded).

        Tokens after a sample's end marker are fed as padding and marked invalid in the cache.
        """
        b = inputs.batch_size
        end, pad = self.processor.subtask_end_id, self.processor.pad_id
        last = inputs.prefix_valid.sum(1) - 1
        logits = self.vlm.lm_head(hidden[torch.arange(b, device=hidden.device), last])
        kv_valid = inputs.prefix_valid
        finished = torch.zeros(b, dtype=torch.bool, device=hidden.device)
        toks, valids = [], []
        for k in range(self.config.max_subtask_tokens):
            live = ~finished
            tok = torch.where(live, logits.argmax(-1), torch.full_like(last, pad))
            pos = sequential_position_ids(inputs.next_pos + k, 1)
            logits, kv = self.decode_step(kv, kv_valid, tok[:, None], pos)
            kv_valid = torch.cat([kv_valid, live[:, None]], dim=1)
            toks.append(tok)
            valids.append(live)
            finished = finished | (tok == end)
            if bool(finished.all()):
                break
        return kv, kv_valid, torch.stack(toks, 1), torch.stack(valids, 1)

    # ------------------------------------------------------------------ construction / files
    @classmethod
    def from_config(
        cls,
        config: EO1Config,
        layout: ActionLayout = H1_LAYOUT,
        stats: dict[str, Any] | None = None,
        dtype: torch.dtype | None = None,
    ) -> EO1Policy:
        """A new policy: fresh backbone, or Qwen2.5-VL weights from ``config.backbone_path``.

        With ``backbone_path`` (preset ``eo1_3b``) the directory must hold a Hugging Face
        Qwen2.5-VL checkpoint (``config.json`` + safetensors); it is read with
        ``local_files_only=True``. ``vocab_prune`` then gathers the kept embedding rows.
        """
        if config.backbone_path is None:
            policy = cls(config, layout, stats)
        else:
            config, vlm, processor = load_backbone(config, layout, stats, dtype)
            policy = cls(config, layout, vlm=vlm, processor=processor)
        return policy.to(dtype) if dtype is not None else policy

    def example_inputs(self, views: int = 1, words: int = 6, seed: int = 0) -> EO1Inputs:
        """Processed inputs of a random observation: what export traces and parity checks use.

        Args:
            views: Camera views (1 .. ``config.max_views``).
            words: Instruction length in words.
            seed: Seed of the images, state and instruction.

        Returns:
            The processor's output for a batch of one.
        """
        cfg = self.config
        rng = np.random.default_rng(seed)
        instruction = " ".join(rng.choice(list(_EXAMPLE_WORDS), size=words))
        lo, hi = self.layout.lower, self.layout.upper
        h, w = cfg.view_hw
        batch = {
            "images": rng.integers(0, 256, (1, views, h, w, 3), np.uint8),
            "state": (lo + (hi - lo) * rng.random(self.layout.dim))[None],
            "instruction": [instruction],
        }
        return self.processor(batch)

    def set_norm_stats(self, stats: dict[str, Any]) -> None:
        """Install dataset statistics (``dataset.stats``); they are saved with the checkpoint."""
        from vla_lego.models.normalization import Normalizer

        cfg = self.config
        self.processor.normalizer = Normalizer(stats, self.layout.dim, cfg.norm_mode, cfg.norm_eps)

    def save_pretrained(self, directory: str | Path) -> None:
        """Write an atomic checkpoint directory (replacing ``directory`` if it exists).

        Files: ``model.json`` (``{"model_type": "eo1"}``: which registry class loads it),
        ``model.safetensors``, ``eo1_config.json``, ``backbone_config.json``,
        ``robot_layout.json``, ``norm_stats.json``, ``vocab_map.json``, ``tokenizer/``,
        ``manifest.json`` (sizes + sha256). Never pickle.
        """
        import safetensors.torch

        with atomic_directory(directory) as tmp:
            (tmp / MODEL_FILE).write_text(json.dumps(model_record(self.model_type)))
            safetensors.torch.save_model(self, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
            (tmp / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2))
            (tmp / BACKBONE_FILE).write_text(self.vlm.config.to_json_string())
            (tmp / LAYOUT_FILE).write_text(json.dumps(self.layout.to_dict(), indent=2))
            self.processor.save(tmp)

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        layout: ActionLayout = H1_LAYOUT,
        device: str | torch.device = "cpu",
    ) -> EO1Policy:
        """Load a directory written by :meth:`save_pretrained` (eval mode).

        Raises:
            LayoutMismatchError: the checkpoint was made for another robot layout / action dim.
            CheckpointError: missing, incomplete or corrupt files (naming the file).
        """
        d = Path(directory)
        verify_directory(d, REQUIRED_FILES)
        # model.json is absent from checkpoints written before the registry: those are eo1.
        record = read_json(d / MODEL_FILE) if (d / MODEL_FILE).is_file() else None
        try:
            kind = read_model_type(record)
        except ValueError as e:
            raise CheckpointError(f"checkpoint {d}: {e}") from e
        if kind != cls.model_type:
            raise CheckpointError(
                f"checkpoint {d} holds a {kind!r} model, not {cls.model_type!r}; load it with "
                "vla_lego.models.registry.load_model"
            )
        layout.check_compatible(read_json(d / LAYOUT_FILE), what=f"checkpoint {d}")
        try:
            config = EO1Config.from_dict(read_json(d / CONFIG_FILE))
            qcfg: Any = Qwen2_5_VLConfig.from_dict(read_json(d / BACKBONE_FILE))
            processor = EO1Processor.load(d, config, layout, qcfg.text_config.vocab_size)
        except (TypeError, ValueError, KeyError, OSError) as e:
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(f"checkpoint {d}: {type(e).__name__}: {e}") from e
        vlm = Qwen2_5_VLForConditionalGeneration._from_config(
            qcfg, attn_implementation=config.attn_implementation
        )
        policy = cls(config, layout, vlm=vlm, processor=processor)
        _load_weights(policy, d / WEIGHTS_FILE)
        return policy.to(device).eval()


def _load_weights(policy: nn.Module, path: Path) -> None:
    import safetensors.torch

    try:
        missing, unexpected = safetensors.torch.load_model(policy, str(path), strict=False)
    except Exception as e:  # safetensors raises its own error types for truncated headers
        raise CheckpointError(f"cannot read weights {path}: {e}") from e
    if missing or unexpected:
        raise CheckpointError(
            f"weights {path} do not match the model: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )


__all__ = [
    "REQUIRED_FILES",
    "EO1Policy",
    "additive_mask",
    "backbone_config",
    "kv_flat",
    "kv_pairs",
    "load_backbone",
    "prefix_mask",
    "prune_embeddings",
    "sequence_attention_mask",
    "set_special_token_ids",
    "sync_config_with_backbone",
]
