"""Finding assets for the web UI's asset page: by file name, capture day and album name.

Invariants:
- Read-only named queries on the media projection and its albums table.
- Every criterion given must hold (they combine with AND); a name matches as a
  case-insensitive part of the file name or library path (LIKE wildcards typed by the user are
  taken literally); an album matches as a case-insensitive part of its path
  (`Trips/2021/Lisbon`: "trips" finds every album in that folder), removed albums by their
  last name.
- A capture day is the day where the photo was taken: its UTC time moved by its recorded time
  zone offset (UTC when the offset is unknown), so a photo taken at 00:30 in Paris is found
  on that day, as the phone shows it.
- Results come oldest capture first (never captured last), at most `limit`; `more` says
  whether there were others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from engine.albums import album_path
from projections.albums import known_albums
from projections.media import MediaProjection
from projections.worklists import IN_ICLOUD_SQL

# The capture day in the photo's own time zone (engine.naming uses the same offset).
CAPTURE_DAY_SQL = (
    "date(substr(captured_at_utc, 1, 19), "
    "printf('%+d seconds', COALESCE(timezone_offset_s, 0)))"
)


@dataclass(frozen=True)
class AssetQuery:
    name: str = ""
    day_from: date | None = None
    day_to: date | None = None
    album: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.name or self.day_from or self.day_to or self.album)


@dataclass(frozen=True)
class AssetHit:
    asset_id: str
    filename: str
    capture_day: str | None
    kind: str
    local_relpath: str | None
    size_bytes: int | None
    is_in_icloud: bool


@dataclass(frozen=True)
class SearchResult:
    hits: list[AssetHit]
    more: bool


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matching_albums(projection: MediaProjection, text: str) -> list[tuple[str, str]]:
    """(zone, album id) of every album (not folder) whose path holds `text`, any case."""
    wanted = text.casefold()
    zones = [r["zone"] for r in projection._query("SELECT DISTINCT zone FROM albums")]
    found = []
    for zone in zones:
        albums = known_albums(projection, zone)
        found += [(zone, album_id) for album_id, album in albums.items()
                  if not album.is_folder
                  and wanted in (album_path(album_id, albums) or album.name).casefold()]
    return found


def _criteria(query: AssetQuery, albums: list[tuple[str, str]],
              ) -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    if query.name:
        where.append("(filename LIKE ? ESCAPE '\\' OR local_relpath LIKE ? ESCAPE '\\' "
                     "OR record_name = ?)")
        params += [_like(query.name), _like(query.name), query.name]
    if query.day_from:
        where.append(f"{CAPTURE_DAY_SQL} >= ?")
        params.append(query.day_from.isoformat())
    if query.day_to:
        where.append(f"{CAPTURE_DAY_SQL} <= ?")
        params.append(query.day_to.isoformat())
    if query.album:
        where.append(
            "EXISTS (SELECT 1 FROM json_each(media.album_ids) AS j, json_each(?) AS a "
            "WHERE json_extract(a.value, '$[0]') = media.zone "
            "AND json_extract(a.value, '$[1]') = j.value)")
        params.append(json.dumps(albums))
    return where, params


def search_assets(projection: MediaProjection, query: AssetQuery,
                  limit: int = 100) -> SearchResult:
    """The assets matching every criterion of `query` (none when it is empty)."""
    if query.is_empty:
        return SearchResult([], False)
    albums = matching_albums(projection, query.album) if query.album else []
    where, params = _criteria(query, albums)
    rows = projection._query(
        f"SELECT asset_id, filename, {CAPTURE_DAY_SQL} AS day, kind, local_relpath, "
        "COALESCE(downloaded_size_bytes, declared_size_bytes) AS size_bytes, "
        f"{IN_ICLOUD_SQL} AS in_icloud FROM media WHERE {' AND '.join(where)} "
        "ORDER BY captured_at_utc IS NULL, captured_at_utc, asset_id LIMIT ?",
        (*params, limit + 1))
    hits = [AssetHit(r["asset_id"], r["filename"], r["day"], r["kind"], r["local_relpath"],
                     r["size_bytes"], bool(r["in_icloud"])) for r in rows[:limit]]
    return SearchResult(hits, len(rows) > limit)


def run_commands(projection: MediaProjection, run_ids: set[str]) -> dict[str, str]:
    """run id -> the command that run was (for the runs the projection knows)."""
    if not run_ids:
        return {}
    marks = ",".join("?" * len(run_ids))
    rows = projection._query(
        f"SELECT run_id, command FROM runs WHERE run_id IN ({marks})", tuple(run_ids))
    return {r["run_id"]: r["command"] for r in rows}
