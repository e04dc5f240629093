"""Albums as facts: what an album listing or a change means for the ledger, and album paths.

Albums and folders are run-level facts (AlbumSeen, AlbumRemoved on the discover run), one per
album that changed, never one per asset; which albums hold an asset is an asset fact
(Discovered.album_ids, then AlbumsChanged). Pure functions, no I/O.

Invariants:
- An album fact is decided by comparing with what the ledger knows: an album listed as the
  ledger knows it, or a removal of an album already removed or never known, decides nothing,
  so a rerun (or an overlapping page) appends nothing.
- Only a COMPLETE listing may conclude that an album is gone; a change page says so only for
  the albums it names (isDeleted, tombstone).
- Membership is a set: `album_ids` are stored sorted and unique, so the same albums in
  another order are no change.
- After photoledger deleted an asset, or iCloud says it is gone, its albums are frozen: iCloud
  drops the memberships of an asset it purges, which is not the user reorganising.
- An album path joins the names of its folders and itself with "/" ("Trips/2021/Lisbon"); a
  "/" inside a name becomes U+2215 so the path keeps its parts. Removed albums have no path;
  a removed folder still lends its last known name (better than losing the level); a cycle
  of parents stops at the first repeat.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from engine import events as ev
from engine.asset import MediaState
from engine.icloud.model import AlbumRelation, RemoteAlbum

NAME_SLASH = "\u2215"  # DIVISION SLASH: a "/" inside an album name, in a path


class KnownAlbum(msgspec.Struct, frozen=True, kw_only=True):
    """What the ledger knows about one album or folder (the projection's `albums` row)."""

    album_id: str
    name: str
    parent_id: str | None
    is_folder: bool
    is_removed: bool = False


@dataclass(frozen=True)
class AlbumFact:
    """One run-level album fact to record."""

    event_class: type[ev.RunEvent]
    facts: dict[str, Any]


def _seen(zone: str, album: RemoteAlbum) -> AlbumFact:
    return AlbumFact(ev.AlbumSeen, {
        "zone": zone, "album_id": album.record_name, "name": album.name,
        "parent_id": album.parent_id, "is_folder": album.is_folder,
    })


def _is_news(known: KnownAlbum | None, album: RemoteAlbum) -> bool:
    if known is None or known.is_removed:
        return True
    return (known.name, known.parent_id, known.is_folder) != (
        album.name, album.parent_id, album.is_folder)


def decide_albums_listed(
    zone: str, known: Mapping[str, KnownAlbum], listed: Iterable[RemoteAlbum], *, complete: bool
) -> list[AlbumFact]:
    """AlbumSeen for each listed album that is new or changed; with a complete listing,
    AlbumRemoved for each album the ledger holds alive that was not listed."""
    listed = list(listed)
    facts = [_seen(zone, a) for a in listed if _is_news(known.get(a.record_name), a)]
    if complete:
        names = {a.record_name for a in listed}
        gone = sorted(i for i, k in known.items() if not k.is_removed and i not in names)
        facts += decide_albums_removed(zone, known, gone)
    return facts


def decide_albums_removed(
    zone: str, known: Mapping[str, KnownAlbum], album_ids: Iterable[str]
) -> list[AlbumFact]:
    """AlbumRemoved for each of these names that is an album the ledger holds alive (other
    names, such as asset or master tombstones, are ignored)."""
    return [
        AlbumFact(ev.AlbumRemoved, {"zone": zone, "album_id": album_id})
        for album_id in dict.fromkeys(album_ids)
        if (k := known.get(album_id)) is not None and not k.is_removed
    ]


def apply_known(known: dict[str, KnownAlbum], facts: Iterable[AlbumFact]) -> None:
    """Update `known` in place with facts just decided (later pages of one run see them)."""
    for fact in facts:
        album_id = fact.facts["album_id"]
        if fact.event_class is ev.AlbumSeen:
            known[album_id] = KnownAlbum(**{k: v for k, v in fact.facts.items() if k != "zone"})
        elif album_id in known:
            known[album_id] = msgspec.structs.replace(known[album_id], is_removed=True)


def normalized(album_ids: Iterable[str]) -> tuple[str, ...]:
    """The stored form of a membership: sorted, each album once."""
    return tuple(sorted(set(album_ids)))


def is_frozen(state: MediaState) -> bool:
    """Whether the asset's albums no longer follow iCloud (deleted by us or by iCloud)."""
    return state.is_remote_deleted or state.deletion_state in ("requested", "deleted")


def decide_membership(state: MediaState | None, album_ids: Iterable[str]) -> list[dict[str, Any]]:
    """The AlbumsChanged facts (0 or 1) for a known asset listed in exactly these albums."""
    if state is None or is_frozen(state):
        return []
    wanted = normalized(album_ids)
    return [] if wanted == normalized(state.album_ids) else [{"album_ids": wanted}]


def membership_deltas(relations: Iterable[AlbumRelation]) -> dict[str, dict[str, bool]]:
    """Asset record name -> album id -> member or not (the last word of a page wins)."""
    deltas: dict[str, dict[str, bool]] = {}
    for relation in relations:
        deltas.setdefault(relation.asset_record_name, {})[relation.album_id] = relation.is_member
    return deltas


def apply_deltas(album_ids: Iterable[str], delta: Mapping[str, bool]) -> tuple[str, ...]:
    """A membership after a page's relation changes."""
    current = set(album_ids)
    current |= {album for album, is_member in delta.items() if is_member}
    current -= {album for album, is_member in delta.items() if not is_member}
    return normalized(current)


def album_chain(album_id: str, albums: Mapping[str, KnownAlbum]) -> list[KnownAlbum]:
    """The album, then its folder, then that folder's folder...; stops at a repeat."""
    chain: list[KnownAlbum] = []
    seen: set[str] = set()
    current = albums.get(album_id)
    while current is not None and current.album_id not in seen:
        seen.add(current.album_id)
        chain.append(current)
        current = albums.get(current.parent_id) if current.parent_id else None
    return chain


def album_path(album_id: str, albums: Mapping[str, KnownAlbum]) -> str | None:
    """"Trips/2021/Lisbon" for a live album, None for a removed or unknown one."""
    album = albums.get(album_id)
    if album is None or album.is_removed:
        return None
    names = [a.name.replace("/", NAME_SLASH) for a in album_chain(album_id, albums)]
    return "/".join(reversed(names))


def album_paths_for(
    album_ids: Iterable[str], albums: Mapping[str, KnownAlbum], *, leave_out: frozenset[str]
) -> tuple[str, ...]:
    """The sorted paths of the live albums among `album_ids`, without those in `leave_out`
    (photoledger's own working album is not the user's organisation)."""
    paths = {album_path(album_id, albums) for album_id in album_ids}
    return tuple(sorted(p for p in paths if p is not None and p not in leave_out))


@dataclass(frozen=True)
class PageMemberships:
    """What one change page's relation changes mean for the assets they name."""

    discovered_album_ids: dict[str, tuple[str, ...]]  # assets new in this page
    changed: dict[str, tuple[str, ...]]  # known assets whose albums changed: AlbumsChanged
    pending: dict[str, dict[str, bool]]  # assets not known yet: kept for later pages


def decide_page_memberships(
    known: Mapping[str, MediaState],
    new_names: set[str],
    gone: set[str],
    deltas: Mapping[str, Mapping[str, bool]],
) -> PageMemberships:
    """Split `deltas` (asset record name -> album id -> member?) by what the ledger knows.

    `new_names` are assets this page discovers (their Discovered carries the albums); `gone`
    are assets this page reports deleted (their albums are frozen, see is_frozen).
    """
    discovered: dict[str, tuple[str, ...]] = {}
    changed: dict[str, tuple[str, ...]] = {}
    pending: dict[str, dict[str, bool]] = {}
    for name, delta in deltas.items():
        state = known.get(name)
        if name in gone:
            continue
        if state is None and name in new_names:
            discovered[name] = apply_deltas((), delta)
        elif state is None:
            pending[name] = dict(delta)
        elif not is_frozen(state):
            after = apply_deltas(state.album_ids, delta)
            if after != normalized(state.album_ids):
                changed[name] = after
    return PageMemberships(discovered, changed, pending)


def merge_deltas(
    earlier: Mapping[str, Mapping[str, bool]], later: Mapping[str, Mapping[str, bool]]
) -> dict[str, dict[str, bool]]:
    """Relation changes of two pages, the later page's word winning album by album."""
    merged = {name: dict(delta) for name, delta in earlier.items()}
    for name, delta in later.items():
        merged.setdefault(name, {}).update(delta)
    return merged
