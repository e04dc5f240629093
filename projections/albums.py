"""The `albums` table: every user album and folder the ledger knows, and queries on it.

Invariants:
- Rows come only from AlbumSeen / AlbumRemoved run facts, folded in ledger order in the same
  transaction (and tracking position) as the media rows (projections.runs calls this fold).
- A removed album keeps its row (`is_removed` = 1) with its last name, so history can still
  name it; an album seen again is alive again.
- Asset counts are computed from the media table's `album_ids` when asked, never stored, so
  they cannot drift from the assets' facts.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engine import events as ev
from engine.albums import KnownAlbum, album_chain, album_path

if TYPE_CHECKING:  # projections.media imports this module's fold (through projections.runs)
    from projections.media import MediaProjection

TABLES = ("albums",)
SCHEMA = (
    "CREATE TABLE albums (zone TEXT NOT NULL, album_id TEXT NOT NULL, name TEXT NOT NULL, "
    "parent_id TEXT, is_folder INTEGER NOT NULL, is_removed INTEGER NOT NULL, "
    "run_id TEXT, updated_at_utc TEXT, PRIMARY KEY (zone, album_id))",
)
_ALIVE_ASSET = "NOT m.is_remote_deleted AND m.deletion_state IS NULL"


def _iso(value: datetime) -> str:
    return value.isoformat()


class AlbumsFold:
    """Collects one batch's album facts, in order, and writes them as upserts."""

    def __init__(self) -> None:
        self.ops: list[tuple[str, tuple[Any, ...]]] = []

    def apply(self, run_id: str, event_class: type[Any], payload: Any) -> None:
        """Fold one run-level fact (facts that are not about albums are ignored)."""
        when = _iso(payload.timestamp)
        if event_class is ev.AlbumSeen:
            self.ops.append(("INSERT OR REPLACE INTO albums VALUES (?,?,?,?,?,0,?,?)", (
                payload.zone, payload.album_id, payload.name, payload.parent_id,
                int(payload.is_folder), run_id, when)))
        elif event_class is ev.AlbumRemoved:
            self.ops.append((
                "UPDATE albums SET is_removed = 1, run_id = ?, updated_at_utc = ? "
                "WHERE zone = ? AND album_id = ?",
                (run_id, when, payload.zone, payload.album_id)))

    def write(self, con: sqlite3.Connection) -> None:
        """Apply this batch's facts (inside the caller's transaction)."""
        for sql, params in self.ops:
            con.execute(sql, params)


def known_albums(projection: MediaProjection, zone: str) -> dict[str, KnownAlbum]:
    """Every album and folder of the zone the ledger knows, removed ones included."""
    rows = projection._query(
        "SELECT album_id, name, parent_id, is_folder, is_removed FROM albums WHERE zone = ?",
        (zone,),
    )
    return {
        row["album_id"]: KnownAlbum(
            album_id=row["album_id"], name=row["name"], parent_id=row["parent_id"],
            is_folder=bool(row["is_folder"]), is_removed=bool(row["is_removed"]),
        )
        for row in rows
    }


@dataclass(frozen=True)
class AlbumListing:
    """One album or folder as `photoledger albums` shows it."""

    zone: str
    album_id: str
    name: str
    path: str
    is_folder: bool
    asset_count: int  # assets still in iCloud (for a folder: in any album below it, once)


def album_listing(projection: MediaProjection) -> list[AlbumListing]:
    """Every live album and folder with its path and asset count, sorted by path."""
    counts = _member_counts(projection)
    listing: list[AlbumListing] = []
    for zone in _zones(projection):
        albums = known_albums(projection, zone)
        paths = {i: album_path(i, albums) for i in albums}
        for album_id, album in albums.items():
            path = paths[album_id]
            if path is None:
                continue
            if album.is_folder:
                inside = [i for i, a in albums.items() if not a.is_folder and paths[i]
                          and album in album_chain(i, albums)[1:]]
                count = _distinct_members(projection, zone, inside)
            else:
                count = counts.get((zone, album_id), 0)
            listing.append(AlbumListing(zone, album_id, album.name, path, album.is_folder, count))
    return sorted(listing, key=lambda a: (a.path.casefold(), a.path, a.zone, a.album_id))


def _zones(projection: MediaProjection) -> list[str]:
    return [row[0] for row in projection._query("SELECT DISTINCT zone FROM albums ORDER BY zone")]


def _distinct_members(projection: MediaProjection, zone: str, album_ids: list[str]) -> int:
    if not album_ids:
        return 0
    marks = ",".join("?" * len(album_ids))
    rows = projection._query(
        "SELECT COUNT(DISTINCT m.asset_id) FROM media AS m, json_each(m.album_ids) AS j "
        f"WHERE {_ALIVE_ASSET} AND m.zone = ? AND j.value IN ({marks})", (zone, *album_ids),
    )
    return int(rows[0][0])


def _member_counts(projection: MediaProjection) -> dict[tuple[str, str], int]:
    rows = projection._query(
        "SELECT m.zone AS zone, j.value AS album_id, COUNT(*) AS n "
        f"FROM media AS m, json_each(m.album_ids) AS j WHERE {_ALIVE_ASSET} "
        "GROUP BY m.zone, j.value"
    )
    return {(row["zone"], row["album_id"]): int(row["n"]) for row in rows}
