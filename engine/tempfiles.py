"""Find and remove the temp files photoledger's writers leave when stopped mid-file.

Invariants:
- Only names photoledger itself gives temp files are removed: hidden files (leading dot)
  ending in the one placement suffix (engine.placement.TEMP_SUFFIX), a download's resumable
  part suffix (`.part`), or a suffix older versions used (`.photoledger-compress`, `.tmp`).
  Nothing else is touched, and nothing here knows the stages.
- The state folder (ledger, projections, lock) is never walked.
- A temp file is never evidence of anything: no event points at one, so removing it loses
  nothing but the bytes a resumed download would have reused.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from engine.placement import TEMP_SUFFIX

PART_SUFFIX = ".part"  # a download's resumable part file (engine.download.plan.part_name)
LEGACY_SUFFIXES = (".photoledger-compress", ".tmp")  # written by older versions
TEMP_SUFFIXES = (TEMP_SUFFIX, PART_SUFFIX, *LEGACY_SUFFIXES)
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
