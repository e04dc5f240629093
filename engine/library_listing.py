"""Libraries and albums as iCloud holds them now (`photoledger list`), and the libraries a run
works on.

Invariants:
- Live: everything here is asked of iCloud through the port (zones/list, counts, the album
  listing); nothing is read from or written to the ledger. `photoledger albums` is the
  ledger's view (what discover recorded); this is iCloud's, as icloudpd's --list-albums.
- Counts are iCloud's own index counts (HyperionIndexCountLookup): a library's count is its
  Library smart folder (hidden and recently deleted left out), as the Photos app shows it.
- A Shared Library lists only the smart folders iCloud supports there (Library, Favorites):
  it has no user albums, and pyicloud and icloudpd list none for it.
- `selected_zones` resolves the configured words (engine.libraries) against the account's
  libraries; the default (PrimarySync alone) costs no call.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.albums import KnownAlbum, album_path
from engine.config import Config
from engine.icloud.port import IcloudPort
from engine.icloud.queries import ALBUM_COUNT_INDEX
from engine.icloud.zones import PRIMARY_ZONE
from engine.libraries import (
    PERSONAL_NAME,
    is_shared_library_zone,
    library_names,
    photo_libraries,
    resolve_libraries,
    selection_words,
)

SMART_FOLDERS: tuple[tuple[str, str], ...] = (
    ("Library", "CPLAssetByAssetDateWithoutHiddenOrDeleted"),
    ("Time-lapse", "CPLAssetInSmartAlbumByAssetDate:Timelapse"),
    ("Videos", "CPLAssetInSmartAlbumByAssetDate:Video"),
    ("Slo-mo", "CPLAssetInSmartAlbumByAssetDate:Slomo"),
    ("Bursts", "CPLAssetBurstStackAssetByAssetDate"),
    ("Favorites", "CPLAssetInSmartAlbumByAssetDate:Favorite"),
    ("Panoramas", "CPLAssetInSmartAlbumByAssetDate:Panorama"),
    ("Screenshots", "CPLAssetInSmartAlbumByAssetDate:Screenshot"),
    ("Live", "CPLAssetInSmartAlbumByAssetDate:Live"),
    ("Recently Deleted", "CPLAssetDeletedByExpungedDate"),
    ("Hidden", "CPLAssetHiddenByAssetDate"),
)
"""iCloud's smart folders (pyicloud's order) and the count index of each."""
SHARED_LIBRARY_SMART_FOLDERS = ("Library", "Favorites")


@dataclass(frozen=True)
class LibraryListing:
    """One Photos library: id, name, database, owner and asset count."""

    zone: str
    name: str
    database: str  # "private" (this account's), "shared" (joined as a participant)
    owner: str
    assets: int


@dataclass(frozen=True)
class AlbumListing:
    """One smart folder, user album or folder of a library, with its asset count."""

    library: str  # zone id
    library_name: str  # "Personal Library", "Shared Library"
    path: str  # "Trips/Paris"; a "/" inside a name shows as U+2215
    kind: str  # "smart folder", "album", "folder"
    assets: int | None  # None for a folder (iCloud counts albums, not folders)
    album_id: str = ""  # the CPLAlbum record name (user albums and folders)


def list_libraries(port: IcloudPort) -> list[LibraryListing]:
    """The account's Photos libraries, personal first, each with its asset count."""
    listed = photo_libraries(port.list_libraries())
    names = library_names(listed)
    return [
        LibraryListing(zone=lib.zone, name=names[lib.zone], database=lib.database,
                       owner=lib.owner, assets=port.count_assets(lib.zone))
        for lib in listed
    ]


def list_albums(config: Config, port: IcloudPort) -> list[AlbumListing]:
    """Smart folders, then user albums and folders (by path), of each selected library."""
    rows: list[AlbumListing] = []
    zones = selected_zones(config, port)
    names = ({PRIMARY_ZONE: PERSONAL_NAME} if zones == (PRIMARY_ZONE,)
             else library_names(port.list_libraries()))
    for zone in zones:
        name = names.get(zone, zone)
        rows += _smart_folders(port, zone, name)
        if not is_shared_library_zone(zone):
            rows += _user_albums(port, zone, name)
    return rows


def _smart_folders(port: IcloudPort, zone: str, library_name: str) -> list[AlbumListing]:
    shared = is_shared_library_zone(zone)
    return [
        AlbumListing(zone, library_name, name, "smart folder", port.count_index(zone, index))
        for name, index in SMART_FOLDERS
        if not shared or name in SHARED_LIBRARY_SMART_FOLDERS
    ]


def _user_albums(port: IcloudPort, zone: str, library_name: str) -> list[AlbumListing]:
    remote = port.list_albums(zone)
    known = {
        a.record_name: KnownAlbum(album_id=a.record_name, name=a.name, parent_id=a.parent_id,
                                  is_folder=a.is_folder)
        for a in remote
    }
    rows = [
        AlbumListing(zone, library_name, album_path(a.record_name, known) or a.name,
                     "folder" if a.is_folder else "album",
                     None if a.is_folder else _album_count(port, zone, a.record_name),
                     a.record_name)
        for a in remote
    ]
    return sorted(rows, key=lambda r: r.path.casefold())


def _album_count(port: IcloudPort, zone: str, album_id: str) -> int:
    return port.count_index(zone, f"{ALBUM_COUNT_INDEX}:{album_id}")


def selected_zones(config: Config, port: IcloudPort) -> tuple[str, ...]:
    """The library zones the config (flags merged) selects; UnknownZoneError (exit 3) for a
    word that names none, listing the real ones."""
    words = selection_words(config.settings.icloud.library)
    if words in ((), (PRIMARY_ZONE,)):
        return (PRIMARY_ZONE,)
    return resolve_libraries(words, port.list_libraries(),
                             source="icloud.library (or --library)")

