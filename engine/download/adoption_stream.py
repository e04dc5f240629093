"""The effects of comparing an adopted file with iCloud: iCloud's bytes hashed as they stream
(never written anywhere), and the adopted file moved aside when they differ.

Invariants:
- `DigestSink.stream` is a drop-in for engine.download.fetch.stream_to_part, so the download
  stage's own loop (fetch_file: resumes with Range, refreshed URLs, the verdict on sizes)
  fetches it: the sha256 covers the resumed prefix (kept in memory, not in a file); a server
  answering 200 to a Range starts the hash again from zero. Nothing touches the disk.
- `quarantine_adopted` moves the library file at the adopted resource's path under
  `Quarantine/` in the library (same file system: one rename, then both folders fsynced):
  its bytes are kept for the user to look at, never overwritten or deleted. A second move of
  the same path (a run killed after the move, before the fact was saved) finds the file
  already there and says so. A hard-linked icloudpd file keeps its other name in the tree.
- Local file-system failures raise StorageError (the run stops); network trouble is a result.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from engine.download.fetch import CHUNK_BYTES, NETWORK_ERRORS, BytesFn, _describe
from engine.download.plan import StreamResult
from engine.errors import StorageError
from engine.filemodes import FileModes
from engine.fsutil import fsync_dir
from engine.icloud.port import IcloudPort, ThrottledError, UrlExpiredError
from engine.naming import join_relpath
from engine.placement import make_folders

QUARANTINE_FOLDER = "Quarantine"  # in the library root: adopted files iCloud disproved


class DigestSink:
    """iCloud's bytes of one resource, hashed across resumed requests; never stored."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size_bytes = 0

    def stream(
        self, port: IcloudPort, url: str, part: Path, *, declared_size_bytes: int,  # noqa: ARG002
        on_bytes: BytesFn,
    ) -> StreamResult:
        """One request: resume (Range) after what was hashed, or start again (`part` is
        not used: nothing is stored)."""
        if self.size_bytes >= declared_size_bytes:
            self._restart()
        start = self.size_bytes
        try:
            with port.open_content(url, start_byte=start) as response:
                if start and response.status != 206:
                    self._restart()
                    start = 0
                received, error = self._take(response.iter_chunks(CHUNK_BYTES), on_bytes)
                content_length, total = response.content_length, response.total_size_bytes
        except UrlExpiredError as exc:
            return StreamResult.failed("expired", self.size_bytes, str(exc))
        except ThrottledError as exc:
            return StreamResult.failed("throttled", self.size_bytes, str(exc))
        except NETWORK_ERRORS as exc:
            return StreamResult.failed("http_error", self.size_bytes, _describe(exc))
        is_cut = error is not None or (content_length is not None and received < content_length)
        return StreamResult(
            status="cut" if is_cut else "complete", size_bytes=self.size_bytes,
            sha256=self.digest.hexdigest(), body_bytes=received, content_length=content_length,
            total_size_bytes=total,
            detail=error or (f"body {received} of {content_length} bytes" if is_cut else ""),
        )

    def _restart(self) -> None:
        self.digest, self.size_bytes = hashlib.sha256(), 0

    def _take(self, chunks: Iterator[bytes], on_bytes: BytesFn) -> tuple[int, str | None]:
        received = 0
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                return received, None
            except NETWORK_ERRORS as exc:
                return received, _describe(exc)
            self.digest.update(chunk)
            self.size_bytes += len(chunk)
            received += len(chunk)
            on_bytes(len(chunk))


def quarantine_relpath(relpath: str) -> str:
    """Where the adopted file at `relpath` is moved when iCloud's bytes disprove it."""
    return join_relpath(QUARANTINE_FOLDER, relpath)


def quarantine_adopted(root: Path, relpath: str, modes: FileModes) -> str:
    """Move the library file at `relpath` under Quarantine/; its new relpath ("" when there
    was no file to move and none was moved before)."""
    source, moved = root / relpath, quarantine_relpath(relpath)
    target = root / moved
    try:
        if not os.path.lexists(source):
            return moved if os.path.lexists(target) else ""
        make_folders(target.parent, modes)
        if os.path.lexists(target):  # an older quarantined file of that path: kept too
            moved = _free_name(root, moved)
            target = root / moved
        source.rename(target)
        fsync_dir(target.parent)
        fsync_dir(source.parent)
    except OSError as exc:
        raise StorageError(f"cannot move {source} aside: {exc.strerror}") from None
    return moved


def _free_name(root: Path, relpath: str) -> str:
    for number in range(1, 1000):
        candidate = f"{relpath}.{number}"
        if not os.path.lexists(root / candidate):
            return candidate
    raise StorageError(f"too many quarantined files named {relpath}")
