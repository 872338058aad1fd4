"""Offline stages of the demo: demonstrations, training, export. Each is cached by its inputs."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vla_lego.atomic import atomic_write_json
from vla_lego.demo.config import STAGE_FIELDS, DemoConfig

MARKER = "_stage.json"


def _log(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


Builder = Callable[[Path], dict[str, Any]]


def cached(
    cfg: Any,
    stage: str,
    fresh: bool,
    build: Builder,
    inputs: str = "",
    stage_fields: Mapping[str, tuple[str, ...]] = STAGE_FIELDS,
) -> dict[str, Any]:
    """Run ``build(dir)`` unless ``dir`` holds a complete result for the same inputs.

    Args:
        cfg: A config with ``root`` and ``key(*field_names)`` (the demo's or the results run's).
        inputs: What else the stage depends on besides its :data:`STAGE_FIELDS` (the composed
            training config, the upstream stage's key), so that editing e.g. a model preset's
            YAML retrains instead of reusing a checkpoint of the old model.
        stage_fields: The config fields each stage depends on.

    The marker file is written last, so an interrupted stage is never taken for a finished one.
    The result carries ``cache_key`` for the stages downstream.
    """
    out = cfg.root / stage
    key = cfg.key(*stage_fields[stage])
    if inputs:
        key = hashlib.sha256(f"{key}\n{inputs}".encode()).hexdigest()[:16]
    marker = out / MARKER
    if not fresh and marker.is_file():
        meta = json.loads(marker.read_text())
        if meta.get("key") == key:
            _log(f"{stage}: reusing {out} (same inputs; --fresh to redo)")
            return {**meta["result"], "cache_key": key}
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t0 = time.monotonic()
    result = build(out)
    result["seconds"] = round(time.monotonic() - t0, 1)
    result["cache_key"] = key
    atomic_write_json(marker, {"key": key, "result": result})
    return result


def generate_demos(cfg: DemoConfig, fresh: bool) -> dict[str, Any]:
    """Stage 1: scripted-expert demonstrations in the MuJoCo scene (LeRobot v3 dataset)."""
    from vla_lego.sim.generate import generate_dataset  # lazy: MuJoCo, only when this stage runs

    def build(out: Path) -> dict[str, Any]:
        _log(f"data: generating {cfg.demos} scripted {cfg.task} demonstrations")
        rep = generate_dataset(cfg.task, cfg.demos, out / "dataset", seed=cfg.demo_seed)
        return {
            "dataset": str(out / "dataset"),
            "episodes": rep.episodes,
            "frames": rep.frames,
            "expert_success_rate": rep.expert_success_rate,
        }

    return cached(cfg, "data", fresh, build)


def train_overrides(cfg: DemoConfig, dataset: str, run_dir: Path) -> list[str]:
    """Hydra overrides of the demo's CPU-sized training run."""
    return [
        f"model={cfg.model}",
        "trainer=default",
        "data=sim",
        "cluster=local",
        "logging=disabled",
        f"data.path={dataset}",
        f"model.action_horizon={cfg.action_horizon}",
        f"trainer.max_steps={cfg.train_steps}",
        f"trainer.max_minutes={cfg.train_minutes}",
        f"trainer.training.batch_size_per_device={cfg.train_batch_size}",
        f"trainer.optimizer.lr={cfg.train_lr}",
        f"trainer.scheduler.warmup_steps={max(1, min(200, cfg.train_steps // 10))}",
        "trainer.training.num_workers=0",
        # One intra-op thread: the tiny model's ops are too small to split, and 2 threads on a
        # 2-core machine measured up to 10x slower once anything else runs.
        "trainer.num_threads=1",
        f"trainer.validation.every_n_steps={max(1, cfg.train_steps // 4)}",
        f"trainer.checkpoint.every_n_steps={max(1, cfg.train_steps // 4)}",
        "trainer.checkpoint.keep_last=1",
        "trainer.resume=never",
        f"run_name=demo-{cfg.task}",
        f"paths.run_dir={run_dir}",
        *cfg.train_overrides,
    ]


def train_policy(cfg: DemoConfig, dataset: str, fresh: bool) -> dict[str, Any]:
    """Stage 2: train the EO-1 policy (AR text + flow matching) within a wall-clock bound."""
    from omegaconf import OmegaConf

    from vla_lego.train import compose_config, train_from_config  # lazy: torch, Hydra

    overrides = train_overrides(cfg, dataset, cfg.root / "train" / "run")
    composed = compose_config(overrides)

    def build(out: Path) -> dict[str, Any]:
        _log(f"train: {cfg.model} model, <= {cfg.train_steps} steps / {cfg.train_minutes} min")
        t0 = time.monotonic()
        result = train_from_config(composed)
        if result.policy_dir is None:
            raise RuntimeError("training finished without a checkpoint")
        policy = out / "policy"
        shutil.copytree(result.policy_dir, policy)
        return {
            "checkpoint": str(policy),
            "train_seconds": round(time.monotonic() - t0, 1),
            "steps": result.step,
            "time_limited": bool(result.time_limited),
            "metrics": {k: float(v) for k, v in result.metrics.items()},
            "overrides": overrides,
        }

    # Keyed by the composed config (model preset and trainer YAML included), not only the demo
    # options: editing a preset retrains.
    return cached(cfg, "train", fresh, build, inputs=OmegaConf.to_yaml(composed))


def export_policy(
    cfg: DemoConfig, checkpoint: str, fresh: bool, upstream: str = ""
) -> dict[str, Any]:
    """Stage 3: ONNX export with the parity gate (raises if the graphs disagree with PyTorch)."""
    from vla_lego.export.exporter import ExportOptions, export_checkpoint  # lazy: torch, onnx

    def build(out: Path) -> dict[str, Any]:
        _log("export: ONNX graphs + manifest, parity gate against PyTorch")
        fmt = "tensorrt" if cfg.backend == "tensorrt" else "onnx"
        # The legacy tracer exports the tiny model ~5x faster than dynamo here; both pass the
        # same parity gate (graphs get rope positions and vision metadata as inputs either way).
        opts = ExportOptions(fmt=fmt, exporter="torchscript")
        man = export_checkpoint(checkpoint, out / "export", opts)
        parity = getattr(man, "parity", None)
        return {"export": str(out / "export"), "parity": parity if parity is not None else {}}

    return cached(cfg, "export", fresh, build, inputs=upstream)


__all__ = ["cached", "export_policy", "generate_demos", "train_overrides", "train_policy"]
