"""The NAS primitives on real files: marker, durable copy, cache-dropping re-read, adoption."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import placement
from engine.crashpoints import CrashPoints
from engine.nas.access import (
    NAS_MARKER_NAME,
    TEMP_SUFFIX,
    NasGuard,
    NasUnavailableError,
    copy_to_nas,
    nas_path,
    read_nas_id,
    remove_stale_temps,
    require_nas_available,
    reread_sha256,
    write_nas_marker,
)
from engine.nas.files import (
    NasRoots,
    RepairSource,
    execute_backup_job,
    execute_reverify_job,
)
from engine.nas.plan import NasFile, NasJob, describe_bad_file

NOW = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def flip_byte_keep_stat(path: Path, offset: int = 10) -> None:
    """Change one byte; size and modification time stay exactly as they were."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


@pytest.fixture
def roots(tmp_path: Path) -> NasRoots:
    (tmp_path / "lib").mkdir()
    (tmp_path / "nas").mkdir()
    write_nas_marker(tmp_path / "nas", NOW)
    return NasRoots(library_root=tmp_path / "lib", nas_root=tmp_path / "nas")


def guard(roots: NasRoots) -> NasGuard:
    return NasGuard.start(roots.nas_root)


def put_local(roots: NasRoots, relpath: str, data: bytes) -> NasFile:
    path = roots.library_root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return NasFile("original", relpath, sha(data))


def test_nas_marker_missing_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(NasUnavailableError, match="not mounted"):
        require_nas_available(tmp_path)  # an existing but empty folder: an empty mount point
    with pytest.raises(NasUnavailableError):
        require_nas_available(tmp_path / "absent")


def test_nas_marker_written_once_with_an_id_and_then_available(tmp_path: Path) -> None:
    assert write_nas_marker(tmp_path, NOW) == "written"
    text = (tmp_path / NAS_MARKER_NAME).read_text()
    assert "Do not delete it" in text
    nas_id = require_nas_available(tmp_path)
    assert len(nas_id) == 32 and int(nas_id, 16) >= 0 and f"nas_id: {nas_id}\n" in text
    assert write_nas_marker(tmp_path, NOW) == "already there"
    assert (tmp_path / NAS_MARKER_NAME).read_text() == text  # an id is never replaced
    other = tmp_path / "other"
    other.mkdir()
    write_nas_marker(other, NOW)
    assert read_nas_id(other) not in (None, "", nas_id)  # each NAS its own id


@pytest.mark.parametrize("old", ["", "marker", "photoledger NAS\ncreated_at_utc: 2025-01-01"])
def test_nas_marker_without_an_id_counts_as_mounted_and_init_adds_one(
    tmp_path: Path, old: str
) -> None:
    (tmp_path / NAS_MARKER_NAME).write_text(old)
    assert require_nas_available(tmp_path) == ""  # mounted, which NAS unknown

    assert write_nas_marker(tmp_path, NOW) == "id added"

    text = (tmp_path / NAS_MARKER_NAME).read_text()
    assert text.startswith(old) and text.count("nas_id:") == 1
    assert len(require_nas_available(tmp_path)) == 32
    assert write_nas_marker(tmp_path, NOW) == "already there"


def test_nas_guard_stops_a_run_when_the_nas_goes_away_or_is_swapped(tmp_path: Path) -> None:
    write_nas_marker(tmp_path, NOW)
    guard = NasGuard.start(tmp_path)
    guard.check()
    with pytest.raises(NasUnavailableError, match="another file system"):
        NasGuard(tmp_path, guard.nas_id, guard.device + 1).check()  # remounted elsewhere
    marker = tmp_path / NAS_MARKER_NAME
    marker.write_text(marker.read_text().replace(guard.nas_id, "f" * 32))
    with pytest.raises(NasUnavailableError, match="names NAS ffffffff"):
        guard.check()
    marker.unlink()
    with pytest.raises(NasUnavailableError, match="missing: unmounted"):
        guard.check()
    with pytest.raises(NasUnavailableError):
        NasGuard.start(tmp_path)


