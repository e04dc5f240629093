"""Finding one asset by what a user types: its id, its iCloud record name, or a local path.

Invariant: a name that fits several assets is refused with their ids, never guessed.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from engine.errors import NotFoundError
from projections.media import MediaProjection


def resolve_asset(projection: MediaProjection, asset: str, library_root: Path) -> UUID:
    """The asset id named by an id, an iCloud record name or a local path (absolute, relative
    to the library root, or relative to the current folder and inside the library)."""
    try:
        candidate = UUID(asset)
        if projection._query("SELECT 1 FROM media WHERE asset_id = ?", (candidate.hex,)):
            return candidate
    except ValueError:
        pass
    relpath = library_relpath(asset, library_root)
    rows = projection._query(
        "SELECT asset_id FROM media WHERE record_name = ? OR local_relpath = ? "
        "OR live_video_relpath = ? OR compressed_relpath = ?",
        (asset, relpath, relpath, relpath),
    )
    if not rows:
        raise NotFoundError(f"no asset with id, iCloud record name or local path {asset!r}")
    if len(rows) > 1:
        ids = ", ".join(row["asset_id"] for row in rows)
        raise NotFoundError(f"{asset!r} names {len(rows)} assets ({ids}): pass the asset id")
    return UUID(rows[0]["asset_id"])


def library_relpath(asset: str, library_root: Path) -> str:
    """The path as the ledger records it (relative to the library root, posix)."""
    path = Path(asset)
    if not path.is_absolute() and (Path.cwd() / path).is_relative_to(library_root):
        path = Path.cwd() / path  # e.g. `library/2024/...` typed from the library's parent
    if path.is_absolute() and path.is_relative_to(library_root):
        return path.relative_to(library_root).as_posix()
    return path.as_posix()
