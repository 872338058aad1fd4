"""Atomic checkpoint directories with a checksummed manifest.

A checkpoint is written into a temporary sibling directory, every file is fsynced, a
``manifest.json`` (size + sha256 of each file) is written last, and the directory is renamed into
place. A reader checks the manifest before it trusts anything, so a half-written, truncated or
edited checkpoint fails with :class:`CheckpointError` naming the file instead of loading garbage.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vla_lego import atomic

MANIFEST = "manifest.json"
FORMAT = "vla_lego.eo1/1"


class CheckpointError(ValueError):
    """A checkpoint directory is missing, incomplete or corrupt."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> list[str]:
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.name != MANIFEST
    )


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary directory; on success it gets its manifest and replaces ``target``.

    On an exception the temporary directory is removed and ``target`` is left untouched.
    """
    with atomic.atomic_directory(Path(target).absolute(), overwrite=True) as tmp:
        yield tmp
        manifest = {
            "format": FORMAT,
            "files": {
                f: {"size": (tmp / f).stat().st_size, "sha256": _sha256(tmp / f)}
                for f in _files(tmp)
            },
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))


def verify_directory(
    directory: str | os.PathLike[str], required: tuple[str, ...]
) -> dict[str, Any]:
    """Check ``directory`` against its manifest; return the manifest.

    Raises:
        CheckpointError: the directory, the manifest or a required file is missing, or a file's
            size or sha256 differs from the manifest.
    """
    d = Path(directory)
    if not d.is_dir():
        raise CheckpointError(f"checkpoint directory {d} does not exist")
    try:
        manifest = json.loads((d / MANIFEST).read_text())
        files = manifest["files"]
    except FileNotFoundError:
        raise CheckpointError(f"{d / MANIFEST} missing: not a complete checkpoint") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{d / MANIFEST} is corrupt: {e}") from e
    if not isinstance(manifest, dict) or not isinstance(files, dict):
        raise CheckpointError(f"{d / MANIFEST} is corrupt: expected an object with a 'files' map")
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"{d}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    for name in required:
        if name not in files:
            raise CheckpointError(f"{d}: required file {name} is not in the manifest")
    for name, meta in files.items():
        path = d / name
        if not isinstance(meta, dict) or not {"size", "sha256"} <= meta.keys():
            raise CheckpointError(f"{d / MANIFEST} is corrupt: entry {name!r} lacks size/sha256")
        if not path.is_file():
            raise CheckpointError(f"{path} missing (listed in the manifest)")
        size = path.stat().st_size
        if size != meta["size"]:
            raise CheckpointError(f"{path} has {size} bytes, manifest says {meta['size']}: corrupt")
        if _sha256(path) != meta["sha256"]:
            raise CheckpointError(f"{path} checksum differs from the manifest: corrupt")
    return dict(manifest)


def read_json(path: Path) -> Any:
    """``json.load`` with a :class:`CheckpointError` naming the file on failure."""
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"cannot read {path}: {e}") from e


__all__ = [
    "FORMAT",
    "MANIFEST",
    "CheckpointError",
    "atomic_directory",
    "read_json",
    "verify_directory",
]
