"""The state of one simulated iCloud Photos library: zones, rows, change logs, content faults.

Invariants:
- Zones live in the private database (PrimarySync, and the Shared Library of an owner) or in
  the shared database (a Shared Library joined as a participant: another ownerRecordName).
  Record names are unique across all zones of one state (the name maps below are global).
- One re-entrant lock guards everything; every public method takes it, so the HTTP server may
  call in from many threads while a test mutates the library.
- Every mutation of a row takes a fresh recordChangeTag, appends to its zone's change log and
  bumps `version` (which invalidates the list indexes built from the rows).
- A soft delete (isDeleted=1) keeps the asset, which then lists in Recently Deleted, stamped on
  the simulated clock (`clock`, retention.py); deleting it again keeps the first stamp. An
  un-delete (isDeleted=0, the "Recover" of Recently Deleted) puts it back in the Library with a
  new change tag; its album relations were never removed. An expunge removes the asset for
  good: changes/zone reports a tombstone for it, for its album relations and for its master
  once no other asset uses that master. `advance_clock` expunges every asset that has been in
  Recently Deleted for more than 30 simulated days (a purge); nothing purges on its own.
- Content faults are facts about a record, kept here so that listing and download agree:
  * `set_served_size_delta`: the original is served `delta` bytes longer (or shorter) than the
    size the record declares.
  * `arm_checksum_change`: once the asset's master has been listed, the next download finds
    that iCloud now holds different bytes. The download serves the new bytes, and at that moment
    the master takes a new content revision: new fileChecksum and fingerprint, new
    recordChangeTag and a change-log entry. A re-listing therefore shows the new checksum; the
    listing that handed out the URL showed the old one. Size stays the same.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from simulator.icloud.changelog import ChangeLog
from simulator.icloud.retention import SimClock
from simulator.icloud.rows import (
    AlbumRow,
    AssetRow,
    MasterRow,
    RelationRow,
    is_live_asset,
    is_video_master,
)

PRIMARY_ZONE = "PrimarySync"
REGULAR_ZONE_TYPE = "REGULAR_CUSTOM_ZONE"
ASSET = "CPLAsset"
MASTER = "CPLMaster"
ALBUM = "CPLAlbum"
RELATION = "CPLContainerRelation"


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Zone:
    name: str
    owner_record_name: str
    log: ChangeLog
    assets: dict[str, AssetRow] = field(default_factory=dict)
    masters: dict[str, MasterRow] = field(default_factory=dict)
    albums: dict[str, AlbumRow] = field(default_factory=dict)
    relations: dict[str, RelationRow] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # names of hard-deleted records
    database: str = "private"  # "shared": a Shared Library this account joined as a participant

    def zone_id(self) -> dict[str, str]:
        return {
            "zoneName": self.name,
            "ownerRecordName": self.owner_record_name,
            "zoneType": REGULAR_ZONE_TYPE,
        }


class UnknownRecordError(KeyError):
    """A test asked to mutate a record the library does not hold."""


class PhotoLibraryState:
    """All zones of one account's Photos container."""

    def __init__(self, *, seed: int, owner_record_name: str, epoch: str) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.owner_record_name = owner_record_name
        self.epoch = epoch
        self.zones: dict[str, Zone] = {}
        self.version = 0
        self.is_indexing_done = True
        self.empty_change_page_every = (
            0  # every n-th changes/zone answer with pending changes is empty
        )
        self.changes_calls = 0
        self.served_size_delta_bytes: dict[str, int] = {}  # master name -> delta
        self.checksum_armed: set[str] = set()  # master names
        self.listed_masters: set[str] = set()  # armed masters seen in a listing
        self.real_files: dict[tuple[str, str], Path] = {}  # (owner name, prefix) -> file
        # record name -> field name -> the wire value served instead (None: field left out);
        # a record that lies about its own shape, for hostile-input tests
        self.field_overrides: dict[str, dict[str, object | None]] = {}
        self.master_zone: dict[str, str] = {}
        self.asset_zone: dict[str, str] = {}
        self._tag_counter = 0
        self.clock = SimClock()  # Recently Deleted's clock: deletion stamps and purges
        self.add_zone(PRIMARY_ZONE)

    # --- building -------------------------------------------------------------------------

    def add_zone(self, name: str, *, database: str = "private", owner: str = "") -> Zone:
        """A zone of this account's private database, or (database "shared") a zone another
        user owns (`owner`) and shares with this account."""
        with self.lock:
            zone = Zone(name, owner or self.owner_record_name, ChangeLog(name, self.epoch),
                        database=database)
            self.zones[name] = zone
            return zone

    def next_tag(self) -> str:
        with self.lock:
            self._tag_counter += 1
            return _base36(self._tag_counter * 7919 + 46656)

    def put_master(self, master: MasterRow) -> None:
        with self.lock:
            zone = self.zones[master.zone]
            zone.masters[master.record_name] = master
            zone.gone.discard(master.record_name)
            self.master_zone[master.record_name] = master.zone
            zone.log.record(MASTER, master.record_name)
            self.version += 1

    def put_asset(self, asset: AssetRow) -> None:
        with self.lock:
            zone = self.zones[asset.zone]
            if asset.master_name not in zone.masters:
                raise UnknownRecordError(asset.master_name)
            zone.assets[asset.record_name] = asset
            self.asset_zone[asset.record_name] = asset.zone
            zone.log.record(ASSET, asset.record_name)
            self.version += 1

    def put_album(self, album: AlbumRow) -> None:
        with self.lock:
            self.zones[album.zone].albums[album.record_name] = album
            self.zones[album.zone].log.record(ALBUM, album.record_name)
            self.version += 1

    def put_relation(self, relation: RelationRow) -> None:
        with self.lock:
            zone = self.zones[relation.zone]
            zone.relations[relation.record_name] = relation
            zone.gone.discard(relation.record_name)
            zone.log.record(RELATION, relation.record_name)
            self.version += 1

    def add_asset(self, asset: AssetRow, master: MasterRow | None = None) -> None:
        """Add a new asset (and its master unless it is already there) as an upload would."""
        with self.lock:
            if master is not None and master.record_name not in self.zones[master.zone].masters:
                self.put_master(master)
            self.put_asset(asset)

    # --- lookups --------------------------------------------------------------------------

    def zone(self, name: str) -> Zone | None:
        return self.zones.get(name)

    def asset(self, name: str) -> AssetRow:
        with self.lock:
            zone_name = self.asset_zone.get(name)
            row = self.zones[zone_name].assets.get(name) if zone_name else None
            if row is None:
                raise UnknownRecordError(name)
            return row

    def master(self, name: str) -> MasterRow | None:
        with self.lock:
            zone_name = self.master_zone.get(name)
            return self.zones[zone_name].masters.get(name) if zone_name else None

    def primary(self) -> Zone:
        return self.zones[PRIMARY_ZONE]

    # --- mutations for tests and for records/modify ----------------------------------------

    def touch_asset(self, asset: AssetRow, at_ms: int) -> None:
        with self.lock:
            asset.change_tag = self.next_tag()
            asset.modified_ms = at_ms
            self.zones[asset.zone].log.record(ASSET, asset.record_name)
            self.version += 1

    def touch_master(self, master: MasterRow, at_ms: int) -> None:
        with self.lock:
            master.change_tag = self.next_tag()
            master.modified_ms = at_ms
            self.zones[master.zone].log.record(MASTER, master.record_name)
            self.version += 1

    def touch_album(self, album: AlbumRow, at_ms: int) -> None:
        with self.lock:
            album.change_tag = self.next_tag()
            album.modified_ms = at_ms
            self.zones[album.zone].log.record(ALBUM, album.record_name)
            self.version += 1

    def edit_asset(
        self,
        name: str,
        *,
        adjusted_size_bytes: int = 1_800_000,
        adjusted_video_size_bytes: int | None = None,
        at_ms: int | None = None,
    ) -> None:
        """Edit in Photos: a new resJPEGFull render on the asset record, and a new change tag.

        A video or live photo also gets a new resVidFull (the edited video): None means
        2.4 MB for those and none for a still; 0 means no edited video.
        """
        with self.lock:
            asset = self.asset(name)
            if adjusted_video_size_bytes is None:
                master = self.master(asset.master_name)
                moves = master is not None and (
                    is_video_master(master) or is_live_asset(asset, master)
                )
                adjusted_video_size_bytes = 2_400_000 if moves else 0
            asset.edit_rev += 1
            asset.adjusted_size_bytes = adjusted_size_bytes
            asset.adjusted_video_size_bytes = adjusted_video_size_bytes
            self.touch_asset(asset, at_ms or now_ms())

    def set_favorite(self, name: str, is_favorite: bool, *, at_ms: int | None = None) -> None:
        with self.lock:
            asset = self.asset(name)
            asset.is_favorite = is_favorite
            self.touch_asset(asset, at_ms or now_ms())

    def set_hidden(self, name: str, is_hidden: bool, *, at_ms: int | None = None) -> None:
        """Hide or unhide the asset, as the Photos app does (isHidden; Hidden album)."""
        with self.lock:
            asset = self.asset(name)
            asset.is_hidden = is_hidden
            self.touch_asset(asset, at_ms or now_ms())

    def delete_asset(self, name: str, *, at_ms: int | None = None) -> None:
        """Delete in iCloud: the asset moves to Recently Deleted (isDeleted=1)."""
        with self.lock:
            asset = self.asset(name)
            stamp = at_ms or self.clock.now_ms()
            self.set_deleted(asset, True, at_ms=stamp)
            self.touch_asset(asset, stamp)

    def restore_asset(self, name: str, *, at_ms: int | None = None) -> None:
        """Recover from Recently Deleted (isDeleted=0), as another device would."""
        with self.lock:
            asset = self.asset(name)
            self.set_deleted(asset, False)
            self.touch_asset(asset, at_ms or self.clock.now_ms())

    def set_deleted(self, asset: AssetRow, is_deleted: bool, *, at_ms: int | None = None) -> None:
        """Set isDeleted without touching the row: the caller touches it once for all fields.

        Deleting an asset already in Recently Deleted keeps its first stamp, so a repeated
        delete never gives it another 30 days.
        """
        with self.lock:
            if is_deleted and not asset.is_deleted:
                asset.deleted_at_ms = at_ms or self.clock.now_ms()
            elif not is_deleted:
                asset.deleted_at_ms = 0
            asset.is_deleted = is_deleted

    def advance_clock(self, seconds: float) -> list[str]:
        """Move the simulated clock forward; returns the names of the assets it purged."""
        with self.lock:
            self.clock.advance(seconds)
            return self.purge_expired()

    def purge_expired(self) -> list[str]:
        """Expunge every asset in Recently Deleted for more than 30 simulated days."""
        with self.lock:
            due = sorted(
                asset.record_name
                for zone in self.zones.values()
                for asset in zone.assets.values()
                if asset.is_deleted and self.clock.is_purge_due(asset.deleted_at_ms)
            )
            for name in due:
                self.expunge_asset(name)
            return due

    def expunge_asset(self, name: str) -> None:
        """Hard delete: the asset, its relations and its unshared master become tombstones."""
        with self.lock:
            asset = self.asset(name)
            zone = self.zones[asset.zone]
            del zone.assets[name]
            del self.asset_zone[name]
            zone.gone.add(name)
            zone.log.record(ASSET, name)
            for relation in [r for r in zone.relations.values() if r.item_id == name]:
                del zone.relations[relation.record_name]
                zone.gone.add(relation.record_name)
                zone.log.record(RELATION, relation.record_name)
            if not any(a.master_name == asset.master_name for a in zone.assets.values()):
                zone.masters.pop(asset.master_name, None)
                self.master_zone.pop(asset.master_name, None)
                zone.gone.add(asset.master_name)
                zone.log.record(MASTER, asset.master_name)
            self.version += 1

    def remove_relation(self, zone: Zone, name: str) -> None:
        with self.lock:
            if zone.relations.pop(name, None) is not None:
                zone.gone.add(name)
                zone.log.record(RELATION, name)
                self.version += 1

    def override_fields(self, record_name: str, fields: dict[str, object | None]) -> None:
        """Serve these raw field values on a record from now on (None removes the field)."""
        with self.lock:
            self.field_overrides.setdefault(record_name, {}).update(fields)

    def set_served_size_delta(self, asset_name: str, delta_bytes: int) -> None:
        with self.lock:
            self.served_size_delta_bytes[self.asset(asset_name).master_name] = delta_bytes

    def arm_checksum_change(self, asset_name: str) -> None:
        with self.lock:
            self.checksum_armed.add(self.asset(asset_name).master_name)

    def note_listed(self, master_name: str) -> None:
        with self.lock:
            if master_name in self.checksum_armed:
                self.listed_masters.add(master_name)

    def fire_checksum_change(self, master_name: str) -> None:
        """Called by a download: a listed, armed master now holds different bytes."""
        with self.lock:
            if master_name not in self.listed_masters:
                return
            self.checksum_armed.discard(master_name)
            self.listed_masters.discard(master_name)
            master = self.master(master_name)
            if master is not None:
                master.content_rev += 1
                self.touch_master(master, now_ms())

    def set_indexing_finished(self, is_finished: bool) -> None:
        with self.lock:
            self.is_indexing_done = is_finished

    def compact_change_history(self, zone_name: str = PRIMARY_ZONE) -> None:
        """Make every sync token handed out so far too old, as after a long absence."""
        with self.lock:
            self.zones[zone_name].log.compact()


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"
