"""The streaming effect: one rendition from a download URL into a `.part` file, then into place.

Invariants:
- Bytes go only to the `.part` file beside the destination; its sha256 is computed while
  streaming, over the resumed prefix too (the existing part is hashed first).
- A resumed request sends `Range: bytes=N-` (through the port's `start_byte`); a server that
  answers 200 instead of 206 restarts the part from zero. Resumes are bounded per file and run.
- A final file appears only through `finalize_file`: set the part's times, fsync it, then,
  under one lock for the whole run, take the first candidate name that is free (or that
  already holds identical bytes) and rename (engine.placement.commit_temp), then fsync the
  folder. The part keeps its resumable `.part` name (engine.tempfiles knows it). An existing
  different file is never replaced: the next candidate name is taken instead. The one
  exception is a re-download after a recover, whose bytes were checked against the sha256
  recorded before: it replaces the same asset's own file at its own path (its compressed copy).
- A filed file gets `library.file_mode` and a folder the run creates `library.dir_mode`, set
  explicitly whatever the umask (engine.filemodes); its modification time is the capture time.
- Local file-system failures raise StorageError (the run stops); network trouble is a result.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import urllib3.exceptions

from engine.download.plan import (
    FileVerdict,
    StreamResult,
    decide_file_verdict,
)
from engine.errors import StorageError
from engine.filemodes import DEFAULT_MODES, FileModes
from engine.fsutil import HASH_CHUNK_BYTES, fsync_dir, sha256_file
from engine.icloud.port import ContentError, IcloudPort, ThrottledError, UrlExpiredError
from engine.naming import join_relpath
from engine.placement import commit_temp, make_folders

CHUNK_BYTES = 1 << 16  # a cut loses at most one chunk: the rest is resumed
MAX_RESUMES = 3
MAX_URL_REFRESHES = 2
RESUME_PAUSE_S = 0.2
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    ContentError,
    ThrottledError,
    OSError,  # socket errors; requests' own exceptions derive from it too
    urllib3.exceptions.HTTPError,
)
BytesFn = Callable[[int], None]
RefreshFn = Callable[[], str | None]


class StreamFn(Protocol):
    """One request into a sink: `stream_to_part` (a part file), or another sink with the same
    contract (engine.download.adoption_stream hashes iCloud's bytes without storing them)."""

    def __call__(
        self, port: IcloudPort, url: str, part: Path, *, declared_size_bytes: int,
        on_bytes: BytesFn,
    ) -> StreamResult: ...


@dataclass(frozen=True)
class FileJob:
    """One rendition to download: where, under which names, how big."""

    key: str
    url: str
    root: Path  # the library root (absolute)
    relfolder: str
    candidates: tuple[str, ...]
    part_name: str
    declared_size_bytes: int
    mtime_s: float | None
    replaces_own_file: bool = False  # a re-download after a recover (engine.download.plan)
    modes: FileModes = DEFAULT_MODES  # library.file_mode / dir_mode

    @property
    def folder(self) -> Path:
        return self.root / self.relfolder if self.relfolder else self.root


class NameRegistry:
    """Which asset holds which relative path (case-insensitively), shared by the run's workers.

    Filled from the ledger at the start of a run; a name is claimed under `lock`, together with
    the rename that takes it, so two workers never take one name. Names are reserved in
    work-list order before any download starts, so which of two same-named assets gets the
    plain name never depends on which finished first (and a dry run predicts it).
    """

    def __init__(self, held: dict[str, str]) -> None:
        self._held = {relpath.casefold(): owner for relpath, owner in held.items()}
        self.lock = threading.Lock()
        self.found_in_place = 0  # downloads whose bytes were already at their name (under lock)

    def is_held_by_other(self, relpath: str, owner: str) -> bool:
        holder = self._held.get(relpath.casefold())
        return holder is not None and holder != owner

    def is_held_by(self, relpath: str, owner: str) -> bool:
        return self._held.get(relpath.casefold()) == owner

    def claim(self, relpath: str, owner: str) -> None:
        self._held[relpath.casefold()] = owner

    def reserve_first_free(
        self, relfolder: str, candidates: Iterable[str], owner: str, root: Path,
        size_bytes: int | None = None,
    ) -> str | None:
        """Claim the first candidate no other asset holds and no file occupies (None: none).

        A regular file of exactly `size_bytes` does not make its name unavailable: the run
        keeps it there when the downloaded bytes equal it (`finalize_file`), so the plain name
        is the one to predict (a dry run must not announce a `-<size>` twin never written)."""
        for name in candidates:
            relpath = join_relpath(relfolder, name)
            if self.is_held_by_other(relpath, owner):
                continue
            if not os.path.lexists(root / relpath) or _has_size(root / relpath, size_bytes):
                self.claim(relpath, owner)
                return relpath
        return None


def _has_size(path: Path, size_bytes: int | None) -> bool:
    """A regular file (not a link) of exactly `size_bytes` bytes is at `path`."""
    if size_bytes is None:
        return False
    try:
        found = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(found.st_mode) and found.st_size == size_bytes


def stream_to_part(
    port: IcloudPort, url: str, part: Path, *, declared_size_bytes: int, on_bytes: BytesFn
) -> StreamResult:
    """One request: resume or start the part file and stream the body into it."""
    start, digest = _resume_point(part, declared_size_bytes)
    try:
        with port.open_content(url, start_byte=start) as response:
            if start and response.status != 206:
                start, digest = 0, hashlib.sha256()
            received, error = _copy_body(
                response.iter_chunks(CHUNK_BYTES),
                part,
                append=start > 0,
                digest=digest,
                on_bytes=on_bytes,
            )
            content_length, total = response.content_length, response.total_size_bytes
    except UrlExpiredError as exc:
        return StreamResult.failed("expired", part_size(part), str(exc))
    except ThrottledError as exc:  # past the retry budget: the run stops (engine.download.run)
        return StreamResult.failed("throttled", part_size(part), str(exc))
    except NETWORK_ERRORS as exc:
        return StreamResult.failed("http_error", part_size(part), _describe(exc))
    is_cut = error is not None or (content_length is not None and received < content_length)
    return StreamResult(
        status="cut" if is_cut else "complete",
        size_bytes=start + received,
        sha256=digest.hexdigest(),
        body_bytes=received,
        content_length=content_length,
        total_size_bytes=total,
        detail=error or (f"body {received} of {content_length} bytes" if is_cut else ""),
    )


def _resume_point(part: Path, declared_size_bytes: int) -> tuple[int, hashlib._Hash]:
    """Where to resume and the hash of what is there; a part too long to resume is dropped."""
    digest = hashlib.sha256()
    size = part_size(part)
    if size == 0 or size >= declared_size_bytes:
        _unlink(part)
        return 0, digest
    try:
        with part.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
    except OSError as exc:
        raise StorageError(f"cannot read {part}: {exc.strerror}") from None
    return size, digest


def _copy_body(
    chunks: Iterator[bytes],
    part: Path,
    *,
    append: bool,
    digest: hashlib._Hash,
    on_bytes: BytesFn,
) -> tuple[int, str | None]:
    """Write chunks to the part; returns (bytes written, network error text or None)."""
    received = 0
    try:
        # Unbuffered: a full disk fails the write that hit it (a StorageError below), never a
        # later flush that the network handler would take for a dropped connection.
        handle: BinaryIO = part.open("ab" if append else "wb", buffering=0)
    except OSError as exc:
        raise StorageError(f"cannot write {part}: {exc.strerror}") from None
    with handle:
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return received, None
            except NETWORK_ERRORS as exc:
                return received, _describe(exc)
            _write(handle, chunk, part)
            digest.update(chunk)
            received += len(chunk)
            on_bytes(len(chunk))


def _write(handle: BinaryIO, chunk: bytes, part: Path) -> None:
    view = memoryview(chunk)
    try:
        while view:  # an unbuffered write may take less than it was given (a disk filling)
            view = view[handle.write(view) :]
    except OSError as exc:
        raise StorageError(f"cannot write {part}: {exc.strerror}") from None


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def part_size(part: Path) -> int:
    """Bytes in a part file (0 when there is none)."""
    try:
        return part.stat().st_size
    except FileNotFoundError:
        return 0


def fetch_file(
    port: IcloudPort, job: FileJob, *, refresh_url: RefreshFn, on_bytes: BytesFn,
    stream: StreamFn | None = None,
) -> tuple[FileVerdict, StreamResult]:
    """Download one rendition into its part file (or `stream`'s sink), resuming and
    refreshing within bounds."""
    part = job.folder / job.part_name
    url, resumes, refreshes = job.url, 0, 0
    into = stream or stream_to_part
    while True:
        result = into(
            port, url, part, declared_size_bytes=job.declared_size_bytes, on_bytes=on_bytes
        )
        if result.status == "expired" and refreshes < MAX_URL_REFRESHES:
            fresh = refresh_url()
            if fresh is not None:
                url, refreshes = fresh, refreshes + 1
                continue
        if result.status == "cut" and resumes < MAX_RESUMES:
            time.sleep(RESUME_PAUSE_S * (resumes + 1))
            resumes += 1
            continue
        return decide_file_verdict(result, job.declared_size_bytes), result


def ensure_folder(folder: Path, modes: FileModes = DEFAULT_MODES) -> None:
    """Create the destination folder (and parents), each new one with `modes.dir_mode`."""
    try:
        make_folders(folder, modes)
    except OSError as exc:
        raise StorageError(f"cannot create {folder}: {exc.strerror}") from None


def finalize_file(
    job: FileJob, *, owner: str, size_bytes: int, sha256: str, registry: NameRegistry
) -> str | None:
    """Move a verified part into place; the chosen relpath, or None when every name is taken."""
    part = job.folder / job.part_name
    try:
        _sync_with_times(part, job.mtime_s, job.modes)
        with registry.lock:
            chosen = _take_free_name(
                job, part, owner=owner, size_bytes=size_bytes, sha256=sha256, registry=registry
            )
        fsync_dir(job.folder)  # here, on the worker: photos spread over many date folders
    except OSError as exc:
        raise StorageError(f"cannot finish {part}: {exc.strerror}") from None
    return chosen


def sync_folders(folders: Iterable[Path]) -> None:
    """Make the renames into these folders durable (one fsync per folder, not per file)."""
    for folder in sorted(set(folders)):
        try:
            fsync_dir(folder)
        except OSError as exc:
            raise StorageError(f"cannot sync {folder}: {exc.strerror}") from None


def remove_placed(paths: Iterable[Path]) -> None:
    """Take back files this run put in place but must not file (no event names them)."""
    paths = tuple(paths)
    for path in paths:
        _unlink(path)
    sync_folders(path.parent for path in paths)


def _sync_with_times(part: Path, mtime_s: float | None, modes: FileModes) -> None:
    modes.settle_file(part)
    if mtime_s is not None:
        os.utime(part, (mtime_s, mtime_s))
    fd = os.open(part, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _take_free_name(
    job: FileJob, part: Path, *, owner: str, size_bytes: int, sha256: str, registry: NameRegistry
) -> str | None:
    for name in job.candidates:
        relpath = join_relpath(job.relfolder, name)
        if registry.is_held_by_other(relpath, owner):
            continue
        target = job.folder / name
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            info = None
        is_same_bytes = (
            info is not None
            and stat.S_ISREG(info.st_mode)
            and info.st_size == size_bytes
            and sha256_file(target) == sha256  # the same bytes: adopt (a crash before save)
        )
        # A recovered asset's own file (its compressed copy) gives way to the downloaded bytes,
        # already checked against the sha256 recorded before the deletion.
        is_own_replaced = (
            job.replaces_own_file and info is not None and stat.S_ISREG(info.st_mode)
            and registry.is_held_by(relpath, owner)
        )
        if info is None or is_same_bytes or is_own_replaced:
            # Synced with its times already; the folder is synced once by finalize_file.
            commit_temp(part, target, sync_folder=False)
            registry.claim(relpath, owner)
            registry.found_in_place += is_same_bytes and not is_own_replaced
            return relpath
    return None


def remove_part(job: FileJob) -> None:
    """Drop a part file whose bytes must not be kept."""
    _unlink(job.folder / job.part_name)


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot remove {path}: {exc.strerror}") from None
