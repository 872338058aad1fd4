"""EO-1 processor: tokenizer, vocabulary map, images, prompt layout, normalisation -> tensors.

Everything here runs on the host (numpy / PIL / tokenizers) and is shared by training, export and
every inference backend. The network never sees robot units, raw strings or raw images. The
tokenizer and vocabulary map live in :mod:`~vla_lego.models.eo1.tokenizer`, image preprocessing and
ViT metadata in :mod:`~vla_lego.models.eo1.vision` (their names are re-exported here); this module
holds the prompt layout, M-RoPE positions, :class:`EO1Inputs` and :class:`EO1Processor`.

Sequence layout of one sample (``P`` = prefix length, padded on the right within the batch)::

    [<|vision_start|> <|image_pad|> x n <|vision_end|>] x V   instruction tokens   <|state|>
    <|subtask_start|>  |  subtask tokens  <|subtask_end|>  |  H action tokens
    \\_________________________ prefix (cached) ________/    \\_ text (AR) _/       \\_ action block

With ``compat="eo1"`` the prefix is EO-1's chat template instead (EO-Robotics/EO1
``processing_eo1.py``: system/user/assistant, state before the task text, ``<|vla|>`` after it)::

    <|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n
    [<|vision_start|> <|image_pad|> x n <|vision_end|>] x V
    <|state_start|><|state_pad|><|state_end|>  task <|vla|><|im_end|>\n
    <|im_start|>assistant\n<|action_start|>  |  H action tokens

(the action tokens stand where EO-1 has ``<|action_pad|>``; its closing ``<|action_end|>`` comes
after the block and, under EO-1's causal mask, changes no action, so it is not fed).

Position ids follow Qwen2.5-VL's M-RoPE: text tokens advance (t, h, w) together; the tokens of a
view take (start, start + row, start + col). They are computed here by plain functions so exported
graphs take them as inputs (see :func:`prefix_position_ids`, :func:`vision_metadata`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vla_lego.models.eo1.configuration_eo1 import EO1Config
from vla_lego.models.eo1.tokenizer import (
    ACTION_TOKEN,
    EO1_ACTION_START,
    EO1_SPECIAL_TOKENS,
    EO1_STATE_END,
    EO1_STATE_PAD,
    EO1_STATE_START,
    EO1_VLA,
    PROJECT_SPECIAL_TOKENS,
    QWEN_BPE_SIZE,
    QWEN_VL_ADDED_TOKENS,
    QWEN_VL_SPECIAL_TOKENS,
    SPECIAL_TOKENS_OF,
    STATE_TOKEN,
    SUBTASK_END,
    SUBTASK_START,
    VocabMap,
    build_qwen_tokenizer,
    check_tokenizer,
)
from vla_lego.models.eo1.vision import (
    IMAGE_MEAN,
    IMAGE_STD,
    VisionMeta,
    check_images,
    patchify,
    preprocess_images,
    vision_metadata,
)
from vla_lego.models.normalization import Normalizer
from vla_lego.robot import ActionLayout

# EO-1's chat template around the user turn (EO-Robotics/EO1 scripts/chat_template.json with no
# system message, add_generation_prompt=True and noise_prompt "<|action_start|>..."): the fixed
# text before the first image and after the task text.
EO1_HEADER = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
EO1_FOOTER = EO1_VLA + "<|im_end|>\n<|im_start|>assistant\n" + EO1_ACTION_START


# --------------------------------------------------------------------------- positions
def prefix_position_ids(
    prefix_valid: torch.Tensor, num_views: int, llm_grid: int | tuple[int, int], lead: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """M-RoPE positions of the prefix (plain host function).

    Args:
        prefix_valid: ``bool [B, P]``; ``lead`` text tokens, then ``num_views * (rows * cols + 2)``
            image-block tokens (both identical for every sample), then text padded on the right.
        num_views: Views per sample.
        llm_grid: Decoder tokens per image side, or ``(rows, cols)``.
        lead: Text tokens before the first image (EO-1's system/user header; 0 in project mode).

    Returns:
        ``position_ids`` ``long [3, B, P]`` (pads get 0) and ``next_pos`` ``long [B]``: the 1-D
        position the next text/action token takes.
    """
    b, _p = prefix_valid.shape
    cols: list[torch.Tensor] = [torch.arange(lead).expand(3, lead)]
    cur = lead
    rows, cols_ = (llm_grid, llm_grid) if isinstance(llm_grid, int) else llm_grid
    hh, ww = torch.meshgrid(torch.arange(rows), torch.arange(cols_), indexing="ij")
    for _ in range(num_views):
        cols.append(torch.full((3, 1), cur))  # <|vision_start|>
        start = cur + 1
        img = torch.stack([torch.full_like(hh, start), hh + start, ww + start]).reshape(3, -1)
        cols.append(img)
        cur = start + max(rows, cols_)  # Qwen's get_rope_index: max position of the view + 1
        cols.append(torch.full((3, 1), cur))  # <|vision_end|>
        cur += 1
    image_part = torch.cat(cols, dim=1)
    n_img = image_part.shape[1]
    text_valid = prefix_valid[:, n_img:].long()
    text_pos = cur + torch.cumsum(text_valid, dim=1) - 1
    text_pos = torch.where(text_valid.bool(), text_pos, torch.zeros_like(text_pos))
    pos = torch.cat(
        [image_part.unsqueeze(1).expand(3, b, n_img), text_pos.unsqueeze(0).expand(3, b, -1)], 2
    )
    next_pos = cur + text_valid.sum(dim=1)
    return pos.long(), next_pos.long()


def sequential_position_ids(start: torch.Tensor, length: int) -> torch.Tensor:
    """Text/action positions ``long [3, B, length]`` continuing from ``start`` ``[B]``."""
    pos = start.view(-1, 1) + torch.arange(length, device=start.device).view(1, -1)
    return pos.unsqueeze(0).expand(3, -1, -1)


# --------------------------------------------------------------------------- model inputs
@dataclass
class EO1Inputs:
    """Tensors the network consumes (all host-computed by :class:`EO1Processor`).

    Attributes:
        input_ids: ``long [B, P]`` prefix token rows (embedding-table ids, see :class:`VocabMap`).
        prefix_valid: ``bool [B, P]`` False on right padding.
        state_mask: ``bool [B, P]`` True at the ``<|state|>`` token.
        position_ids: ``long [3, B, P]`` M-RoPE positions of the prefix.
        next_pos: ``long [B]`` position of the first token after the prefix.
        pixel_values: ``float32 [B*V, N, 3*T*P*P]`` ViT patches.
        num_views: ``V``.
        state: ``float32 [B, max_action_dim]`` normalised, zero-padded state.
        text_ids: ``long [B, S]`` subtask tokens + end marker (training targets) or ``None``.
        text_valid: ``bool [B, S]`` or ``None``.
        actions: ``float32 [B, H, max_action_dim]`` normalised, padded actions or ``None``.
        action_is_pad: ``bool [B, H]`` or ``None``.
        action_dim_mask: ``bool [max_action_dim]`` (or ``[B, max_action_dim]``) True for real,
            trained action dims.
    """

    input_ids: torch.Tensor
    prefix_valid: torch.Tensor
    state_mask: torch.Tensor
    position_ids: torch.Tensor
    next_pos: torch.Tensor
    pixel_values: torch.Tensor
    num_views: int
    state: torch.Tensor
    action_dim_mask: torch.Tensor
    text_ids: torch.Tensor | None = None
    text_valid: torch.Tensor | None = None
    actions: torch.Tensor | None = None
    action_is_pad: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return int(self.input_ids.shape[0])

    def to(self, device: torch.device | str) -> EO1Inputs:
        kw = {
            k: (v.to(device) if isinstance(v, torch.Tensor) else v)
            for k, v in self.__dict__.items()
        }
        return EO1Inputs(**kw)  # type: ignore[arg-type]


def _as_list_of_str(x: Any, b: int, key: str) -> list[str]:
    if isinstance(x, str):
        x = [x]
    if not isinstance(x, (list, tuple)) or not all(isinstance(s, str) for s in x):
        raise ValueError(f"{key}: expected list[str] of length {b}, got {type(x).__name__}")
    if len(x) != b:
        raise ValueError(f"{key}: expected {b} strings (batch size), got {len(x)}")
    return list(x)


def _as_float_array(x: Any, key: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


class EO1Processor:
    """Turns a raw batch (``vla_lego.data`` format) into :class:`EO1Inputs`, and back for outputs.

    Args:
        config: Model config.
        layout: Robot action/state layout (``vla_lego.robot.H1_LAYOUT``).
        stats: Dataset statistics ``{"state": {...}, "actions": {...}}`` or ``None`` (identity).
        tokenizer: A tokenizer from :func:`build_qwen_tokenizer` (or loaded from a checkpoint).
        vocab_size: Embedding rows of the backbone in full-vocabulary mode (ignored when pruned).
    """

    def __init__(
        self,
        config: EO1Config,
        layout: ActionLayout,
        stats: dict[str, Any] | Normalizer | None = None,
        tokenizer: Any = None,
        vocab_size: int | None = None,
    ) -> None:
        if layout.max_action_dim != config.max_action_dim:
            raise ValueError(
                f"layout max_action_dim {layout.max_action_dim} != config max_action_dim "
                f"{config.max_action_dim}"
            )
        self.config = config
        self.layout = layout
        self.specials = SPECIAL_TOKENS_OF[config.compat]
        self.tokenizer = tokenizer if tokenizer is not None else build_qwen_tokenizer(self.specials)
        check_tokenizer(self.tokenizer, self.specials)
        num_added = len(QWEN_VL_SPECIAL_TOKENS + QWEN_VL_ADDED_TOKENS + self.specials)
        default_size = -(-(QWEN_BPE_SIZE + num_added) // 64) * 64
        self.vocab = VocabMap(num_added, config.vocab_prune, vocab_size or default_size)
        if isinstance(stats, Normalizer):
            self.normalizer = stats
        else:
            self.normalizer = Normalizer(stats, layout.dim, config.norm_mode, config.norm_eps)
        self.vision = vision_metadata(config)
        self.token_id = {
            t: self.vocab.compact_id(self.tokenizer.convert_tokens_to_ids(t))
            for t in QWEN_VL_SPECIAL_TOKENS + self.specials
        }
        self.pad_id = self.token_id["<|endoftext|>"]
        if config.has_subtask_text:
            self.state_id = self.token_id[STATE_TOKEN]
            self.subtask_end_id: int | None = self.token_id[SUBTASK_END]
            self.lead_ids: list[int] = []
            self.tail_ids = [self.state_id, self.token_id[SUBTASK_START]]
        else:
            self.state_id = self.token_id[EO1_STATE_PAD]
            self.subtask_end_id = None
            self.lead_ids = self._encode_template(EO1_HEADER)
            self.tail_ids = self._encode_template(EO1_FOOTER)
        # End of the generated text: the subtask's end marker, or Qwen's <|im_end|> (EO-1).
        self.eos_id = self.token_id[SUBTASK_END if config.has_subtask_text else "<|im_end|>"]
        self.state_ids = (
            [self.state_id]
            if config.has_subtask_text
            else self._encode_template(EO1_STATE_START + EO1_STATE_PAD + EO1_STATE_END)
        )

    def _encode_template(self, text: str) -> list[int]:
        """Fixed template text with special tokens -> embedding-table ids."""
        return self.vocab.to_compact(self.tokenizer.encode(text, add_special_tokens=False))

    # ------------------------------------------------------------------ text
    def encode_text(self, text: str) -> list[int]:
        """Text -> embedding-table ids (no special tokens added)."""
        full = self.tokenizer.encode(text, add_special_tokens=False)
        specials = [i for i in full if i >= QWEN_BPE_SIZE]
        if specials:
            # A typed "<|state|>" would silently become a second state slot: refuse instead.
            names = self.tokenizer.convert_ids_to_tokens(specials)
            raise ValueError(f"text must not contain special tokens, got {names} in {text[:80]!r}")
        return self.vocab.to_compact(full)

    def decode_text(self, ids: Sequence[int]) -> str:
        """Embedding-table ids -> text; stops at ``<|subtask_end|>``, drops special tokens."""
        ids = list(ids)
        if self.subtask_end_id is not None and self.subtask_end_id in ids:
            ids = ids[: ids.index(self.subtask_end_id)]
        return str(self.tokenizer.decode(self.vocab.to_full(ids), skip_special_tokens=True))

    def image_block(self, num_views: int) -> list[int]:
        n = self.config.tokens_per_view
        t = self.token_id
        view = [t["<|vision_start|>"]] + [t["<|image_pad|>"]] * n + [t["<|vision_end|>"]]
        return view * num_views

    # ------------------------------------------------------------------ batch -> tensors
    def __call__(self, batch: dict[str, Any], with_targets: bool = False) -> EO1Inputs:
        """Validate and convert a batch; ``with_targets`` also converts actions and subtasks.

        Raises:
            ValueError: wrong image shape/dtype/size, missing or non-finite state, instruction or
                subtask longer than the configured context, action chunk of the wrong shape.
        """
        cfg = self.config
        if "images" not in batch or batch["images"] is None:
            raise ValueError("batch lacks 'images' (uint8 [B, V, H, W, 3])")
        images = check_images(
            batch["images"], cfg.max_views, cfg.patch_size * cfg.spatial_merge_size
        )
        b, v = images.shape[:2]
        state = self._state(batch, b)
        instructions = _as_list_of_str(batch.get("instruction"), b, "instruction")
        prefixes = [self._prefix_ids(text, v) for text in instructions]
        p = max(len(x) for x in prefixes)
        input_ids = torch.full((b, p), self.pad_id, dtype=torch.long)
        valid = torch.zeros((b, p), dtype=torch.bool)
        for i, ids in enumerate(prefixes):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            valid[i, : len(ids)] = True
        pos, next_pos = prefix_position_ids(valid, v, cfg.llm_grid_hw, len(self.lead_ids))
        out = EO1Inputs(
            input_ids=input_ids,
            prefix_valid=valid,
            state_mask=input_ids == self.state_id,
            position_ids=pos,
            next_pos=next_pos,
            pixel_values=torch.from_numpy(preprocess_images(images, cfg)),
            num_views=v,
            state=torch.from_numpy(self.layout.pad(self.normalizer.normalize(state, "state"))),
            action_dim_mask=torch.from_numpy(self.layout.mask()),
        )
        if with_targets:
            self._add_targets(out, batch, b)
        return out

    def _state(self, batch: dict[str, Any], b: int) -> np.ndarray:
        if batch.get("state") is None:
            raise ValueError(f"batch lacks 'state' (float [B, {self.layout.dim}] robot units)")
        state = _as_float_array(batch["state"], "state")
        if state.shape != (b, self.layout.dim):
            raise ValueError(f"state: expected shape ({b}, {self.layout.dim}), got {state.shape}")
        if not np.all(np.isfinite(state)):
            bad = np.argwhere(~np.isfinite(state)).tolist()
            raise ValueError(
                f"state: expected finite values, got NaN/inf at [sample, dim] {bad[:5]}"
            )
        return state

    def _prefix_ids(self, instruction: str, num_views: int) -> list[int]:
        text = self.encode_text(instruction)
        if len(text) > self.config.max_instruction_tokens:
            raise ValueError(
                f"instruction too long: {len(text)} tokens, expected at most "
                f"{self.config.max_instruction_tokens} (max_instruction_tokens): "
                f"{instruction[:80]!r}"
            )
        if self.config.has_subtask_text:
            return self.image_block(num_views) + text + self.tail_ids
        return self.lead_ids + self.image_block(num_views) + self.state_ids + text + self.tail_ids

    def _add_targets(self, out: EO1Inputs, batch: dict[str, Any], b: int) -> None:
        cfg, dim = self.config, self.layout.dim
        if batch.get("actions") is None:
            raise ValueError(f"batch lacks 'actions' (float [B, {cfg.action_horizon}, {dim}])")
        actions = _as_float_array(batch["actions"], "actions")
        if actions.shape != (b, cfg.action_horizon, dim):
            raise ValueError(
                f"actions: expected shape ({b}, {cfg.action_horizon}, {dim}), got {actions.shape}"
            )
        if not np.all(np.isfinite(actions)):
            raise ValueError("actions: expected finite values, got NaN/inf")
        out.actions = torch.from_numpy(
            self.layout.pad(self.normalizer.normalize(actions, "actions"))
        )
        pad = batch.get("action_is_pad")
        if pad is None:
            out.action_is_pad = torch.zeros((b, cfg.action_horizon), dtype=torch.bool)
        else:
            pad_t = torch.as_tensor(np.asarray(pad.cpu() if isinstance(pad, torch.Tensor) else pad))
            if tuple(pad_t.shape) != (b, cfg.action_horizon):
                raise ValueError(
                    f"action_is_pad: expected shape ({b}, {cfg.action_horizon}), "
                    f"got {tuple(pad_t.shape)}"
                )
            out.action_is_pad = pad_t.bool()
        valid = batch.get("action_valid")
        if valid is not None:  # joints a dataset lacks: filled in the data, not trained on
            v = np.asarray(valid.cpu() if isinstance(valid, torch.Tensor) else valid, dtype=bool)
            if v.shape != (b, dim):
                raise ValueError(f"action_valid: expected shape ({b}, {dim}), got {v.shape}")
            mask = np.zeros((b, cfg.max_action_dim), dtype=bool)
            mask[:, :dim] = v
            out.action_dim_mask = torch.from_numpy(mask & self.layout.mask()[None])
        subtasks = _as_list_of_str(batch.get("subtask", [""] * b), b, "subtask")
        out.text_ids, out.text_valid = self.text_targets(subtasks)
        has = batch.get("has_subtask")
        if has is not None:  # data without subtask text trains the action loss only
            h = torch.as_tensor(np.asarray(has.cpu() if isinstance(has, torch.Tensor) else has))
            if tuple(h.shape) != (b,):
                raise ValueError(f"has_subtask: expected shape ({b},), got {tuple(h.shape)}")
            out.text_valid &= h.bool()[:, None]

    def text_targets(self, subtasks: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Subtask strings -> ``(ids long [B, S], valid bool [B, S])`` ending in the end marker.

        ``compat="eo1"`` has no subtask text: ``S = 0`` (EO-1 trains robot data on actions only).
        """
        if self.subtask_end_id is None:
            b = len(subtasks)
            return torch.zeros((b, 0), dtype=torch.long), torch.zeros((b, 0), dtype=torch.bool)
        seqs = []
        for text in subtasks:
            ids = [*self.encode_text(text), self.subtask_end_id]
            if len(ids) > self.config.max_subtask_tokens:
                raise ValueError(
                    f"subtask too long: {len(ids)} tokens (with end marker), expected at most "
                    f"{self.config.max_subtask_tokens} (max_subtask_tokens): {text[:80]!r}"
                )
            seqs.append(ids)
        s = max(len(x) for x in seqs)
        ids_t = torch.full((len(seqs), s), self.pad_id, dtype=torch.long)
        valid = torch.zeros((len(seqs), s), dtype=torch.bool)
        for i, ids in enumerate(seqs):
            ids_t[i, : len(ids)] = torch.tensor(ids)
            valid[i, : len(ids)] = True
        return ids_t, valid

    # ------------------------------------------------------------------ outputs
    def postprocess_actions(self, actions: torch.Tensor | np.ndarray) -> np.ndarray:
        """Model actions ``[B, H, max_action_dim]`` -> robot units ``float32 [B, H, dim]``."""
        if isinstance(actions, torch.Tensor):
            actions = actions.detach().float().cpu().numpy()
        return self.normalizer.unnormalize(self.layout.unpad(actions), "actions")

    # ------------------------------------------------------------------ files
    def save(self, directory: str | Path) -> None:
        """Write ``tokenizer/``, ``norm_stats.json`` and ``vocab_map.json`` into ``directory``."""
        import json

        d = Path(directory)
        self.tokenizer.save_pretrained(str(d / "tokenizer"))
        (d / "norm_stats.json").write_text(self.normalizer.to_json())
        (d / "vocab_map.json").write_text(json.dumps(self.vocab.to_dict()))

    @classmethod
    def load(
        cls, directory: str | Path, config: EO1Config, layout: ActionLayout, vocab_size: int | None
    ) -> EO1Processor:
        """Inverse of :meth:`save`; checks that the stored vocabulary map matches the config."""
        import json

        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast

        d = Path(directory)
        # The Rust loader reads tokenizer.json once (transformers' from_pretrained parses the
        # 7 MB file several times: 2-3x slower); the file holds the whole Qwen2 pipeline.
        raw = Tokenizer.from_file(str(d / "tokenizer" / "tokenizer.json"))
        tok = PreTrainedTokenizerFast(
            tokenizer_object=raw, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
        )
        norm = Normalizer.from_dict(json.loads((d / "norm_stats.json").read_text()))
        proc = cls(config, layout, norm, tok, vocab_size)
        stored = json.loads((d / "vocab_map.json").read_text())
        if stored != proc.vocab.to_dict():
            raise ValueError(
                f"vocab_map.json (prune={stored.get('prune')}, size={stored.get('size')}) does not "
                f"match the config (prune={proc.vocab.prune}, size={proc.vocab.size})"
            )
        return proc


__all__ = [
    "ACTION_TOKEN",
    "EO1_FOOTER",
    "EO1_HEADER",
    "EO1_SPECIAL_TOKENS",
    "IMAGE_MEAN",
    "IMAGE_STD",
    "PROJECT_SPECIAL_TOKENS",
    "QWEN_BPE_SIZE",
    "QWEN_VL_ADDED_TOKENS",
    "QWEN_VL_SPECIAL_TOKENS",
    "STATE_TOKEN",
    "SUBTASK_END",
    "SUBTASK_START",
    "EO1Inputs",
    "EO1Processor",
    "VisionMeta",
    "VocabMap",
    "build_qwen_tokenizer",
    "check_images",
    "check_tokenizer",
    "patchify",
    "prefix_position_ids",
    "preprocess_images",
    "sequential_position_ids",
    "vision_metadata",
]
