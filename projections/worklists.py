"""Stage work lists and status summaries: queries on the media projection.

Invariant: a stage's work list is exactly the rows matching its WHERE clause here; stages
never keep their own to-do state, so a rerun after any crash picks up precisely what is left.
Deleted-in-iCloud and deletion-requested assets leave every work list except their own and
backup-nas's: once iCloud lost an asset its NAS copy may be the only one left, so a missing
or damaged copy is still repaired from a local one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from projections.cleanup import ALBUM_MOVE_CANDIDATES_WHERE, IN_DELETE_PENDING_WHERE
from projections.last_copy import SOLE_COPY_SQL
from projections.media import MediaProjection

_ALIVE = "NOT is_remote_deleted AND deletion_state IS NULL"
# engine.asset_state.is_in_icloud: no deletion requested or done, not gone (a failed one is)
IN_ICLOUD_SQL = (
    "NOT is_remote_deleted AND COALESCE(deletion_state, '') NOT IN ('requested', 'deleted')"
)
_HAS_ORIGINAL = "sha256 IS NOT NULL AND local_removed_at_utc IS NULL"
# engine.resources.is_sidecar_on_nas: the last NAS verification re-read the current sidecar
_SIDECAR_ON_NAS = (
    "EXISTS (SELECT 1 FROM json_each(nas_files) AS f "
    "WHERE json_extract(f.value, '$.key') = 'sidecar' "
    "AND json_extract(f.value, '$.sha256') = sidecar_sha256)"
)

STAGE_WORKLISTS: dict[str, str] = {
    # engine.resources.decide_missing keeps `missing_resources` (listed, not downloaded)
    "download": f"{_ALIVE} AND quarantine_reason IS NULL AND missing_resources <> '[]'",
    # 'incomplete' (a resource downloaded since the last verification) is not 'verified'
    "backup-nas": "sha256 IS NOT NULL AND "
    "(nas_status IS NOT 'verified' OR nas_verified_sha256 IS NOT sha256 "
    f"OR (sidecar_sha256 IS NOT NULL AND NOT {_SIDECAR_ON_NAS}))",
    "backup-google": f"{_ALIVE} AND {_HAS_ORIGINAL} AND google_status IS NOT 'verified'",
    "compress": f"{_ALIVE} AND {_HAS_ORIGINAL} AND nas_status = 'verified' "
    "AND nas_verified_sha256 = sha256 AND google_status = 'verified'",
    # The cleanup stages' own candidate clauses (projections.cleanup); album-move's work list
    # counts only those whose default required copies are verified.
    "album-move": f"{ALBUM_MOVE_CANDIDATES_WHERE} AND nas_status = 'verified' "
    "AND google_status = 'verified'",
    "delete": IN_DELETE_PENDING_WHERE,
}
# Compression candidates: every local original; engine.compress.tiers decides the tier by age
# (which needs the clock) and checks the backups the config requires.
COMPRESS_CANDIDATES_WHERE = (
    f"{_ALIVE} AND {_HAS_ORIGINAL} AND quarantine_reason IS NULL AND local_relpath IS NOT NULL"
)
FAILURES_WHERE = "last_error IS NOT NULL OR quarantine_reason IS NOT NULL"
# `verify nas` re-reads every NAS copy that counts (deleted-in-iCloud ones most of all: the NAS
# may then hold the only original); mismatched copies are backup-nas's work.
# NAS facts about another NAS than the mounted one (the `?`: the id in its marker).
NAS_OTHER_WHERE = "sha256 IS NOT NULL AND nas_status IS NOT NULL AND nas_id IS NOT ?"
NAS_REVERIFY_WHERE = (
    "sha256 IS NOT NULL AND nas_status IN ('verified', 'incomplete', 'copied')"
)


@dataclass(frozen=True)
class StageSummary:
    """How much is waiting for one stage."""

    stage: str
    waiting: int
    waiting_bytes: int
    oldest_captured_at_utc: str | None


def worklist(projection: MediaProjection, stage: str, limit: int | None = None) -> list[str]:
    """Asset ids waiting for `stage`, oldest capture first (stable order for resumable work)."""
    sql = (
        f"SELECT asset_id FROM media WHERE {STAGE_WORKLISTS[stage]} "
        "ORDER BY captured_at_utc, asset_id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [row[0] for row in projection._con.execute(sql)]


def nas_backup_worklist(
    projection: MediaProjection, nas_id: str | None, limit: int | None = None
) -> list[str]:
    """The backup-nas work list for the NAS whose marker holds `nas_id`: also every asset
    whose NAS facts name another NAS (they count for nothing there). None: the ledger's own
    work list (the NAS is not mounted, e.g. a dry run)."""
    where: str = STAGE_WORKLISTS["backup-nas"]
    params: tuple[str, ...] = ()
    if nas_id is not None:
        where, params = f"({where}) OR ({NAS_OTHER_WHERE})", (nas_id,)
    sql = f"SELECT asset_id FROM media WHERE {where} ORDER BY captured_at_utc, asset_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [row[0] for row in projection._con.execute(sql, params)]


def nas_reverify_worklist(projection: MediaProjection, limit: int | None = None) -> list[str]:
    """Asset ids with a NAS copy: sole copies first (deleted from iCloud, local copy degraded:
    their damage is the alarm), then least recently verified first (never verified first)."""
    sql = (
        f"SELECT asset_id FROM media WHERE {NAS_REVERIFY_WHERE} "
        f"ORDER BY NOT {SOLE_COPY_SQL}, "
        "nas_verified_at_utc IS NOT NULL, nas_verified_at_utc, asset_id"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [row[0] for row in projection._con.execute(sql)]


def compress_candidates(projection: MediaProjection) -> list[str]:
    """Asset ids compression may consider, oldest capture first."""
    sql = (
        f"SELECT asset_id FROM media WHERE {COMPRESS_CANDIDATES_WHERE} "
        "ORDER BY captured_at_utc, asset_id"
    )
    return [row[0] for row in projection._con.execute(sql)]


def stage_summaries(projection: MediaProjection) -> list[StageSummary]:
    """Count, bytes and oldest item waiting for each stage, in pipeline order."""
    summaries = []
    for stage, where in STAGE_WORKLISTS.items():
        count, size, oldest = projection._con.execute(
            "SELECT COUNT(*),"
            " COALESCE(SUM(COALESCE(downloaded_size_bytes, declared_size_bytes)), 0),"
            f" MIN(captured_at_utc) FROM media WHERE {where}"
        ).fetchone()
        summaries.append(StageSummary(stage, int(count), int(size), oldest))
    return summaries


def summary_of(projection: MediaProjection, stage: str, asset_ids: list[str]) -> StageSummary:
    """Count, bytes and oldest item of the listed assets, as `stage`'s backlog (for a work list
    decided in Python, e.g. compression's tier/age plan)."""
    count, size, oldest = projection._con.execute(
        "SELECT COUNT(*), COALESCE(SUM(COALESCE(downloaded_size_bytes, declared_size_bytes)), 0),"
        " MIN(captured_at_utc) FROM media WHERE asset_id IN (SELECT value FROM json_each(?))",
        (json.dumps(asset_ids),),
    ).fetchone()
    return StageSummary(stage, int(count), int(size), oldest)


