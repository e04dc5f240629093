"""Queries of the NAS route over the media projection (`backup-nas`, `verify nas`).

Invariants:
- Read-only: nothing here writes the projection.
- "On the NAS" is projections.worklists.NAS_REVERIFY_WHERE, the same rows `verify nas` re-reads,
  so what the summary counts is what the next runs will visit.
- Time comes in as `now`; a verification older than `max_verify_age` no longer counts
  (engine.nas.plan.is_nas_copy_current is the per-asset rule).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from projections.media import MediaProjection
from projections.worklists import NAS_REVERIFY_WHERE


def count_outdated_nas_copies(
    projection: MediaProjection, now: datetime, max_verify_age: timedelta
) -> int:
    """NAS copies whose last verification no longer counts for the deletion gate."""
    cutoff = now - max_verify_age
    rows = projection._con.execute(
        f"SELECT nas_verified_at_utc FROM media WHERE {NAS_REVERIFY_WHERE}"
    )
    return sum(1 for (at,) in rows if at is None or datetime.fromisoformat(at) < cutoff)
