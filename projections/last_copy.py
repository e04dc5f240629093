"""Queries about damaged NAS copies, last copies and what deletion freed in iCloud.

Invariants:
- `SOLE_COPY_SQL` is the SQL twin of engine.cleanup.last_copy.is_sole_copy (a test checks
  that they agree on every combination of the columns they read).
- A damaged NAS copy is one recorded `mismatched` (NasMismatched: damaged or missing) and not
  repaired since (a NasVerified sets another status).
- Deleted bytes are split by `now`: still in Recently Deleted (recoverable_until_utc after
  now) or freed for good; an asset recovered since has no deletion and counts in neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.asset import MediaState
from projections.media import MediaProjection

SOLE_COPY_SQL = (
    "((deletion_state = 'deleted' OR is_remote_deleted) "
    "AND (compression_tier IS NOT NULL OR local_removed_at_utc IS NOT NULL))"
)
NAS_DAMAGED_WHERE = "sha256 IS NOT NULL AND nas_status = 'mismatched'"


def damaged_nas_copies(projection: MediaProjection) -> list[tuple[str, MediaState]]:
    """(asset id, state) of every asset whose NAS copy is damaged: last copies first, then
    by capture time (a stable order for messages)."""
    rows = projection._con.execute(
        f"SELECT asset_id FROM media WHERE {NAS_DAMAGED_WHERE} "
        f"ORDER BY NOT {SOLE_COPY_SQL}, captured_at_utc, asset_id"
    ).fetchall()
    ids = [row[0] for row in rows]
    states = projection.states_of(set(ids))
    return [(i, states[i]) for i in ids if i in states]


def damaged_deleted_assets(projection: MediaProjection) -> list[str]:
    """Asset ids deleted from iCloud whose NAS copy is damaged (`recover --all-damaged`)."""
    rows = projection._con.execute(
        f"SELECT asset_id FROM media WHERE {NAS_DAMAGED_WHERE} "
        "AND (deletion_state IN ('deleted', 'requested') OR is_remote_deleted) "
        "ORDER BY captured_at_utc, asset_id"
    ).fetchall()
    return [row[0] for row in rows]


@dataclass(frozen=True)
class DeletedBytes:
    """Assets and iCloud bytes deleted by photoledger, split by the end of Recently Deleted."""

    recoverable_assets: int
    recoverable_bytes: int
    recoverable_until_last_utc: datetime | None  # when the last of them leaves Recently Deleted
    recoverable_until_first_utc: datetime | None  # ... and the first
    freed_for_good_assets: int
    freed_for_good_bytes: int


def deleted_bytes(projection: MediaProjection, now: datetime) -> DeletedBytes:
    """What deletion freed in iCloud: still recoverable at `now`, or gone for good."""
    cutoff = now.isoformat()
    row = projection._con.execute(
        "SELECT"
        " COALESCE(SUM(recoverable_until_utc > ?), 0),"
        " COALESCE(SUM(CASE WHEN recoverable_until_utc > ? THEN icloud_size_bytes END), 0),"
        " MAX(recoverable_until_utc), MIN(CASE WHEN recoverable_until_utc > ?"
        "   THEN recoverable_until_utc END),"
        " COALESCE(SUM(recoverable_until_utc <= ?), 0),"
        " COALESCE(SUM(CASE WHEN recoverable_until_utc <= ? THEN icloud_size_bytes END), 0)"
        " FROM media WHERE deletion_state = 'deleted'",
        (cutoff, cutoff, cutoff, cutoff, cutoff),
    ).fetchone()
    last = row[2] if row[2] is not None and row[2] > cutoff else None
    return DeletedBytes(
        recoverable_assets=int(row[0]),
        recoverable_bytes=int(row[1]),
        recoverable_until_last_utc=datetime.fromisoformat(last) if last else None,
        recoverable_until_first_utc=datetime.fromisoformat(row[3]) if row[3] else None,
        freed_for_good_assets=int(row[4]),
        freed_for_good_bytes=int(row[5]),
    )
