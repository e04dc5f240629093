"""Placing files into the outbox: hardlink, adoption after a crash, refusal of changed bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from engine.google.plan import OutboxFile
from engine.google.stage import (
    StageRefusedError,
    observe_resend_sources,
    outbox_stat,
    place_outbox_file,
    remove_outbox_copy,
    resend_outbox_file,
    temp_path_for,
)
from engine.nas.access import NAS_MARKER_NAME


def media(path: Path, data: bytes = b"original bytes" * 100) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, ns=(1_715_938_200_123_456_789, 1_715_938_200_123_456_789))
    return hashlib.sha256(data).hexdigest()


def test_hardlinks_on_the_same_file_system_and_adopts_on_rerun(tmp_path: Path) -> None:
    source, target = tmp_path / "lib/a/IMG.HEIC", tmp_path / "outbox/a/IMG.HEIC"
    sha256 = media(source)

    placed = place_outbox_file(source, target, sha256)

    assert (placed.method, placed.was_adopted, placed.size_bytes) == ("hardlink", False, 1400)
    assert target.samefile(source)
    again = place_outbox_file(source, target, sha256)
    assert (again.method, again.was_adopted) == ("hardlink", True)
    stat = outbox_stat(target)
    assert stat is not None and stat.mtime_ns == 1_715_938_200_123_456_789


def test_an_existing_copy_with_the_right_bytes_is_adopted_as_a_copy(tmp_path: Path) -> None:
    source, target = tmp_path / "lib/IMG.HEIC", tmp_path / "outbox/IMG.HEIC"
    sha256 = media(source)
    media(target)

    placed = place_outbox_file(source, target, sha256)

    assert (placed.method, placed.was_adopted) == ("copy", True)


def test_an_outbox_file_with_other_bytes_is_replaced(tmp_path: Path) -> None:
    source, target = tmp_path / "lib/IMG.HEIC", tmp_path / "outbox/IMG.HEIC"
    sha256 = media(source)
    media(target, b"an older version")

    placed = place_outbox_file(source, target, sha256)

    assert not placed.was_adopted and target.samefile(source)


def test_changed_library_bytes_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    source, target = tmp_path / "lib/IMG.HEIC", tmp_path / "outbox/IMG.HEIC"
    media(source)

    with pytest.raises(StageRefusedError, match="no longer has the downloaded bytes"):
        place_outbox_file(source, target, "0" * 64)

    assert not target.exists() and not temp_path_for(target).exists()


def test_a_missing_library_copy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StageRefusedError, match="missing"):
        place_outbox_file(tmp_path / "gone.HEIC", tmp_path / "outbox/gone.HEIC", "0" * 64)


def test_a_stale_temp_file_from_a_killed_run_is_replaced(tmp_path: Path) -> None:
    source, target = tmp_path / "lib/IMG.HEIC", tmp_path / "outbox/IMG.HEIC"
    sha256 = media(source)
    media(temp_path_for(target), b"half written")

    place_outbox_file(source, target, sha256)

    assert target.samefile(source) and not temp_path_for(target).exists()
    assert temp_path_for(target).name == ".syncthing.IMG.HEIC.tmp"  # Syncthing never indexes it


def test_remove_outbox_copy(tmp_path: Path) -> None:
    target = tmp_path / "outbox/IMG.HEIC"
    media(target)
    assert remove_outbox_copy(target) and not target.exists()
    assert not remove_outbox_copy(target)


def test_a_resend_writes_a_fresh_copy_with_the_new_time_and_leaves_the_library_alone(
    tmp_path: Path,
) -> None:
    source, target = tmp_path / "lib/IMG.HEIC", tmp_path / "outbox/IMG.HEIC"
    sha256 = media(source)
    place_outbox_file(source, target, sha256)  # the hardlink of the first staging
    library_mtime_ns = source.stat().st_mtime_ns
    [seen] = observe_resend_sources(OutboxFile("original", "IMG.HEIC", sha256), tmp_path / "lib",
                                    None)

    placed = resend_outbox_file(seen, target, sha256, library_mtime_ns + 5_000_000_000)

    assert (placed.method, placed.was_adopted) == ("copy", False)
    assert not target.samefile(source) and target.read_bytes() == source.read_bytes()
    assert target.stat().st_mtime_ns == library_mtime_ns + 5_000_000_000
    assert source.stat().st_mtime_ns == library_mtime_ns
    assert not temp_path_for(target).exists()


def test_the_nas_is_read_only_when_the_library_copy_is_not_the_original(tmp_path: Path) -> None:
    file = OutboxFile("original", "IMG.HEIC", media(tmp_path / "lib/IMG.HEIC"))
    nas = tmp_path / "nas"
    media(nas / "IMG.HEIC")

    assert [s.where for s in observe_resend_sources(file, tmp_path / "lib", nas)] == ["library"]
    (tmp_path / "lib/IMG.HEIC").write_bytes(b"compressed")
    unmounted = observe_resend_sources(file, tmp_path / "lib", nas)
    assert unmounted[1].sha256 is None and "not mounted" in unmounted[1].note
    (nas / NAS_MARKER_NAME).write_text("marker")
    assert observe_resend_sources(file, tmp_path / "lib", nas)[1].sha256 == file.sha256


def test_a_resend_source_that_changed_after_it_was_chosen_is_refused(tmp_path: Path) -> None:
    source, target = tmp_path / "nas/IMG.HEIC", tmp_path / "outbox/IMG.HEIC"
    sha256 = media(source)
    [seen] = observe_resend_sources(OutboxFile("original", "IMG.HEIC", sha256), tmp_path / "nas",
                                    None)
    source.write_bytes(b"changed since")

    with pytest.raises(StageRefusedError, match="no longer has the downloaded bytes"):
        resend_outbox_file(seen, target, sha256, 1)

    assert not target.exists() and not temp_path_for(target).exists()
