"""Atomic writes of files and directories: a reader sees the old content or all of the new.

Files go through a temporary sibling (same directory, hence same filesystem) that is fsynced,
``os.replace``-d over the target, and the directory is fsynced so the rename survives a crash; on
any error the temporary file is removed and the target is untouched. Directories are built in a
temporary sibling, fsynced and renamed into place; an existing one is moved aside first and
removed last, so there is never a moment without a complete directory under the final name.

This module imports only the standard library: every layer of ``vla_lego`` may use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

StrPath = str | os.PathLike[str]


def fsync_file(path: StrPath) -> None:
    """Flush one file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: StrPath) -> None:
    """Flush a directory's entries (renames, new files) to disk."""
    fsync_file(path)  # a directory opened read-only fsyncs the same way on Linux


def fsync_tree(root: StrPath) -> None:
    """Fsync every file and directory below ``root`` (``root`` included)."""
    for dirpath, _, files in os.walk(root):
        for name in files:
            fsync_file(os.path.join(dirpath, name))
        fsync_dir(dirpath)


def _sibling_name(path: Path, tag: str) -> Path:
    return path.parent / f".{path.name}.{tag}-{secrets.token_hex(4)}"


def _temp_file(path: Path) -> tuple[int, Path]:
    # Not mkstemp: its 0600 mode would end up on the final file; 0666 lets the umask decide.
    while True:
        tmp = _sibling_name(path, "tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


def _atomic_write(path: StrPath, write: Callable[[Any], None], mode: str, **open_kw: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_file(path)
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: StrPath, data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``path`` atomically (parent directories are created); return the path."""
    return _atomic_write(path, lambda fh: fh.write(data), "wb")


def atomic_write_text(path: StrPath, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (parent directories are created); return the path."""
    return _atomic_write(path, lambda fh: fh.write(text), "w", encoding=encoding)


def atomic_write_json(
    path: StrPath,
    obj: Any,
    *,
    indent: int | None = 2,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> Path:
    """Write ``obj`` as JSON (plus a final newline) to ``path`` atomically; return the path.

    The object is serialised before anything touches the disk, so an unserialisable object leaves
    no trace.
    """
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, default=default) + "\n"
    return atomic_write_text(path, text)


def temp_directory(path: StrPath) -> Path:
    """Create and return an empty temporary sibling directory of ``path`` (``.<name>.tmp-*``).

    Build the new content in it, then move it into place with :func:`replace_directory`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = _sibling_name(path, "tmp")
        try:
            tmp.mkdir()  # not mkdtemp: its 0700 mode would end up on the final directory
            return tmp
        except FileExistsError:
            continue


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def replace_directory(src: StrPath, dst: StrPath, old: StrPath | None = None) -> Path:
    """Fsync ``src`` and rename it to ``dst``, replacing what is there; return ``dst``.

    Args:
        src: The complete new directory, on the same filesystem as ``dst``.
        dst: The final name.
        old: Where an existing ``dst`` is parked until ``src`` is in place (default
            ``.<name>.old-<pid>``); name it when a crash recovery looks for it there.
    """
    src, dst = Path(src), Path(dst)
    fsync_tree(src)
    parked = None
    if dst.exists() or dst.is_symlink():
        parked = Path(old) if old is not None else dst.parent / f".{dst.name}.old-{os.getpid()}"
        _remove(parked)
        os.rename(dst, parked)
    try:
        os.rename(src, dst)
    except BaseException:
        if parked is not None:
            os.rename(parked, dst)  # put the previous one back rather than leave none
        raise
    fsync_dir(dst.parent)
    if parked is not None:
        _remove(parked)
    return dst


@contextlib.contextmanager
def atomic_directory(
    path: StrPath, overwrite: bool = False, exists_error: str | None = None
) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` when the block succeeds.

    On an exception the temporary directory is removed and ``path`` is left as it was.

    Args:
        path: The directory to create or replace.
        overwrite: Replace an existing non-empty ``path``; otherwise refuse (an empty directory
            holds nothing to lose and is always replaced).
        exists_error: Message of the :class:`FileExistsError` raised when refusing.

    Raises:
        FileExistsError: ``path`` exists, is not an empty directory, and ``overwrite`` is False.
    """
    path = Path(path)
    occupied = path.exists() and (not path.is_dir() or any(path.iterdir()))
    if occupied and not overwrite:
        raise FileExistsError(exists_error or f"{path} exists; pass overwrite=True to replace it")
    tmp = temp_directory(path)
    try:
        yield tmp
        replace_directory(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = [
    "atomic_directory",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_dir",
    "fsync_file",
    "fsync_tree",
    "replace_directory",
    "temp_directory",
]
