"""Export of the tiny model: graphs, manifest, parity gate, ORT vs torch, tampering, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from vla_lego.export import ExportOptions, Manifest, ParityError, export_checkpoint
from vla_lego.export.__main__ import main as export_main
from vla_lego.export.parity import parity_gate
from vla_lego.export.tensorrt_build import profile_shapes
from vla_lego.inference import (
    BackendUnavailableError,
    ManifestError,
    ModelVersionError,
    Observation,
    load_policy,
    load_policy_from_spec,
)
from vla_lego.inference.manifest import MANIFEST_NAME, sha256_file
from vla_lego.models.eo1 import EO1Policy
from vla_lego.robot import H1_LAYOUT


def _observation(seed: int, views: int, instruction: str) -> Observation:
    rng = np.random.default_rng(seed)
    names = ["head", "left_wrist"][:views]
    # Different camera sizes on purpose: the shared preprocessing resizes them.
    sizes = [(112, 112), (96, 128)]
    images = {n: rng.integers(0, 256, (*sizes[i], 3), dtype=np.uint8) for i, n in enumerate(names)}
    state = H1_LAYOUT.lower + (H1_LAYOUT.upper - H1_LAYOUT.lower) * rng.random(H1_LAYOUT.dim)
    return Observation(images=images, state=state, instruction=instruction, timestamp=float(seed))


def test_export_writes_checked_graphs_and_a_complete_manifest(
    tiny_checkpoint: Path, tiny_export: tuple[Path, Manifest]
) -> None:
    out, man = tiny_export
    assert set(man.graphs) == {"prefix", "denoise_step", "decode_step"}
    for graph in man.graphs.values():
        onnx.checker.check_model(str(out / graph.file))
    prefix_inputs = {t.name: t.shape for t in man.graphs["prefix"].inputs}
    assert prefix_inputs["input_ids"] == [1, "prefix_len"]
    assert prefix_inputs["pixel_values"][0] == "views"
    assert {t.name: t.shape for t in man.graphs["denoise_step"].inputs}["key_0"][2] == "cache_len"
    assert man.parity["max_abs_error"] < 1e-4 and man.parity["tolerance"] == 1e-4
    assert {t["views"] for t in man.parity["trials"]} == {1, 2}
    assert man.action_horizon == 50 and man.num_denoise_steps == 10 and man.max_action_dim == 32
    assert man.robot_layout == H1_LAYOUT.to_dict()
    assert man.runtime["dt"] == pytest.approx(1 / 20)  # the checkpoint's dataset rate
    assert man.normalization["identity"] is False
    assert len(man.normalization["stats"]["actions"]["std"]) == H1_LAYOUT.dim
    assert (out / man.processor_dir / "tokenizer" / "tokenizer.json").is_file()
    files = man.source_checkpoint["files"]
    assert files["model.safetensors"] == sha256_file(tiny_checkpoint / "model.safetensors")
    assert (
        man.model_version == json.loads((tiny_checkpoint / "manifest.json").read_text())["format"]
    )
    assert not list(out.parent.glob(".tiny_onnx.tmp-*")), "staging directory left behind"


@pytest.mark.parametrize(
    ("seed", "views", "instruction"),
    [
        (1, 2, "stack the red brick on the blue one"),
        (2, 1, "pick"),
        (3, 2, "hand the yellow 2x4 brick over to the left hand and place it"),
    ],
)
def test_onnxruntime_matches_torch_backend(
    tiny_checkpoint: Path,
    tiny_export: tuple[Path, Manifest],
    seed: int,
    views: int,
    instruction: str,
) -> None:
    out, _ = tiny_export
    ref = load_policy(tiny_checkpoint, backend="torch", seed=seed)
    ort = load_policy_from_spec({"path": str(out), "seed": seed})  # export dir -> onnxruntime
    assert getattr(ort, "name", "") == "onnxruntime"
    obs = _observation(seed, views, instruction)
    a, b = ref.predict(obs), ort.predict(obs)
    assert a.actions.shape == b.actions.shape == (50, H1_LAYOUT.dim)
    assert float(np.max(np.abs(a.actions - b.actions))) < 1e-4
    assert a.subtask_text == b.subtask_text
    assert a.dt == pytest.approx(1 / 20) and b.dt == pytest.approx(a.dt)
    assert b.observation_time == float(seed)
    for stage in ("preprocess", "prefix", "decode", "denoise", "postprocess", "total"):
        assert b.timings[stage] >= 0.0


def test_same_seed_same_chunk_and_reset_rewinds(tiny_export: tuple[Path, Manifest]) -> None:
    out, _ = tiny_export
    obs = _observation(7, 1, "place the brick")
    p = load_policy(out, backend="ort", seed=11, decode_text=False)
    first, second = p.predict(obs).actions, p.predict(obs).actions
    assert not np.allclose(first, second)  # fresh noise per call
    p.reset()
    np.testing.assert_array_equal(p.predict(obs).actions, first)
    other = load_policy(out, backend="onnxruntime", seed=12, decode_text=False)
    assert not np.allclose(other.predict(obs).actions, first)


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "export"
    shutil.copytree(src, dst)
    return dst


def _edit_manifest(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((path / MANIFEST_NAME).read_text())
    edit(data)
    (path / MANIFEST_NAME).write_text(json.dumps(data))


def test_ort_thread_spin_modes(tiny_export: tuple[Path, Manifest]) -> None:
    """Idle ONNX Runtime threads spin only inside a run by default (two sessions' spinning pools
    would fight over the cores between the prefix and the denoise steps); bad modes are refused."""
    from vla_lego.inference.graphs import OrtGraph

    out, man = tiny_export
    graph = out / man.graphs["denoise_step"].file

    def entry(g: OrtGraph, key: str) -> str:
        return str(g.session.get_session_options().get_session_config_entry(key))

    assert entry(OrtGraph(graph), "session.force_spinning_stop") == "1"
    assert entry(OrtGraph(graph, spin="never"), "session.intra_op.allow_spinning") == "0"
    with pytest.raises(ValueError, match="spin mode must be one of"):
        OrtGraph(graph, spin="sometimes")


def test_backend_options_reach_the_sessions(tiny_export: tuple[Path, Manifest]) -> None:
    """``load_policy(options=)`` / a spec's ``backend_options`` configure every ORT session (the
    node's ``backend_options`` parameter), and options a backend does not take are refused."""
    from vla_lego.inference import load_policy_from_spec

    out, _ = tiny_export

    def entries(policy: Any, key: str) -> set[str]:
        runners = policy.graphs.runners.values()
        return {str(r.session.get_session_options().get_session_config_entry(key)) for r in runners}

    never = load_policy(
        out, "onnxruntime", decode_text=True, options={"spin": "never", "threads": 1}
    )
    assert set(never.graphs.runners) == {"prefix", "denoise_step", "decode_step"}
    assert entries(never, "session.intra_op.allow_spinning") == {"0"}
    assert {
        r.session.get_session_options().intra_op_num_threads for r in never.graphs.runners.values()
    } == {1}
    spec = load_policy_from_spec(f"ort:{out}", backend_options={"spin": "never"})
    assert entries(spec, "session.intra_op.allow_spinning") == {"0"}
    mapping = load_policy_from_spec({"path": str(out), "backend_options": {"spin": "run"}})
    assert entries(mapping, "session.force_spinning_stop") == {"1"}

    with pytest.raises(ValueError, match=r"does not take option\(s\) \['cuda_graphs'\]"):
        load_policy(out, "onnxruntime", options={"cuda_graphs": True})
    with pytest.raises(ValueError, match="spin mode must be one of"):
        load_policy(out, "onnxruntime", options={"spin": "sometimes"})
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        load_policy(out, "onnxruntime", options={"threads": 0})
    with pytest.raises(ValueError, match="backend_options must be a mapping"):
        load_policy_from_spec({"path": str(out), "backend_options": "spin=never"})


