"""The NAS folder: its marker, durable copies into it, and cache-bypassing re-reads.

Invariants:
- The NAS is usable only while the marker file `.photoledger-nas` is a regular file at its
  root (written by `photoledger init`). Without it the folder is *unavailable*, never "every
  copy is missing": an unmounted share shows an empty mount point (Syncthing's .stfolder rule).
- A copy appears at its final path complete or not at all: temp file in the target folder,
  every byte copied and counted against the source's size, fsync, rename, fsync the folder
  (restic/borg order). A failed copy removes its temp file; a killed one leaves a temp file
  that the next copy into that folder removes (temp names end in TEMP_SUFFIX and are never
  read as content).
- A re-read drops the file's pages from this machine's page cache first
  (posix_fadvise DONTNEED) so the hash is of what the NAS returns, not of what was written.
- A relative path from the ledger resolves strictly inside the NAS root.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from engine.errors import ExitCode, PhotoledgerError
from engine.fsutil import atomic_write_bytes, fsync_dir, remove_temps_beside

NAS_MARKER_NAME = ".photoledger-nas"
TEMP_SUFFIX = ".photoledger-tmp"
REREAD_METHOD = "reread-fadvise-dontneed"
ADOPTED_METHOD = "adopted-existing"
READ_CHUNK_BYTES = 4 << 20
COPY_CHUNK_BYTES = 64 << 20
_TEMP_STEM_BYTES = 120  # leaves room under NAME_MAX (255) for the random part and suffix
# A write that fails with one of these will fail for every later file too: stop the stage.
_NAS_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS})
_NO_KERNEL_COPY_ERRNOS = frozenset(
    {errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF}
)


class NasUnavailableError(PhotoledgerError):
    """The NAS is not mounted (marker missing) or cannot take writes; the stage stops."""

    exit_code = ExitCode.NAS_UNAVAILABLE


class SourceFileError(Exception):
    """The local file to copy is missing or unreadable (a problem of one asset)."""


def marker_text(now: datetime) -> bytes:
    """The marker's content: what it is for, for a person who finds it on the NAS."""
    return (
        "This folder is a photoledger NAS archive root.\n"
        "photoledger backs up and verifies copies here only while this file exists: without\n"
        "it the folder is treated as not mounted. Do not delete it.\n"
        f"created_at_utc: {now.isoformat()}\n"
    ).encode()


def write_nas_marker(root: Path, now: datetime) -> bool:
    """Write the marker at an existing NAS root; False when it is already there."""
    marker = root / NAS_MARKER_NAME
    if marker.is_file():
        return False
    if not root.is_dir():
        raise NasUnavailableError(f"NAS folder {root} does not exist (is the share mounted?)")
    try:
        atomic_write_bytes(marker, marker_text(now))
    except OSError as exc:
        raise NasUnavailableError(f"cannot write {marker}: {exc.strerror}") from None
    return True


def require_nas_available(root: Path) -> None:
    """Raise NasUnavailableError unless `root` is a folder holding the marker file."""
    marker = root / NAS_MARKER_NAME
    try:
        is_marked = marker.is_file()
    except OSError:  # a hung or dead mount can fail a stat with EIO
        is_marked = False
    if not is_marked:
        raise NasUnavailableError(
            f"NAS marker {marker} is missing: the NAS is not mounted, or this folder was never "
            "set up (`photoledger init` writes the marker when nas.root is set); nothing "
            "was recorded"
        )


def nas_path(root: Path, relpath: str) -> Path:
    """The NAS path of a library-relative path; ValueError if it would leave the root."""
    rel = Path(relpath)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"relative path {relpath!r} would leave the NAS root")
    return root / rel


def _temp_prefix(target: Path) -> str:
    stem = target.name.encode()[:_TEMP_STEM_BYTES].decode(errors="ignore")
    return f".{stem}."


