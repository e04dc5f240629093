"""File-system primitives every stage uses.

Invariant: these only probe, hash and sync; writing a file durably is engine.placement's.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from engine.errors import StorageError

HASH_CHUNK_BYTES = 1 << 20


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it is durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)




def probe_writable(folder: Path) -> None:
    """Raise StorageError unless a file can be created in `folder` (works as root too)."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".write-probe-")
        os.close(fd)
        Path(name).unlink()
    except OSError as exc:
        raise StorageError(f"{folder} is not writable: {exc.strerror}") from None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def remove_temps_beside(target: Path, prefix: str, suffix: str) -> int:
    """Remove the temp files a killed writer of `target` left in its folder (names that start
    with `prefix` and end with `suffix`); returns how many."""
    try:
        entries = list(os.scandir(target.parent))
    except FileNotFoundError:
        return 0
    removed = 0
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name.endswith(suffix):
            Path(entry.path).unlink(missing_ok=True)
            removed += 1
    return removed
