"""The Asset and SyncRun aggregates (the command side of the ledger).

Invariants:
- An Asset's state changes only by folding its facts with `fold_fact` (engine.asset_folds),
  the same fold the media projection runs, so the projection is the aggregate's state.
- A fact is appended only through `Asset.record`/`Asset.discover` and `SyncRun.record`/
  `SyncRun.start`; an Asset is created by its Discovered, a SyncRun by its RunStarted.
- Both classes stay defined in this module: their topic (`engine.asset:Asset`) is the default
  `originator_topic` of the creation facts the mapper leaves out of stored rows.
- `MediaState`, `fold_fact` and `is_in_icloud` are re-exported here for callers.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from engine import events as ev
from engine.asset_folds import fold_fact
from engine.asset_state import MediaState, is_in_icloud
from engine.ids import IcloudIdentity, asset_id_for

__all__ = ["Asset", "MediaState", "SyncRun", "fold_fact", "is_in_icloud"]


class Asset(Aggregate):
    """One iCloud asset's history. Id: uuid5 of its iCloud identity (engine.ids)."""

    def __init__(self) -> None:
        self.state = MediaState()

    def apply_fact(self, fact: ev.AssetEvent) -> None:
        """Called by every AssetEvent's apply(): fold it into this aggregate's state."""
        fold_fact(self.state, type(fact), fact, fact.originator_version)

    @classmethod
    def discover(cls, identity: IcloudIdentity, run_id: str, **facts: Any) -> Asset:
        """Create the aggregate for a newly seen iCloud asset."""
        return cls._create(
            ev.Discovered,
            id=asset_id_for(identity),
            run_id=run_id,
            account=identity.account,
            zone=identity.zone,
            record_name=identity.record_name,
            **facts,
        )

    def record(self, event_class: type[ev.AssetEvent], run_id: str, **facts: Any) -> None:
        """Append a fact (not the creation fact) to this asset."""
        if issubclass(event_class, ev.Discovered):
            raise TypeError("Discovered creates an asset; use Asset.discover")
        self.trigger_event(event_class, run_id=run_id, **facts)


class SyncRun(Aggregate):
    """Run-level facts of one photoledger command (never one event per asset)."""

    @classmethod
    def start(cls, run_id: UUID, **facts: Any) -> SyncRun:
        """Create the run aggregate; the caller saves it before any asset event of the run."""
        return cls._create(ev.RunStarted, id=run_id, **facts)

    def record(self, event_class: type[ev.RunEvent], **facts: Any) -> None:
        """Append a run-level fact."""
        self.trigger_event(event_class, **facts)
