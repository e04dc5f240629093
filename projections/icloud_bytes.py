"""Where every byte iCloud ever held for an asset is now: in iCloud, in Recently Deleted, freed.

Invariants:
- Every asset falls in exactly one standing, so the standings' bytes add up to the bytes ever
  listed in iCloud (`icloud_size_bytes`, every archival resource): in iCloud now (the SQL twin
  of engine.asset_state.is_in_icloud), deletion requested (no outcome known yet), deleted by
  photoledger and still in Recently Deleted (recoverable_until_utc after `now`), deleted by
  photoledger and freed for good, or deleted outside photoledger.
- Each standing's bytes are split by resource: the original, the live-photo video, and the
  other archival resources (RAW/JPEG twin, edited still and video); the three add up to the
  standing's bytes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from projections.media import MediaProjection

STANDINGS = ("in_icloud", "deletion_requested", "recently_deleted", "freed_for_good",
             "deleted_elsewhere")
_STANDING_SQL = (
    "CASE WHEN deletion_state = 'deleted' AND recoverable_until_utc > :now"
    " THEN 'recently_deleted'"
    " WHEN deletion_state = 'deleted' THEN 'freed_for_good'"
    " WHEN deletion_state = 'requested' THEN 'deletion_requested'"
    " WHEN is_remote_deleted THEN 'deleted_elsewhere' ELSE 'in_icloud' END"
)
_VERSIONS_SQL = (
    "(SELECT COALESCE(SUM(json_extract(v.value, '$.size_bytes')), 0) FROM json_each(versions)"
    " AS v WHERE json_extract(v.value, '$.key') {keys})"
)
_LIVE_SQL = _VERSIONS_SQL.format(keys="= 'live_video'")
_OTHER_SQL = _VERSIONS_SQL.format(keys="IN ('alternative', 'adjusted', 'adjusted_video')")


@dataclass(frozen=True)
class IcloudBytes:
    """Assets and iCloud bytes of one standing, split by resource."""

    assets: int = 0
    original_bytes: int = 0
    live_video_bytes: int = 0
    other_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.original_bytes + self.live_video_bytes + self.other_bytes


@dataclass(frozen=True)
class IcloudStandings:
    """Every standing's bytes, and the span of Recently Deleted's ends still ahead."""

    by_standing: dict[str, IcloudBytes]
    recoverable_until_first_utc: datetime | None
    recoverable_until_last_utc: datetime | None

    def __getitem__(self, standing: str) -> IcloudBytes:
        return self.ever if standing == "ever" else self.by_standing.get(standing, IcloudBytes())

    def as_json(self) -> dict[str, object]:
        """Each standing (and `ever`) with its bytes by resource and in total."""
        doc: dict[str, object] = {
            name: {**asdict(self[name]), "total_bytes": self[name].total_bytes}
            for name in (*STANDINGS, "ever")
        }
        for key in ("recoverable_until_first_utc", "recoverable_until_last_utc"):
            value = getattr(self, key)
            doc[key] = value.isoformat() if value else None
        return doc

    @property
    def ever(self) -> IcloudBytes:
        """Every asset iCloud ever listed, whatever became of it."""
        rows = self.by_standing.values()
        return IcloudBytes(sum(r.assets for r in rows), sum(r.original_bytes for r in rows),
                           sum(r.live_video_bytes for r in rows), sum(r.other_bytes for r in rows))


def icloud_standings(projection: MediaProjection, now: datetime) -> IcloudStandings:
    """Assets and bytes per standing at `now` (see the module's invariants)."""
    cutoff = now.isoformat()
    rows = projection._con.execute(
        f"SELECT standing, COUNT(*), SUM(icloud_size_bytes - live - other), SUM(live),"
        f" SUM(other) FROM (SELECT {_STANDING_SQL} AS standing, icloud_size_bytes,"
        f" {_LIVE_SQL} AS live, {_OTHER_SQL} AS other FROM media) GROUP BY standing",
        {"now": cutoff},
    ).fetchall()
    first, last = projection._con.execute(
        "SELECT MIN(recoverable_until_utc), MAX(recoverable_until_utc) FROM media"
        " WHERE deletion_state = 'deleted' AND recoverable_until_utc > ?", (cutoff,),
    ).fetchone()
    return IcloudStandings(
        by_standing={str(s): IcloudBytes(int(n), int(o or 0), int(v or 0), int(x or 0))
                     for s, n, o, v, x in rows},
        recoverable_until_first_utc=datetime.fromisoformat(first) if first else None,
        recoverable_until_last_utc=datetime.fromisoformat(last) if last else None,
    )
