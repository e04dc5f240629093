"""Queries of the selection (engine.selection_scope): the library's assets and albums.

Invariant: read-only. Every library (zone) the ledger holds counts: a selection is about the
user's photos wherever they live. The order is newest capture first (capture, else added
date; then asset id), the order `recent` and `until_found` count in.
"""

from __future__ import annotations

from engine.albums import KnownAlbum
from engine.asset import MediaState
from projections.media import MediaProjection
from projections.worklists import IN_ICLOUD_SQL


def library_newest_first(projection: MediaProjection) -> list[tuple[str, MediaState]]:
    """(asset id, state) of every asset still in iCloud, newest capture first."""
    rows = projection._query(
        f"SELECT asset_id FROM media WHERE {IN_ICLOUD_SQL} "
        "ORDER BY COALESCE(captured_at_utc, added_at_utc) DESC, asset_id DESC"
    )
    ids = [row["asset_id"] for row in rows]
    states = projection.states_of(set(ids))
    return [(asset_id, states[asset_id]) for asset_id in ids if asset_id in states]


def every_album(projection: MediaProjection, zone: str | None) -> dict[str, KnownAlbum]:
    """Every album and folder the ledger knows of `zone` (None: of every zone), removed ones
    included."""
    rows = projection._query(
        "SELECT album_id, name, parent_id, is_folder, is_removed FROM albums "
        "WHERE ? IS NULL OR zone = ?", (zone, zone),
    )
    return {
        row["album_id"]: KnownAlbum(
            album_id=row["album_id"], name=row["name"], parent_id=row["parent_id"],
            is_folder=bool(row["is_folder"]), is_removed=bool(row["is_removed"]),
        )
        for row in rows
    }
