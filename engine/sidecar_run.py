"""The sidecars step of the download stage: an XMP file beside every downloaded original.

`IMG_0001.JPG.xmp` (engine.sidecar) holds what iCloud knows about the asset beyond its bytes:
caption, description, keywords, place, orientation, favourite, hidden, screenshot, capture
time with its zone, and the album paths. It is written after the original's Downloaded and
again whenever those facts change; each write is a SidecarWritten with the sha256 of the bytes,
so a backup can copy and verify it like media.

Invariants:
- What a sidecar says is a pure function of the ledger (the asset's state and the albums
  table): `sidecar_facts` and engine.albums.album_paths_for; rendering is deterministic.
- A sidecar is due when none was written for the current local path, when the asset's own
  facts changed since (`is_sidecar_stale`, kept by the fold), or when the album paths it would
  name differ from those it names (`sidecar_album_paths`): an album renamed or moved rewrites
  the sidecars of its assets without any per-asset fact of the rename. Nothing else is
  rendered, so a run with nothing due reads the table and renders nothing.
- Only alive assets whose local original is present get one (deleted in iCloud, by photoledger
  or anyone: the sidecar already written is what the backups hold; it is frozen).
- Write, then record: the file is placed through engine.placement (tag "sidecar": temp file,
  `library.file_mode` set whatever the umask, fsync, rename, fsync the folder; the same
  placement as engine.sidecar.write_sidecar), then SidecarWritten is appended, saved in batches
  (engine.batching). A kill between the two leaves a complete file and no fact, so the rerun
  writes the same bytes again and records it once; a kill before the rename leaves a temp
  file, which the next write of that sidecar reuses (one temp name per target).
- One sidecar that cannot be written (a name too long, a folder gone) is counted and retried
  by the next run; a full or read-only disk stops the step (StorageError).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from uuid import UUID

from engine import events as ev
from engine.albums import KnownAlbum, album_paths_for
from engine.asset import MediaState
from engine.batching import Batcher
from engine.cleanup.gate import DELETE_PENDING_ALBUM
from engine.errors import StorageError
from engine.fsutil import remove_temps_beside
from engine.placement import place_bytes
from engine.services import Services
from engine.sidecar import MAX_OFFSET_S, SidecarFacts, render_xmp, sidecar_name
from projections.albums import known_albums
from projections.download import sidecar_candidates
from projections.media import MediaProjection

SAVE_EVERY = 50
SIDECAR_TAG = "sidecar"  # the temp name engine.sidecar.write_sidecar uses too: one per target
LEAVE_OUT = frozenset({DELETE_PENDING_ALBUM})  # photoledger's working album, not the user's
SYSTEMIC_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})
_MICRO = 1_000_000
_MILLI = 1000


@dataclass
class SidecarSummary:
    written: int = 0  # first sidecar of an asset
    rewritten: int = 0  # metadata, albums or the local name changed
    failed: int = 0
    failures: list[str] = field(default_factory=list)  # "relpath: reason", first few

    def counts(self) -> dict[str, int]:
        return {"sidecars_written": self.written, "sidecars_rewritten": self.rewritten,
                "sidecars_failed": self.failed}


@dataclass(frozen=True)
class DueSidecar:
    asset_id: str
    album_paths: tuple[str, ...]


def _scaled(value: int | None, factor: int) -> float | None:
    return None if value is None else value / factor


def sidecar_facts(asset_id: str, s: MediaState, album_paths: tuple[str, ...]) -> SidecarFacts:
    """What the sidecar of this asset states; values a sidecar cannot carry are left out
    (a stored fact is history: a damaged one must not stop the sidecar)."""
    lat, lon = _scaled(s.latitude_microdeg, _MICRO), _scaled(s.longitude_microdeg, _MICRO)
    has_position = lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180
    offset = s.timezone_offset_s
    return SidecarFacts(
        asset_id=asset_id,
        record_name=s.record_name or asset_id,
        captured_at_utc=s.captured_at_utc,
        timezone_offset_s=offset if offset is not None and abs(offset) <= MAX_OFFSET_S else None,
        title=s.title,
        description=s.description,
        keywords=tuple(s.keywords),
        latitude_deg=lat if has_position else None,
        longitude_deg=lon if has_position else None,
        altitude_m=_scaled(s.altitude_mm, _MILLI) if has_position else None,
        orientation=s.orientation if s.orientation in range(1, 9) else None,
        is_favorite=s.is_favorite,
        is_hidden=s.is_hidden,
        is_screenshot=s.is_screenshot,
        album_paths=album_paths,
    )


def decide_sidecar_due(
    local_relpath: str, sidecar_relpath: str | None, is_stale: bool,
    written_paths: tuple[str, ...], album_paths: tuple[str, ...],
) -> bool:
    """Whether the asset's sidecar must be (re)written now."""
    return (
        is_stale
        or sidecar_relpath != sidecar_name(local_relpath)
        or written_paths != album_paths
    )


