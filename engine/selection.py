"""Which assets a pass works on: kinds, a date window, albums, smart albums, hidden assets.

The config's `selection:` section (`SelectionSettings`) and the command line's flags (a flag
overrides its key: `with_selection_flags`) make one frozen `Selection`; resolved against the
ledger's albums and library it becomes a `SelectionScope` (engine.selection_scope) whose
`reason(state)` says why an asset is not selected, or None.

Invariants:
- Pure: no clock, disk or network here; `now` and the local zone are passed in.
- A selection only ever narrows: an asset it leaves out is not downloaded by that pass, not
  moved to DeletePending and not deleted (the gate's `not-selected` block). Widening is
  impossible by construction: every reason removes, none adds.
- `hidden: skip` (the default, as icloudpd) leaves hidden assets out unless the Hidden smart
  album is asked for by name; `separate` files them under `Hidden/`; `include` as any other.
- `--skip-live-photos` and `--live-photo-size` only change which resources of a live photo
  are fetched; they never take the still out of the selection.
- `recent` and `until_found` are about the library's order (newest capture first); they are
  resolved against the ledger in engine.selection_scope, never here.
- A date without a time is midnight in the local zone, a datetime without an offset is local
  time (icloudpd's reading); `Nd` is N days before `now`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, Protocol

import msgspec

from engine.asset import MediaState

HIDDEN_MODES: tuple[str, ...] = ("skip", "separate", "include")
# icloudpd's medium/thumb live videos are not offered: a smaller copy is never an archive, and
# `skip_live_photos` already saves the space (README "Coming from icloudpd or kei").
LIVE_PHOTO_SIZES: tuple[str, ...] = ("original",)
HIDDEN_FOLDER = "Hidden"  # hidden assets' folder under `hidden: separate`

# assetSubtypeV2 values (the CPLAsset field iCloud's own smart albums are built from)
PANORAMA, SCREENSHOT, SLOMO, TIMELAPSE = 1, 3, 101, 102

SMART_ALBUMS: dict[str, Callable[[MediaState], bool]] = {
    "Favorites": lambda s: s.is_favorite,
    "Videos": lambda s: s.kind == "video",
    "Live": lambda s: s.kind == "live",
    "Screenshots": lambda s: s.is_screenshot or s.asset_subtype == SCREENSHOT,
    "Panoramas": lambda s: s.asset_subtype == PANORAMA,
    "Slo-mo": lambda s: s.asset_subtype == SLOMO,
    "Time-lapse": lambda s: s.asset_subtype == TIMELAPSE,
    "Hidden": lambda s: s.is_hidden,
}
"""The smart albums a selection can name, as predicates on what discover recorded."""


class SelectionSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The config's `selection:` section (every key also a flag of download, run, watch)."""

    skip_videos: bool = False
    skip_photos: bool = False
    skip_live_photos: bool = False  # the live photo's video only; the still is kept
    live_photo_size: str = "original"  # LIVE_PHOTO_SIZES (checked at load, naming them)
    recent: int | None = None  # the newest N selected assets by capture time
    until_found: int | None = None  # stop after N consecutive already downloaded, newest first
    skip_created_before: Any = None  # ISO date or datetime, or "Nd" (YAML dates accepted)
    skip_created_after: Any = None
    albums: tuple[str, ...] = ()  # user albums (name or "Folder/Name") or smart albums
    exclude_albums: tuple[str, ...] = ()
    filename_exclude: tuple[str, ...] = ()  # kei's globs on iCloud's file name, any case
    hidden: str = "skip"  # HIDDEN_MODES (checked at load, naming them)


@dataclass(frozen=True)
class Selection:
    """The selection with its date window resolved to instants (UTC-aware)."""

    skip_videos: bool = False
    skip_photos: bool = False
    skip_live_photos: bool = False
    live_photo_size: str = "original"
    recent: int | None = None
    until_found: int | None = None
    created_from: datetime | None = None  # keep assets created at or after
    created_until: datetime | None = None  # keep assets created at or before
    albums: tuple[str, ...] = ()
    exclude_albums: tuple[str, ...] = ()
    filename_exclude: tuple[str, ...] = ()
    hidden: str = "skip"

    @property
    def wants_hidden(self) -> bool:
        """Hidden assets are in (unless another rule leaves them out)."""
        return self.hidden != "skip" or any(is_smart(a) == "Hidden" for a in self.albums)


EVERYTHING = Selection(hidden="include")
"""No filter at all: every asset, hidden ones too."""


class SelectionCheck(Protocol):
    """What the deletion gate asks of a selection (engine.selection_scope.SelectionScope)."""

    def reason(self, state: MediaState) -> str | None:
        """Why the asset is not selected, or None when it is."""


class NoSelection:
    """Everything is selected: audit (past requests predate the selection) and reports."""

    def reason(self, _state: MediaState) -> str | None:
        return None


NO_SELECTION = NoSelection()

_DAYS = re.compile(r"^\s*(\d{1,6})\s*d\s*$", re.IGNORECASE)


