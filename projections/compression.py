"""The compression savings report: bytes before and after, per tier, from Compressed facts.

Invariant: read-only queries on the media projection, whose compression columns are folded
from Compressed events only (the first `size_bytes_before` is the downloaded size, the last
`size_bytes_after` the local size now), so the report is as rebuildable as the projection.
Also here: which library paths the ledger gives to assets (a format change must not take one).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from engine.events import LocalFileFact
from projections.media import MediaProjection

_extra_files_decoder = msgspec.json.Decoder(tuple[LocalFileFact, ...])

# A tier's measured ratio replaces the built-in estimate once this many assets are at it.
MEASURED_RATIO_MIN_ASSETS = 10


@dataclass(frozen=True)
class TierSavings:
    """How much one tier has saved so far."""

    tier: str
    assets: int
    bytes_before: int
    bytes_after: int

    @property
    def saved_bytes(self) -> int:
        return self.bytes_before - self.bytes_after

    @property
    def ratio(self) -> float:
        return self.bytes_after / self.bytes_before if self.bytes_before else 1.0


def savings_by_tier(projection: MediaProjection) -> list[TierSavings]:
    """Assets at each tier with their original and current local bytes."""
    rows = projection._con.execute(
        "SELECT compression_tier, COUNT(*), SUM(size_bytes_before_compression),"
        " SUM(size_bytes_after_compression) FROM media WHERE compression_tier IS NOT NULL"
        " GROUP BY compression_tier ORDER BY compression_tier"
    ).fetchall()
    return [TierSavings(str(t), int(n), int(b or 0), int(a or 0)) for t, n, b, a in rows]


def measured_ratios(projection: MediaProjection) -> dict[str, float]:
    """Per tier, the measured after/before ratio where enough assets have been compressed."""
    return {
        s.tier: s.ratio for s in savings_by_tier(projection)
        if s.assets >= MEASURED_RATIO_MIN_ASSETS
    }


def held_relpaths(projection: MediaProjection) -> dict[str, str]:
    """Case-folded library path -> asset id hex, for every file the ledger gives an asset.

    Counts the downloaded names (still, live-photo video, extra renditions) and the name a
    format change gave the still; a removed local copy keeps its names, as download does.
    """
    rows = projection._con.execute(
        "SELECT asset_id, local_relpath, compressed_relpath, live_video_relpath, extra_files"
        " FROM media WHERE local_relpath IS NOT NULL"
    )
    held: dict[str, str] = {}
    for asset_id, local, compressed, live, extra in rows:
        names = [local, compressed, live, *(f.relpath for f in _extra_files_decoder.decode(extra))]
        for relpath in names:
            if relpath:
                held[str(relpath).casefold()] = str(asset_id)
    return held
