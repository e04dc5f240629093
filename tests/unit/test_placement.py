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
