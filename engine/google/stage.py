"""Placing library files into the Syncthing outbox (hardlink when possible, else copy).

Invariants:
- A file appears in the outbox complete or not at all: it is built under Syncthing's own
  temporary name (`.syncthing.<name>.tmp`, which Syncthing's scanner never indexes, so a
  half-written file is never sent, not even one a kill left behind); a copy is fsynced with
  its time set; then engine.placement.commit_temp renames it over the target and fsyncs the
  folder. This is the one writer that does not use placement.temp_path's name: Syncthing would
  index that name and send a half-written file to the Pixel. engine.tempfiles still finds it
  (its `.tmp` suffix).
- What lands in the outbox hashes to the sha256 recorded at download; otherwise nothing is
  placed and StageRefusedError says why (the library copy is gone or no longer the original).
- A hardlink shares the library file's inode, size, mode and modification time; a copy gets
  the library file's modification time, so Syncthing sees the same file either way.
- A copy gets `library.file_mode` and a folder created in the outbox `library.dir_mode`, set
  explicitly whatever the umask (engine.filemodes): the outbox reads like the library.
- An outbox copy already in place with the right bytes is adopted, not rewritten (a rerun after
  a crash stages nothing twice).
- A resend is the exception: it always writes a fresh copy (never a hardlink, whose time is
  the library file's own) with a new modification time, so Syncthing sees a new version.
"""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from engine.filemodes import DEFAULT_MODES, FileModes
from engine.fsutil import HASH_CHUNK_BYTES, fsync_dir, sha256_file
from engine.google.plan import OutboxFile, OutboxStat, SourceSeen
from engine.nas.access import NAS_MARKER_NAME, nas_path
from engine.placement import commit_temp, make_folders

_NO_LINK_ERRNOS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}


class StageRefusedError(Exception):
    """One asset's file cannot be staged (reported for that asset; the run goes on)."""


@dataclass(frozen=True)
class Placed:
    """How a file got into the outbox."""

    method: str  # "hardlink", "copy", or "copy-from-nas" (a resend read the NAS copy)
    size_bytes: int
    was_adopted: bool


def temp_path_for(target: Path) -> Path:
    """The name a file is built under before it becomes `target`."""
    return target.with_name(f".syncthing.{target.name}.tmp")