def test_manifest_with_edited_shape_is_refused(
    tiny_export: tuple[Path, Manifest], tmp_path: Path
) -> None:
    d = _copy(tiny_export[0], tmp_path)
    _edit_manifest(d, lambda m: m["graphs"]["denoise_step"]["inputs"][0].update(shape=[1, 50, 31]))
    with pytest.raises(ManifestError, match=r"denoise_step.*inputs do not match.*x_t"):
        load_policy(d, backend="onnxruntime")


def test_wrong_hash_or_edited_graph_is_refused(
    tiny_export: tuple[Path, Manifest], tmp_path: Path
) -> None:
    d = _copy(tiny_export[0], tmp_path)
    _edit_manifest(d, lambda m: m["graphs"]["prefix"].update(sha256="0" * 64))
    with pytest.raises(ManifestError, match=r"prefix.*does not match the manifest: sha256"):
        load_policy(d, backend="onnxruntime")
    d2 = _copy(tiny_export[0], tmp_path / "b")
    with open(d2 / "decode_step.onnx", "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ManifestError, match="decode_step"):
        load_policy(d2, backend="onnxruntime")


def test_processor_files_are_verified_and_malformed_manifests_refused(
    tiny_export: tuple[Path, Manifest], tmp_path: Path
) -> None:
    """The normalisation stats and tokenizer are hashed like the graphs: a swapped stats file
    would silently rescale every action."""
    out, man = tiny_export
    assert any(rel.endswith("norm_stats.json") for rel in man.processor_files)
    d = _copy(out, tmp_path / "stats")
    stats = next(d.glob(f"{man.processor_dir}/**/norm_stats.json"))
    data = json.loads(stats.read_text())
    data["stats"]["actions"]["std"] = [2 * v for v in data["stats"]["actions"]["std"]]
    stats.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match=r"processor file .*norm_stats\.json.* does not match"):
        load_policy(d, backend="onnxruntime")
    stats.unlink()
    with pytest.raises(ManifestError, match=r"norm_stats\.json.*missing"):
        load_policy(d, backend="onnxruntime")

    m = _copy(out, tmp_path / "malformed")
    (m / MANIFEST_NAME).write_text("[1, 2]")
    with pytest.raises(ManifestError, match="expected a JSON object"):
        load_policy(m, backend="onnxruntime")
    m2 = _copy(out, tmp_path / "graph_entry")
    _edit_manifest(m2, lambda raw: raw["graphs"].update(prefix="prefix.onnx"))
    with pytest.raises(ManifestError, match="malformed manifest"):
        load_policy(m2, backend="onnxruntime")


