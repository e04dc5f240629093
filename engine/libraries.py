"""Photos libraries by name or id: which zones a configuration (or --library) selects.

Invariants:
- Pure: decisions take the libraries iCloud listed (engine.icloud.zones.RemoteLibrary) and
  the words the user wrote; nothing here calls iCloud.
- A library is named by its zone id (`PrimarySync`, `SharedSync-<UUID>`, case-insensitive; the
  UUID alone works too) or by its name: "Personal Library" (also "personal", "primary") and
  "Shared Library" (also "shared"; with several Shared Libraries, "Shared Library 2", ... in
  zone id order, and a bare "shared" is ambiguous). "all" selects every library listed.
- A word that names no listed library, or an ambiguous one, is a configuration error
  (UnknownZoneError, exit 3): one line naming the word and every real library, name and id.
- The selection keeps the user's order, each zone once.
- `library_folder` is what `{library}` in library.folder_structure renders: `PrimarySync`, or
  `SharedSync-` and the first 8 characters of the UUID (kei's shape), stable for a zone.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import UnknownZoneError
from engine.icloud.zones import PRIMARY_ZONE, SHARED_LIBRARY_PREFIX, RemoteLibrary

ALL = "all"
PERSONAL_NAME = "Personal Library"
SHARED_NAME = "Shared Library"
_PERSONAL_WORDS = {"personal", "primary", PERSONAL_NAME.casefold()}
_SHARED_WORDS = {"shared", SHARED_NAME.casefold()}


def selection_words(value: str | Sequence[str]) -> tuple[str, ...]:
    """The configured words: a list, or one string (commas separate several)."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(w for w in (i.strip() for i in items) if w)


def photo_libraries(listed: Sequence[RemoteLibrary]) -> list[RemoteLibrary]:
    """The Photos libraries among the listed zones: PrimarySync first, then Shared Libraries
    in zone id order (other custom zones are not Photos libraries)."""
    primary = [lib for lib in listed if lib.zone == PRIMARY_ZONE][:1]
    shared = sorted((lib for lib in listed if lib.is_shared_library), key=lambda x: x.zone)
    return primary + shared


def library_names(listed: Sequence[RemoteLibrary]) -> dict[str, str]:
    """Zone id -> the library's name, for every Photos library listed."""
    libraries = photo_libraries(listed)
    shared = [lib.zone for lib in libraries if lib.is_shared_library]
    names = {PRIMARY_ZONE: PERSONAL_NAME} if any(
        lib.zone == PRIMARY_ZONE for lib in libraries) else {}
    for index, zone in enumerate(shared, start=1):
        names[zone] = SHARED_NAME if len(shared) == 1 else f"{SHARED_NAME} {index}"
    return names


def describe_libraries(listed: Sequence[RemoteLibrary]) -> str:
    """`Personal Library (PrimarySync), Shared Library (SharedSync-...)`, or "none"."""
    return ", ".join(f"{name} ({zone})" for zone, name in library_names(listed).items()) or "none"


def resolve_libraries(
    words: Sequence[str], listed: Sequence[RemoteLibrary], *, source: str = "icloud.library"
) -> tuple[str, ...]:
    """The zone ids `words` select, in order, each once; UnknownZoneError otherwise."""
    names = library_names(listed)
    chosen: dict[str, None] = {}
    for word in words or (PRIMARY_ZONE,):
        for zone in _zones_for(word, names, source, listed):
            chosen[zone] = None
    return tuple(chosen)


def _zones_for(
    word: str, names: dict[str, str], source: str, listed: Sequence[RemoteLibrary]
) -> list[str]:
    folded = word.strip().casefold()
    if folded == ALL:
        return list(names)
    if folded in _PERSONAL_WORDS:
        folded = PRIMARY_ZONE.casefold()
    for zone, name in names.items():
        if folded in (zone.casefold(), name.casefold(), _uuid_of(zone).casefold()):
            return [zone]
    shared = [zone for zone in names if zone.startswith(SHARED_LIBRARY_PREFIX)]
    if folded in _SHARED_WORDS and len(shared) == 1:
        return shared
    why = (f"names {len(shared)} Shared Libraries" if folded in _SHARED_WORDS and shared
           else "is not a Photos library of this iCloud account")
    raise UnknownZoneError(
        f"{source}: {word!r} {why}; its libraries: {describe_libraries(listed)} "
        f"(a name, an id, or {ALL!r})"
    )


def _uuid_of(zone: str) -> str:
    return zone.removeprefix(SHARED_LIBRARY_PREFIX) if zone.startswith(
        SHARED_LIBRARY_PREFIX) else zone


def unknown_zone_message(zone: str, listed: Sequence[RemoteLibrary]) -> str:
    """Which zone was asked for and the libraries the account has, names and ids."""
    return (f"this iCloud account has no Photos library {zone!r} (icloud.library); "
            f"its libraries: {describe_libraries(listed)}")


def is_shared_library_zone(zone: str) -> bool:
    return zone.startswith(SHARED_LIBRARY_PREFIX)


def single_zone(value: str) -> str | None:
    """The zone id a configured library value is, when it is exactly one id (else None)."""
    word = value.strip()
    return word if word == PRIMARY_ZONE or (
        word.startswith(SHARED_LIBRARY_PREFIX) and "," not in word) else None


def library_folder(zone: str) -> str:
    """What `{library}` renders in a folder template for this zone."""
    if zone.startswith(SHARED_LIBRARY_PREFIX):
        return SHARED_LIBRARY_PREFIX + _uuid_of(zone)[:8]
    return zone or PRIMARY_ZONE
