"""Queries of the cleanup stages (album-move, delete plan/execute, audit) on the media projection.

Invariants:
- Each candidate list is defined once, here: `ALBUM_MOVE_CANDIDATES_WHERE` (what album-move
  asks the gate about), `IN_DELETE_PENDING_WHERE` (moved and not deleted yet: these must still
  be in the album) and `DELETE_CANDIDATES_WHERE` (what a deletion plan asks the gate about:
  those, plus the assets the user took out, which the plan lists as blocked). The gate
  (engine.cleanup.gate) decides; these clauses only say whom it is asked about.
- The stage functions read one iCloud zone (the configured library): `zone = ?`.
- Lists come in a stable order (capture time, then asset id) so a rerun after a crash works
  through the same assets in the same order.
"""

from __future__ import annotations

from typing import NamedTuple

from projections.media import MediaProjection

_NOT_DELETED = "(deletion_state IS NULL OR deletion_state = 'failed')"
ALBUM_MOVE_CANDIDATES_WHERE = (
    "NOT is_remote_deleted AND deletion_state IS NULL AND sha256 IS NOT NULL "
    "AND album_moved_at_utc IS NULL AND NOT is_album_removal_observed"
)
IN_DELETE_PENDING_WHERE = (
    f"NOT is_remote_deleted AND album_moved_at_utc IS NOT NULL AND {_NOT_DELETED}"
)
DELETE_CANDIDATES_WHERE = (
    "NOT is_remote_deleted AND (album_moved_at_utc IS NOT NULL OR is_album_removal_observed) "
    f"AND {_NOT_DELETED}"
)
_OLDEST_FIRST = "ORDER BY captured_at_utc, asset_id"


class MovedAsset(NamedTuple):
    """An asset recorded as moved to DeletePending and not deleted since."""

    asset_id: str
    record_name: str


class DeletedAsset(NamedTuple):
    """An asset the ledger records as deleted from iCloud, as the audit lists it."""

    asset_id: str
    record_name: str
    label: str  # its local path, else its file name


def album_move_candidates(projection: MediaProjection, zone: str) -> list[str]:
    """Asset ids album-move asks the gate about, oldest capture first."""
    return _oldest_first(projection, ALBUM_MOVE_CANDIDATES_WHERE, zone)


def in_delete_pending(projection: MediaProjection, zone: str) -> list[MovedAsset]:
    """Every asset that should still be in DeletePending (moved, not deleted)."""
    rows = projection._query(
        f"SELECT asset_id, record_name FROM media WHERE {IN_DELETE_PENDING_WHERE} AND zone = ?",
        (zone,),
    )
    return [MovedAsset(row["asset_id"], row["record_name"]) for row in rows]


def delete_candidates(projection: MediaProjection, zone: str) -> list[str]:
    """Asset ids a deletion plan asks the gate about, oldest capture first."""
    return _oldest_first(projection, DELETE_CANDIDATES_WHERE, zone)


def _oldest_first(projection: MediaProjection, where: str, zone: str) -> list[str]:
    rows = projection._query(
        f"SELECT asset_id FROM media WHERE {where} AND zone = ? {_OLDEST_FIRST}", (zone,)
    )
    return [row["asset_id"] for row in rows]


def deletion_requested(projection: MediaProjection, zone: str) -> list[str]:
    """Asset ids with a DeletionRequested and no outcome yet (a crash between the two)."""
    rows = projection._query(
        "SELECT asset_id FROM media WHERE deletion_state = 'requested' AND zone = ?", (zone,)
    )
    return [row["asset_id"] for row in rows]


def library_asset_count(projection: MediaProjection) -> int:
    """Assets still in iCloud as far as the ledger knows (the mass-delete fraction's base)."""
    rows = projection._query(
        "SELECT COUNT(*) AS n FROM media WHERE NOT is_remote_deleted "
        "AND (deletion_state IS NULL OR deletion_state != 'deleted')"
    )
    return int(rows[0]["n"])


def plan_run_id(projection: MediaProjection, plan_id: str) -> str | None:
    """The run (hex id) that recorded deletion plan `plan_id`; None when there is none."""
    rows = projection._query("SELECT run_id FROM delete_plans WHERE plan_id = ?", (plan_id,))
    return str(rows[0]["run_id"]) if rows else None


def plan_run_ids(projection: MediaProjection) -> list[str]:
    """Every run (hex id) that recorded a deletion plan, sorted."""
    rows = projection._query("SELECT run_id FROM delete_plans")
    return sorted({str(row["run_id"]) for row in rows})


def deleted_assets(projection: MediaProjection) -> list[DeletedAsset]:
    """Every asset recorded as deleted from iCloud, by asset id."""
    rows = projection._query(
        "SELECT asset_id, record_name, COALESCE(local_relpath, filename) AS label FROM media "
        "WHERE deletion_state = 'deleted' ORDER BY asset_id"
    )
    return [DeletedAsset(row["asset_id"], row["record_name"], row["label"]) for row in rows]
