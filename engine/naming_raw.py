"""icloudpd 1.32's exact file names, without photoledger's safety rules: for finding the files
icloudpd wrote, never for writing one.

Invariants:
- Pure. Only the rules where the two differ are followed apart from engine.naming: icloudpd
  keeps a leading dot (`../x.mov` is written as `.._x.MOV`, a hidden file), splits the
  extension as `os.path.splitext` does (`.jpg` has none, so it becomes `.jpg.PNG`) and never
  shortens a name.
- A name that could leave its folder (empty, `.`, `..`, with `/` or NUL) is never returned.
"""

from __future__ import annotations

import posixpath

from engine.naming import (
    ITEM_TYPE_EXTENSIONS,
    LIVE_ORIGINAL,
    MOVIE_UTI,
    NAME_ID7,
    NamingInput,
    NamingPolicy,
    clean_filename,
    fallback_stem,
    id7,
)

_SUFFIXED_ON_COLLISION = {"adjusted": "-adjusted", "alternative": "-alternative",
                          "adjusted_video": "-adjusted"}


def _add_suffix(name: str, suffix: str) -> str:
    stem, ext = posixpath.splitext(name)
    return stem + suffix + ext


def _base(info: NamingInput, policy: NamingPolicy) -> str:
    name = clean_filename(info.filename, keep_unicode=policy.keep_unicode)
    if not info.filename:
        extension = ITEM_TYPE_EXTENSIONS.get(info.item_type, "")
        name = fallback_stem(info.master_record_name) + (f".{extension}" if extension else "")
    if policy.file_match_policy == NAME_ID7:
        name = _add_suffix(name, "_" + id7(info.master_record_name))
    return name


def _live(base: str, policy: str) -> str:
    stem, ext = posixpath.splitext(base)
    if not ext:
        return base
    if policy == LIVE_ORIGINAL:
        return stem + ".MOV"
    return stem + ("_HEVC.MOV" if ext.lower().endswith(".heic") else ".MOV")


def raw_version_names(
    info: NamingInput, policy: NamingPolicy, renditions: dict[str, str]
) -> dict[str, str]:
    """key -> the name icloudpd gives that rendition (UTI), for the safe ones."""
    base = _base(info, policy)
    names = {}
    for key, uti in renditions.items():
        if not info.is_video and uti == MOVIE_UTI:
            names[key] = _live(base, policy.live_photo_mov_filename_policy)
        else:
            stem, ext = posixpath.splitext(base)
            names[key] = f"{stem}.{ITEM_TYPE_EXTENSIONS.get(uti, ext[1:])}"
    taken = {names[key] for key in ("original", "live_video") if key in names}
    for key, suffix in _SUFFIXED_ON_COLLISION.items():
        if key in names and names[key] in taken:
            names[key] = _add_suffix(names[key], suffix)
    return {key: name for key, name in names.items() if is_safe(name)}


def is_safe(name: str) -> bool:
    """A name that stays in its folder."""
    return name not in {"", ".", ".."} and "/" not in name and "\0" not in name


def raw_dedup_name(name: str, size_bytes: int) -> str:
    """icloudpd's `-<size>` twin of a name."""
    return _add_suffix(name, f"-{size_bytes}")
