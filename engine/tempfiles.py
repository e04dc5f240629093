"""Find and remove the temp files photoledger's writers leave when stopped mid-file.

Invariants:
- Only names photoledger itself gives temp files are removed: hidden files (leading dot)
  ending in a download part suffix (`.part`), the compressor's suffix, the NAS copier's
  suffix, or the `.tmp` of an atomic write or an outbox staging. Nothing else is touched.
- The state folder (ledger, projections, lock) is never walked.
- A temp file is never evidence of anything: no event points at one, so removing it loses
  nothing but the bytes a resumed download would have reused.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from engine.compress.encoders import TEMP_SUFFIX as COMPRESS_TEMP_SUFFIX
from engine.nas.access import TEMP_SUFFIX as NAS_TEMP_SUFFIX

TEMP_SUFFIXES = (".part", COMPRESS_TEMP_SUFFIX, NAS_TEMP_SUFFIX, ".tmp")
STATE_FOLDER = ".photoledger"


def is_temp_name(name: str) -> bool:
    """A file name photoledger gives its temp files."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIXES)


def find_temp_files(roots: Iterable[Path]) -> list[Path]:
    """Every temp file under the given roots (missing roots are skipped)."""
    found: list[Path] = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d != STATE_FOLDER]
            found += [Path(folder) / name for name in files if is_temp_name(name)]
    return found


def remove_temp_files(roots: Iterable[Path]) -> int:
    """Remove every temp file under the roots; returns how many were removed."""
    removed = 0
    for path in find_temp_files(roots):
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
    return removed
