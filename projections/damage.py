"""A damaged media projection file told apart from other SQLite errors.

Invariant: only SQLite's own verdict on the file (SQLITE_CORRUPT, SQLITE_NOTADB, "malformed")
counts as damage; a lock, a full disk or a bad query stay what they are. The projection is
derived data, so the one remedy named is `photoledger rebuild`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import ProjectionDamagedError


def is_damage(exc: BaseException) -> bool:
    """The error is SQLite finding a damaged file (not a lock, a full disk or a bad query)."""
    return isinstance(exc, sqlite3.DatabaseError) and (
        getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB")
        or "malformed" in str(exc)
    )


@contextmanager
def reported_as_damage(path: Path) -> Iterator[None]:
    """Turn SQLite finding the projection file damaged into ProjectionDamagedError."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        raise ProjectionDamagedError(
            f"the media projection {path} is damaged ({exc}): run `photoledger "
            "rebuild` (it is derived from the ledger; nothing recorded is lost)"
        ) from exc
