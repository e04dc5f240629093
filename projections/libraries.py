"""The libraries (zones) the ledger knows, and how many of their assets wait for a stage.

Invariant: read-only queries on the media projection (what it has caught up to).
"""

from __future__ import annotations

from projections.media import MediaProjection
from projections.worklists import STAGE_WORKLISTS


def known_zones(projection: MediaProjection) -> list[str]:
    """Every library zone some discovered asset or stored sync token names, sorted."""
    rows = projection._query(
        "SELECT zone FROM media UNION SELECT zone FROM sync_tokens ORDER BY 1"
    )
    return [str(row[0]) for row in rows if row[0]]


def waiting_by_zone(projection: MediaProjection, stage: str) -> dict[str, int]:
    """Zone -> how many of its assets are on `stage`'s work list now."""
    rows = projection._query(
        f"SELECT zone, COUNT(*) FROM media WHERE {STAGE_WORKLISTS[stage]} GROUP BY zone"
    )
    return {str(row[0]): int(row[1]) for row in rows}
