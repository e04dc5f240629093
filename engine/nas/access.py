"""The NAS folder: its marker, durable copies into it, and cache-bypassing re-reads.

Invariants:
- The NAS is usable only while the marker file `.photoledger-nas` is a regular file at its
  root (written by `photoledger init`). Without it the folder is *unavailable*, never "every
  copy is missing": an unmounted share shows an empty mount point (Syncthing's .stfolder rule).
- The marker names the NAS: a line `nas_id: <uuid4 hex>`, written once by `init` and never
  replaced (init adds one to a marker written before ids existed; such a marker still counts
  as mounted, with the id "" meaning unknown). Another id is another NAS.
- A run writes only to the NAS it started on: `NasGuard.check` runs immediately before each
  folder is created and before each rename, and stops the run unless the marker still holds
  the same id and the mount's device (st_dev of the root) is the one seen at the start. An
  unmounted share (marker gone, an empty mount point left) gets no folder and no file.
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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from engine.errors import ExitCode, PhotoledgerError
from engine.fsutil import atomic_write_bytes, fsync_dir, remove_temps_beside

NAS_MARKER_NAME = ".photoledger-nas"
NAS_ID_FIELD = "nas_id:"
_MARKER_MAX_BYTES = 64 << 10  # a marker is a few lines; anything longer is not read whole
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


MarkerOutcome = Literal["written", "id added", "already there"]


def marker_text(now: datetime, nas_id: str) -> bytes:
    """The marker's content: what it is for, for a person who finds it on the NAS, and its id."""
    return (
        "This folder is a photoledger NAS archive root.\n"
        "photoledger backs up and verifies copies here only while this file exists: without\n"
        "it the folder is treated as not mounted. Do not delete it, and do not copy it to\n"
        "another NAS: the id below names this one.\n"
        f"created_at_utc: {now.isoformat()}\n"
        f"{NAS_ID_FIELD} {nas_id}\n"
    ).encode()


def parse_nas_id(text: str) -> str:
    """The id a marker's text names; "" for a marker written before ids existed."""
    for line in text.splitlines():
        if line.startswith(NAS_ID_FIELD):
            return line[len(NAS_ID_FIELD):].strip()
    return ""


def write_nas_marker(root: Path, now: datetime) -> MarkerOutcome:
    """Write the marker (with a new id) at an existing NAS root, or give an old marker an id.

    An id already there is never replaced: the ledger's NAS facts name it.
    """
    marker = root / NAS_MARKER_NAME
    if not root.is_dir():
        raise NasUnavailableError(f"NAS folder {root} does not exist (is the share mounted?)")
    try:
        kept = marker.read_bytes() if marker.is_file() else None
    except OSError as exc:  # never replace a marker we cannot read: its id may be recorded
        raise NasUnavailableError(f"cannot read {marker}: {exc.strerror}") from None
    if kept is not None and parse_nas_id(kept.decode("utf-8", errors="replace")):
        return "already there"
    nas_id = uuid.uuid4().hex
    try:
        if kept is None:
            atomic_write_bytes(marker, marker_text(now, nas_id))
            return "written"
        # A marker from before ids (or with a person's notes in it): keep its text, add the id.
        separator = b"" if not kept or kept.endswith(b"\n") else b"\n"
        atomic_write_bytes(marker, kept + separator + f"{NAS_ID_FIELD} {nas_id}\n".encode())
    except OSError as exc:
        raise NasUnavailableError(f"cannot write {marker}: {exc.strerror}") from None
    return "id added"


def read_nas_id(root: Path) -> str | None:
    """The id in the NAS marker ("" when it has none); None when the marker is not there
    (or cannot be read: a hung or dead mount can fail with EIO)."""
    marker = root / NAS_MARKER_NAME
    try:
        if not marker.is_file():
            return None
        with marker.open("rb") as handle:
            data = handle.read(_MARKER_MAX_BYTES)
    except OSError:
        return None
    return parse_nas_id(data.decode("utf-8", errors="replace"))


def require_nas_available(root: Path) -> str:
    """The mounted NAS's id ("" unknown); NasUnavailableError unless `root` holds the marker."""
    nas_id = read_nas_id(root)
    if nas_id is None:
        raise NasUnavailableError(
            f"NAS marker {root / NAS_MARKER_NAME} is missing: the NAS is not mounted, or this "
            "folder was never set up (`photoledger init` writes the marker when nas.root is "
            "set); nothing was recorded"
        )
    return nas_id


def short_id(nas_id: str | None) -> str:
    """How a NAS id is shown to a person: its first 8 characters, or that it has none."""
    return nas_id[:8] if nas_id else "(no id)"


@dataclass(frozen=True)
class NasGuard:
    """The NAS a run started on: its root, the id in its marker and the device it is on."""

    root: Path
    nas_id: str
    device: int

    @classmethod
    def start(cls, root: Path) -> NasGuard:
        """Take note of the mounted NAS; NasUnavailableError when it is not mounted."""
        nas_id = require_nas_available(root)
        return cls(root, nas_id, _device_of(root))

    def check(self) -> None:
        """NasUnavailableError unless the NAS the run started on is still mounted there."""
        problem = self._problem()
        if problem:
            raise NasUnavailableError(
                f"the NAS at {self.root} changed during the run ({problem}): nothing more was "
                "written there, and nothing was recorded for the assets in flight"
            )

    def _problem(self) -> str:
        try:
            device = _device_of(self.root)
        except NasUnavailableError:
            return "the folder is gone"
        if device != self.device:
            return "another file system is mounted there now: unmounted?"
        nas_id = read_nas_id(self.root)
        if nas_id is None:
            return f"its marker {NAS_MARKER_NAME} is missing: unmounted?"
        if nas_id != self.nas_id:
            return f"the marker names NAS {short_id(nas_id)}, not {short_id(self.nas_id)}"
        return ""


def _device_of(root: Path) -> int:
    try:
        return root.stat().st_dev
    except OSError as exc:
        raise NasUnavailableError(f"NAS folder {root} cannot be read: {exc.strerror}") from None


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


def copy_to_nas(
    source: Path, target: Path, before_rename: Callable[[], None], check_nas: Callable[[], None]
) -> int:
    """Copy `source` to `target` durably (see module invariants); returns bytes copied.

    `check_nas` (NasGuard.check) runs before the folder is created and again just before the
    rename: it raises to stop the copy when the NAS went away.
    """
    try:
        source_fd = os.open(source, os.O_RDONLY)
    except OSError as exc:
        raise SourceFileError(f"cannot read {source}: {exc.strerror}") from None
    try:
        size_bytes = os.fstat(source_fd).st_size
        check_nas()
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
            check_nas()
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
