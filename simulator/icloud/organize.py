"""What a user does in Photos besides taking pictures: describing assets and organising albums.

Each function changes the library as the Photos app would, for tests and demos: caption,
description, keywords, place and rotation of an asset; albums renamed, moved between folders
or deleted; assets put into or taken out of albums.

Invariants:
- Every function holds the library's lock and changes rows only through PhotoLibraryState's
  own methods, so each changed record takes a new change tag and an entry in its zone's change
  log (changes/zone reports it, a taken-out asset as the tombstone of its relation record).
- Nothing here reads randomness; `at_ms` defaults to the wall clock like the library's own
  mutations.
"""

from __future__ import annotations

from typing import Any

from simulator.icloud.library import PhotoLibraryState, UnknownRecordError, now_ms
from simulator.icloud.rows import AlbumRow, RelationRow, relation_name

DESCRIBED_FIELDS = frozenset({"caption", "description", "keywords", "location", "rotation"})
MEMBER_POSITION = 1024


def describe_asset(
    state: PhotoLibraryState, name: str, *, at_ms: int | None = None, **changes: Any
) -> None:
    """Set any of caption, description, keywords, location (lat, lon) and rotation."""
    unknown = set(changes) - DESCRIBED_FIELDS
    if unknown:
        raise ValueError(f"not descriptive fields: {sorted(unknown)}")
    with state.lock:
        asset = state.asset(name)
        for field_name, value in changes.items():
            setattr(asset, field_name, tuple(value) if field_name == "keywords" else value)
        state.touch_asset(asset, at_ms or now_ms())


def _album(state: PhotoLibraryState, album_id: str) -> AlbumRow:
    for zone in state.zones.values():
        if album_id in zone.albums:
            return zone.albums[album_id]
    raise UnknownRecordError(album_id)


def rename_album(
    state: PhotoLibraryState, album_id: str, name: str, *, at_ms: int | None = None
) -> None:
    """Give an album or folder a new name."""
    with state.lock:
        album = _album(state, album_id)
        album.name = name
        state.touch_album(album, at_ms or now_ms())


def move_album(
    state: PhotoLibraryState, album_id: str, parent_id: str | None, *, at_ms: int | None = None
) -> None:
    """Put an album or folder into another folder (None: the top level)."""
    with state.lock:
        album = _album(state, album_id)
        album.parent_id = parent_id
        state.touch_album(album, at_ms or now_ms())


def delete_album(state: PhotoLibraryState, album_id: str, *, at_ms: int | None = None) -> None:
    """Delete an album (isDeleted=1; its assets stay in the library)."""
    with state.lock:
        album = _album(state, album_id)
        album.is_deleted = True
        state.touch_album(album, at_ms or now_ms())


def add_album(
    state: PhotoLibraryState, album_id: str, name: str, *, parent_id: str | None = None,
    is_folder: bool = False, at_ms: int | None = None,
) -> AlbumRow:
    """A new album (or folder) at the end of its siblings."""
    with state.lock:
        zone = state.primary()
        stamp = at_ms or now_ms()
        position = max((a.position for a in zone.albums.values()), default=0) + 1000
        album = AlbumRow(album_id, zone.name, name, 3 if is_folder else 0, position,
                         state.next_tag(), stamp, stamp, parent_id=parent_id)
        state.put_album(album)
        return album


def add_to_album(
    state: PhotoLibraryState, asset_name: str, album_id: str, *, at_ms: int | None = None
) -> str:
    """Put an asset into an album; returns the relation's record name."""
    with state.lock:
        asset = state.asset(asset_name)
        album = _album(state, album_id)
        stamp = at_ms or now_ms()
        name = relation_name(asset.record_name, album.record_name)
        state.put_relation(RelationRow(name, asset.zone, asset.record_name, album.record_name,
                                       MEMBER_POSITION, state.next_tag(), stamp, stamp))
        return name


def remove_from_album(state: PhotoLibraryState, asset_name: str, album_id: str) -> None:
    """Take an asset out of an album (its relation record is deleted: a tombstone)."""
    with state.lock:
        asset = state.asset(asset_name)
        state.remove_relation(state.zones[asset.zone], relation_name(asset_name, album_id))