def parse_when(value: object, now: datetime, local_tz: tzinfo) -> datetime:
    """An ISO date, ISO datetime or `Nd` (N days before `now`) as an aware instant.

    ValueError (its message says what is accepted) for anything else."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=local_tz)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=local_tz)
    text = str(value).strip() if isinstance(value, str) else None
    if text is None:
        raise ValueError(f"{value!r} is not a date (use 2024-05-01, 2024-05-01T08:00 or 30d)")
    days = _DAYS.match(text)
    if days:
        return now - timedelta(days=int(days.group(1)))
    try:
        if len(text) == 10:
            return parse_when(date.fromisoformat(text), now, local_tz)
        return parse_when(datetime.fromisoformat(text), now, local_tz)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date (use 2024-05-01, 2024-05-01T08:00, "
            "2024-05-01T08:00+02:00 or 30d for 30 days ago)"
        ) from None


def is_smart(name: str) -> str | None:
    """The smart album's canonical name when `name` names one (any case), else None."""
    wanted = name.strip().casefold()
    return next((smart for smart in SMART_ALBUMS if smart.casefold() == wanted), None)


def settings_problems(settings: SelectionSettings) -> list[tuple[str, str]]:
    """(key, why) for each value the config may not hold (config load refuses them)."""
    problems: list[tuple[str, str]] = [
        (f"selection.{key}", f"{value!r} is not one of {', '.join(choices)}")
        for key, value, choices in (
            ("hidden", settings.hidden, HIDDEN_MODES),
            ("live_photo_size", settings.live_photo_size, LIVE_PHOTO_SIZES),
        )
        if value not in choices
    ]
    if settings.skip_videos and settings.skip_photos:
        problems.append(("selection.skip_photos", "cannot be combined with skip_videos "
                         "(that would select nothing)"))
    for key in ("recent", "until_found"):
        number = getattr(settings, key)
        if number is not None and number < 1:
            problems.append((f"selection.{key}", "must be at least 1"))
    for key in ("skip_created_before", "skip_created_after"):
        value = getattr(settings, key)
        if value is None:
            continue
        try:
            parse_when(value, datetime(2000, 1, 1, tzinfo=UTC), UTC)
        except ValueError as exc:
            problems.append((f"selection.{key}", str(exc)))
    for key in ("albums", "exclude_albums", "filename_exclude"):
        if any(not name.strip() for name in getattr(settings, key)):
            problems.append((f"selection.{key}", "a name must not be empty"))
    return problems


def merged_settings(
    settings: SelectionSettings, flags: Mapping[str, Any]
) -> SelectionSettings:
    """The config's selection with every flag that was given (not None, not empty) on top."""
    given = {key: value for key, value in flags.items() if value not in (None, ())}
    return msgspec.structs.replace(settings, **given)


def build_selection(settings: SelectionSettings, now: datetime, local_tz: tzinfo) -> Selection:
    """The Selection of (validated) settings at `now`; `Nd` counts back from `now`."""

    def when(value: object) -> datetime | None:
        return None if value is None else parse_when(value, now, local_tz)

    return Selection(
        skip_videos=settings.skip_videos,
        skip_photos=settings.skip_photos,
        skip_live_photos=settings.skip_live_photos,
        live_photo_size=settings.live_photo_size,
        recent=settings.recent,
        until_found=settings.until_found,
        created_from=when(settings.skip_created_before),
        created_until=when(settings.skip_created_after),
        albums=tuple(settings.albums),
        exclude_albums=tuple(settings.exclude_albums),
        filename_exclude=tuple(settings.filename_exclude),
        hidden=settings.hidden,
    )


def asset_date(state: MediaState) -> datetime | None:
    """The date the window and `recent` compare: capture, else added (as icloudpd's created)."""
    return state.captured_at_utc or state.added_at_utc


def kind_reason(state: MediaState, selection: Selection) -> str | None:
    """Why the asset's kind, hidden flag or date leaves it out, or None."""
    if state.is_hidden and not selection.wants_hidden:
        return "hidden (selection.hidden is skip)"
    if selection.skip_videos and state.kind == "video":
        return "a video (skip_videos)"
    if selection.skip_photos and state.kind in ("photo", "live"):
        return "a photo (skip_photos)"
    return name_reason(state, selection) or date_reason(state, selection)


def name_reason(state: MediaState, selection: Selection) -> str | None:
    """Why iCloud's file name leaves the asset out (a `filename_exclude` glob), or None."""
    name = state.filename.casefold()
    for pattern in selection.filename_exclude:
        if fnmatch.fnmatchcase(name, pattern.strip().casefold()):
            return f"named {state.filename} (filename_exclude {pattern})"
    return None


def date_reason(state: MediaState, selection: Selection) -> str | None:
    """Why the asset's date is outside the window, or None."""
    start, end = selection.created_from, selection.created_until
    if start is None and end is None:
        return None
    when = asset_date(state)
    if when is None:
        return "no capture date to compare with the date window"
    if start is not None and when < start:
        return f"created {when.date()}, before {start.date()} (skip_created_before)"
    if end is not None and when > end:
        return f"created {when.date()}, after {end.date()} (skip_created_after)"
    return None


@dataclass(frozen=True)
class AlbumFilter:
    """`albums`/`exclude_albums` resolved: user album ids and smart album names."""

    album_ids: frozenset[str] = frozenset()
    smart: tuple[str, ...] = ()
    excluded_ids: frozenset[str] = frozenset()
    excluded_smart: tuple[str, ...] = ()
    is_restricted: bool = False  # some album was asked for: only their members are in

    def reason(self, state: MediaState) -> str | None:
        """Why the asset's albums leave it out, or None."""
        ids = set(state.album_ids)
        if ids & self.excluded_ids or any(SMART_ALBUMS[s](state) for s in self.excluded_smart):
            return "in an excluded album (exclude_albums)"
        if not self.is_restricted:
            return None
        if ids & self.album_ids or any(SMART_ALBUMS[s](state) for s in self.smart):
            return None
        return "in none of the albums asked for (albums)"

