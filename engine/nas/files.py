"""The per-asset effects of the NAS route, run in worker threads: copy, adopt, re-read.

Invariants:
- A NAS file whose re-read hash equals the downloaded sha256 is adopted, never copied again.
- A NAS file that is missing or differs is repaired from the first good source: the library
  copy, then the other `RepairSource`s (the Pixel outbox) at the same relative path. A source
  is good only while it hashes to the downloaded sha256, checked before it is copied (a
  compressed or damaged copy never overwrites the NAS copy), and every copy is re-read after.
  One exception saves a read: the first copy of an untouched library file (nothing on the
  NAS yet) is judged by the re-read alone, and by its source only when that re-read differs.
- With no good source the NAS copy is left as it is and the file is "unrepairable": its
  NasMismatched says NO_GOOD_SOURCE, which is how the asset asks for a re-download from
  iCloud (not done here: that would be the last source).
- Every verdict about a NAS file comes from a re-read with the page cache dropped
  (engine.nas.access.reread_sha256), never from size or modification time.
- The roots come from the config only (`nas_roots`): nas.root, then the library and the
  Pixel outbox as the sources a copy may be repaired from; so do the modes and owner of what
  is written there (`nas.file_mode`, `nas.dir_mode`, `nas.owner`).
- A copy of a media file gets the asset's capture time as its modification time (the job's
  `mtime_s`), so the NAS sorts by date as the library does; a copy of the XMP sidecar gets the
  time it was copied (a sidecar is rewritten when iCloud's facts change, and a tool that syncs
  by time and size must see that). An adopted file is left as it is.
- Workers return results and never touch the ledger; a full or read-only NAS, or one that
  is no longer the NAS the run started on (engine.nas.access.NasGuard, checked before each
  folder and each rename), raises NasUnavailableError, which stops the stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine import resources as res
from engine.config import Config
from engine.crashpoints import CrashPoints
from engine.errors import ConfigError
from engine.filemodes import DEFAULT_MODES, FileModes
from engine.nas.access import (
    NasGuard,
    SourceFileError,
    copy_to_nas,
    local_sha256,
    nas_path,
    remove_stale_temps,
    reread_sha256,
)
from engine.nas.plan import NO_GOOD_SOURCE, FileAction, FileResult, NasFile, NasJob

BytesFn = Callable[[int], None]


@dataclass(frozen=True)
class RepairSource:
    """A folder holding copies at the library's relative paths (maybe the downloaded bytes)."""

    name: str  # how the user knows it: "library", "Pixel outbox"
    root: Path


@dataclass(frozen=True)
class NasRoots:
    """Where the library's files are, where their NAS copies go, and what else may hold them."""

    library_root: Path
    nas_root: Path
    repair_sources: tuple[RepairSource, ...] = ()  # tried after the library, in this order
    modes: FileModes = DEFAULT_MODES  # of the copies and folders written on the NAS

    @property
    def sources(self) -> tuple[RepairSource, ...]:
        return (RepairSource("library", self.library_root), *self.repair_sources)


def nas_root_of(config: Config) -> Path:
    """The configured NAS root; ConfigError when nas.root is not set."""
    root = config.nas_root()
    if root is None:
        raise ConfigError(f"{config.where('nas.root')}: must be set to use the NAS")
    return root


def repair_sources(config: Config) -> tuple[RepairSource, ...]:
    """Where a missing or damaged NAS copy may also be found, after the library: the Pixel
    outbox (same relative path) when the Google route is configured."""
    outbox = config.settings.google.outbox
    return (RepairSource("Pixel outbox", config.resolve(outbox)),) if outbox else ()


def nas_roots(config: Config) -> NasRoots:
    """The library, the configured NAS and the repair sources (ConfigError without nas.root)."""
    return NasRoots(library_root=config.library_root, nas_root=nas_root_of(config),
                    repair_sources=repair_sources(config), modes=config.nas_modes())


@dataclass(frozen=True)
class _Placing:
    """One NAS file being backed up: what each attempt needs."""

    nas_file: NasFile
    target: Path
    guard: NasGuard
    crash: CrashPoints
    on_bytes: BytesFn
    modes: FileModes
    mtime_s: float | None  # the capture time of a media file; None (the copy's time): sidecar