def outbox_stat(path: Path) -> OutboxStat | None:
    """Size and modification time of an outbox copy, or None when it is not there."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return OutboxStat(size_bytes=info.st_size, mtime_ns=info.st_mtime_ns)


def place_outbox_file(
    source: Path, target: Path, sha256: str, modes: FileModes = DEFAULT_MODES
) -> Placed:
    """Put the library file `source` at `target` in the outbox, checked against `sha256`
    (a copy and new folders with `modes`)."""
    if not source.is_file():
        raise StageRefusedError(f"the library copy {source} is missing")
    adopted = _adopt_existing(source, target, sha256)
    if adopted is not None:
        return adopted
    make_folders(target.parent, modes)
    temp = temp_path_for(target)
    temp.unlink(missing_ok=True)
    try:
        method = "hardlink" if _try_link(source, temp) else "copy"
        if method == "hardlink":
            actual = sha256_file(temp)
        else:
            actual = _copy_hashing(source, temp, source.stat().st_mtime_ns, modes.file_mode)
        _refuse_unless_downloaded(f"the library copy {source}", actual, sha256)
        size_bytes = temp.stat().st_size
        commit_temp(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return Placed(method=method, size_bytes=size_bytes, was_adopted=False)


def _adopt_existing(source: Path, target: Path, sha256: str) -> Placed | None:
    """An outbox copy already holding the right bytes (left by a run that was killed)."""
    try:
        info = target.stat()
    except FileNotFoundError:
        return None
    is_same_inode = source.samefile(target)
    if sha256_file(target) != sha256:
        return None
    method = "hardlink" if is_same_inode else "copy"
    return Placed(method=method, size_bytes=info.st_size, was_adopted=True)


def _try_link(source: Path, temp: Path) -> bool:
    try:
        os.link(source, temp)
    except OSError as exc:
        if exc.errno in _NO_LINK_ERRNOS:
            return False  # another file system, or links not allowed: copy instead
        raise
    return True


def _refuse_unless_downloaded(label: str, actual: str, sha256: str) -> None:
    if actual != sha256:
        raise StageRefusedError(
            f"{label} no longer has the downloaded bytes "
            f"(sha256 {actual[:12]}..., recorded {sha256[:12]}...)"
        )


def _copy_hashing(source: Path, temp: Path, mtime_ns: int, mode: int) -> str:
    """Copy `source` to `temp` durably with `mode` and modification time `mtime_ns`; returns
    its sha256."""
    digest = hashlib.sha256()
    with source.open("rb") as reader, temp.open("wb") as writer:
        while chunk := reader.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            writer.write(chunk)
        writer.flush()
        os.fchmod(writer.fileno(), mode)
        # Set before the fsync so the time is as durable as the bytes (Syncthing's version
        # of the file is its size and time).
        os.utime(temp, ns=(mtime_ns, mtime_ns))
        os.fsync(writer.fileno())
    return digest.hexdigest()


def observe_resend_sources(
    file: OutboxFile, library_root: Path, nas_root: Path | None
) -> list[SourceSeen]:
    """Hash the library copy, then (only if that is not the downloaded file) the NAS copy.

    The NAS is read only when needed: a whole-file read over the network is the slow part.
    """
    seen = [_observe("library", library_root / file.relpath)]
    if seen[0].sha256 == file.sha256 or nas_root is None:
        return seen
    on_nas = nas_path(nas_root, file.relpath)
    if not _is_file(nas_root / NAS_MARKER_NAME):
        # An unmounted share shows an empty folder: "not mounted", never "the copy is gone".
        seen.append(SourceSeen("nas", str(on_nas), None, f"cannot be read ({nas_root} is not "
                               "mounted: its marker file is missing)"))
    else:
        seen.append(_observe("nas", on_nas))
    return seen


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a hung or dead mount can fail a stat with EIO
        return False


def _observe(where: str, path: Path) -> SourceSeen:
    try:
        return SourceSeen(where, str(path), sha256_file(path))
    except (FileNotFoundError, NotADirectoryError):
        return SourceSeen(where, str(path), None)
    except OSError as exc:  # unreadable: one asset's problem, said in its refusal
        return SourceSeen(where, str(path), None, f"cannot be read ({exc.strerror})")


def resend_outbox_file(
    source: SourceSeen, target: Path, sha256: str, mtime_ns: int,
    modes: FileModes = DEFAULT_MODES,
) -> Placed:
    """Write a fresh copy of `source` at `target` with modification time `mtime_ns` (and
    `modes`, like place_outbox_file).

    Unlike place_outbox_file, the copy in place is never adopted (its time is the one the Pixel
    already has) and never a hardlink (setting its time would change the library file's).
    """
    make_folders(target.parent, modes)
    temp = temp_path_for(target)
    temp.unlink(missing_ok=True)
    try:
        # Hashed again while copying: the file may have changed since it was chosen.
        try:
            actual = _copy_hashing(Path(source.path), temp, mtime_ns, modes.file_mode)
        except FileNotFoundError:
            raise StageRefusedError(f"the {source.where} copy {source.path} is gone") from None
        _refuse_unless_downloaded(f"the {source.where} copy {source.path}", actual, sha256)
        size_bytes = temp.stat().st_size
        commit_temp(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    method = "copy" if source.where == "library" else f"copy-from-{source.where}"
    return Placed(method=method, size_bytes=size_bytes, was_adopted=False)


def remove_outbox_copy(target: Path) -> bool:
    """Remove one outbox copy; True when a file was removed."""
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(target.parent)
    return True
