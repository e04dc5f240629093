"""The per-asset effects of the NAS route, run in worker threads: copy, adopt, re-read.

Invariants:
- A NAS file whose re-read hash equals the downloaded sha256 is adopted, never copied again.
- An existing NAS file that differs is replaced only by a local file that itself hashes to the
  downloaded sha256: a compressed or damaged local copy never overwrites the NAS copy.
- Every verdict about a NAS file comes from a re-read with the page cache dropped
  (engine.targets.nas.reread_sha256), never from size or modification time.
- Workers return results and never touch the ledger; a full or read-only NAS, or one that
  is no longer the NAS the run started on (engine.targets.nas.NasGuard, checked before each
  folder and each rename), raises NasUnavailableError, which stops the stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.crashpoints import CrashPoints
from engine.targets.nas import (
    NasGuard,
    SourceFileError,
    copy_to_nas,
    local_sha256,
    nas_path,
    remove_stale_temps,
    reread_sha256,
)
from engine.targets.nas_plan import FileAction, FileResult, NasFile, NasJob

BytesFn = Callable[[int], None]


@dataclass(frozen=True)
class NasRoots:
    """Where the library's files are and where their NAS copies go."""

    library_root: Path
    nas_root: Path


def execute_backup_job(
    roots: NasRoots, job: NasJob, guard: NasGuard, crash: CrashPoints, on_bytes: BytesFn
) -> list[FileResult]:
    """Adopt or copy every file of one asset, then re-read each copy."""
    results: list[FileResult] = []
    for nas_file in job.files:
        result = _backup_file(
            roots, nas_file, is_local_altered=job.is_local_altered, guard=guard, crash=crash,
            on_bytes=on_bytes,
        )
        results.append(result)
        if result.action == "failed":
            break
    return results


def _backup_file(
    roots: NasRoots, nas_file: NasFile, *, is_local_altered: bool, guard: NasGuard,
    crash: CrashPoints, on_bytes: BytesFn,
) -> FileResult:
    target = nas_path(roots.nas_root, nas_file.relpath)
    source = roots.library_root / nas_file.relpath
    remove_stale_temps(target)
    existing = _reread(target)
    if existing is not None and existing[0] == nas_file.sha256:
        on_bytes(existing[1])
        return _result(nas_file, "adopted", existing[0])
    is_source_checked = False
    if existing is not None or is_local_altered:
        refusal = _refuse_bad_source(nas_file, source, is_replacing=existing is not None)
        if refusal is not None:
            return refusal
        is_source_checked = True
    try:
        size_bytes = copy_to_nas(
            source, target, lambda: crash.reach("backup_nas.before_rename"), guard.check
        )
    except SourceFileError as exc:
        return _result(nas_file, "failed", None, detail=str(exc))
    crash.reach("backup_nas.after_rename_before_verify")
    reread = _reread(target)
    on_bytes(size_bytes)
    actual = reread[0] if reread is not None else None
    if actual == nas_file.sha256:
        return _result(nas_file, "copied", actual, size_bytes)
    detail = "" if is_source_checked else _explain_fresh_mismatch(nas_file, source)
    return _result(nas_file, "mismatched", actual, size_bytes, detail)


def _reread(target: Path) -> tuple[str, int] | None:
    """(sha256, size) of the NAS file, or None when it is not there."""
    digest = reread_sha256(target)
    if digest is None:
        return None
    return digest, target.stat().st_size


def _refuse_bad_source(nas_file: NasFile, source: Path, *, is_replacing: bool) -> FileResult | None:
    """A failed result when the local file is not the downloaded original, else None."""
    try:
        local = local_sha256(source)
    except SourceFileError as exc:
        return _result(nas_file, "failed", None, detail=str(exc))
    if local == nas_file.sha256:
        return None
    kept = "; the NAS copy was left as it is" if is_replacing else ""
    return _result(
        nas_file, "failed", None,
        detail=f"the local file is not the downloaded original (sha256 {local[:12]}, "
        f"compressed or damaged){kept}",
    )


def _explain_fresh_mismatch(nas_file: NasFile, source: Path) -> str:
    """Say which side is wrong when a copy just written does not re-read right."""
    try:
        local = local_sha256(source)
    except SourceFileError as exc:
        return str(exc)
    if local != nas_file.sha256:
        return f"the local file itself differs from the download (sha256 {local[:12]})"
    return "the local file is right: the NAS returned different bytes than were written"


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