def test_nas_copy_refused_by_the_guard_creates_no_folder_and_no_file(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"z" * 100)
    nas = tmp_path / "nas"
    nas.mkdir()

    def unmounted() -> None:
        raise NasUnavailableError("gone")

    with pytest.raises(NasUnavailableError):
        copy_to_nas(tmp_path / "src", nas / "2024" / "f.jpg", lambda: None, unmounted)
    assert list(nas.iterdir()) == []
    calls: list[str] = []

    def gone_before_rename() -> None:
        calls.append("check")
        if len(calls) == 2:  # the share went away while the temp file was written
            raise NasUnavailableError("gone")

    with pytest.raises(NasUnavailableError):
        copy_to_nas(tmp_path / "src", nas / "2024" / "f.jpg", lambda: None, gone_before_rename)
    assert calls == ["check", "check"]
    assert list((nas / "2024").iterdir()) == []  # the temp file was removed, nothing renamed


def test_nas_marker_not_written_into_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(NasUnavailableError):
        write_nas_marker(tmp_path / "absent", NOW)
    assert not (tmp_path / "absent").exists()


@pytest.mark.parametrize("relpath", ["../x.jpg", "/etc/passwd", "a/../../b", ""])
def test_nas_path_refuses_to_leave_the_root(tmp_path: Path, relpath: str) -> None:
    with pytest.raises(ValueError):
        nas_path(tmp_path, relpath)


def test_nas_copy_is_exact_and_leaves_no_temp(tmp_path: Path) -> None:
    data = os.urandom(3_000_001)
    (tmp_path / "src.bin").write_bytes(data)
    target = tmp_path / "nas" / "2024" / "01" / "IMG.HEIC"
    copied = copy_to_nas(tmp_path / "src.bin", target, lambda: None, lambda: None)
    assert copied == len(data) and target.read_bytes() == data
    assert [p.name for p in target.parent.iterdir()] == ["IMG.HEIC"]


def test_nas_copy_syscall_order_is_write_fsync_rename_fsync_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync file"), real_fsync(fd))[1])
    monkeypatch.setattr(placement, "fsync_dir", lambda p: calls.append(f"fsync dir {p.name}"))
    (tmp_path / "src").write_bytes(b"x" * 100)
    target = tmp_path / "t"
    copy_to_nas(tmp_path / "src", target,
                lambda: calls.append(f"rename (exists={target.exists()})"), lambda: None)
    assert calls == ["fsync file", "rename (exists=False)", f"fsync dir {tmp_path.name}"]
    assert target.read_bytes() == b"x" * 100


def test_nas_copy_interrupted_before_rename_removes_its_temp(tmp_path: Path) -> None:
    (tmp_path / "src").write_bytes(b"y" * 1000)
    target = tmp_path / "out" / "f.jpg"

    def boom() -> None:
        raise OSError(5, "Input/output error")

    with pytest.raises(OSError):
        copy_to_nas(tmp_path / "src", target, boom, lambda: None)
    assert list(target.parent.iterdir()) == []


def test_nas_stale_temps_of_a_killed_copy_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "IMG_1.JPG"
    (tmp_path / f".IMG_1.JPG.abc123{TEMP_SUFFIX}").write_bytes(b"half")
    (tmp_path / f".OTHER.JPG.abc123{TEMP_SUFFIX}").write_bytes(b"not ours to judge")
    (tmp_path / "IMG_1.JPG.keep").write_bytes(b"content")
    assert remove_stale_temps(target) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f".OTHER.JPG.abc123{TEMP_SUFFIX}", "IMG_1.JPG.keep",
    ]


