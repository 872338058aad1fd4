"""Atomic training checkpoints with a sha256 manifest, keep-last-K + best, and resume lookup.

Layout of one checkpoint (``<run_dir>/step_00000100/``)::

    policy/                  the model's policy checkpoint directory (EO1Policy.save_pretrained)
    trainer_state.json       step, data position (epoch, micro-batches into it), best val loss
    optimizer.{json,safetensors}, scheduler.json    (DDP/single process)
    deepspeed/               DeepSpeed's own engine checkpoint (DeepSpeed runs)
    rng/rank_00000.{json,safetensors}               python, numpy, torch (+cuda) RNG per rank
    MANIFEST.json            size + sha256 of every file above, written last

Everything is written into ``.tmp-step_*`` first, fsynced, then renamed. A checkpoint counts only
when its manifest exists and every file matches it; a truncated or altered file makes resume fall
back to the previous good checkpoint with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

from vla_lego.atomic import atomic_write_json, replace_directory
from vla_lego.train.distributed import DistInfo, barrier
from vla_lego.train.state_io import write_json

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST.json"
MANIFEST_FORMAT = "vla_lego.train.checkpoint/1"
BEST_POINTER = "best.json"
_STEP_RE = re.compile(r"^step_(\d{8})$")


class CheckpointCorruptError(RuntimeError):
    """A checkpoint directory is incomplete or does not match its manifest."""


def step_dir_name(step: int) -> str:
    """Folder name of the checkpoint of ``step``."""
    return f"step_{step:08d}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(ckpt: Path, step: int) -> None:
    """Hashes every file of ``ckpt`` and writes the manifest last (the swap fsyncs them all)."""
    files = {}
    for path in _files_under(ckpt):
        files[path.relative_to(ckpt).as_posix()] = {
            "size": path.stat().st_size,
            "sha256": _sha256(path),
        }
    write_json(ckpt / MANIFEST, {"format": MANIFEST_FORMAT, "step": step, "files": files})


def verify_checkpoint(ckpt: Path) -> int:
    """Checks a checkpoint against its manifest and returns its step.

    Raises:
        CheckpointCorruptError: Manifest missing/unreadable, a file missing, or a size/hash
            mismatch (e.g. a truncated safetensors file).
    """
    manifest_path = ckpt / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
        step = int(manifest["step"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointCorruptError(f"{ckpt}: no readable {MANIFEST} ({exc})") from exc
    if not isinstance(files, dict) or not all(
        isinstance(m, dict) and {"size", "sha256"} <= m.keys() for m in files.values()
    ):
        raise CheckpointCorruptError(f"{ckpt}: {MANIFEST} has malformed 'files' entries")
    if manifest.get("format") != MANIFEST_FORMAT:
        raise CheckpointCorruptError(f"{ckpt}: unknown manifest format {manifest.get('format')!r}")
    for rel, meta in files.items():
        path = ckpt / rel
        if not path.is_file():
            raise CheckpointCorruptError(f"{ckpt}: file {rel} is missing")
        size = path.stat().st_size
        if size != meta["size"]:
            raise CheckpointCorruptError(
                f"{ckpt}: {rel} has {size} bytes, the manifest expects {meta['size']} (truncated?)"
            )
        if _sha256(path) != meta["sha256"]:
            raise CheckpointCorruptError(f"{ckpt}: {rel} does not match its sha256 in the manifest")
    return step


class CheckpointManager:
    """Writes, prunes and finds the checkpoints of one run.

    Args:
        run_dir: Folder holding this run's ``step_*`` checkpoints.
        keep_last: Number of most recent checkpoints kept.
        keep_best: Also keep the checkpoint with the lowest validation loss.
        info: Rank layout; rank 0 renames, writes the manifest and prunes.
    """

    def __init__(self, run_dir: Path, keep_last: int, keep_best: bool, info: DistInfo) -> None:
        if keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {keep_last}")
        self.run_dir = run_dir
        self.keep_last = keep_last
        self.keep_best = keep_best
        self.info = info

    def step_dirs(self) -> list[tuple[int, Path]]:
        """Completed-looking checkpoint folders, newest first (not yet verified)."""
        if not self.run_dir.is_dir():
            return []
        found = []
        for path in self.run_dir.iterdir():
            match = _STEP_RE.match(path.name)
            if match and path.is_dir():
                found.append((int(match.group(1)), path))
        return sorted(found, reverse=True)

    def clean_temp(self) -> None:
        """Removes half-written ``.tmp-*`` folders left by a killed run (rank 0); a replaced
        checkpoint (``.old-*``) whose replacement never got into place is put back."""
        if self.info.is_main and self.run_dir.is_dir():
            for path in self.run_dir.glob(".tmp-*"):
                shutil.rmtree(path, ignore_errors=True)
            for path in self.run_dir.glob(".old-*"):
                final = self.run_dir / path.name.removeprefix(".old-")
                if final.exists():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.rename(final)
        barrier(self.info)

    def latest_valid(self) -> Path | None:
        """Newest checkpoint that matches its manifest; corrupt ones are skipped with a warning."""
        for _, path in self.step_dirs():
            try:
                verify_checkpoint(path)
                return path
            except CheckpointCorruptError as exc:
                msg = f"skipping corrupt checkpoint, falling back to an older one: {exc}"
                warnings.warn(msg, RuntimeWarning, stacklevel=2)
                log.warning(msg)
        return None

    def best(self) -> Path | None:
        """Checkpoint with the lowest validation loss, if one was recorded and still exists."""
        pointer = self.run_dir / BEST_POINTER
        if not pointer.is_file():
            return None
        try:
            path = self.run_dir / json.loads(pointer.read_text(encoding="utf-8"))["dir"]
        except (ValueError, KeyError, OSError):
            return None
        return path if path.is_dir() else None

    def save(self, step: int, write: Callable[[Path], None], val_loss: float | None) -> Path:
        """Writes the checkpoint of ``step`` on every rank; returns its final folder.

        Args:
            step: Optimizer step just completed.
            write: Called on every rank with the temp folder; writes that rank's files (rank 0
                the shared ones). Collective calls (DeepSpeed) happen inside it.
            val_loss: Validation loss at this step, if measured; the lowest one becomes best.
        """
        final = self.run_dir / step_dir_name(step)
        tmp = self.run_dir / f".tmp-{step_dir_name(step)}"
        if self.info.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        barrier(self.info)
        write(tmp)
        barrier(self.info)
        if self.info.is_main:
            write_manifest(tmp, step)
            # Re-saving a step (e.g. after resume) replaces it whole; the old one is parked where
            # clean_temp looks, so a crash is never left without one.
            replace_directory(tmp, final, old=self.run_dir / f".old-{step_dir_name(step)}")
            if val_loss is not None:
                self._update_best(step, val_loss)
            self._prune()
        barrier(self.info)
        return final

    def _update_best(self, step: int, val_loss: float) -> None:
        pointer = self.run_dir / BEST_POINTER
        current = None
        if pointer.is_file():
            try:
                current = json.loads(pointer.read_text(encoding="utf-8"))
            except ValueError:
                current = None
        if current is None or val_loss < float(current["val_loss"]):
            best = {"dir": step_dir_name(step), "step": step, "val_loss": val_loss}
            atomic_write_json(pointer, best, indent=1)

    def _prune(self) -> None:
        best = self.best() if self.keep_best else None
        for index, (_, path) in enumerate(self.step_dirs()):
            if index >= self.keep_last and path != best:
                shutil.rmtree(path, ignore_errors=True)


__all__ = [
    "BEST_POINTER",
    "MANIFEST",
    "CheckpointCorruptError",
    "CheckpointManager",
    "step_dir_name",
    "verify_checkpoint",
    "write_manifest",
]
