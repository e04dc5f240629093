"""One asset's re-encode, run inside a worker process: source, encode, check, measure.

Invariants:
- The source is the verified NAS original when the NAS holds it, else the local copy only
  if it still hashes to the downloaded sha256. A source that does not hash to the original
  fails the job: nothing is ever encoded from an already compressed copy.
- The NAS is only read. The local copy is never written here: a finished job hands back
  checked temp files (engine.placement's temp name, synced), and the parent process replaces
  the local copy with them (engine.placement.commit_temp).
- An output that is not smaller than the local copy by `min_saving_fraction` is dropped and
  the file is reported as kept; a job that fails removes every temp file it made.
- A still is encoded from the very bytes that were hashed against the original, and its
  output is decoded back from the very bytes then written and hashed (read once each).
  A still whose original is RAW is developed from those bytes first (engine.compress.raw),
  whatever format the local copy is in now.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.compress.encoders import (
    EncodeError,
    encode_photo,
    remove_stale_temps,
    run_tool,
    temp_path_for,
    video_argv,
)
from engine.compress.raw import develop_raw
from engine.compress.tiers import CompressJob, FileJob
from engine.compress.verify import (
    VerifyError,
    photo_facts,
    probe_video,
    verify_photo,
    verify_video,
)
from engine.fsutil import sha256_file
from engine.nas.access import nas_path

JobStatus = Literal["ready", "skipped", "failed"]
_PROBE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class WorkerSettings:
    """The part of the config a worker needs (picklable)."""

    library_root: Path
    nas_root: Path | None
    ffmpeg: str
    ffprobe: str
    exiftool: str
    video_timeout_s_per_s: float
    min_saving_fraction: float


@dataclass(frozen=True)
class FileOutcome:
    """One file's result: a checked temp file to put in place, or None (kept as it is)."""

    key: str
    relpath: str
    relpath_after: str
    temp_path: str | None
    size_bytes_before: int
    size_bytes_after: int
    sha256_after: str


@dataclass(frozen=True)
class JobOutcome:
    """One asset's result."""

    asset_id: str
    status: JobStatus
    reason: str
    source: str
    files: tuple[FileOutcome, ...] = ()


class SourceError(Exception):
    """No file that hashes to the original could be read."""


def execute_compress_job(task: tuple[WorkerSettings, CompressJob]) -> JobOutcome:
    """Re-encode every file of one asset (the worker's entry point)."""
    ws, job = task
    outcomes: list[FileOutcome] = []
    sources: set[str] = set()
    try:
        for file_job in job.files:
            source, outcome = _compress_file(ws, file_job)
            sources.add(source)
            outcomes.append(outcome)
    except (EncodeError, VerifyError, SourceError, OSError) as exc:
        discard_temps(outcomes)
        return JobOutcome(job.asset_id, "failed", _reason(exc), "+".join(sorted(sources)))
    source = "+".join(sorted(sources))
    if all(o.temp_path is None for o in outcomes):
        sizes = ", ".join(
            f"{o.key} {o.size_bytes_before} -> {o.size_bytes_after}" for o in outcomes
        )
        reason = f"not smaller by {ws.min_saving_fraction:.0%} ({sizes} bytes)"
        return JobOutcome(job.asset_id, "skipped", reason, source, tuple(outcomes))
    return JobOutcome(job.asset_id, "ready", "", source, tuple(outcomes))


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    return str(exc)


def discard_temps(outcomes: list[FileOutcome] | tuple[FileOutcome, ...]) -> None:
    """Remove the temp files of outcomes that will not be used."""
    for outcome in outcomes:
        if outcome.temp_path:
            Path(outcome.temp_path).unlink(missing_ok=True)


def _compress_file(ws: WorkerSettings, f: FileJob) -> tuple[str, FileOutcome]:
    target = ws.library_root / f.relpath_after
    remove_stale_temps(target)
    current = _current_local(ws.library_root, f)
    # A still is read once: the bytes hashed are the bytes encoded, and a file hashed for the
    # source check is not read again for the local check (a video is hashed from disk).
    hashes = _Hashes(keep_bytes=f.target_format != "video")
    source_path, source = _pick_source(ws, f, current, hashes)
    size_before = current.stat().st_size
    if f.local_sha256 is not None and hashes.sha256(current) != f.local_sha256:
        # An encode a killed run put in place but never recorded: measure against the
        # original, as the ledger still does, and replace it with this checked output.
        size_before = source_path.stat().st_size
    temp = temp_path_for(target)
    try:
        if f.target_format == "video":
            _encode_video(ws, f, source_path, temp)
            size_after = temp.stat().st_size
            small_enough = size_after <= size_before * (1.0 - ws.min_saving_fraction)
            if small_enough:
                _sync_file(temp)
            sha_after = sha256_file(temp) if small_enough else ""
        else:
            encoded = _encode_photo(f, hashes.content(source_path), ws.exiftool)
            size_after = len(encoded)
            small_enough = size_after <= size_before * (1.0 - ws.min_saving_fraction)
            sha_after = _write_temp(temp, encoded) if small_enough else ""
        if not small_enough:
            temp.unlink(missing_ok=True)
            kept = FileOutcome(f.key, f.relpath, f.relpath, None, size_before, size_after, "")
            return source, kept
        outcome = FileOutcome(
            f.key, f.relpath, f.relpath_after, str(temp), size_before, size_after, sha_after,
        )
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return source, outcome


