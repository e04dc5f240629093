"""The discover stage's queries: the stored sync token and the assets a full scan must list.

Invariant: read-only queries on the media projection; they see what the projection has caught
up to, which discover keeps current after every page it saves.
"""

from __future__ import annotations

from projections.media import MediaProjection


def stored_sync_token(projection: MediaProjection, zone: str) -> str | None:
    """The last token discovery consumed for this zone (from the runs' facts)."""
    rows = projection._query("SELECT sync_token FROM sync_tokens WHERE zone = ?", (zone,))
    return str(rows[0][0]) if rows else None


def alive_record_names(projection: MediaProjection, zone: str) -> list[str]:
    """Record names of the zone's assets neither gone from iCloud nor deleted by photoledger."""
    rows = projection._query(
        "SELECT record_name FROM media WHERE zone = ? AND NOT is_remote_deleted "
        "AND deletion_state IS NULL",
        (zone,),
    )
    return [row[0] for row in rows]
