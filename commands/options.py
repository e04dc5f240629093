"""Command-line options shared by `download`, `run` and `watch` (reusable click decorators).

Invariants:
- An option only reads the command line: its value goes into a mapping the command hands to
  the engine (engine.selection_scope.with_selection_flags for the selection), which merges it
  over the config once. A flag that is not given is None, so its config key stands.
- Bad values are click usage errors: one line, exit 2 (commands/__init__.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from engine.config import Config
from engine.selection import HIDDEN_MODES, LIVE_PHOTO_SIZES, parse_when

F = TypeVar("F", bound=Callable[..., Any])

SELECTION_KEYS: tuple[str, ...] = (
    "skip_videos", "skip_photos", "skip_live_photos", "live_photo_size", "recent",
    "until_found", "skip_created_before", "skip_created_after", "albums", "exclude_albums",
    "filename_exclude", "hidden",
)


class WhenType(click.ParamType):  # type: ignore[type-arg]
    """An ISO date, ISO datetime or `Nd` (checked here; resolved against the clock later)."""

    name = "DATE|Nd"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            parse_when(value, datetime(2000, 1, 1, tzinfo=UTC), UTC)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


def selection_options(command: F) -> F:
    """The selection flags (config section `selection:`; each flag overrides its key)."""
    options = [
        click.option("--skip-videos/--no-skip-videos", default=None,
                     help="Leave videos out (selection.skip_videos)."),
        click.option("--skip-photos/--no-skip-photos", default=None,
                     help="Leave photos and live photos out; not with --skip-videos "
                     "(selection.skip_photos)."),
        click.option("--skip-live-photos/--no-skip-live-photos", default=None,
                     help="Fetch only the still of a live photo, not its video "
                     "(selection.skip_live_photos)."),
        click.option("--live-photo-size", type=click.Choice(LIVE_PHOTO_SIZES), default=None,
                     help="The live photo's video rendition: original only (icloudpd's "
                     "medium/thumb are not offered) (selection.live_photo_size)."),
        click.option("--recent", type=click.IntRange(min=1), default=None,
                     help="Only the newest N selected assets by capture time "
                     "(selection.recent)."),
        click.option("--until-found", type=click.IntRange(min=1), default=None,
                     help="Newest first, stop after N assets in a row already downloaded "
                     "(selection.until_found)."),
        click.option("--skip-created-before", type=WhenType(), default=None,
                     help="Leave out assets created before this date, datetime or Nd (N days "
                     "ago); local time unless an offset is given "
                     "(selection.skip_created_before)."),
        click.option("--skip-created-after", type=WhenType(), default=None,
                     help="Leave out assets created after this date, datetime or Nd "
                     "(selection.skip_created_after)."),
        click.option("--album", "albums", multiple=True,
                     help="Only assets in this album (repeatable; a user album by name or "
                     "Folder/Name, or a smart album: Favorites, Videos, Live, Screenshots, "
                     "Panoramas, Slo-mo, Time-lapse, Hidden) (selection.albums)."),
        click.option("--exclude-album", "exclude_albums", multiple=True,
                     help="Leave out assets in this album (repeatable) "
                     "(selection.exclude_albums)."),
        click.option("--filename-exclude", "filename_exclude", multiple=True, metavar="GLOB",
                     help="Leave out assets whose iCloud file name matches this glob, any case, "
                     "e.g. 'Screenshot*' (repeatable) (selection.filename_exclude)."),
        click.option("--hidden", type=click.Choice(HIDDEN_MODES), default=None,
                     help="Hidden assets: skip them (default, as icloudpd), put them under "
                     "Hidden/, or include them like any other (selection.hidden)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def selection_flags(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the selection flags out of a command's keyword arguments (they are removed)."""
    flags = {key: kwargs.pop(key) for key in SELECTION_KEYS}
    if flags["skip_videos"] and flags["skip_photos"]:
        raise click.UsageError("--skip-videos and --skip-photos cannot be combined "
                               "(that would select nothing)",
                               ctx=click.get_current_context(silent=True))
    return flags


def library_option(command: F) -> F:
    """`--library` (repeatable): which Photos libraries; overrides `icloud.library`."""
    return click.option(
        "--library", "libraries", multiple=True, metavar="NAME|ID|all",
        help="The Photos library to work on: an id (PrimarySync, SharedSync-<UUID>), a name "
        "(Personal Library, Shared Library; or personal, shared) or all; repeatable "
        "(icloud.library; `photoledger list libraries` shows them).",
    )(command)


def with_library_flag(config: Config, libraries: tuple[str, ...]) -> Config:
    """The config with `--library` merged over `icloud.library` (none given: unchanged)."""
    return config.for_library(", ".join(libraries)) if libraries else config


NAMING_FLAG_KEYS: tuple[str, ...] = (
    "folder_structure", "file_match_policy", "keep_unicode_in_filenames",
    "live_photo_mov_filename_policy",
)


def naming_options(command: F) -> F:
    """icloudpd's naming flags (config `library.*`; each flag overrides its key). They name
    files written from now on; files already in the library keep their names."""
    from engine.naming import FILE_MATCH_POLICIES, LIVE_MOV_POLICIES

    options = [
        click.option("--folder-structure", default=None, metavar="TEMPLATE",
                     help="Date folders, Python format of the capture date in local time, "
                     "e.g. {:%Y/%m/%d} (default), {:%Y-%m}, or none for one flat folder "
                     "(library.folder_structure)."),
        click.option("--file-match-policy", type=click.Choice(FILE_MATCH_POLICIES), default=None,
                     help="name-size-dedup-with-suffix: a name taken by another file gets "
                     "-<size>; name-id7: every name gets _ and 7 characters of the record id "
                     "(library.file_match_policy)."),
        click.option("--keep-unicode-in-filenames/--no-keep-unicode-in-filenames",
                     default=None, help="Keep non-ASCII characters in file names "
                     "(library.keep_unicode_in_filenames)."),
        click.option("--live-photo-mov-filename-policy", type=click.Choice(LIVE_MOV_POLICIES),
                     default=None, help="suffix: NAME_HEVC.MOV beside a HEIC still; original: "
                     "always NAME.MOV (library.live_photo_mov_filename_policy)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def naming_flags(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the naming flags out of a command's keyword arguments (they are removed)."""
    return {key: kwargs.pop(key) for key in NAMING_FLAG_KEYS}
