"""Durable placement (engine.placement): complete or nothing, one temp-name scheme."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from engine.errors import StorageError
from engine.placement import (
    ContentMismatchError,
    bytes_source,
    file_source,
    place_bytes,
    place_file,
    temp_path,
)
from engine.tempfiles import find_temp_files, is_temp_name


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_placed_bytes_are_hashed_and_given_their_time_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "IMG_0001.HEIC"
    placed = place_file(target, bytes_source(b"photo"), tag="nas", mtime_s=1_600_000_000,
                        mode=0o640, expected_sha256=sha(b"photo"))
    assert (placed.size_bytes, placed.sha256) == (5, sha(b"photo"))
    assert target.read_bytes() == b"photo"
    assert target.stat().st_mtime == 1_600_000_000
    assert target.stat().st_mode & 0o777 == 0o640
    assert find_temp_files([tmp_path]) == []


def test_other_bytes_than_expected_place_nothing_and_leave_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.jpg"
    target.write_bytes(b"the old copy")
    with pytest.raises(ContentMismatchError):
        place_file(target, bytes_source(b"new"), tag="nas", expected_sha256=sha(b"other"))
    assert target.read_bytes() == b"the old copy"
    assert find_temp_files([tmp_path]) == []


def test_a_stop_before_the_rename_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "a.jpg"

    def stop() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        place_bytes(target, b"new", before_rename=stop)
    assert not target.exists()
    assert os.listdir(tmp_path) == []


def test_a_source_that_changes_size_while_copied_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "src.mov"
    source.write_bytes(b"x" * 10)
    with pytest.raises(StorageError, match="changed while copying"):
        place_file(tmp_path / "dst.mov", file_source(source, expected_size_bytes=11), tag="nas")
    assert not (tmp_path / "dst.mov").exists()
    assert find_temp_files([tmp_path]) == []


def test_every_temp_name_is_one_tempfiles_finds_even_for_long_names(tmp_path: Path) -> None:
    long_name = "é" * 120 + ".HEIC"  # 245 bytes in UTF-8
    for tag in ("nas", "outbox", "compress", "sidecar"):
        temp = temp_path(tmp_path / long_name, tag)
        assert is_temp_name(temp.name), temp.name
        assert len(temp.name.encode()) <= 255
    assert not is_temp_name("IMG_0001.HEIC")


def test_a_kernel_copy_is_placed_whole_and_refused_when_the_source_changes_size(
    tmp_path: Path,
) -> None:
    from engine.placement import place_copy

    source = tmp_path / "src.heic"
    source.write_bytes(b"y" * 100_000)
    copied = place_copy(tmp_path / "dst.heic", source, tag="nas", expected_size_bytes=100_000,
                        mode=0o640, mtime_s=1_500_000_000)
    assert copied == 100_000 and (tmp_path / "dst.heic").read_bytes() == source.read_bytes()
    assert (tmp_path / "dst.heic").stat().st_mtime == 1_500_000_000
    with pytest.raises(StorageError, match="changed while copying"):
        place_copy(tmp_path / "other.heic", source, tag="nas", expected_size_bytes=99)
    assert not (tmp_path / "other.heic").exists()
    assert find_temp_files([tmp_path]) == []


def test_a_file_system_that_refuses_kernel_copies_gets_a_plain_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno as errno_module

    from engine import placement

    def refuse(*_args: object) -> int:
        raise OSError(errno_module.EXDEV, "cross-device")

    monkeypatch.setattr(placement.os, "copy_file_range", refuse)
    source = tmp_path / "src.mov"
    source.write_bytes(bytes(range(256)) * 5000)
    assert placement.place_copy(tmp_path / "dst.mov", source, tag="nas") == 1_280_000
    assert (tmp_path / "dst.mov").read_bytes() == source.read_bytes()