def test_nas_reread_catches_a_flipped_byte_with_same_size_and_mtime(tmp_path: Path) -> None:
    data = os.urandom(50_000)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert reread_sha256(path) == sha(data)
    flip_byte_keep_stat(path)
    assert reread_sha256(path) not in (None, sha(data))
    assert reread_sha256(tmp_path / "missing") is None


def test_nas_existing_right_copy_is_adopted_without_copying(roots: NasRoots) -> None:
    nas_file = put_local(roots, "a/IMG.JPG", b"photo bytes" * 100)
    (roots.nas_root / "a").mkdir()
    (roots.nas_root / "a/IMG.JPG").write_bytes(b"photo bytes" * 100)
    inode = (roots.nas_root / "a/IMG.JPG").stat().st_ino
    job = NasJob("00" * 16, (nas_file,), is_local_altered=False, label="a/IMG.JPG")
    [result] = execute_backup_job(roots, job, guard(roots), CrashPoints(), lambda _n: None)
    assert result.action == "adopted" and result.size_bytes == 0
    assert (roots.nas_root / "a/IMG.JPG").stat().st_ino == inode


def test_nas_damaged_copy_is_replaced_from_a_good_local_file(roots: NasRoots) -> None:
    data = os.urandom(4096)
    nas_file = put_local(roots, "IMG.JPG", data)
    (roots.nas_root / "IMG.JPG").write_bytes(data[:-1] + b"!")
    job = NasJob("00" * 16, (nas_file,), is_local_altered=False, label="IMG.JPG")
    [result] = execute_backup_job(roots, job, guard(roots), CrashPoints(), lambda _n: None)
    assert result.action == "copied" and result.actual_sha256 == nas_file.sha256
    assert (roots.nas_root / "IMG.JPG").read_bytes() == data


def test_nas_copy_never_replaced_by_a_compressed_local_file(roots: NasRoots) -> None:
    original = os.urandom(4096)
    nas_file = NasFile("original", "IMG.HEIC", sha(original))
    put_local(roots, "IMG.HEIC", b"re-encoded, smaller")
    damaged = original[:100] + bytes([original[100] ^ 0xFF]) + original[101:]  # always differs
    (roots.nas_root / "IMG.HEIC").write_bytes(damaged)
    job = NasJob("00" * 16, (nas_file,), is_local_altered=True, label="IMG.HEIC")
    [result] = execute_backup_job(roots, job, guard(roots), CrashPoints(), lambda _n: None)
    assert result.action == "unrepairable" and result.actual_sha256 == sha(damaged)
    assert result.detail.startswith("no good local source (library: not the downloaded file")
    assert (roots.nas_root / "IMG.HEIC").read_bytes() == damaged  # left for a human


def test_nas_compressed_local_file_is_not_copied_to_an_empty_nas(roots: NasRoots) -> None:
    nas_file = NasFile("original", "IMG.HEIC", sha(b"the original"))
    put_local(roots, "IMG.HEIC", b"re-encoded")
    job = NasJob("00" * 16, (nas_file,), is_local_altered=True, label="IMG.HEIC")
    [result] = execute_backup_job(roots, job, guard(roots), CrashPoints(), lambda _n: None)
    assert result.action == "unrepairable" and result.actual_sha256 is None
    assert not (roots.nas_root / "IMG.HEIC").exists()


def test_nas_missing_local_file_is_unrepairable_and_names_why(roots: NasRoots) -> None:
    job = NasJob("00" * 16, (NasFile("original", "gone.jpg", "0" * 64),), False, "gone.jpg")
    [result] = execute_backup_job(roots, job, guard(roots), CrashPoints(), lambda _n: None)
    assert result.action == "unrepairable" and "library: cannot read" in result.detail
    assert describe_bad_file(result).startswith(
        "original gone.jpg: missing on the NAS; no good local source (library: cannot read")


