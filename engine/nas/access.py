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
- A copy appears at its final path complete or not at all: it is placed by engine.placement
  (temp file `temp_path(target, "nas")` in the target folder, every byte copied and counted
  against the source's size, fsync, rename, fsync the folder: restic/borg order). A failed
  copy removes its temp file; a killed one leaves a temp file that the next copy of that
  file removes (temp names end in TEMP_SUFFIX and are never read as content).
- A copy gets `nas.file_mode` and the folders a copy creates `nas.dir_mode` (default 0644 and
  0755: Synology Photos, Plex, Immich or another login on the share can read them), and
  `nas.owner` when it is set, all before the rename and whatever the umask
  (engine.filemodes); a copy of a media file keeps the asset's capture time as its
  modification time (`mtime_s`), as the downloaded file does. Folders already there are left
  as they are.
- A source that cannot be opened or changes size while copied is the asset's problem
  (SourceFileError); a full or read-only NAS stops the stage (NasUnavailableError).
- A re-read drops the file's pages from this machine's page cache first
  (posix_fadvise DONTNEED) so the hash is of what the NAS returns, not of what was written.
- A relative path from the ledger resolves strictly inside the NAS root.
"""

from __future__ import annotations

import errno
import hashlib
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from engine.errors import ExitCode, PhotoledgerError, StorageError
from engine.filemodes import DEFAULT_MODES, FileModes
from engine.fsutil import remove_temps_beside
from engine.placement import (
    TEMP_SUFFIX,
    make_folders,
    place_bytes,
    place_copy,
    temp_path,
)

NAS_MARKER_NAME = ".photoledger-nas"
NAS_ID_FIELD = "nas_id:"
_MARKER_MAX_BYTES = 64 << 10  # a marker is a few lines; anything longer is not read whole
TEMP_TAG = "nas"  # engine.placement.temp_path(target, TEMP_TAG) is a NAS copy's temp file
REREAD_METHOD = "reread-fadvise-dontneed"
ADOPTED_METHOD = "adopted-existing"
READ_CHUNK_BYTES = 4 << 20
# A write that fails with one of these will fail for every later file too: stop the stage.
_NAS_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS})


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
            place_bytes(marker, marker_text(now, nas_id), tag=TEMP_TAG)
            return "written"
        # A marker from before ids (or with a person's notes in it): keep its text, add the id.
        separator = b"" if not kept or kept.endswith(b"\n") else b"\n"
        with_id = kept + separator + f"{NAS_ID_FIELD} {nas_id}\n".encode()
        place_bytes(marker, with_id, tag=TEMP_TAG)
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
    """`.<target name>.`: the start of the placement temp name (engine.placement.temp_path)
    and of the random-named temps older versions wrote."""
    return temp_path(target, "").name[: -len(TEMP_SUFFIX)]


def remove_stale_temps(target: Path) -> int:
    """Remove temp files a killed copy of `target` left beside it; returns how many."""
    return remove_temps_beside(target, _temp_prefix(target), TEMP_SUFFIX)


def copy_to_nas(
    source: Path, target: Path, before_rename: Callable[[], None], check_nas: Callable[[], None],
    *, modes: FileModes = DEFAULT_MODES, mtime_s: float | None = None,
) -> int:
    """Copy `source` to `target` durably with `modes` and modification time `mtime_s` (None:
    the time of the copy); returns bytes copied (see module invariants).

    `check_nas` (NasGuard.check) runs before the folder is created and again just before the
    rename: it raises to stop the copy when the NAS went away.
    """
    try:
        size_bytes = _readable_size(source)
        check_nas()
        _ensure_folder(target.parent, modes)

        def checked_rename() -> None:
            before_rename()
            check_nas()

        return place_copy(target, source, tag=TEMP_TAG, expected_size_bytes=size_bytes,
                          mtime_s=mtime_s, mode=modes.file_mode, owner=modes.owner,
                          before_rename=checked_rename)
    except SourceFileError:
        raise
    except StorageError as exc:  # the source changed size while copied: this asset's problem
        raise SourceFileError(str(exc)) from None
    except OSError as exc:
        raise _nas_write_error(target, exc) from None


def _readable_size(source: Path) -> int:
    """The size of a source that can be opened for reading; SourceFileError otherwise."""
    try:
        with source.open("rb") as handle:
            return os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise SourceFileError(f"cannot read {source}: {exc.strerror}") from None




def _ensure_folder(folder: Path, modes: FileModes) -> None:
    try:
        make_folders(folder, modes)
    except FileExistsError:
        raise NasUnavailableError(f"{folder} on the NAS is a file, not a folder") from None


def _nas_write_error(target: Path, exc: OSError) -> Exception:
    """A full or read-only NAS stops the stage; other errors stay errors of this copy."""
    if exc.errno in _NAS_FULL_ERRNOS:
        return NasUnavailableError(
            f"cannot write {target} on the NAS: {exc.strerror}; the copy was removed and "
            "nothing was recorded for it (free space and run again)"
        )
    return exc


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
