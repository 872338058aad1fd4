"""Atomic file and directory writes: a failure leaves the old content and no temporary behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from vla_lego.atomic import (
    atomic_directory,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    replace_directory,
    temp_directory,
)


def test_file_writes_replace_the_target_and_leave_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "f.json"
    atomic_write_json(target, {"b": 1, "a": [1, 2]}, indent=1, sort_keys=True)
    assert target.read_text() == json.dumps({"a": [1, 2], "b": 1}, indent=1, sort_keys=True) + "\n"
    atomic_write_text(target, "second")
    assert target.read_text() == "second"
    atomic_write_bytes(target, memoryview(b"\x00\x01"))
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # a plain open()'s mode, not 0600


def test_failure_mid_write_keeps_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f.txt"
    target.write_text("old")

    with pytest.raises(TypeError):
        atomic_write_json(target, {"x": object()})  # unserialisable: fails before any write
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(target, "new \udcff")  # fails inside the write, after the temp exists

    def fail_fsync(fd: int) -> None:
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", fail_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_directory_swap_refuses_to_overwrite_unless_asked(tmp_path: Path) -> None:
    target = tmp_path / "out"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
        assert not target.exists()
    assert (target / "a").read_text() == "1"
    with (
        pytest.raises(FileExistsError, match="use --overwrite"),
        atomic_directory(target, exists_error="out exists (use --overwrite)"),
    ):
        pass
    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_directory(empty) as tmp:  # nothing to lose in an empty directory
        (tmp / "c").write_text("3")
    assert (empty / "c").is_file()


def test_failed_directory_build_keeps_the_old_one_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "exp"
    with pytest.raises(RuntimeError, match="boom"), atomic_directory(target) as tmp:
        (tmp / "prefix.onnx").write_bytes(b"partial")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    target.mkdir()
    (target / "keep").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_directory(target, True) as tmp:
        (tmp / "keep").write_text("new")
        raise RuntimeError("boom")
    assert (target / "keep").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]


def test_replace_directory_parks_the_old_one_where_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final = tmp_path / "step_1"
    final.mkdir()
    (final / "x").write_text("old")
    new = temp_directory(final)
    assert new.parent == tmp_path and new.name.startswith(".step_1.tmp-")
    (new / "x").write_text("new")
    real_rename = os.rename

    def rename(src: os.PathLike[str], dst: os.PathLike[str]) -> None:
        if Path(src) == new:
            raise OSError("rename failed")
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(OSError, match="rename failed"):
        replace_directory(new, final, old=tmp_path / ".old-step_1")
    assert (final / "x").read_text() == "old"  # the parked one is put back
    monkeypatch.setattr(os, "rename", real_rename)
    replace_directory(new, final, old=tmp_path / ".old-step_1")
    assert (final / "x").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["step_1"]
