"""Run-level tables of the projection: runs, CloudKit sync tokens, deletion plans and albums
(projections.albums).

Invariant: written in the same transaction (and with the same tracking position) as the
media rows, from RunEvent facts only.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from engine import events as ev
from projections import albums


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


class RunsFold:
    """Accumulates run facts for one batch and writes them as upserts."""

    TABLES = ("runs", "sync_tokens", "delete_plans", *albums.TABLES)
    SCHEMA = (
        "CREATE TABLE runs (run_id TEXT PRIMARY KEY, command TEXT, host TEXT, pid INTEGER, "
        "started_at_utc TEXT, finished_at_utc TEXT, exit_code INTEGER, outcome TEXT)",
        "CREATE TABLE sync_tokens (zone TEXT PRIMARY KEY, sync_token TEXT, run_id TEXT, "
        "advanced_at_utc TEXT)",
        "CREATE TABLE delete_plans (plan_id TEXT PRIMARY KEY, run_id TEXT, asset_count INTEGER, "
        "plan_sha256 TEXT, planned_at_utc TEXT)",
        *albums.SCHEMA,
    )

    def __init__(self) -> None:
        self.started: list[tuple[Any, ...]] = []
        self.finished: list[tuple[Any, ...]] = []
        self.tokens: dict[str, tuple[Any, ...]] = {}
        self.plans: list[tuple[Any, ...]] = []
        self.albums = albums.AlbumsFold()

    def apply(self, run_id: str, event_class: type[Any], payload: Any) -> None:
        """Fold one run-level fact."""
        when = _iso(payload.timestamp)
        if event_class is ev.RunStarted:
            self.started.append((run_id, payload.command, payload.host, payload.pid, when))
        elif event_class is ev.RunFinished:
            self.finished.append((when, payload.exit_code, payload.outcome, run_id))
        elif event_class is ev.SyncTokenAdvanced:
            self.tokens[payload.zone] = (payload.zone, payload.sync_token, run_id, when)
        elif event_class in (ev.AlbumSeen, ev.AlbumRemoved):
            self.albums.apply(run_id, event_class, payload)
        elif event_class is ev.DeletePlanned:
            self.plans.append(
                (payload.plan_id, run_id, payload.asset_count, payload.plan_sha256, when)
            )

    def write(self, con: sqlite3.Connection) -> None:
        """Upsert this batch's run facts (inside the caller's transaction)."""
        con.executemany(
            "INSERT OR IGNORE INTO runs (run_id, command, host, pid, started_at_utc) "
            "VALUES (?,?,?,?,?)",
            self.started,
        )
        con.executemany(
            "UPDATE runs SET finished_at_utc=?, exit_code=?, outcome=? WHERE run_id=?",
            self.finished,
        )
        con.executemany("INSERT OR REPLACE INTO sync_tokens VALUES (?,?,?,?)", self.tokens.values())
        con.executemany("INSERT OR REPLACE INTO delete_plans VALUES (?,?,?,?,?)", self.plans)
        self.albums.write(con)