def execute_backup_job(
    roots: NasRoots, job: NasJob, guard: NasGuard, crash: CrashPoints, on_bytes: BytesFn
) -> list[FileResult]:
    """Adopt or copy every file of one asset, then re-read each copy."""
    results: list[FileResult] = []
    for nas_file in job.files:
        target = nas_path(roots.nas_root, nas_file.relpath)
        mtime_s = None if nas_file.key == res.SIDECAR else job.mtime_s
        placing = _Placing(nas_file, target, guard, crash, on_bytes, roots.modes, mtime_s)
        result = _backup_file(roots.sources, placing, is_local_altered=job.is_local_altered)
        results.append(result)
        if result.action == "failed":
            break
    return results


def _backup_file(
    sources: tuple[RepairSource, ...], placing: _Placing, *, is_local_altered: bool
) -> FileResult:
    nas_file, target = placing.nas_file, placing.target
    remove_stale_temps(target)
    existing = _reread(target)
    if existing is not None and existing[0] == nas_file.sha256:
        placing.on_bytes(existing[1])
        return _result(nas_file, "adopted", existing[0])
    is_first_copy = existing is None and not is_local_altered
    tried: list[str] = []
    for index, source in enumerate(sources):
        attempt = _copy_from(placing, source, is_checked_first=not (is_first_copy and index == 0))
        if isinstance(attempt, FileResult):
            return attempt
        tried.append(f"{source.name}: {attempt}")
    reread = _reread(target)  # left as it was, or what an unchecked first copy wrote
    return _result(nas_file, "unrepairable", reread[0] if reread else None,
                   detail=f"{NO_GOOD_SOURCE} ({'; '.join(tried)})")


def _copy_from(placing: _Placing, source: RepairSource, *, is_checked_first: bool) -> (
    FileResult | str
):
    """Copy the file from `source` and re-read it: the result, or why the source is no good."""
    nas_file = placing.nas_file
    path = source.root / nas_file.relpath
    if is_checked_first and (problem := _source_problem(path, nas_file.sha256)):
        return problem
    try:
        size_bytes = copy_to_nas(
            path, placing.target, lambda: placing.crash.reach("backup_nas.before_rename"),
            placing.guard.check, modes=placing.modes, mtime_s=placing.mtime_s,
        )
    except SourceFileError as exc:
        return str(exc)
    placing.crash.reach("backup_nas.after_rename_before_verify")
    reread = _reread(placing.target)
    placing.on_bytes(size_bytes)
    actual = reread[0] if reread is not None else None
    if actual == nas_file.sha256:
        return _result(nas_file, "copied", actual, size_bytes)
    if not is_checked_first and (problem := _source_problem(path, nas_file.sha256)):
        return problem  # the source was wrong, not the NAS: the next source may be right
    return _result(nas_file, "mismatched", actual, size_bytes,
                   f"the {source.name} copy is right: the NAS returned different bytes than "
                   "were written")


def _source_problem(path: Path, sha256: str) -> str:
    """Why the file at `path` is not the downloaded bytes ("" when it is)."""
    try:
        actual = local_sha256(path)
    except SourceFileError as exc:
        return str(exc)
    if actual != sha256:
        return f"not the downloaded file (sha256 {actual[:12]}: compressed or damaged)"
    return ""


def _reread(target: Path) -> tuple[str, int] | None:
    """(sha256, size) of the NAS file, or None when it is not there."""
    digest = reread_sha256(target)
    if digest is None:
        return None
    return digest, target.stat().st_size


def execute_reverify_job(roots: NasRoots, job: NasJob, on_bytes: BytesFn) -> list[FileResult]:
    """Re-read every NAS file of one asset and compare with the downloaded sha256."""
    results: list[FileResult] = []
    for nas_file in job.files:
        target = nas_path(roots.nas_root, nas_file.relpath)
        try:
            reread = _reread(target)
        except OSError as exc:
            results.append(
                _result(nas_file, "mismatched", None, detail=f"cannot be read: {exc.strerror}")
            )
            continue
        if reread is None:
            results.append(_result(nas_file, "missing", None))
            continue
        on_bytes(reread[1])
        is_same = reread[0] == nas_file.sha256
        results.append(_result(nas_file, "verified" if is_same else "mismatched", reread[0]))
    return results


def _result(
    nas_file: NasFile,
    action: FileAction,
    actual: str | None,
    size_bytes: int = 0,
    detail: str = "",
) -> FileResult:
    return FileResult(
        key=nas_file.key,
        relpath=nas_file.relpath,
        action=action,
        expected_sha256=nas_file.sha256,
        actual_sha256=actual,
        size_bytes=size_bytes,
        detail=detail,
    )
