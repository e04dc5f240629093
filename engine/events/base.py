"""The two bases of every fact: one asset's (`AssetEvent`) and one run's (`RunEvent`).

Invariants:
- An AssetEvent carries `run_id` (the SyncRun that produced it) and changes its aggregate's
  state only through `Asset.apply_fact`, that is through `engine.asset.fold_fact`, the one
  fold the media projection shares.
- A RunEvent is never one per asset: a run aggregate with one fact per asset would be hot.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate


class AssetEvent(Aggregate.Event):
    """Base of every fact about one iCloud asset."""

    run_id: str

    def apply(self, aggregate: object) -> None:
        # The fold lives in engine.asset so the projection can share it; see Asset.apply_fact.
        aggregate.apply_fact(self)  # type: ignore[attr-defined]


class RunEvent(Aggregate.Event):
    """Base of run-level facts (never one per asset: that would make a hot aggregate)."""
