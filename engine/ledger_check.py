"""Structural checks of a ledger: store integrity, decodability and contiguous versions.

Invariants:
- Read-only. Each finding is one line naming what is wrong and where.
- Commands that change what exists outside the ledger (compress, album-move, delete, run)
  call `refuse_damaged_ledger` before recording anything: on a damaged ledger they act on
  nothing and write nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from engine import events as ev
from engine.errors import LedgerDamagedError
from engine.ledger import Ledger, RawEvent, connect_read_only
from engine.mapper import class_of, decode_stored_state

MAX_FINDINGS = 50
_CREATION_EVENTS = (ev.Discovered, ev.RunStarted)


def sqlite_integrity(ledger: Ledger) -> list[str]:
    """SQLite's own integrity_check of the ledger file (empty for PostgreSQL)."""
    if ledger.sqlite_path is None:
        return []
    try:
        con = connect_read_only(ledger.sqlite_path)
        try:
            rows = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return [f"sqlite integrity_check could not run: {exc}"]
    problems = [str(row[0]) for row in rows if row[0] != "ok"]
    return [f"sqlite integrity: {p}" for p in problems[:MAX_FINDINGS]]


def find_damage(ledger: Ledger) -> list[str]:
    """`check`'s structural part: SQLite's integrity_check, then every event decoded in order."""
    return sqlite_integrity(ledger) or check_events(ledger)


def refuse_damaged_ledger(ledger: Ledger, doing: str) -> None:
    """LedgerDamagedError naming the first problem, when the ledger fails `find_damage`."""
    problems = find_damage(ledger)
    if problems:
        raise LedgerDamagedError(
            f"refusing to {doing}: the ledger is damaged ({problems[0]}); "
            "run `photoledger check`"
        )


def check_events(ledger: Ledger, progress: Callable[[int], None] | None = None) -> list[str]:
    """Decode every event and check each aggregate's versions run 1, 2, 3 ... with no gap."""
    findings: list[str] = []
    last_version: dict[str, int] = {}
    try:
        for count, raw in enumerate(ledger.iter_all(), start=1):
            expected = last_version.get(raw.originator_id, 0) + 1
            if raw.originator_version != expected:
                findings.append(f"version gap: {_where(raw)}, expected v{expected}")
            last_version[raw.originator_id] = raw.originator_version
            try:
                if expected == 1 and not issubclass(class_of(raw.topic), _CREATION_EVENTS):
                    findings.append(f"first event of {raw.originator_id} is {raw.topic}")
                decode_stored_state(
                    raw.topic, raw.state, raw.originator_id, raw.originator_version, raw.position
                )
            except LedgerDamagedError as exc:
                findings.append(str(exc))
            except Exception as exc:  # an unknown topic is damage too
                findings.append(f"unknown event type at {_where(raw)}: {exc}")
            if progress and count % 5000 == 0:
                progress(5000)
            if len(findings) >= MAX_FINDINGS:
                findings.append(f"stopped after {MAX_FINDINGS} findings")
                break
    except LedgerDamagedError as exc:
        findings.append(str(exc))
    return findings


def _where(raw: RawEvent) -> str:
    """Where an event is, for a finding (built only when there is one: most runs have none)."""
    return f"{raw.originator_id} v{raw.originator_version} at position {raw.position}"
