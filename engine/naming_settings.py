"""icloudpd's naming options as config keys (`library.*`) and command-line flags, merged once.

Invariants:
- A flag that was given overrides its config key for that command only; the merged Config is
  built once (`with_naming_flags`) and passed down, so every stage of the command names files
  the same way.
- A bad value, from the file or a flag, is one ConfigError naming the key and the choices.
- Naming options apply to files written from then on. A file already in the library keeps
  the path its Downloaded fact records: changing an option never renames, moves or
  re-downloads anything (engine.download plans only resources not yet downloaded).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from engine.errors import ConfigError
from engine.naming import FILE_MATCH_POLICIES, FLAT, LIVE_MOV_POLICIES

if TYPE_CHECKING:
    from engine.config import Config, LibrarySettings

NAMING_KEYS: tuple[str, ...] = (
    "folder_structure", "file_match_policy", "keep_unicode_in_filenames",
    "live_photo_mov_filename_policy",
)


def naming_problems(library: LibrarySettings) -> list[tuple[str, str]]:
    """(dotted key, why) for each naming value that cannot be used."""
    problems = []
    if library.file_match_policy not in FILE_MATCH_POLICIES:
        problems.append(("library.file_match_policy",
                         f"must be one of {', '.join(FILE_MATCH_POLICIES)}"))
    if library.live_photo_mov_filename_policy not in LIVE_MOV_POLICIES:
        problems.append(("library.live_photo_mov_filename_policy",
                         f"must be one of {', '.join(LIVE_MOV_POLICIES)}"))
    template = library.folder_structure
    if template.strip().lower() != FLAT:
        try:
            template.format(datetime(2000, 1, 2), library="PrimarySync")
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            problems.append(("library.folder_structure",
                             f"not a valid date template ({exc}); e.g. {{:%Y/%m/%d}}, "
                             "{:%Y-%m}, or none"))
    return problems


def with_naming_flags(config: Config, flags: Mapping[str, Any]) -> Config:
    """The config with every naming flag that was given on top of its `library:` keys."""
    given = {key: value for key, value in flags.items() if value is not None}
    if not given:
        return config
    library = msgspec.structs.replace(config.settings.library, **given)
    for key, why in naming_problems(library):
        raise ConfigError(f"{key} (from the config or its flag): {why}")
    settings = msgspec.structs.replace(config.settings, library=library)
    return dataclasses.replace(config, settings=settings)


DOMAINS = ("com", "cn")


def icloud_problems(icloud: Any) -> list[tuple[str, str]]:
    """(dotted key, why) for the iCloud connection settings icloudpd has flags for."""
    problems = []
    if icloud.domain not in DOMAINS:
        problems.append(("icloud.domain", f"must be one of {', '.join(DOMAINS)} (cn: Apple's "
                         "mainland-China endpoints, icloud.com.cn)"))
    if not 0 <= icloud.max_retries <= 20:
        problems.append(("icloud.max_retries", "must be between 0 and 20"))
    if not 0 < icloud.retry_delay_s <= 600:
        problems.append(("icloud.retry_delay_s", "must be above 0 and at most 600 seconds"))
    return problems