def find_due(projection: MediaProjection) -> list[DueSidecar]:
    """Every asset whose sidecar is due, oldest capture first, with the album paths it names."""
    albums: dict[str, dict[str, KnownAlbum]] = {}
    due: list[DueSidecar] = []
    for row in sidecar_candidates(projection):
        zone_albums = albums.get(row.zone)
        if zone_albums is None:
            zone_albums = albums[row.zone] = known_albums(projection, row.zone)
        paths = album_paths_for(row.album_ids, zone_albums, leave_out=LEAVE_OUT)
        if decide_sidecar_due(row.local_relpath, row.sidecar_relpath, row.is_stale,
                              row.written_album_paths, paths):
            due.append(DueSidecar(row.asset_id, paths))
    return due


class SidecarRun:
    """One execution of the step; `execute` is the entry point."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.library_root = services.config.library_root
        self.file_mode = services.config.library_modes().file_mode
        self.summary = SidecarSummary()
        self.batcher = Batcher.for_ledger(services.ledger, SAVE_EVERY)

    def execute(self) -> SidecarSummary:
        # The files just filed are due too.
        self.services.projection.catch_up(self.services.ledger)
        try:
            for item in find_due(self.services.projection):
                self._write_one(item)
        finally:
            self.batcher.flush()
            self.services.projection.catch_up(self.services.ledger)
        return self.summary

    def _write_one(self, item: DueSidecar) -> None:
        asset = self.services.ledger.get_asset(UUID(item.asset_id))
        state = asset.state
        if state.local_relpath is None:  # the projection lagged behind the ledger
            return
        relpath = sidecar_name(state.local_relpath)
        data = render_xmp(sidecar_facts(item.asset_id, state, item.album_paths))
        target = self.library_root / relpath
        try:
            remove_temps_beside(target, f".{target.name}.", ".tmp")  # older versions' temp
            sha256 = place_bytes(target, data, tag=SIDECAR_TAG, mode=self.file_mode,
                                 before_rename=self._before_rename).sha256
        except OSError as exc:
            self._failed(relpath, exc)
            return
        self.services.crash.reach("sidecars.after_write_before_save")
        is_first = state.sidecar_relpath is None
        asset.record(ev.SidecarWritten, self.services.run_id, sidecar_relpath=relpath,
                     sha256=sha256, album_paths=item.album_paths)
        self.summary.written += is_first
        self.summary.rewritten += not is_first
        self.batcher.add(asset)

    def _before_rename(self) -> None:
        self.services.crash.reach("sidecars.before_rename")

    def _failed(self, relpath: str, exc: OSError) -> None:
        if exc.errno in SYSTEMIC_ERRNOS:
            raise StorageError(
                f"cannot write the sidecar {relpath} in {self.library_root}: "
                f"{exc.strerror or exc}"
            ) from exc
        self.summary.failed += 1
        if len(self.summary.failures) < 10:
            self.summary.failures.append(f"{relpath}: {exc.strerror or exc}")


def write_sidecars(services: Services) -> SidecarSummary:
    """Write every due sidecar and record each one (on the services' run)."""
    return SidecarRun(services).execute()
