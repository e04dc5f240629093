"""Grouping and batching for the download stage: lookups by zone, saves in batches.

Invariants:
- Assets are looked up per zone, in work-list order, at most `size` per records/lookup.
- A Lookup tells "gone" (NOT_FOUND, or in Recently Deleted) apart from "not returned".
- Facts are saved in batches of aggregates from the calling thread only (`Batcher`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from uuid import UUID

from engine.asset import Asset
from engine.icloud.model import RemoteAsset
from engine.ledger import Ledger


@dataclass(frozen=True)
class Lookup:
    """A records/lookup answer: the records iCloud returned, and those it says are gone."""

    assets: dict[str, RemoteAsset]
    gone: frozenset[str]

    def is_gone(self, record_name: str) -> bool:
        fresh = self.assets.get(record_name)
        return record_name in self.gone or (fresh is not None and fresh.is_deleted)


class Batcher:
    """Collects aggregates with new events and saves them together."""

    def __init__(self, ledger: Ledger, every: int) -> None:
        self.ledger, self.every = ledger, every
        self.pending: dict[UUID, Asset] = {}

    def add(self, asset: Asset) -> None:
        self.pending[asset.id] = asset
        if len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.ledger.save(*self.pending.values())
            self.pending.clear()


def batches_by_zone(assets: Iterable[Asset], size: int) -> Iterator[tuple[str, list[Asset]]]:
    """Assets grouped by zone, in work-list order, at most `size` per batch."""
    by_zone: dict[str, list[Asset]] = {}
    for asset in assets:
        by_zone.setdefault(asset.state.zone, []).append(asset)
    for zone, members in by_zone.items():
        for start in range(0, len(members), size):
            yield zone, members[start : start + size]