def test_nas_fresh_copy_of_a_damaged_local_file_says_the_local_side_is_wrong(
    roots: NasRoots,
) -> None:
    nas_file = NasFile("original", "IMG.JPG", sha(b"what was downloaded"))
    put_local(roots, "IMG.JPG", b"what bit rot left")
    job = NasJob("00" * 16, (nas_file,), is_local_altered=False, label="IMG.JPG")
    [result] = execute_backup_job(roots, job, guard(roots), CrashPoints(), lambda _n: None)
    assert result.action == "unrepairable"
    assert result.detail == (
        f"no good local source (library: not the downloaded file (sha256 "
        f"{sha(b'what bit rot left')[:12]}: compressed or damaged))"
    )


def with_outbox(roots: NasRoots, tmp_path: Path) -> NasRoots:
    (tmp_path / "outbox").mkdir()
    return NasRoots(roots.library_root, roots.nas_root,
                    (RepairSource("Pixel outbox", tmp_path / "outbox"),))


@pytest.mark.parametrize("nas_holds", ["damaged", "nothing"])
@pytest.mark.parametrize("library_holds", ["compressed", "bit rot", "nothing"])
def test_nas_copy_repaired_from_the_outbox_when_the_library_copy_is_no_good(
    roots: NasRoots, tmp_path: Path, nas_holds: str, library_holds: str
) -> None:
    original = os.urandom(5000)
    nas_file = NasFile("alternative", "2024/IMG.DNG", sha(original))
    if library_holds != "nothing":
        put_local(roots, "2024/IMG.DNG", b"smaller" if library_holds == "compressed" else
                  original[:-1] + bytes([original[-1] ^ 0x3F]))  # bit rot: always differs
    if nas_holds == "damaged":
        (roots.nas_root / "2024").mkdir()
        (roots.nas_root / "2024/IMG.DNG").write_bytes(original[:-1] + bytes([original[-1] ^ 0x21]))
    both = with_outbox(roots, tmp_path)
    (tmp_path / "outbox/2024").mkdir()
    (tmp_path / "outbox/2024/IMG.DNG").write_bytes(original)
    job = NasJob("00" * 16, (nas_file,), library_holds == "compressed", "2024/IMG.DNG")

    [result] = execute_backup_job(both, job, guard(roots), CrashPoints(), lambda _n: None)

    assert (result.action, result.actual_sha256) == ("copied", sha(original))
    assert (roots.nas_root / "2024/IMG.DNG").read_bytes() == original


def test_nas_copy_not_repaired_from_an_outbox_copy_of_other_bytes(
    roots: NasRoots, tmp_path: Path
) -> None:
    original = os.urandom(3000)
    nas_file = NasFile("original", "IMG.HEIC", sha(original))
    (roots.nas_root / "IMG.HEIC").write_bytes(b"damaged")
    both = with_outbox(roots, tmp_path)
    (tmp_path / "outbox/IMG.HEIC").write_bytes(b"also not it")
    job = NasJob("00" * 16, (nas_file,), False, "IMG.HEIC")

    [result] = execute_backup_job(both, job, guard(roots), CrashPoints(), lambda _n: None)

    assert result.action == "unrepairable"
    assert "library: cannot read" in result.detail and "Pixel outbox: not the downloaded" in (
        result.detail)
    assert (roots.nas_root / "IMG.HEIC").read_bytes() == b"damaged"


def test_nas_reverify_reports_each_file(roots: NasRoots) -> None:
    good = put_local(roots, "a.jpg", b"a" * 100)
    live = NasFile("live_video", "a.mov", sha(b"m" * 100))
    (roots.nas_root / "a.jpg").write_bytes(b"a" * 100)
    job = NasJob("00" * 16, (good, live), False, "a.jpg")
    results = execute_reverify_job(roots, job, lambda _n: None)
    assert [r.action for r in results] == ["verified", "missing"]
    (roots.nas_root / "a.mov").write_bytes(b"m" * 99 + b"x")
    results = execute_reverify_job(roots, job, lambda _n: None)
    assert [r.action for r in results] == ["verified", "mismatched"]