def remove_stale_temps(target: Path) -> int:
    """Remove temp files a killed copy of `target` left beside it; returns how many."""
    return remove_temps_beside(target, _temp_prefix(target), TEMP_SUFFIX)


def copy_to_nas(source: Path, target: Path, before_rename: Callable[[], None]) -> int:
    """Copy `source` to `target` durably (see module invariants); returns bytes copied."""
    try:
        source_fd = os.open(source, os.O_RDONLY)
    except OSError as exc:
        raise SourceFileError(f"cannot read {source}: {exc.strerror}") from None
    try:
        size_bytes = os.fstat(source_fd).st_size
        _ensure_folder(target.parent)
        fd, temp_name = _make_temp(target)
        temp = Path(temp_name)
        try:
            try:
                copied = _copy_all(source_fd, fd)
                if copied != size_bytes:
                    raise SourceFileError(
                        f"{source} changed while copying ({copied} of {size_bytes} bytes)"
                    )
                os.fsync(fd)
            finally:
                os.close(fd)
            before_rename()
            temp.replace(target)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise _nas_write_error(target, exc) from None
    finally:
        os.close(source_fd)
    try:
        fsync_dir(target.parent)
    except OSError as exc:
        raise _nas_write_error(target, exc) from None
    return copied


def _ensure_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NasUnavailableError(f"{folder} on the NAS is a file, not a folder") from None


def _make_temp(target: Path) -> tuple[int, str]:
    return tempfile.mkstemp(dir=target.parent, prefix=_temp_prefix(target), suffix=TEMP_SUFFIX)


def _nas_write_error(target: Path, exc: OSError) -> Exception:
    """A full or read-only NAS stops the stage; other errors stay errors of this copy."""
    if exc.errno in _NAS_FULL_ERRNOS:
        return NasUnavailableError(
            f"cannot write {target} on the NAS: {exc.strerror}; the copy was removed and "
            "nothing was recorded for it (free space and run again)"
        )
    return exc


def _copy_all(source_fd: int, target_fd: int) -> int:
    """Copy from the start of source to target in the kernel when it can; returns bytes."""
    copied = 0
    try:
        while n := os.copy_file_range(source_fd, target_fd, COPY_CHUNK_BYTES):
            copied += n
        return copied
    except OSError as exc:
        # Some kernels and network file systems refuse copy_file_range across mounts.
        if copied or exc.errno not in _NO_KERNEL_COPY_ERRNOS:
            raise
    os.lseek(source_fd, 0, os.SEEK_SET)
    os.lseek(target_fd, 0, os.SEEK_SET)
    while chunk := os.read(source_fd, READ_CHUNK_BYTES):
        view = memoryview(chunk)
        while view:
            written = os.write(target_fd, view)
            view = view[written:]
            copied += written
    return copied


def reread_sha256(path: Path) -> str | None:
    """sha256 of the file as the NAS serves it now (page cache dropped); None if missing."""
    try:
        handle = path.open("rb", buffering=0)
    except FileNotFoundError:
        return None
    with handle:
        fd = handle.fileno()
        # Clean pages are dropped; our copies were fsynced, so none of theirs are dirty.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        digest = hashlib.sha256()
        buffer = bytearray(READ_CHUNK_BYTES)
        view = memoryview(buffer)
        while n := handle.readinto(buffer):
            digest.update(view[:n])
        # Verification should not push the user's working set out of the cache.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    return digest.hexdigest()


def local_sha256(path: Path) -> str:
    """sha256 of a library file; SourceFileError when it cannot be read."""
    try:
        digest = hashlib.sha256()
        with path.open("rb", buffering=0) as handle:
            buffer = bytearray(READ_CHUNK_BYTES)
            view = memoryview(buffer)
            while n := handle.readinto(buffer):
                digest.update(view[:n])
    except OSError as exc:
        raise SourceFileError(f"cannot read {path}: {exc.strerror}") from None
    return digest.hexdigest()
