"""Durable placement: the one way photoledger puts a file's bytes at a path.

Invariants:
- A placed file appears complete or not at all: its bytes go to a temp file beside the target
  (same folder, so the rename is atomic), which is fsynced, optionally checked against a
  sha256, given its modification time, renamed over the target, and the folder fsynced
  (restic/borg order). Any failure removes the temp file; the target is left as it was.
- Every temp file has one name scheme, `.<target name>.<tag>.photoledger-tmp` (`temp_path`),
  so `engine.tempfiles` finds what a killed writer left without knowing the stages. The one
  exception is a download's resumable part file, which keeps its `.part` name on purpose.
- `before_rename` (a crash point, or a check that the NAS is still the one the run started
  on) runs after the fsync and immediately before the rename: when it raises, nothing is
  placed.
- A placed file gets its owner (when one is given) and its mode explicitly before the rename,
  so the umask never decides who may read it; `make_folders` does the same for the folders it
  creates, and only for those (engine.filemodes).
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from engine.errors import StorageError
from engine.filemodes import FileModes, Owner
from engine.fsutil import HASH_CHUNK_BYTES, fsync_dir

TEMP_SUFFIX = ".photoledger-tmp"
_STEM_BYTES = 120  # room for the tag and suffix within a 255-byte name


class ContentMismatchError(StorageError):
    """The bytes written are not the ones expected (their sha256 differs); nothing placed."""


@dataclass(frozen=True)
class Placed:
    """What was placed: its size and sha256 (hashed while written)."""

    size_bytes: int
    sha256: str


def temp_path(target: Path, tag: str) -> Path:
    """The temp file beside `target` for one writer (`tag`: "nas", "outbox", "compress" ...)."""
    stem = target.name.encode()[:_STEM_BYTES].decode(errors="ignore")
    return target.parent / f".{stem}.{tag}{TEMP_SUFFIX}"


class _HashingWriter:
    """Counts and hashes what passes through to the file."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle, self.digest, self.size_bytes = handle, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size_bytes += len(data)
        return self.handle.write(data)


def place_file(
    target: Path,
    write: Callable[[_HashingWriter], None],
    *,
    tag: str,
    expected_sha256: str | None = None,
    mtime_s: float | None = None,
    mode: int = 0o644,
    owner: Owner | None = None,
    before_rename: Callable[[], None] | None = None,
) -> Placed:
    """Write through `write` into a temp file and place it at `target` (module invariants)."""
    temp = temp_path(target, tag)
    try:
        with temp.open("wb") as handle:
            writer = _HashingWriter(handle)
            write(writer)
            handle.flush()
            os.fsync(handle.fileno())
        placed = Placed(writer.size_bytes, writer.digest.hexdigest())
        if expected_sha256 is not None and placed.sha256 != expected_sha256:
            raise ContentMismatchError(
                f"{target}: wrote sha256 {placed.sha256[:12]}, expected {expected_sha256[:12]}"
            )
        commit_temp(temp, target, mtime_s=mtime_s, mode=mode, owner=owner,
                    before_rename=before_rename)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return placed


def commit_temp(
    temp: Path,
    target: Path,
    *,
    mtime_s: float | None = None,
    mode: int | None = None,
    owner: Owner | None = None,
    before_rename: Callable[[], None] | None = None,
    sync_folder: bool = True,
) -> None:
    """Give a synced temp file its owner, mode and time, rename it over `target`, fsync the
    folder (`sync_folder` False: the caller fsyncs each folder once for many files)."""
    if owner is not None:
        owner.apply(temp)
    if mode is not None:
        temp.chmod(mode)
    if mtime_s is not None:
        os.utime(temp, (mtime_s, mtime_s))
    if before_rename is not None:
        before_rename()
    temp.replace(target)
    if sync_folder:
        fsync_dir(target.parent)


def bytes_source(data: bytes) -> Callable[[_HashingWriter], None]:
    """A `write` for `place_file` that writes these bytes."""

    def write(out: _HashingWriter) -> None:
        out.write(data)

    return write


def file_source(path: Path, expected_size_bytes: int | None = None) -> Callable[
    [_HashingWriter], None
]:
    """A `write` that copies the file at `path`; OSError when it cannot be read, StorageError
    when it changed size while copied."""

    def write(out: _HashingWriter) -> None:
        with path.open("rb") as source:
            while chunk := source.read(HASH_CHUNK_BYTES):
                out.write(chunk)
        if expected_size_bytes is not None and out.size_bytes != expected_size_bytes:
            raise StorageError(
                f"{path} changed while copying ({out.size_bytes} of {expected_size_bytes} bytes)"
            )

    return write


def place_copy(
    target: Path,
    source: Path,
    *,
    tag: str,
    expected_size_bytes: int | None = None,
    mtime_s: float | None = None,
    mode: int = 0o644,
    owner: Owner | None = None,
    before_rename: Callable[[], None] | None = None,
) -> int:
    """Copy the file at `source` to `target` durably, in the kernel where it can
    (copy_file_range; read/write where a file system refuses it); returns the bytes copied.
    Not hashed while copied: a caller that needs the hash re-reads the placed file (the NAS
    route re-reads every copy with the page cache dropped). StorageError when the source
    changed size while copied; OSError when it cannot be read."""
    temp = temp_path(target, tag)
    try:
        with source.open("rb") as src, temp.open("wb") as dst:
            copied = _kernel_copy(src.fileno(), dst.fileno())
            if expected_size_bytes is not None and copied != expected_size_bytes:
                raise StorageError(f"{source} changed while copying ({copied} of "
                                   f"{expected_size_bytes} bytes)")
            os.fsync(dst.fileno())
        commit_temp(temp, target, mtime_s=mtime_s, mode=mode, owner=owner,
                    before_rename=before_rename)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return copied


_NO_KERNEL_COPY_ERRNOS = frozenset({errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL})
_KERNEL_COPY_CHUNK_BYTES = 64 << 20


def _kernel_copy(source_fd: int, target_fd: int) -> int:
    """Copy from the start of source to target in the kernel when it can; returns bytes."""
    copied = 0
    try:
        while n := os.copy_file_range(source_fd, target_fd, _KERNEL_COPY_CHUNK_BYTES):
            copied += n
        return copied
    except OSError as exc:
        # Some kernels and network file systems refuse copy_file_range across mounts.
        if copied or exc.errno not in _NO_KERNEL_COPY_ERRNOS:
            raise
    os.lseek(source_fd, 0, os.SEEK_SET)
    os.lseek(target_fd, 0, os.SEEK_SET)
    while chunk := os.read(source_fd, HASH_CHUNK_BYTES):
        view = memoryview(chunk)
        while view:
            written = os.write(target_fd, view)
            view = view[written:]
            copied += written
    return copied


def place_bytes(
    target: Path, data: bytes, *, tag: str = "write", mode: int = 0o644,
    before_rename: Callable[[], None] | None = None,
) -> Placed:
    """Place `data` at `target` durably (a sidecar, a marker, a plan file)."""
    return place_file(target, bytes_source(data), tag=tag, mode=mode, before_rename=before_rename)


def make_folders(folder: Path, modes: FileModes) -> None:
    """Create `folder` and its missing parents, each new one with `modes.dir_mode` (and owner);
    folders already there are left as they are. FileExistsError when a file is in the way."""
    missing: list[Path] = []
    current = folder
    while not current.is_dir() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            if path.is_dir():
                continue  # another writer made it at the same moment: it sets its mode
            raise
        modes.settle_folder(path)
