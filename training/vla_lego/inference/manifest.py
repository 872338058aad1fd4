"""The export manifest: what an export directory holds, checked before anything is run.

The contract between :mod:`vla_lego.export`, which writes it, and the exported-graph backends
here, which refuse a directory that breaks it. It lives in ``inference`` because ``export``
depends on ``inference`` and never the other way round.

``manifest.json`` records, for every graph, its file, sha256 and input/output names, dtypes and
shapes (ints, or the name of a dynamic axis), plus everything the runtime needs besides the graphs
(robot layout, normalisation stats, processor files, horizon, steps) and the provenance (model
version, sha256 of every source checkpoint file, parity numbers). :func:`load_manifest` refuses a
directory whose files are missing, whose hashes differ or whose graphs' signatures do not match.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vla_lego.atomic import atomic_write_json
from vla_lego.inference.errors import ManifestError, ModelVersionError
from vla_lego.inference.registry import EXPORT_FORMAT

MANIFEST_NAME = "manifest.json"
FORMAT_NAME = EXPORT_FORMAT
FORMAT_VERSION = 1

_ONNX_DTYPES = {1: "float32", 6: "int32", 7: "int64", 9: "bool", 10: "float16", 16: "bfloat16"}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every regular file under ``root``, keyed by its POSIX path relative to ``root``."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@dataclass
class TensorSpec:
    """One graph input or output: ``shape`` entries are ints or dynamic-axis names."""

    name: str
    dtype: str
    shape: list[int | str]


@dataclass
class GraphSpec:
    """One ONNX graph (and optionally its TensorRT engine) of an export.

    ``data_files`` maps external-weight files of the graph (large models) to their sha256.
    """

    file: str
    sha256: str
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    data_files: dict[str, str] = field(default_factory=dict)
    engine_file: str | None = None
    engine_sha256: str | None = None
    engine_precision: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GraphSpec:
        d = dict(d)
        d["inputs"] = [TensorSpec(**t) for t in d["inputs"]]
        d["outputs"] = [TensorSpec(**t) for t in d["outputs"]]
        return cls(**d)


@dataclass
class Manifest:
    """Contents of ``manifest.json`` (see the module docstring)."""

    model_type: str
    model_version: str
    precision: str
    graphs: dict[str, GraphSpec]
    dynamic_dims: dict[str, dict[str, int]]
    robot_layout: dict[str, Any]
    normalization: dict[str, Any]
    processor_dir: str
    model_config: dict[str, Any]
    action_horizon: int
    num_denoise_steps: int
    max_action_dim: int
    decode_text: bool
    source_checkpoint: dict[str, Any]
    parity: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, Any] = field(default_factory=dict)
    # sha256 of every file under processor_dir (tokenizer, normalisation stats, vocabulary map),
    # keyed by its path in the export; exports written before this field have none to check.
    processor_files: dict[str, str] = field(default_factory=dict)
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Manifest:
        d = dict(d)
        d["graphs"] = {k: GraphSpec.from_dict(v) for k, v in d["graphs"].items()}
        return cls(**d)

    def write(self, export_dir: Path) -> Path:
        """Write ``manifest.json`` atomically (temp file, fsync, rename)."""
        return atomic_write_json(
            export_dir / MANIFEST_NAME, self.to_dict(), indent=1, sort_keys=True
        )


def onnx_signature(path: Path) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Input and output specs read from an ONNX file (weights are not loaded)."""
    import onnx  # protobuf + C extension: loaded only when a graph is actually read

    model = onnx.load(str(path), load_external_data=False)

    def spec(v: Any) -> TensorSpec:
        t = v.type.tensor_type
        dims: list[int | str] = [
            d.dim_param if d.dim_param else int(d.dim_value) for d in t.shape.dim
        ]
        return TensorSpec(v.name, _ONNX_DTYPES.get(t.elem_type, str(t.elem_type)), dims)

    init = {i.name for i in model.graph.initializer}
    inputs = [spec(v) for v in model.graph.input if v.name not in init]
    return inputs, [spec(v) for v in model.graph.output]


