"""Queries of the Google route (`backup-google`) on the media projection.

Invariants:
- Read-only: the Google route decides from these rows and the ledger, never from its own
  to-do state, so a rerun after any stop sees exactly what is left.
- The `--dry-run` listing uses the stage's own work list (projections.worklists) in the same
  order, so it names what a run would stage or confirm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from projections.media import MediaProjection
from projections.worklists import STAGE_WORKLISTS


@dataclass(frozen=True)
class GoogleVerifiedCopy:
    """The outbox files of one Google-verified asset, and since when it is verified."""

    local_relpath: str
    live_video_relpath: str | None
    verified_at_utc: datetime | None


@dataclass(frozen=True)
class GoogleWorkItem:
    """One asset of the backup-google work list: its files and Google status now."""

    local_relpath: str | None
    live_video_relpath: str | None
    google_status: str | None


def google_verified_copies(projection: MediaProjection) -> list[GoogleVerifiedCopy]:
    """Every Google-verified asset with a local path (its outbox copy may be due for removal)."""
    rows = projection._query(
        "SELECT local_relpath, live_video_relpath, google_verified_at_utc FROM media "
        "WHERE google_status = 'verified' AND local_relpath IS NOT NULL"
    )
    return [
        GoogleVerifiedCopy(
            relpath, live_relpath, datetime.fromisoformat(verified_at) if verified_at else None
        )
        for relpath, live_relpath, verified_at in rows
    ]


def google_work_items(projection: MediaProjection, limit: int | None) -> list[GoogleWorkItem]:
    """The backup-google work list in stage order (oldest capture first), at most `limit`."""
    sql = (
        "SELECT local_relpath, live_video_relpath, google_status FROM media "
        f"WHERE {STAGE_WORKLISTS['backup-google']} ORDER BY captured_at_utc, asset_id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [GoogleWorkItem(*row) for row in projection._query(sql)]
