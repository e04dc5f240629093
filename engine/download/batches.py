"""Grouping for the download stage's lookups: assets by zone, in batches (saves in batches are
engine.batching's).

Invariants:
- Assets are looked up per zone, in work-list order, at most `size` per records/lookup.
- A Lookup tells "gone" (NOT_FOUND, or in Recently Deleted) apart from "not returned".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from engine.asset import Asset
from engine.icloud.model import RemoteAsset


@dataclass(frozen=True)
class Lookup:
    """A records/lookup answer: the records iCloud returned, and those it says are gone."""

    assets: dict[str, RemoteAsset]
    gone: frozenset[str]

    def is_gone(self, record_name: str) -> bool:
        fresh = self.assets.get(record_name)
        return record_name in self.gone or (fresh is not None and fresh.is_deleted)


def batches_by_zone(assets: Iterable[Asset], size: int) -> Iterator[tuple[str, list[Asset]]]:
    """Assets grouped by zone, in work-list order, at most `size` per batch."""
    by_zone: dict[str, list[Asset]] = {}
    for asset in assets:
        by_zone.setdefault(asset.state.zone, []).append(asset)
    for zone, members in by_zone.items():
        for start in range(0, len(members), size):
            yield zone, members[start : start + size]