def _read(export_dir: Path) -> Manifest:
    path = export_dir / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{export_dir} is not an export directory: {MANIFEST_NAME} is missing")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise ManifestError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    if raw.get("format") != FORMAT_NAME:
        raise ManifestError(f"{path}: format {raw.get('format')!r}, expected {FORMAT_NAME!r}")
    if raw.get("format_version") != FORMAT_VERSION:
        raise ModelVersionError(
            f"{path}: export format version {raw.get('format_version')!r}, this vla_lego reads "
            f"version {FORMAT_VERSION}; re-export the checkpoint with this version"
        )
    try:
        return Manifest.from_dict(raw)
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ManifestError(f"{path}: malformed manifest ({type(e).__name__}: {e})") from e


def _check_file(export_dir: Path, rel: str, sha: str, what: str) -> Path:
    p = export_dir / rel
    if not p.is_file():
        raise ManifestError(
            f"{what} file {rel!r} listed in the manifest is missing from {export_dir}"
        )
    actual = sha256_file(p)
    if actual != sha:
        raise ManifestError(
            f"{what} file {rel!r} does not match the manifest: sha256 {actual[:16]}…, manifest "
            f"says {sha[:16]}… (file edited or manifest tampered with; re-export)"
        )
    return p


def _check_signature(name: str, graph: GraphSpec, path: Path) -> None:
    inputs, outputs = onnx_signature(path)
    for kind, want, have in (("inputs", graph.inputs, inputs), ("outputs", graph.outputs, outputs)):
        w = [(t.name, t.dtype, list(t.shape)) for t in want]
        h = [(t.name, t.dtype, list(t.shape)) for t in have]
        if w != h:
            diff = [f"manifest {a} vs graph {b}" for a, b in zip(w, h) if a != b]
            if len(w) != len(h):
                diff.append(f"manifest lists {len(w)} {kind}, graph has {len(h)}")
            raise ManifestError(
                f"graph {name!r} ({graph.file}) {kind} do not match the manifest: "
                + "; ".join(diff)
            )


def load_manifest(
    export_dir: str | Path, model_version: str | None = None, engines: bool = False
) -> Manifest:
    """Read and verify an export directory's manifest.

    Args:
        export_dir: Directory written by ``python -m vla_lego.export``.
        model_version: If given, the model version this code runs; another raises.
        engines: Also require and verify the TensorRT engine files.

    Raises:
        ManifestError: missing manifest/graph/engine/processor file, hash mismatch, signature
            mismatch, malformed manifest.
        ModelVersionError: export format or model version differs from this code's.
    """
    root = Path(export_dir)
    man = _read(root)
    if model_version is not None and man.model_version != model_version:
        raise ModelVersionError(
            f"{root} was exported from {man.model_type} model version {man.model_version}; this "
            f"code runs version {model_version}; re-export from a matching checkpoint"
        )
    for name, graph in man.graphs.items():
        path = _check_file(root, graph.file, graph.sha256, f"graph {name!r}")
        _check_signature(name, graph, path)
        for rel, sha in graph.data_files.items():
            _check_file(root, rel, sha, f"weights of graph {name!r}")
        if engines:
            if not graph.engine_file or not graph.engine_sha256:
                raise ManifestError(
                    f"graph {name!r} has no TensorRT engine; export with --format tensorrt"
                )
            _check_file(root, graph.engine_file, graph.engine_sha256, f"engine {name!r}")
    for rel, sha in man.processor_files.items():
        _check_file(root, rel, sha, "processor")  # a swapped stats file would rescale actions
    return man


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "GraphSpec",
    "Manifest",
    "TensorSpec",
    "hash_tree",
    "load_manifest",
    "onnx_signature",
    "sha256_file",
]
