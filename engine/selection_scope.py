"""The selection resolved against the ledger: album names to ids, `recent` to assets.

Invariants:
- Built once per stage from the effective config (flags already merged: engine.selection),
  the services' clock and the ledger's albums; the download pass, album-move, delete plan
  and delete execute all ask the same `SelectionScope.reason`.
- An album name that is neither a smart album nor a live user album (by name or by path
  "Folder/Name") of the configured library (of any, for several) is an UnknownAlbumError
  naming the known ones: a selection never silently matches nothing.
- `recent` keeps the newest N assets (capture time) among those every other rule selects; an
  asset outside them is not selected. Deciding needs the library's order, read from the
  projection only when `recent` is set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

import msgspec

from engine.albums import KnownAlbum, album_path
from engine.asset import MediaState
from engine.config import Config
from engine.download.options import local_timezone
from engine.errors import ConfigError, UnknownAlbumError
from engine.libraries import single_zone
from engine.selection import (
    SMART_ALBUMS,
    AlbumFilter,
    Selection,
    build_selection,
    is_smart,
    kind_reason,
    merged_settings,
    settings_problems,
)
from engine.services import Services
from projections.selection import every_album, library_newest_first


@dataclass(frozen=True)
class SelectionScope:
    """A Selection with its albums resolved and, for `recent`, the assets it keeps."""

    selection: Selection
    albums: AlbumFilter = field(default_factory=AlbumFilter)
    recent_record_names: frozenset[str] | None = None  # None: `recent` not set
    zone: str | None = None  # the library this pass works on (None: any)

    def base_reason(self, state: MediaState) -> str | None:
        """Why the asset is left out by library, kind, hidden, date or albums (not `recent`)."""
        if self.zone is not None and state.zone and state.zone != self.zone:
            return f"in another library ({state.zone})"
        return kind_reason(state, self.selection) or self.albums.reason(state)

    def reason(self, state: MediaState) -> str | None:
        """Why the asset is not selected, or None when it is."""
        base = self.base_reason(state)
        if base is not None:
            return base
        names = self.recent_record_names
        if names is not None and state.record_name not in names:
            return f"not among the newest {self.selection.recent} (recent)"
        return None


def selection_scope(services: Services, local_tz: tzinfo | None = None) -> SelectionScope:
    """The configured selection (flags merged into the config) resolved for the library."""
    config = services.config
    selection = build_selection(
        config.settings.selection, services.clock(), local_tz or local_timezone()
    )
    zone = single_zone(config.settings.icloud.library)
    albums = every_album(services.projection, zone)
    scope = SelectionScope(selection, resolve_albums(selection, albums), zone=zone)
    if selection.recent is None:
        return scope
    newest = newest_selected(scope, library_newest_first(services.projection))
    keep = frozenset(state.record_name for _i, state in newest[: selection.recent])
    return SelectionScope(selection, scope.albums, keep, zone=scope.zone)


def newest_selected(
    scope: SelectionScope, library: Iterable[tuple[str, MediaState]]
) -> list[tuple[str, MediaState]]:
    """The library's assets (newest first) that every rule but `recent` selects."""
    return [(i, s) for i, s in library if scope.base_reason(s) is None]


def resolve_albums(selection: Selection, albums: dict[str, KnownAlbum]) -> AlbumFilter:
    """Album names to ids (smart albums by name); UnknownAlbumError for any other name."""
    included, smart = _resolve(selection.albums, albums, "albums")
    excluded, excluded_smart = _resolve(selection.exclude_albums, albums, "exclude_albums")
    return AlbumFilter(
        album_ids=frozenset(included), smart=smart, excluded_ids=frozenset(excluded),
        excluded_smart=excluded_smart, is_restricted=bool(selection.albums),
    )


def _resolve(
    names: tuple[str, ...], albums: dict[str, KnownAlbum], key: str
) -> tuple[set[str], tuple[str, ...]]:
    live = {i: a for i, a in albums.items() if not a.is_removed and not a.is_folder}
    ids: set[str] = set()
    smart: list[str] = []
    for name in names:
        canonical = is_smart(name)
        if canonical is not None:
            smart.append(canonical)
            continue
        wanted = name.strip()
        found = {i for i, a in live.items() if wanted in (a.name, album_path(i, albums))}
        if not found:
            raise UnknownAlbumError(unknown_album_message(name, key, live, albums))
        ids |= found
    return ids, tuple(smart)


def unknown_album_message(
    name: str, key: str, live: dict[str, KnownAlbum], albums: dict[str, KnownAlbum]
) -> str:
    """One line: the unknown name, where it came from, and every name that would work."""
    paths = sorted({album_path(i, albums) or a.name for i, a in live.items()})
    known = ", ".join(paths) if paths else "none known yet (run `photoledger discover`)"
    return (
        f"unknown album {name!r} (selection.{key} or --{key.rstrip('s').replace('_', '-')}); "
        f"albums: {known}; smart albums: {', '.join(SMART_ALBUMS)}"
    )


def with_selection_flags(config: Config, flags: Mapping[str, Any]) -> Config:
    """The config with every selection flag that was given on top of its `selection:` keys
    (a flag overrides its key); ConfigError when the two together make no sense."""
    merged = merged_settings(config.settings.selection, flags)
    for key, why in settings_problems(merged):
        raise ConfigError(f"{key} (from the config or its flag): {why}")
    settings = msgspec.structs.replace(config.settings, selection=merged)
    return dataclasses.replace(config, settings=settings)
