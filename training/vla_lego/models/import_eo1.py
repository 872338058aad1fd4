"""Import an EO-1 checkpoint (EO-Robotics/EO1 release or LeRobot eo1) as a project checkpoint.

``python -m vla_lego.models.import_eo1 SRC OUT`` (or :func:`import_eo1`) reads a folder written by
EO-1's ``EO1VisionFlowMatchingModel.save_pretrained``: ``config.json`` (``model_type: "eo1"``,
``text_config`` / ``vision_config`` of Qwen2.5-VL, ``action_chunk_size``, ``max_action_dim``,
``num_action_layers``, ``action_act``, ...) and ``model.safetensors`` or shards
``model-0000x-of-0000y.safetensors`` + ``model.safetensors.index.json``; or a LeRobot ``eo1``
policy folder (``config.json`` with ``type: "eo1"`` and ``vlm_config``, keys under ``model.``,
transformers 5's Qwen2.5-VL layout: :data:`LEROBOT_RULES`). It writes the folder
:meth:`vla_lego.models.eo1.EO1Policy.from_pretrained` loads.

Every source key goes through one explicit rule of its format's table (no name guessing);
:data:`RULES` for the release:

* ``vlm_backbone.visual.*`` -> ``vlm.model.visual.*`` and ``vlm_backbone.model.*`` ->
  ``vlm.model.language_model.*`` (EO-1 bundles its own copy of the pre-4.52 HF Qwen2.5-VL class,
  whose modules are ``visual`` / ``model`` / ``lm_head``);
* ``vlm_backbone.lm_head.weight``: tied to the token embedding when the config says
  ``tie_word_embeddings`` (then it may be absent, or must equal the embedding), else copied;
* ``state_proj``, ``action_in_proj``: same names; ``action_time_mlp_in/out`` ->
  ``action_time_mlp.0/2``;
* ``action_out_proj.{0,2,..}``: EO-1's output head is ``num_action_layers`` Linears with
  ``action_act`` between them. With the identity activation (``"linear"``) the chain is one affine
  map, folded exactly (in float64) into the project's single ``action_out_proj`` Linear:
  ``W = W_n ... W_1``, ``b = W_n(...(W_2 b_1 + b_2)...) + b_n``. Other activations are refused.

Everything that can be checked without reading tensor data is checked first (config, key names,
shapes and dtypes from the safetensors headers, index consistency, file sizes), and all problems
are reported together; only then are the weights streamed into the project's model and written
through ``save_pretrained`` into a temporary sibling of ``OUT`` that is renamed into place.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import struct
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from vla_lego import atomic
from vla_lego.models.checkpoint import CheckpointError, atomic_directory
from vla_lego.models.eo1.backbone import backbone_config, sync_config_with_backbone
from vla_lego.models.eo1.configuration_eo1 import EO1_COMPAT, EO1Config
from vla_lego.models.eo1.processing_eo1 import EO1_FOOTER, EO1_HEADER
from vla_lego.models.eo1.tokenizer import (
    EO1_ACTION_END,
    EO1_ACTION_PAD,
    EO1_ACTION_START,
    EO1_SPECIAL_TOKENS,
    EO1_STATE_END,
    EO1_STATE_PAD,
    EO1_STATE_START,
    EO1_VLA,
)
from vla_lego.robot import H1_LAYOUT, ActionLayout

CONFIG_FILE = "config.json"
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
SOURCE_MODEL_TYPE = "eo1"
IMPORT_RECORD = "eo1_import.json"
RELEASE_COPY_DIR = "eo1_release"  # the release's small config/tokenizer files, kept verbatim
# Activations of EO-1's output head (transformers' ACT2FN names) under which the Linear chain is
# one affine map and folds exactly.
IDENTITY_ACTIVATIONS = ("linear",)
# What the project's backbone builder (``backbone.backbone_config``) fixes; a release that differs
# cannot be represented and is refused.
FIXED_TEXT_FIELDS: dict[str, Any] = {
    "hidden_act": "silu",
    "rms_norm_eps": 1e-6,
    "use_sliding_window": False,
}
FIXED_VISION_FIELDS: dict[str, Any] = {"hidden_act": "silu", "in_channels": 3, "in_chans": 3}
# safetensors dtype codes of floating tensors the importer accepts.
FLOAT_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}
MAX_HEADER_BYTES = 100 * 1024 * 1024
COPY_SUFFIXES = (".json", ".jinja", ".txt")
COPY_MAX_BYTES = 64 * 1024 * 1024
EO1_FIRST_TOKEN_ID = 151665  # EO-1 adds its 8 tokens right after Qwen2.5-VL's (151643-151664)
TOKENIZER_FILE = "tokenizer.json"
# Where a release may keep its chat template (processor / tokenizer save formats of transformers).
TEMPLATE_FILES = ("chat_template.json", "chat_template.jinja", "tokenizer_config.json")
# config.json's token-id fields and the EO-1 token each must name.
CONFIG_TOKEN_FIELDS = {
    "action_token_id": "<|action_pad|>",
    "action_pass_id": "<|action_pass|>",
    "state_token_id": "<|state_pad|>",
}


class EO1ImportError(CheckpointError):
    """The source folder is not an importable EO-1 checkpoint (message lists every problem)."""


@dataclass(frozen=True)
class Rule:
    """One key-mapping rule: a source-key regex (full match) and what it becomes.

    Attributes:
        pattern: Regex over EO-1 key names, matched in full.
        target: ``re`` replacement template giving the project key (``\\1`` ...).
        source_label: The source keys as the printed table names them.
        target_label: The project keys as the printed table names them.
        kind: ``"copy"`` (same tensor), ``"tied"`` (LM head: tied or copied, see module doc) or
            ``"fold"`` (a layer of EO-1's output head, folded into one Linear).
    """

    pattern: str
    target: str
    source_label: str
    target_label: str
    kind: str = "copy"


_WB = "{weight,bias}"
# The heads have the same names in both formats (LeRobot's only prefix them with "model.").
HEAD_RULES: tuple[Rule, ...] = (
    Rule(r"state_proj\.(weight|bias)", r"state_proj.\1", f"state_proj.{_WB}", f"state_proj.{_WB}"),
    Rule(
        r"action_in_proj\.(weight|bias)",
        r"action_in_proj.\1",
        f"action_in_proj.{_WB}",
        f"action_in_proj.{_WB}",
    ),
    Rule(
        r"action_time_mlp_in\.(weight|bias)",
        r"action_time_mlp.0.\1",
        f"action_time_mlp_in.{_WB}",
        f"action_time_mlp.0.{_WB}",
    ),
    Rule(
        r"action_time_mlp_out\.(weight|bias)",
        r"action_time_mlp.2.\1",
        f"action_time_mlp_out.{_WB}",
        f"action_time_mlp.2.{_WB}",
    ),
    Rule(
        r"action_out_proj\.(\d+)\.(weight|bias)",
        r"action_out_proj.\2",
        f"action_out_proj.{{0,2,..}}.{_WB}",
        f"action_out_proj.{_WB}",
        "fold",
    ),
)


def _prefixed(rule: Rule, prefix: str) -> Rule:
    return Rule(
        re.escape(prefix) + rule.pattern,
        rule.target,
        prefix + rule.source_label,
        rule.target_label,
        rule.kind,
    )


# EO-Robotics/EO1 release: EO-1 bundles the pre-4.52 HF Qwen2.5-VL class (visual / model /
# lm_head directly under the backbone).
RULES: tuple[Rule, ...] = (
    Rule(
        r"vlm_backbone\.visual\.(.+)",
        r"vlm.model.visual.\1",
        "vlm_backbone.visual.*",
        "vlm.model.visual.*",
    ),
    Rule(
        r"vlm_backbone\.model\.(.+)",
        r"vlm.model.language_model.\1",
        "vlm_backbone.model.*",
        "vlm.model.language_model.*",
    ),
    Rule(
        r"vlm_backbone\.lm_head\.weight",
        "vlm.lm_head.weight",
        "vlm_backbone.lm_head.weight",
        "vlm.lm_head.weight",
        "tied",
    ),
    *HEAD_RULES,
)
# LeRobot's ``policies/eo1``: the policy holds the model as ``model``, and the backbone is
# transformers 5's Qwen2.5-VL (``model.visual`` / ``model.language_model`` / ``lm_head``).
LEROBOT_RULES: tuple[Rule, ...] = (
    Rule(
        r"model\.vlm_backbone\.model\.visual\.(.+)",
        r"vlm.model.visual.\1",
        "model.vlm_backbone.model.visual.*",
        "vlm.model.visual.*",
    ),
    Rule(
        r"model\.vlm_backbone\.model\.language_model\.(.+)",
        r"vlm.model.language_model.\1",
        "model.vlm_backbone.model.language_model.*",
        "vlm.model.language_model.*",
    ),
    Rule(
        r"model\.vlm_backbone\.lm_head\.weight",
        "vlm.lm_head.weight",
        "model.vlm_backbone.lm_head.weight",
        "vlm.lm_head.weight",
        "tied",
    ),
    *(_prefixed(r, "model.") for r in HEAD_RULES),
)


@dataclass(frozen=True)
class SourceFormat:
    """One checkpoint format the importer reads.

    Attributes:
        name: What the report calls it.
        rules: Its key-mapping table.
        head_prefix: Prefix of its head keys (names missing head tensors in errors).
    """

    name: str
    rules: tuple[Rule, ...]
    head_prefix: str = ""


RELEASE_FORMAT = SourceFormat("EO-1 release (EO-Robotics/EO1)", RULES)
LEROBOT_FORMAT = SourceFormat("LeRobot eo1 policy", LEROBOT_RULES, "model.")
# EO1VisionFlowMatchingConfig's defaults: what EO-1 itself uses for a key config.json lacks.
EO1_CONFIG_DEFAULTS: dict[str, Any] = {
    "action_chunk_size": 50,
    "max_action_dim": 32,
    "num_denoise_steps": 10,
    "action_act": "linear",
    "num_action_layers": 2,
}


@dataclass(frozen=True)
class TensorInfo:
    """Where a source tensor lives and what its header says."""

    key: str
    file: str
    dtype: str
    shape: tuple[int, ...]


@dataclass
class ImportReport:
    """What :func:`import_eo1` did.

    Attributes:
        source: The release folder.
        out: The written checkpoint folder.
        source_format: Which format it was read as (EO-1 release or LeRobot eo1 policy).
        config: The project config stored in ``out``.
        rows: ``(source pattern, target, number of source tensors)`` per mapping rule used.
        num_source_tensors: Tensors read from the release (each through exactly one rule).
        tied_lm_head: The LM head shares the token embedding (as in the release).
        head_layers: Linears of EO-1's output head folded into ``action_out_proj``.
        warnings: Behaviour of EO-1 the imported model does not reproduce yet.
        notes: What was checked beyond the weights (tokenizer, chat template).
    """

    source: Path
    out: Path
    source_format: str
    config: EO1Config
    rows: list[tuple[str, str, int]]
    num_source_tensors: int
    tied_lm_head: bool
    head_layers: int
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The mapping as an aligned text table (source pattern -> target, count)."""
        w1 = max(len("source"), *(len(r[0]) for r in self.rows))
        w2 = max(len("target"), *(len(r[1]) for r in self.rows))
        lines = [f"{'source':<{w1}}  ->  {'target':<{w2}}  {'count':>5}"]
        lines += [f"{s:<{w1}}  ->  {t:<{w2}}  {n:>5}" for s, t, n in self.rows]
        lines.append(f"{'total':<{w1}}      {'':<{w2}}  {self.num_source_tensors:>5}")
        return "\n".join(lines)

    def __str__(self) -> str:
        c = self.config
        parts = [
            f"imported {self.source_format} {self.source} -> {self.out}",
            self.table(),
            f"action_horizon={c.action_horizon} num_denoise_steps={c.num_denoise_steps} "
            f"max_action_dim={c.max_action_dim} hidden={c.text_hidden_size} "
            f"layers={c.text_num_layers} tied_lm_head={self.tied_lm_head} "
            f"head_layers_folded={self.head_layers} compat={c.compat} attention={c.attention}",
        ]
        parts += self.notes
        parts += [f"WARNING not yet reproduced: {w}" for w in self.warnings]
        return "\n".join(parts)


# --------------------------------------------------------------------------- reading the release
def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise EO1ImportError(f"{path}: {what} missing")
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise EO1ImportError(f"{path}: cannot read {what}: {e}") from e


def read_safetensors_header(path: Path) -> dict[str, TensorInfo]:
    """Tensor names, dtypes and shapes of one safetensors file, from its header only.

    Also checks that the file is as long as its header says (a truncated download fails here,
    naming the file and the tensors that lie beyond its end).

    Raises:
        EO1ImportError: unreadable or truncated header, a tensor outside the file or with a
            byte range that does not match its shape and dtype.
    """
    name = path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise EO1ImportError(f"{path}: truncated ({size} bytes, no safetensors header)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise EO1ImportError(
                    f"{path}: truncated or not safetensors (header of {n} bytes, file {size})"
                )
            header = json.loads(f.read(n))
    except OSError as e:
        raise EO1ImportError(f"{path}: cannot read: {e}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EO1ImportError(f"{path}: corrupt safetensors header: {e}") from e
    if not isinstance(header, dict):
        raise EO1ImportError(f"{path}: corrupt safetensors header (not an object)")
    data_start = 8 + n
    out: dict[str, TensorInfo] = {}
    beyond: list[str] = []
    bad: list[str] = []
    for key, meta in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape = str(meta["dtype"]), tuple(int(s) for s in meta["shape"])
            begin, end = (int(o) for o in meta["data_offsets"])
        except (KeyError, TypeError, ValueError):
            bad.append(f"  {key} ({name}): malformed header entry {meta!r}")
            continue
        if data_start + end > size:
            beyond.append(key)
        numel = 1
        for s in shape:
            numel *= s
        item = FLOAT_DTYPES.get(dtype)
        if item is not None and end - begin != numel * item:
            bad.append(f"  {key} ({name}): {end - begin} bytes for {dtype} {list(shape)}")
        out[key] = TensorInfo(key, name, dtype, shape)
    if beyond:
        listed = ", ".join(sorted(beyond)[:10]) + (" ..." if len(beyond) > 10 else "")
        raise EO1ImportError(
            f"{path}: truncated ({size} bytes): {len(beyond)} tensor(s) end beyond the file: "
            f"{listed}"
        )
    if bad:
        raise EO1ImportError(f"{path}: corrupt safetensors header:\n" + "\n".join(bad))
    return out


def list_release_tensors(src: Path) -> dict[str, TensorInfo]:
    """Every tensor of the release, from the index and the shard headers (no tensor data read).

    Raises:
        EO1ImportError: no weights file; an index entry naming a missing file or a key its shard
            does not hold; a shard tensor the index does not list; a key in two shards. All such
            problems are listed together.
    """
    index_path = src / INDEX_FILE
    if not index_path.is_file():
        if not (src / SINGLE_FILE).is_file():
            raise EO1ImportError(f"{src}: neither {SINGLE_FILE} nor {INDEX_FILE} found")
        return read_safetensors_header(src / SINGLE_FILE)
    index = _read_json(index_path, "safetensors index")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise EO1ImportError(f"{index_path}: no 'weight_map' object")
    files = sorted(set(map(str, weight_map.values())))
    problems: list[str] = []
    headers: dict[str, dict[str, TensorInfo]] = {}
    for fname in files:
        fpath = src / fname
        if Path(fname).name != fname or not fpath.is_file():
            keys = sorted(k for k, v in weight_map.items() if v == fname)
            problems.append(
                f"  {INDEX_FILE} maps {len(keys)} key(s) (e.g. {keys[0]}) to {fname}: file missing"
            )
            continue
        headers[fname] = read_safetensors_header(fpath)
    tensors: dict[str, TensorInfo] = {}
    for key, fname in weight_map.items():
        hdr = headers.get(str(fname))
        if hdr is None:
            continue
        if key not in hdr:
            problems.append(f"  {key} ({fname}): listed in {INDEX_FILE} but not in {fname}")
        else:
            tensors[key] = hdr[key]
    for fname, hdr in headers.items():
        for key in hdr:
            if key not in weight_map:
                problems.append(f"  {key} ({fname}): in {fname} but not listed in {INDEX_FILE}")
            elif weight_map[key] != fname:
                problems.append(
                    f"  {key} ({fname}): also in {fname}, {INDEX_FILE} says {weight_map[key]}"
                )
    if problems:
        raise EO1ImportError(f"{src}: weight files do not match the index:\n" + "\n".join(problems))
    return tensors


# --------------------------------------------------------------------------- config
def _text_rope(text: dict[str, Any]) -> tuple[float | None, list[int] | None]:
    # transformers < 5 writes rope_theta + rope_scaling.mrope_section, 5.x rope_parameters.
    params = text.get("rope_parameters") or {}
    scaling = text.get("rope_scaling") or {}
    theta = text.get("rope_theta", params.get("rope_theta"))
    section = params.get("mrope_section", scaling.get("mrope_section"))
    return (None if theta is None else float(theta)), (
        None if section is None else [int(s) for s in section]
    )


@dataclass(frozen=True)
class SourceConfig:
    """The fields of a source ``config.json`` the importer uses, in one shape for both formats."""

    format: SourceFormat
    text: dict[str, Any]
    vision: dict[str, Any]
    tied: bool
    head_layers: Any
    action_act: Any
    max_action_dim: Any
    max_state_dim: Any
    chunk_size: Any
    num_denoise_steps: Any


def read_source_config(src: Path, raw: dict[str, Any]) -> SourceConfig:
    """Recognise the format of ``src/config.json`` and pick out its fields.

    Raises:
        EO1ImportError: neither an EO-1 release (``model_type: "eo1"``) nor a LeRobot eo1 policy
            (``type: "eo1"`` with ``vlm_config``), e.g. a plain Qwen2.5-VL or a pi0 checkpoint.
    """
    path = src / CONFIG_FILE
    kind, lerobot_type = raw.get("model_type"), raw.get("type")
    if kind == SOURCE_MODEL_TYPE:
        text, vision = raw.get("text_config"), raw.get("vision_config")
        if not isinstance(text, dict) or not isinstance(vision, dict):
            raise EO1ImportError(f"{path}: text_config / vision_config objects missing")
        d = {**EO1_CONFIG_DEFAULTS, **raw}
        # PretrainedConfig's default is tied; the top-level flag is what HF applies on load.
        tied = bool(raw.get("tie_word_embeddings", text.get("tie_word_embeddings", True)))
        return SourceConfig(
            RELEASE_FORMAT,
            text,
            vision,
            tied,
            d["num_action_layers"],
            d["action_act"],
            d["max_action_dim"],
            d["max_action_dim"],  # EO-1's state_proj reads max_action_dim values
            d["action_chunk_size"],
            d["num_denoise_steps"],
        )
    if lerobot_type == SOURCE_MODEL_TYPE and kind is None:
        vlm = raw.get("vlm_config")
        if not isinstance(vlm, dict):
            raise EO1ImportError(
                f"{path}: LeRobot eo1 config without a vlm_config object: the backbone's shape "
                "is unknown"
            )
        text, vision = vlm.get("text_config"), vlm.get("vision_config")
        if not isinstance(text, dict) or not isinstance(vision, dict):
            raise EO1ImportError(f"{path}: vlm_config.text_config / vision_config missing")
        missing = [
            k
            for k in (
                "chunk_size",
                "max_action_dim",
                "max_state_dim",
                "num_denoise_steps",
                "num_action_layers",
                "action_act",
            )
            if k not in raw
        ]
        if missing:  # LeRobot writes every field; its defaults changed between versions
            raise EO1ImportError(f"{path}: LeRobot eo1 config lacks {missing}")
        tied = bool(vlm.get("tie_word_embeddings", text.get("tie_word_embeddings", True)))
        return SourceConfig(
            LEROBOT_FORMAT,
            text,
            vision,
            tied,
            raw["num_action_layers"],
            raw["action_act"],
            raw["max_action_dim"],
            raw["max_state_dim"],
            raw["chunk_size"],
            raw["num_denoise_steps"],
        )
    shown = kind if kind is not None else lerobot_type
    hint = (
        "; a plain Qwen2.5-VL checkpoint is a backbone: use model.backbone_path"
        if str(shown).startswith("qwen")
        else ""
    )
    raise EO1ImportError(
        f"{path}: model_type {shown!r} is not an EO-1 checkpoint (expected model_type "
        f"{SOURCE_MODEL_TYPE!r}, or LeRobot's type {SOURCE_MODEL_TYPE!r}){hint}"
    )


def release_config(
    src: Path, raw: dict[str, Any], base: EO1Config, layout: ActionLayout
) -> tuple[EO1Config, SourceConfig]:
    """Check a source ``config.json`` and derive the project config from it.

    Sizes, chunk length, Euler steps and ``max_action_dim`` come from the source; the rest
    (image size, token limits, training settings) from ``base``; the vocabulary is kept whole.

    Returns:
        ``(config, source fields)``.

    Raises:
        EO1ImportError: another model type, an output head that does not fold exactly, an action
            width other than the project's, or a backbone the project cannot represent (all
            problems of the file listed together).
    """
    path = src / CONFIG_FILE
    sc = read_source_config(src, raw)
    text, vision = sc.text, sc.vision
    problems: list[str] = []
    layers, act = sc.head_layers, sc.action_act
    if not isinstance(layers, int) or layers < 1:
        problems.append(f"num_action_layers={layers!r}: expected an integer >= 1")
    elif layers > 1 and act not in IDENTITY_ACTIVATIONS:
        problems.append(
            f"action_act={act!r} between the {layers} output-head Linears: only "
            f"{IDENTITY_ACTIVATIONS} fold exactly into the project's single Linear head"
        )
    dmax = sc.max_action_dim
    if dmax != base.max_action_dim or dmax != layout.max_action_dim:
        problems.append(
            f"max_action_dim={dmax!r}: the project pads actions/state to {layout.max_action_dim} "
            f"(vla_lego.robot layout, {layout.dim} real entries); a checkpoint with another "
            "action width cannot be imported"
        )
    if sc.max_state_dim != dmax:
        problems.append(
            f"max_state_dim={sc.max_state_dim!r} != max_action_dim={dmax!r}: the project pads "
            "state and actions to one width"
        )
    for name, want in FIXED_TEXT_FIELDS.items():
        if name in text and text[name] != want:
            problems.append(
                f"text_config.{name}={text[name]!r}: the project's backbone has {want!r}"
            )
    for name, want in FIXED_VISION_FIELDS.items():
        if name in vision and vision[name] != want:
            problems.append(
                f"vision_config.{name}={vision[name]!r}: the project's backbone has {want!r}"
            )
    for name, token in CONFIG_TOKEN_FIELDS.items():
        want = EO1_FIRST_TOKEN_ID + EO1_SPECIAL_TOKENS.index(token)
        if name in raw and raw[name] != want:
            problems.append(f"{name}={raw[name]!r}: EO-1's {token} is id {want}")
    theta, section = _text_rope(text)
    try:
        sizes = {
            "text_hidden_size": int(text["hidden_size"]),
            "text_num_layers": int(text["num_hidden_layers"]),
            "text_num_heads": int(text["num_attention_heads"]),
            "text_num_kv_heads": int(text["num_key_value_heads"]),
            "text_intermediate_size": int(text["intermediate_size"]),
            "vision_depth": int(vision["depth"]),
            "vision_hidden_size": int(vision["hidden_size"]),
            "vision_num_heads": int(vision["num_heads"]),
            "vision_intermediate_size": int(vision["intermediate_size"]),
            "vision_fullatt_blocks": tuple(int(b) for b in vision["fullatt_block_indexes"]),
            "vision_window_size": int(vision["window_size"]),
            "patch_size": int(vision["patch_size"]),
            "spatial_merge_size": int(vision["spatial_merge_size"]),
            "temporal_patch_size": int(vision["temporal_patch_size"]),
        }
        int(text["vocab_size"])
    except (KeyError, TypeError, ValueError) as e:
        raise EO1ImportError(f"{path}: missing or invalid backbone size field: {e}") from e
    if theta is None:
        problems.append("text_config: no rope_theta")
    out_hidden = vision.get("out_hidden_size", sizes["text_hidden_size"])
    if out_hidden != sizes["text_hidden_size"]:
        problems.append(f"vision_config.out_hidden_size={out_hidden} != text hidden_size")
    horizon, steps = sc.chunk_size, sc.num_denoise_steps
    if not isinstance(horizon, int) or not isinstance(steps, int):
        problems.append(f"chunk size {horizon!r} / num_denoise_steps {steps!r}: need integers")
    if problems:
        raise EO1ImportError(f"{path}: cannot import:\n" + "\n".join(f"  {p}" for p in problems))
    try:
        config = base.replace(
            **EO1_COMPAT,
            **sizes,
            rope_theta=theta,
            backbone_path=None,
            require_backbone=False,
            vocab_prune=None,
            action_horizon=horizon,
            num_denoise_steps=steps,
            max_action_dim=dmax,
        )
    except ValueError as e:
        raise EO1ImportError(f"{path}: the project cannot represent this backbone: {e}") from e
    if section is not None and section != config.mrope_section:
        raise EO1ImportError(
            f"{path}: mrope_section {section} differs from the project's {config.mrope_section} "
            f"for head dim {config.text_head_dim}"
        )
    return config, sc


# --------------------------------------------------------------------------- images
PREPROCESSOR_FILE = "preprocessor_config.json"


def release_pixel_budget(src: Path, raw: dict[str, Any]) -> tuple[int, int, str]:
    """``(min_pixels, max_pixels, where from)`` of the release's image preprocessing.

    Read from ``preprocessor_config.json`` (``min_pixels`` / ``max_pixels``, or transformers 5's
    ``size: {shortest_edge, longest_edge}``), else LeRobot's ``image_min_pixels`` /
    ``image_max_pixels`` in ``config.json``, else the Qwen2-VL image processor's defaults.
    """
    path = src / PREPROCESSOR_FILE
    if path.is_file():
        pre = _read_json(path, PREPROCESSOR_FILE)
        if isinstance(pre, dict):
            size: dict[str, Any] = pre["size"] if isinstance(pre.get("size"), dict) else {}
            lo = pre.get("min_pixels", size.get("shortest_edge"))
            hi = pre.get("max_pixels", size.get("longest_edge"))
            if isinstance(lo, int) and isinstance(hi, int):
                return lo, hi, PREPROCESSOR_FILE
    lo, hi = raw.get("image_min_pixels"), raw.get("image_max_pixels")
    if isinstance(lo, int) and isinstance(hi, int):
        return lo, hi, CONFIG_FILE
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    default: Any = Qwen2VLImageProcessorPil().size
    return (
        int(default.shortest_edge),
        int(default.longest_edge),
        "Qwen2-VL image processor defaults",
    )


def view_size_for_camera(
    camera_hw: tuple[int, int], min_pixels: int, max_pixels: int, factor: int = 28
) -> tuple[int, int]:
    """What Qwen's ``smart_resize`` (transformers' own, as EO-1's image processor calls it) makes
    of a ``(height, width)`` camera image: aspect kept, sides multiples of ``factor``, pixels in
    ``[min_pixels, max_pixels]``."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    h, w = smart_resize(
        int(camera_hw[0]), int(camera_hw[1]), factor, min_pixels=min_pixels, max_pixels=max_pixels
    )
    return int(h), int(w)


# --------------------------------------------------------------------------- tokenizer, template
def release_tokenizer(src: Path) -> tuple[Any, str]:
    """The release's tokenizer (``tokenizer.json``), checked to hold EO-1's 8 tokens at 151665-.

    A release without ``tokenizer.json`` gets the Qwen2.5 BPE built here plus EO-1's tokens (the
    ids of ``added_tokens.json``, when present, must then be EO-1's).

    Returns:
        ``(tokenizer, where it came from)``.

    Raises:
        EO1ImportError: the tokenizer or ``added_tokens.json`` lacks EO-1's tokens at their ids
            (checked before any weights are read).
    """
    from vla_lego.models.eo1.tokenizer import build_qwen_tokenizer, check_tokenizer

    problems = []
    added_path = src / "added_tokens.json"
    if added_path.is_file():
        added = _read_json(added_path, "added_tokens.json")
        want = {t: EO1_FIRST_TOKEN_ID + i for i, t in enumerate(EO1_SPECIAL_TOKENS)}
        wrong = {
            t: added.get(t)
            for t, i in want.items()
            if not isinstance(added, dict) or (added.get(t) != i)
        }
        if wrong:
            problems.append(
                f"{added_path}: EO-1's tokens must have ids {EO1_FIRST_TOKEN_ID}-"
                f"{EO1_FIRST_TOKEN_ID + len(want) - 1}; found {wrong}"
            )
    tok_path = src / TOKENIZER_FILE
    if tok_path.is_file():
        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast

        try:
            raw = Tokenizer.from_file(str(tok_path))
        except Exception as e:  # the Rust loader raises its own exception type
            raise EO1ImportError(f"{tok_path}: not a readable tokenizer: {e}") from e
        tok: Any = PreTrainedTokenizerFast(
            tokenizer_object=raw, eos_token="<|endoftext|>", pad_token="<|endoftext|>"
        )
        origin = f"the release's {TOKENIZER_FILE}"
    else:
        tok, origin = build_qwen_tokenizer(EO1_SPECIAL_TOKENS), "built (Qwen2.5 BPE + EO-1 tokens)"
    try:
        check_tokenizer(tok, EO1_SPECIAL_TOKENS)
    except ValueError as e:
        problems.append(f"{tok_path if tok_path.is_file() else 'tokenizer'}: {e}")
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise EO1ImportError(f"cannot import the tokenizer:\n{lines}")
    return tok, origin


def _release_template(src: Path) -> tuple[str, Path] | None:
    for name in TEMPLATE_FILES:
        path = src / name
        if not path.is_file():
            continue
        if path.suffix == ".jinja":
            return path.read_text(), path
        data = _read_json(path, name)
        template = data.get("chat_template") if isinstance(data, dict) else None
        if isinstance(template, str):
            return template, path
    return None


def expected_prompt(num_views: int, task: str) -> str:
    """EO-1's prompt as its processor renders it for ``select_action`` (image tokens and the
    action block not yet expanded): what this project's ``compat="eo1"`` processor builds."""
    image = "<|vision_start|><|image_pad|><|vision_end|>"
    state = EO1_STATE_START + EO1_STATE_PAD + EO1_STATE_END
    return (
        EO1_HEADER
        + image * num_views
        + state
        + task
        + EO1_FOOTER
        + EO1_ACTION_PAD
        + (EO1_ACTION_END)
    )


def check_chat_template(src: Path) -> str:
    """Render the release's chat template on a probe observation and compare it with the prompt
    layout this project implements (:func:`expected_prompt`).

    Returns:
        A line for the report (which file was checked, or that the release has none).

    Raises:
        EO1ImportError: the template renders another prompt (the first difference is shown).
    """
    found = _release_template(src)
    if found is None:
        return "no chat template in the release: EO-1's published layout assumed"
    template, path = found
    from jinja2 import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    task = "pick up the red brick"
    content = [{"type": "image", "image": None}] * 2 + [{"type": "state", "state": []}]
    messages = [{"role": "user", "content": [*content, {"type": "text", "text": task + EO1_VLA}]}]
    try:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        got = env.from_string(template).render(
            messages=messages,
            add_generation_prompt=True,
            noise_prompt=EO1_ACTION_START + EO1_ACTION_PAD + EO1_ACTION_END,
        )
    except TemplateError as e:
        raise EO1ImportError(f"{path}: the chat template does not render: {e}") from e
    want = expected_prompt(2, task)
    if got != want:
        i = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        raise EO1ImportError(
            f"{path}: the chat template renders another prompt than EO-1's layout this project "
            f"implements; first difference at character {i}: template {got[i:i + 60]!r}, "
            f"expected {want[i:i + 60]!r}"
        )
    return f"chat template of {path.name} renders EO-1's layout"


# --------------------------------------------------------------------------- planning
@dataclass
class _Plan:
    copies: dict[str, TensorInfo]  # target key -> source tensor
    head: list[tuple[TensorInfo, TensorInfo]]  # (weight, bias) per EO-1 head Linear, in order
    lm_head: TensorInfo | None  # source lm_head (tied: checked equal; untied: in copies)
    rows: list[tuple[str, str, int]]


def _expected_shapes(policy: torch.nn.Module, tied: bool) -> dict[str, tuple[int, ...]]:
    shapes = {k: tuple(v.shape) for k, v in policy.state_dict().items()}
    if tied:
        shapes.pop("vlm.lm_head.weight", None)  # the same tensor as the token embedding
    return shapes


def plan_mapping(
    tensors: dict[str, TensorInfo],
    expected: dict[str, tuple[int, ...]],
    tied: bool,
    head_layers: int,
    hidden: int,
    fmt: SourceFormat = RELEASE_FORMAT,
) -> _Plan:
    """Map every source tensor through ``fmt.rules`` and check names, shapes and dtypes.

    Raises:
        EO1ImportError: listing every unexpected, missing, mis-shaped or non-float tensor (key
            and file).
    """
    compiled = [(re.compile(r.pattern), r) for r in fmt.rules]
    problems: list[str] = []
    copies: dict[str, TensorInfo] = {}
    head: dict[int, dict[str, TensorInfo]] = {}
    lm_head: TensorInfo | None = None
    counts: dict[str, int] = {}
    for key in sorted(tensors):
        info = tensors[key]
        where = f"  {key} ({info.file})"
        if info.dtype not in FLOAT_DTYPES:
            problems.append(f"{where}: dtype {info.dtype}, expected a float type")
            continue
        hits = [(rx, r) for rx, r in compiled if rx.fullmatch(key)]
        if not hits:
            problems.append(f"{where}: unexpected (no mapping rule matches)")
            continue
        rx, rule = hits[0]
        target = rx.sub(rule.target, key)
        counts[rule.pattern] = counts.get(rule.pattern, 0) + 1
        if rule.kind == "fold":
            m = rx.fullmatch(key)
            assert m is not None
            head.setdefault(int(m.group(1)), {})[m.group(2)] = info
            continue
        if rule.kind == "tied":
            lm_head = info
            if tied:  # no tensor of its own: must be the embedding's twin
                emb = expected.get("vlm.model.language_model.embed_tokens.weight")
                if info.shape != emb:
                    problems.append(
                        f"{where}: shape {list(info.shape)}, the tied embedding has "
                        f"{list(emb or ())}"
                    )
                continue
        if target not in expected:
            problems.append(f"{where}: unexpected (maps to {target}, not in the project's model)")
            continue
        if target in copies:
            problems.append(f"{where}: maps to {target}, as {copies[target].key} does")
            continue
        if info.shape != expected[target]:
            problems.append(
                f"{where}: shape {list(info.shape)}, the project's {target} needs "
                f"{list(expected[target])}"
            )
        copies[target] = info
    # EO-1's head is a Sequential [Linear, act, Linear, act, ..., Linear]: Linears at even indices.
    dout = expected.get("action_out_proj.weight", (0,))[0]
    want_idx = [2 * i for i in range(head_layers)]
    for idx in sorted(set(head) - set(want_idx)):
        for info in head[idx].values():
            problems.append(
                f"  {info.key} ({info.file}): unexpected (num_action_layers={head_layers} gives "
                f"Linears at {fmt.head_prefix}action_out_proj.{want_idx})"
            )
    chain: list[tuple[TensorInfo, TensorInfo]] = []
    for i, idx in enumerate(want_idx):
        out_dim = dout if i == head_layers - 1 else hidden
        want = {"weight": (out_dim, hidden), "bias": (out_dim,)}
        parts = head.get(idx, {})
        for p, shape in want.items():
            part = parts.get(p)
            if part is None:
                problems.append(
                    f"  {fmt.head_prefix}action_out_proj.{idx}.{p}: missing (EO-1 output head)"
                )
            elif part.shape != shape:
                problems.append(
                    f"  {part.key} ({part.file}): shape {list(part.shape)}, expected {list(shape)}"
                )
        if "weight" in parts and "bias" in parts:
            chain.append((parts["weight"], parts["bias"]))
    covered = set(copies) | {"action_out_proj.weight", "action_out_proj.bias"}
    missing = sorted(set(expected) - covered)
    for target in missing:
        problems.append(f"  {target}: missing (no source tensor maps to it)")
    if problems:
        raise EO1ImportError(
            f"{len(problems)} problem(s) with the release's tensors:\n" + "\n".join(problems)
        )
    rows = []
    for rule in fmt.rules:
        n = counts.get(rule.pattern, 0)
        if not n:
            continue
        tgt = rule.target_label
        if rule.kind == "fold":
            tgt += f" (folded {head_layers} Linears)"
        elif rule.kind == "tied" and tied:
            tgt = "tied to embed_tokens (checked equal)"
        rows.append((rule.source_label, tgt, n))
    if tied and lm_head is None:
        rows.append(("(absent: tied)", "vlm.lm_head.weight = embed_tokens", 0))
    return _Plan(copies=copies, head=chain, lm_head=lm_head, rows=rows)


def fold_linear_chain(
    layers: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``(weight, bias)`` equal to applying the Linears in order with identity in between.

    Computed in float64 so the fold adds no error beyond the final float32 rounding.
    """
    w = layers[0][0].double()
    b = layers[0][1].double()
    for wk, bk in layers[1:]:
        w = wk.double() @ w
        b = wk.double() @ b + bk.double()
    return w.float(), b.float()


# --------------------------------------------------------------------------- loading / writing
def _read_tensor(handles: dict[str, Any], info: TensorInfo) -> torch.Tensor:
    """The one place tensor data is read (tests replace it to prove refusals read none)."""
    return handles[info.file].get_tensor(info.key)  # type: ignore[no-any-return]


def _warnings(base: EO1Config, camera: bool) -> list[str]:
    images = [
        "images: EO-1 resizes with Qwen's smart_resize (aspect kept, multiples of 28, "
        "min/max_pixels of the release's preprocessor_config.json); without --camera-size this "
        f"checkpoint uses {base.image_size}x{base.image_size} squares",
    ]
    return [
        *([] if camera else images),
        "normalisation statistics: the source's per-dataset state/action statistics (EO-1: the "
        "processor's robot_config; LeRobot: its policy_preprocessor files) are not imported "
        "(identity statistics stored; fine-tuning with init_from sets the dataset's)",
        "dtypes: stored in float32 (EO-1: bf16 backbone, float32 heads); run it so with "
        "EO1Policy.to_mixed_precision(torch.bfloat16)",
    ]


def _copy_release_files(src: Path, dst: Path) -> list[str]:
    """Keep the release's small config/tokenizer files verbatim (for the later eo1 mode)."""
    copied = []
    for p in sorted(src.iterdir()):
        small = p.is_file() and p.stat().st_size <= COPY_MAX_BYTES
        if small and p.suffix in COPY_SUFFIXES and p.name != INDEX_FILE:
            dst.mkdir(exist_ok=True)
            shutil.copyfile(p, dst / p.name)
            copied.append(p.name)
    return copied


def import_eo1(
    src: str | Path,
    out: str | Path,
    *,
    preset: str = "eo1_3b",
    overrides: dict[str, Any] | None = None,
    layout: ActionLayout = H1_LAYOUT,
    overwrite: bool = False,
    camera_size: tuple[int, int] | None = None,
) -> ImportReport:
    """Convert an EO-1 release folder into this project's checkpoint folder at ``out``.

    Args:
        src: The release folder (``config.json`` + safetensors weights).
        out: Checkpoint folder to write (must not exist or be empty unless ``overwrite``).
        preset: Project preset giving the settings the release does not carry (image size,
            token limits, training settings).
        overrides: Further :class:`EO1Config` fields set on the preset (not the sizes).
        layout: The project's robot layout (its ``max_action_dim`` must equal the release's).
        overwrite: Replace an existing non-empty ``out``.
        camera_size: ``(height, width)`` of the robot's camera images: views are then resized
            to what EO-1's ``smart_resize`` makes of it with the release's pixel budget (fixed per
            checkpoint: the ViT metadata and exported shapes depend on it). ``None``: the
            preset's ``image_size`` squares.

    Returns:
        What was mapped, and the EO-1 behaviour not reproduced yet.

    Raises:
        EO1ImportError: not an EO-1 release, or any missing, unexpected, mis-shaped, truncated
            or inconsistently indexed tensor (all listed, with key and file). Nothing is written
            at ``out`` then.
        FileExistsError: ``out`` exists, is not empty and ``overwrite`` is False.
    """
    from transformers import Qwen2_5_VLForConditionalGeneration

    from vla_lego.models.eo1.modeling_eo1 import EO1Policy
    from vla_lego.models.eo1.processing_eo1 import EO1Processor

    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise EO1ImportError(f"{src}: not a directory")
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    raw = _read_json(src / CONFIG_FILE, "EO-1 config.json")
    if not isinstance(raw, dict):
        raise EO1ImportError(f"{src / CONFIG_FILE}: not a JSON object")
    clash = {k: v for k, v in (overrides or {}).items() if k in EO1_COMPAT and v != EO1_COMPAT[k]}
    if clash:
        raise EO1ImportError(
            f"overrides {clash}: an imported EO-1 checkpoint runs in the eo1 compatibility mode "
            f"({EO1_COMPAT}); its weights were trained so"
        )
    base = EO1Config.from_preset(preset, **(overrides or {}))
    config, sc = release_config(src, raw, base, layout)
    tied, head_layers = sc.tied, int(sc.head_layers)
    tokenizer, tok_origin = release_tokenizer(src)
    notes = [f"tokenizer: {tok_origin}, EO-1's 8 tokens at 151665-151672", check_chat_template(src)]
    if camera_size is not None:
        if len(camera_size) != 2 or min(camera_size) < 1:
            raise EO1ImportError(f"camera_size {camera_size!r}: expected (height, width) >= 1")
        lo, hi, origin = release_pixel_budget(src, raw)
        factor = config.patch_size * config.spatial_merge_size
        try:
            vh, vw = view_size_for_camera(camera_size, lo, hi, factor)
            config = config.replace(image_height=vh, image_width=vw)
        except ValueError as e:
            raise EO1ImportError(f"camera_size {camera_size}: {e}") from e
        notes.append(
            f"images: smart_resize {camera_size[0]}x{camera_size[1]} -> {vh}x{vw} "
            f"(min_pixels={lo}, max_pixels={hi} from {origin})"
        )
    tensors = list_release_tensors(src)

    processor = EO1Processor(
        config, layout, None, tokenizer=tokenizer, vocab_size=int(sc.text["vocab_size"])
    )
    qcfg: Any = backbone_config(config, processor)
    if not tied:
        qcfg.tie_word_embeddings = False
        qcfg.text_config.tie_word_embeddings = False
    assert sync_config_with_backbone(config, qcfg) == config  # sizes round-trip
    with torch.device("meta"):  # shapes only: no memory, no init
        meta_vlm = Qwen2_5_VLForConditionalGeneration._from_config(
            qcfg, attn_implementation=config.attn_implementation
        )
        meta = EO1Policy(config, layout, vlm=meta_vlm, processor=processor)
    expected = _expected_shapes(meta, tied)
    plan = plan_mapping(tensors, expected, tied, head_layers, config.text_hidden_size, sc.format)
    del meta, meta_vlm

    from safetensors import safe_open

    vlm = Qwen2_5_VLForConditionalGeneration._from_config(
        qcfg, attn_implementation=config.attn_implementation
    )
    policy = EO1Policy(config, layout, vlm=vlm, processor=processor)
    state = policy.state_dict()
    with ExitStack() as stack, torch.no_grad():
        handles = {
            f: stack.enter_context(safe_open(str(src / f), framework="pt"))
            for f in sorted({i.file for i in tensors.values()})
        }
        for target, info in plan.copies.items():
            state[target].copy_(_read_tensor(handles, info))
        w, b = fold_linear_chain(
            [(_read_tensor(handles, wi), _read_tensor(handles, bi)) for wi, bi in plan.head]
        )
        state["action_out_proj.weight"].copy_(w)
        state["action_out_proj.bias"].copy_(b)
        if tied and plan.lm_head is not None:
            emb = state["vlm.model.language_model.embed_tokens.weight"]
            lm = _read_tensor(handles, plan.lm_head).to(emb.dtype)
            if not torch.equal(lm, emb):
                raise EO1ImportError(
                    f"{plan.lm_head.key} ({plan.lm_head.file}) differs from the token embedding, "
                    f"but {CONFIG_FILE} says tie_word_embeddings=true"
                )
    if tied and policy.vlm.lm_head.weight is not policy.language_model.embed_tokens.weight:
        raise AssertionError("project model's lm_head is not tied")  # backbone_config ties it

    report = ImportReport(
        source=src,
        out=out,
        source_format=sc.format.name,
        config=config,
        rows=plan.rows,
        num_source_tensors=len(tensors),
        tied_lm_head=tied,
        head_layers=head_layers,
        warnings=_warnings(base, camera_size is not None),
        notes=notes,
    )
    record = {
        "source": str(src.absolute()),
        "source_format": sc.format.name,
        "rules": [{"source": s, "target": t, "count": n} for s, t, n in plan.rows],
        "num_source_tensors": len(tensors),
        "tied_lm_head": tied,
        "head_layers_folded": head_layers,
        "action_act": sc.action_act,
        "checked": notes,
        "not_yet_reproduced": report.warnings,
    }
    # One manifest over the policy's files and the import record: the outer temporary directory
    # is renamed to ``out`` only after everything is written.
    with atomic_directory(out) as tmp:
        policy.save_pretrained(tmp)
        record["release_files"] = _copy_release_files(src, tmp / RELEASE_COPY_DIR)
        atomic.atomic_write_json(tmp / IMPORT_RECORD, record)
    return report


def _hw(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected HEIGHTxWIDTH, e.g. 480x640, got {text!r}"
        ) from None
    return h, w


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m vla_lego.models.import_eo1 SRC OUT [--preset P] [--overwrite]``."""
    ap = argparse.ArgumentParser(
        prog="python -m vla_lego.models.import_eo1",
        description="Import an EO-1 release checkpoint into this project's checkpoint format.",
    )
    ap.add_argument(
        "src", type=Path, help="EO-1 release or LeRobot eo1 folder (config.json + safetensors)"
    )
    ap.add_argument("out", type=Path, help="checkpoint folder to write")
    ap.add_argument("--preset", default="eo1_3b", help="project preset for non-size settings")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    ap.add_argument(
        "--camera-size",
        type=_hw,
        default=None,
        metavar="HxW",
        help="the robot camera's image size, e.g. 480x640: views get EO-1's smart_resize of it",
    )
    args = ap.parse_args(argv)
    try:
        report = import_eo1(
            args.src,
            args.out,
            preset=args.preset,
            overwrite=args.overwrite,
            camera_size=args.camera_size,
        )
    except (EO1ImportError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "EO1_CONFIG_DEFAULTS",
    "LEROBOT_FORMAT",
    "LEROBOT_RULES",
    "RELEASE_FORMAT",
    "RULES",
    "EO1ImportError",
    "ImportReport",
    "Rule",
    "SourceConfig",
    "SourceFormat",
    "TensorInfo",
    "fold_linear_chain",
    "import_eo1",
    "list_release_tensors",
    "main",
    "plan_mapping",
    "read_safetensors_header",
    "read_source_config",
    "release_config",
]