class _Hashes:
    """sha256 of files read during one job, each file read once (bytes kept for stills)."""

    def __init__(self, *, keep_bytes: bool) -> None:
        self.keep_bytes = keep_bytes
        self.digests: dict[Path, str] = {}
        self.contents: dict[Path, bytes] = {}

    def sha256(self, path: Path) -> str:
        if path not in self.digests:
            if self.keep_bytes:
                self.contents[path] = path.read_bytes()
                self.digests[path] = hashlib.sha256(self.contents[path]).hexdigest()
            else:
                self.digests[path] = sha256_file(path)
        return self.digests[path]

    def content(self, path: Path) -> bytes:
        """The bytes that were hashed (the source check hashed them first)."""
        return self.contents[path]


def _write_temp(temp: Path, encoded: bytes) -> str:
    """Write the checked output to its temp file, synced; returns the sha256 of the bytes."""
    with temp.open("xb") as out:
        out.write(encoded)
        out.flush()
        os.fsync(out.fileno())
    return hashlib.sha256(encoded).hexdigest()


def _sync_file(path: Path) -> None:
    """fsync a file another process wrote (ffmpeg's output), so a rename never exposes an
    empty file after a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _current_local(root: Path, f: FileJob) -> Path:
    """The local file now; after a killed rename to a new format, the renamed one."""
    current = root / f.relpath
    if not current.exists() and (root / f.relpath_after).exists():
        return root / f.relpath_after
    if not current.exists():
        raise SourceError(f"local copy {f.relpath} is missing")
    return current


def _pick_source(ws: WorkerSettings, f: FileJob, current: Path,
                 hashes: _Hashes) -> tuple[Path, str]:
    """The NAS original if there, else the local copy if it is still the original."""
    if ws.nas_root is not None:
        on_nas = nas_path(ws.nas_root, f.nas_relpath)
        if on_nas.is_file():
            if hashes.sha256(on_nas) != f.original_sha256:
                raise SourceError(
                    f"NAS copy {f.nas_relpath} does not hash to the original (run verify nas)"
                )
            return on_nas, "nas"
    if hashes.sha256(current) == f.original_sha256:
        return current, "local"
    raise SourceError(
        f"no original to encode from: local {f.relpath} is not the original and the NAS "
        "copy is not available"
    )


def _encode_photo(f: FileJob, data: bytes, exiftool: str) -> bytes:
    """Encode the source bytes (already checked against the original) and check the output.

    The output is encoded to memory and decoded back from those very bytes, which are the
    ones then written and hashed: one decode of the output (engine.compress.verify), no
    re-read.
    """
    out = io.BytesIO()
    source = develop_raw(data, exiftool) if f.raw_source else data
    try:
        im = encode_photo(source, f.target_format, json.loads(f.settings_json), out)
    except (OSError, ValueError, SyntaxError) as exc:
        if isinstance(exc, OSError) and exc.filename:
            raise
        raise EncodeError(f"{f.target_format} encode failed: {exc}") from None
    facts = photo_facts(im)
    im.close()
    encoded = out.getvalue()
    verify_photo(encoded, f.target_format, facts)
    return encoded


def _encode_video(ws: WorkerSettings, f: FileJob, source: Path, temp: Path) -> None:
    settings = json.loads(f.settings_json)
    src = probe_video(source, ws.ffprobe, _PROBE_TIMEOUT_S)
    timeout_s = 5.0 + ws.video_timeout_s_per_s * src.duration_s
    creation_time = src.tags.get("creation_time")
    run_tool(
        video_argv(
            ws.ffmpeg, source, temp, settings, pix_fmt=src.pix_fmt, creation_time=creation_time
        ),
        timeout_s,
    )
    out = probe_video(temp, ws.ffprobe, _PROBE_TIMEOUT_S)
    verify_video(out, src, settings["codec"])
