"""Saving a stage's facts in batches, from the thread that decided them.

Invariants:
- Aggregates with new events are saved together, at most `every` at a time, only from the
  calling thread (workers return results and never touch the ledger).
- `flush` saves everything pending; a stage calls it in a `finally`, so a stop (an error,
  Ctrl-C) keeps every fact already decided and never half an asset's.
- How a batch is saved is the stage's choice (`save`): plainly, or re-deciding facts that
  may no longer hold (engine.ledger.Ledger.save_deciding_again).
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from engine.asset import Asset
from engine.ledger import Ledger

SaveFn = Callable[[list[Asset]], None]


class Batcher:
    """Collects aggregates with new events and saves them together."""

    def __init__(self, save: SaveFn, every: int = 50) -> None:
        self.save, self.every = save, max(1, every)
        self.pending: dict[UUID, Asset] = {}

    @classmethod
    def for_ledger(cls, ledger: Ledger, every: int = 50) -> Batcher:
        """A batcher that saves plainly into `ledger`."""
        def save(assets: list[Asset]) -> None:
            ledger.save(*assets)

        return cls(save, every)

    def add(self, asset: Asset) -> None:
        self.pending[asset.id] = asset
        if len(self.pending) >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.save(list(self.pending.values()))
            self.pending.clear()