def test_missing_graph_file_is_refused(tiny_export: tuple[Path, Manifest], tmp_path: Path) -> None:
    d = _copy(tiny_export[0], tmp_path)
    (d / "denoise_step.onnx").unlink()
    with pytest.raises(ManifestError, match=r"'denoise_step.onnx'.*missing"):
        load_policy(d, backend="onnxruntime")
    (d / MANIFEST_NAME).unlink()
    with pytest.raises(ManifestError, match=r"manifest\.json is missing"):
        load_policy(d, backend="onnxruntime")


def test_other_model_version_is_refused(
    tiny_checkpoint: Path, tiny_export: tuple[Path, Manifest], tmp_path: Path
) -> None:
    ckpt = tmp_path / "old_ckpt"
    shutil.copytree(tiny_checkpoint, ckpt)
    meta = json.loads((ckpt / "manifest.json").read_text())
    meta["format"] = "vla_lego.eo1/0"
    (ckpt / "manifest.json").write_text(json.dumps(meta))
    with pytest.raises(ModelVersionError, match=r"model version 'vla_lego.eo1/0'"):
        export_checkpoint(ckpt, tmp_path / "out", ExportOptions(exporter="torchscript"))
    assert not (tmp_path / "out").exists()
    d = _copy(tiny_export[0], tmp_path / "exp")
    _edit_manifest(d, lambda m: m.update(model_version="vla_lego.eo1/0"))
    with pytest.raises(ModelVersionError, match="re-export"):
        load_policy(d, backend="onnxruntime")


def test_parity_gate_fails_with_the_numbers(
    tiny_checkpoint: Path, tiny_export: tuple[Path, Manifest]
) -> None:
    out, man = tiny_export
    policy = EO1Policy.from_pretrained(tiny_checkpoint)
    with torch.no_grad():
        policy.action_out_proj.bias.add_(1e-2)  # the graphs no longer match this model
    with pytest.raises(
        ParityError, match=r"max abs error 0\.\d+ on the action chunk \(tolerance 0\.0001\)"
    ):
        parity_gate(policy, out, man, ExportOptions(decode_text=False, parity_trials=1))


def test_cli_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = export_main(
        ["--checkpoint", str(tmp_path), "--out", str(tmp_path / "o"), "--precision", "fp16"]
    )
    assert rc == 1 and "applies to TensorRT engines" in capsys.readouterr().err
    rc = export_main(["--checkpoint", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    assert rc == 1 and "not a checkpoint directory" in capsys.readouterr().err


def test_tensorrt_profiles_and_missing_tensorrt(tiny_checkpoint: Path, tmp_path: Path) -> None:
    dims = {"prefix_len": {"min": 5, "opt": 40, "max": 90}}
    inputs = [{"name": "input_ids", "dtype": "int64", "shape": [1, "prefix_len"]}]
    assert profile_shapes(inputs, dims) == {"input_ids": ((1, 5), (1, 40), (1, 90))}
    with pytest.raises(ValueError, match="no range"):
        profile_shapes([{"name": "x", "dtype": "float32", "shape": ["other"]}], dims)
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailableError, match="tensorrt"):
            export_checkpoint(
                tiny_checkpoint, tmp_path / "trt", ExportOptions(fmt="tensorrt", precision="fp16")
            )
        assert not (tmp_path / "trt").exists()


@pytest.mark.slow
def test_cli_dynamo_export_without_text(
    tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "dyn"
    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--no-text"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and set(summary["graphs"]) == {"prefix", "denoise_step"}
    assert summary["parity"]["max_abs_error"] < 1e-4
    with pytest.raises(ValueError, match="without the text decode graph"):
        load_policy(out, backend="onnxruntime")
    ort = load_policy(out, backend="onnxruntime", seed=9, decode_text=False)
    ref = load_policy(tiny_checkpoint, backend="torch", seed=9, decode_text=False)
    obs = _observation(9, 1, "stack")
    assert float(np.max(np.abs(ort.predict(obs).actions - ref.predict(obs).actions))) < 1e-4
    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--no-text"])
    assert rc == 1 and "exists and is not empty" in capsys.readouterr().err
