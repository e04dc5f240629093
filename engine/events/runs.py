"""Run-level facts: a command's start and end, its stages' counts, discovery's sync tokens
and album tree, and deletion plans.

Invariants:
- Facts of the SyncRun aggregate, never one per asset (a hot aggregate otherwise).
- RunStarted is saved before any asset fact of its run; RunFinished carries the exit code.
- Stored names and versions never change (engine.events): a new shape bumps `class_version`
  and adds an upcaster.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import Aggregate

from engine.events.base import RunEvent
from engine.events.values import PlanEntry


class RunStarted(RunEvent, Aggregate.Created):
    """A photoledger command that writes to the ledger started."""

    command: str
    host: str
    pid: int
    config_sha256: str
    version: str


class StageCompleted(RunEvent):
    """A stage finished its work list; counts are per outcome ("downloaded": 12, ...)."""

    stage: str
    counts_json: str


class SyncTokenAdvanced(RunEvent):
    """Discovery consumed iCloud changes up to this CloudKit sync token for a zone."""

    zone: str
    sync_token: str


class AlbumSeen(RunEvent):
    """A user album or folder of a zone as iCloud lists it (new, renamed or moved).

    Recorded on the discover run only when it differs from what the ledger knows, so the
    facts of all albums stay small whatever the library's size. `parent_id` is the folder
    holding it (None: top level).
    """

    zone: str
    album_id: str  # the CPLAlbum record name
    name: str
    parent_id: str | None
    is_folder: bool


class AlbumRemoved(RunEvent):
    """A user album or folder the ledger knew is gone from iCloud (deleted or tombstoned)."""

    zone: str
    album_id: str


class DeletePlanned(RunEvent):
    """A deletion plan was made; `plan_sha256` covers its asset ids and evidence (`entries`)."""

    class_version = 2
    stored_fields_v1 = ("timestamp", "plan_id", "asset_count", "plan_sha256")

    plan_id: str
    asset_count: int
    plan_sha256: str
    entries: tuple[PlanEntry, ...]

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """v1 stored only the count and the hash: such a plan lists nothing to execute."""
        state["entries"] = []


class RunFinished(RunEvent):
    """The command ended; `exit_code` is the process's exit code."""

    exit_code: int
    outcome: str
