"""The download stage's queries: the paths the ledger gives assets, and the sidecar candidates.

Invariants:
- Read-only queries on the media projection; nothing here decides (engine.download,
  engine.sidecar_run decide on what these return).
- `held_relpaths` keys are the paths as recorded (the name registry case-folds them itself).
- A sidecar candidate is an asset with a downloaded original still in the library and still in
  iCloud (not gone from iCloud, no deletion by photoledger except a failed one), oldest capture
  first; whether its sidecar is due is the caller's decision.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from engine.asset import MediaState
from projections.media import MEDIA_FIELDS, MediaProjection, row_to_state

SIDECAR_CANDIDATES_WHERE = (
    "sha256 IS NOT NULL AND local_relpath IS NOT NULL AND local_removed_at_utc IS NULL "
    "AND NOT is_remote_deleted AND (deletion_state IS NULL OR deletion_state = 'failed')"
)  # a failed deletion left the asset in iCloud: its sidecar is kept current like any other


@dataclass(frozen=True)
class SidecarCandidate:
    """What deciding an asset's sidecar needs from its row."""

    asset_id: str
    zone: str
    local_relpath: str
    sidecar_relpath: str | None
    is_stale: bool
    album_ids: list[str]
    written_album_paths: tuple[str, ...]  # the album paths the current sidecar names


def held_relpaths(projection: MediaProjection) -> dict[str, str]:
    """Relative path -> asset id hex for every file the ledger says an asset holds."""
    columns = ", ".join(MEDIA_FIELDS)
    rows = projection._con.execute(
        f"SELECT asset_id, {columns} FROM media WHERE local_relpath IS NOT NULL"
    )
    held: dict[str, str] = {}
    for row in rows:
        asset_id, state = row_to_state(tuple(row))
        for relpath in _relpaths_of(state):
            held[relpath] = asset_id
    return held


def _relpaths_of(state: MediaState) -> Iterator[str]:
    if state.local_relpath:
        yield state.local_relpath
    if state.live_video_relpath:
        yield state.live_video_relpath
    if state.compressed_relpath:  # a format change's new name is held as much as the old
        yield state.compressed_relpath
    for extra in state.extra_files:
        yield extra.relpath


def sidecar_candidates(projection: MediaProjection) -> list[SidecarCandidate]:
    """Every asset that should have a current sidecar, oldest capture first."""
    rows = projection._query(
        "SELECT asset_id, zone, local_relpath, sidecar_relpath, is_sidecar_stale, album_ids, "
        f"sidecar_album_paths FROM media WHERE {SIDECAR_CANDIDATES_WHERE} "
        "ORDER BY captured_at_utc, asset_id"
    )
    return [
        SidecarCandidate(
            asset_id=row["asset_id"], zone=row["zone"], local_relpath=row["local_relpath"],
            sidecar_relpath=row["sidecar_relpath"], is_stale=bool(row["is_sidecar_stale"]),
            album_ids=json.loads(row["album_ids"]),
            written_album_paths=tuple(json.loads(row["sidecar_album_paths"])),
        )
        for row in rows
    ]
