"""Settling a deletion request whose outcome was never recorded (a crash), by asking iCloud.

Invariants:
- iCloud is only asked (a lookup), never told: in Recently Deleted (or gone) means Deleted,
  still listed means DeletionFailed. Nothing is deleted again by reconciliation; a later plan
  may include the asset again through the gate.
- Runs before anything else in `delete plan` and `delete execute`, so no asset is judged while
  a request of its is open.
"""

from __future__ import annotations

from uuid import UUID

from engine import events as ev
from engine.asset import Asset
from engine.cleanup.effects import CleanupScope
from engine.cleanup.gate import RECOVERABLE_FOR
from engine.cleanup.plan import label_of
from engine.icloud.model import RemoteAsset
from projections.cleanup import deletion_requested


def execute_reconcile(scope: CleanupScope) -> list[str]:
    """Give every DeletionRequested without an outcome its outcome, by asking iCloud."""
    done = []
    for asset_id in deletion_requested(scope.projection, scope.zone):
        asset = scope.ledger.get_asset(UUID(asset_id))
        record_observed_outcome(scope, asset, lookup_live(scope, asset.state.record_name))
        scope.effects.save(asset)
        done.append(f"{label_of(asset.state)}: {asset.state.deletion_state}")
    return done


def record_observed_outcome(scope: CleanupScope, asset: Asset, live: RemoteAsset | None) -> None:
    """Deleted when iCloud shows the asset deleted or gone; DeletionFailed when it is listed
    (recorded on `asset`, not saved)."""
    state = asset.state
    plan_id = state.deletion_plan_id or ""
    if live is None or live.is_deleted:
        requested_at = state.deletion_requested_at_utc or scope.now()
        asset.record(
            ev.Deleted, scope.run_id, plan_id=plan_id, timestamp=scope.now(),
            recoverable_until_utc=requested_at + RECOVERABLE_FOR, is_reconciled=True,
        )
        return
    asset.record(
        ev.DeletionFailed, scope.run_id, plan_id=plan_id, timestamp=scope.now(),
        error="the delete was not applied: iCloud still lists the asset",
    )


def lookup_live(scope: CleanupScope, record_name: str) -> RemoteAsset | None:
    """iCloud's record as it is now (None: iCloud does not know it)."""
    page = scope.port.lookup_assets(scope.zone, [record_name])
    return next((a for a in page.assets if a.record_name == record_name), None)