def library_totals(projection: MediaProjection) -> dict[str, Any]:
    """Whole-library counts and bytes per milestone."""
    row = projection._query(
        "SELECT COUNT(*) AS assets,"
        f" COALESCE(SUM(CASE WHEN {IN_ICLOUD_SQL}"
        "   THEN icloud_size_bytes END), 0) AS icloud_bytes,"
        " COUNT(sha256) AS downloaded,"
        " SUM(sha256 IS NOT NULL AND missing_resources <> '[]') AS partially_downloaded,"
        " COALESCE(SUM(downloaded_size_bytes), 0) AS downloaded_bytes,"
        " SUM(nas_status = 'verified' AND nas_verified_sha256 = sha256) AS nas_verified,"
        " SUM(google_status = 'verified') AS google_verified,"
        " SUM(compression_tier IS NOT NULL) AS compressed,"
        " COALESCE(SUM(size_bytes_before_compression - size_bytes_after_compression), 0)"
        "   AS compression_saved_bytes,"
        " SUM(album_moved_at_utc IS NOT NULL) AS album_moved,"
        " SUM(deletion_state = 'deleted') AS deleted_from_icloud,"
        " COALESCE(SUM(CASE WHEN deletion_state = 'deleted' THEN icloud_size_bytes END), 0)"
        "   AS icloud_freed_bytes,"
        " SUM(is_remote_deleted) AS deleted_elsewhere,"
        f" SUM({FAILURES_WHERE}) AS with_problems"
        " FROM media"
    )[0]
    return {key: int(row[key] or 0) for key in row.keys()}  # noqa: SIM118


def failures(projection: MediaProjection, limit: int = 20) -> list[dict[str, Any]]:
    """Assets with a recorded problem, most recent first."""
    rows = projection._query(
        "SELECT asset_id, record_name, filename, quarantine_reason, last_error, last_error_at_utc,"
        " (SELECT group_concat(value, ', ') FROM json_each(missing_resources)) AS missing "
        f"FROM media WHERE {FAILURES_WHERE} ORDER BY last_error_at_utc DESC LIMIT ?",
        (limit,),
    )
    return [dict(row) for row in rows]


def asset_count(projection: MediaProjection) -> int:
    """How many assets the projection holds."""
    return int(projection._query("SELECT COUNT(*) AS n FROM media")[0]["n"])


def problem_counts(projection: MediaProjection) -> tuple[int, int]:
    """(quarantined, with a recorded error): what `run` compares before and after."""
    row = projection._query(
        "SELECT COUNT(quarantine_reason) AS quarantined, COUNT(last_error) AS errors FROM media"
    )[0]
    return int(row["quarantined"]), int(row["errors"])


def last_run(projection: MediaProjection) -> dict[str, Any] | None:
    """The most recently started run (its row of the runs table), if any."""
    rows = projection._query("SELECT * FROM runs ORDER BY started_at_utc DESC LIMIT 1")
    return dict(rows[0]) if rows else None
