"""The ``onnxruntime`` backend: an export directory run by ONNX Runtime (CUDA EP on ``cuda``)."""

from __future__ import annotations

from pathlib import Path

from vla_lego.inference.engine import ChunkPolicy, ExportedStepGraphs
from vla_lego.inference.errors import ManifestError
from vla_lego.inference.graphs import GraphRunner, OrtGraph
from vla_lego.inference.manifest import Manifest, load_manifest
from vla_lego.models.base import TextProcessor
from vla_lego.models.checkpoint import FORMAT as MODEL_VERSION
from vla_lego.models.registry import UnknownModelError, model_config_class, model_processor_class
from vla_lego.robot import H1_LAYOUT, ActionLayout


def processor_from_manifest(export_dir: Path, man: Manifest) -> TextProcessor:
    """The model's processor as stored in the export (tokenizer, stats, vocabulary map); the
    manifest's ``model_type`` picks the config and processor classes from the model registry."""
    layout = ActionLayout.from_dict(man.robot_layout)
    H1_LAYOUT.check_compatible(layout, what=f"export {export_dir}")
    try:
        config = model_config_class(man.model_type).from_dict(man.model_config)
        vocab = int(man.runtime["vocab_size"])
        processor_class = model_processor_class(man.model_type)
        return processor_class.load(export_dir / man.processor_dir, config, H1_LAYOUT, vocab)
    except UnknownModelError as e:
        raise ManifestError(f"export {export_dir}: {e}") from e
    except (OSError, KeyError, ValueError) as e:  # json errors are ValueErrors
        raise ManifestError(
            f"export {export_dir}: processor files in {man.processor_dir!r} unreadable "
            f"({type(e).__name__}: {e}); re-export"
        ) from e


def policy_from_runners(
    export_dir: Path,
    man: Manifest,
    runners: dict[str, GraphRunner],
    seed: int,
    decode_text: bool,
    backend: str,
    sync: object = None,
) -> ChunkPolicy:
    """Assemble the shared host loop around a backend's graph runners."""
    if decode_text and "decode_step" not in runners:
        raise ValueError(
            f"export {export_dir} was made without the text decode graph; load it with "
            "decode_text=False or re-export with text decoding"
        )
    graphs = ExportedStepGraphs(runners, int(man.model_config["text_num_layers"]), sync)
    return ChunkPolicy(
        graphs,
        processor_from_manifest(export_dir, man),
        dt=float(man.runtime["dt"]),
        seed=seed,
        decode_text=decode_text,
        backend=backend,
    )


def load_ort_policy(
    path: Path,
    device: str = "cpu",
    seed: int = 0,
    decode_text: bool = True,
    *,
    spin: str | None = None,
    threads: int | None = None,
) -> ChunkPolicy:
    """Registry loader: verify the manifest, open one session per graph.

    Args:
        spin: When idle ONNX Runtime threads busy-wait (see :class:`OrtGraph`).
        threads: Intra-op threads of each session (see :class:`OrtGraph`).
    """
    bad_threads = isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    if threads is not None and bad_threads:
        raise ValueError(f"onnxruntime option threads must be a positive integer, got {threads!r}")
    man = load_manifest(path, model_version=MODEL_VERSION)
    wanted = [g for g in man.graphs if decode_text or g != "decode_step"]
    runners: dict[str, GraphRunner] = {
        name: OrtGraph(path / man.graphs[name].file, device=device, threads=threads, spin=spin)
        for name in wanted
    }
    return policy_from_runners(path, man, runners, seed, decode_text, "onnxruntime")


__all__ = ["load_ort_policy", "policy_from_runners", "processor_from_manifest"]
