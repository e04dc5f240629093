"""Where a downloaded file lives: icloudpd 1.32's default naming, made safe for any input.

Invariants:
- Pure: every function here is a function of its arguments (the time zone is passed in, the
  file system is asked only through a predicate the caller passes).
- Compatible with icloudpd 1.32 for ordinary names, so a tree can move between the two tools:
  folder `{:%Y/%m/%d}` of the capture date in LOCAL time (`none` = flat); `<>:"/\\|?*` and NUL
  become `_`; non-ASCII is removed unless kept; the extension is rewritten from the version's
  UTI (ITEM_TYPE_EXTENSIONS, upper case; an unknown UTI keeps the name's own extension); a
  live-photo video is `NAME_HEVC.MOV` when the still's name in iCloud ends in `.heic` (any
  case) and `NAME.MOV` otherwise (`--live-photo-mov-filename-policy suffix`; icloudpd looks
  at iCloud's name, before the extension is rewritten), or always `NAME.MOV` (`original`);
  medium/thumb get `-medium`/`-thumb`; adjusted/alternative get `-adjusted`/`-alternative`
  only when they would collide with the original's name; `name-size-dedup-with-suffix` gives
  a name held by a different asset the suffix `-<declared size bytes>`; `name-id7` suffixes
  every name with `_` + the first 7 characters of base64(master recordName).
- Beyond icloudpd, a relative path from here never escapes the library root:
  * every component is non-empty, never `.` or `..`, has no `/`, NUL or control character,
    and is at most 255 bytes in UTF-8 (a long stem is cut on a character boundary, keeping the
    extension; the base name is held to BASE_NAME_MAX_BYTES so suffixes still fit);
  * a name never starts with `.`: leading dots become `_` (no hidden files, and our
    `.<name>.<id>.part` temp files can never be mistaken for a photo);
  * a name whose stem is empty after cleaning (all non-ASCII, say) gets icloudpd's fallback
    for a missing filename: the first 12 characters of the master recordName, non-alphanumerics
    as `_`;
  * an id7 suffix has `/` replaced by `_` (base64 may produce it);
  * a folder template is formatted, then cleaned component by component the same way;
  * a capture date missing or outside what the time zone can convert falls back to the epoch
    (icloudpd's fallback) or to the UTC date.
- Two different assets with one name both survive: `candidate_names` lists, in order, the name
  icloudpd would use, then the size (or id7) variant, then variants with a stable per-asset
  hash and a counter; the caller takes the first one that is free. Names are compared
  case-insensitively, because the tree is copied to case-insensitive NAS and phone folders.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

ITEM_TYPE_EXTENSIONS: dict[str, str] = {
    "public.heic": "HEIC",
    "public.heif": "HEIF",
    "public.jpeg": "JPG",
    "public.png": "PNG",
    "com.apple.quicktime-movie": "MOV",
    "com.adobe.raw-image": "DNG",
    "com.canon.cr2-raw-image": "CR2",
    "com.canon.crw-raw-image": "CRW",
    "com.sony.arw-raw-image": "ARW",
    "com.fuji.raw-image": "RAF",
    "com.panasonic.rw2-raw-image": "RW2",
    "com.nikon.nrw-raw-image": "NRF",  # sic: icloudpd's spelling, kept for compatibility
    "com.pentax.raw-image": "PEF",
    "com.nikon.raw-image": "NEF",
    "com.olympus.raw-image": "ORF",
    "com.canon.cr3-raw-image": "CR3",
    "com.olympus.or-raw-image": "ORF",
}
"""Version UTI -> extension on disk (icloudpd 1.32's table)."""

MOVIE_UTI = "com.apple.quicktime-movie"
SIZE_DEDUP = "name-size-dedup-with-suffix"
NAME_ID7 = "name-id7"
FILE_MATCH_POLICIES = (SIZE_DEDUP, NAME_ID7)
LIVE_SUFFIX = "suffix"
LIVE_ORIGINAL = "original"
LIVE_MOV_POLICIES = (LIVE_SUFFIX, LIVE_ORIGINAL)
FLAT = "none"
COMPONENT_MAX_BYTES = 255
BASE_NAME_MAX_BYTES = 200  # leaves room for -alternative, -<size>, _HEVC, _id7, _<hash>-N
MAX_EXTENSION_BYTES = 16
MAX_COUNTER = 99

_INVALID_CHARS = '<>:"/\\|?*\0'
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NON_ALNUM = re.compile(r"[^0-9a-zA-Z]")
_ALWAYS_SUFFIXED = {"medium": "-medium", "thumb": "-thumb"}
_SUFFIXED_ON_COLLISION = {
    "adjusted": "-adjusted",
    "alternative": "-alternative",
    "adjusted_video": "-adjusted",
}
_UNSUFFIXED = ("original", "live_video")  # the names the suffixed ones must not take
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class NamingPolicy:
    """The naming settings (config `library.*`) plus the local time zone for folders."""

    local_tz: tzinfo
    folder_structure: str = "{:%Y/%m/%d}"
    file_match_policy: str = SIZE_DEDUP
    keep_unicode: bool = False
    live_photo_mov_filename_policy: str = LIVE_SUFFIX


@dataclass(frozen=True)
class NamingInput:
    """What naming needs to know about an asset (from the ledger's state)."""

    filename: str
    master_record_name: str
    item_type: str
    captured_at_utc: datetime | None
    is_video: bool


def clean_filename(name: str, *, keep_unicode: bool) -> str:
    """icloudpd's cleaning (invalid characters to `_`, optional ASCII-only) plus control chars."""
    # A lone surrogate cannot be written to disk: it becomes U+FFFD (then `_`-free text).
    name = name.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    for char in _INVALID_CHARS:
        name = name.replace(char, "_")
    name = _CONTROL.sub("_", name)
    if not keep_unicode:
        name = name.encode("utf-8").decode("ascii", "ignore")
    return name


def split_extension(name: str) -> tuple[str, str]:
    """(stem, extension with its dot); a leading dot does not start an extension."""
    stripped = name.lstrip(".")
    lead = name[: len(name) - len(stripped)]
    stem, dot, ext = stripped.rpartition(".")
    if not dot or not stem:
        return name, ""
    return lead + stem, "." + ext


def add_suffix(name: str, suffix: str) -> str:
    """`IMG_1.JPG` + `-medium` -> `IMG_1-medium.JPG`."""
    stem, ext = split_extension(name)
    return stem + suffix + ext


def fallback_stem(master_record_name: str) -> str:
    """icloudpd's name for a record without a filename: 12 characters of the master's name."""
    return _NON_ALNUM.sub("_", master_record_name)[:12] or "unnamed"


def id7(master_record_name: str) -> str:
    """The first 7 characters of base64(master recordName), safe as a file name part."""
    encoded = base64.b64encode(master_record_name.encode("utf-8")).decode("ascii")
    return encoded[:7].replace("/", "_")


def rewrite_extension(name: str, uti: str) -> str:
    """The extension from the UTI's table entry; an unknown UTI keeps the name's extension."""
    extension = ITEM_TYPE_EXTENSIONS.get(uti)
    if extension is None:
        return name
    stem, _ext = split_extension(name)
    return f"{stem}.{extension}"


def live_video_name(still_name: str, policy: str = LIVE_SUFFIX) -> str:
    """icloudpd's live-photo video name for a still's file name: `suffix` (its default) gives
    `NAME_HEVC.MOV` beside a HEIC still and `NAME.MOV` beside any other; `original` always
    `NAME.MOV` (the name Photos apps pair a live photo by)."""
    stem, ext = split_extension(still_name)
    if not ext:
        return still_name + "_HEVC.MOV"  # icloudpd would reuse the still's name: a clash
    if policy == LIVE_ORIGINAL:
        return stem + ".MOV"
    return stem + ("_HEVC.MOV" if ext.lower() == ".heic" else ".MOV")


def truncate_utf8(text: str, max_bytes: int) -> str:
    """The longest prefix of `text` that is at most `max_bytes` bytes in UTF-8."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes].decode("utf-8", "ignore")


def fit_component(name: str, max_bytes: int = COMPONENT_MAX_BYTES) -> str:
    """Shorten a file name to `max_bytes` bytes, keeping a reasonable extension."""
    if len(name.encode("utf-8", "surrogatepass")) <= max_bytes:
        return name
    stem, ext = split_extension(name)
    ext_bytes = len(ext.encode("utf-8", "surrogatepass"))
    if ext_bytes > MAX_EXTENSION_BYTES or ext_bytes >= max_bytes:
        return truncate_utf8(name, max_bytes)
    return truncate_utf8(stem, max_bytes - ext_bytes) + ext


def safe_component(name: str, *, keep_unicode: bool, fallback: str) -> str:
    """One path component that cannot escape or hide: cleaned, no leading dot, non-empty."""
    name = clean_filename(name, keep_unicode=keep_unicode)
    stripped = name.lstrip(".")
    name = "_" * (len(name) - len(stripped)) + stripped
    return fit_component(name or fallback)


def is_stem_empty(name: str) -> bool:
    """Whether a name has no usable stem: empty, blank, only dots, or only `.EXT`."""
    text = name.strip()
    after_dots = text.lstrip(".")
    return not after_dots.strip() or (text.startswith(".") and "." not in after_dots)


def base_name(info: NamingInput, policy: NamingPolicy, *, rewrite: bool = True) -> str:
    """The asset's base file name: cleaned, safe, with the original's extension and id7.

    `rewrite=False` keeps the extension the file name has in iCloud: icloudpd names a live
    photo's video from that (`IMG_1.jpg` of a HEIC still gives `IMG_1.MOV`); a fallback name
    always takes the item type's extension, as icloudpd's does."""
    fallback = fallback_stem(info.master_record_name)
    name = clean_filename(info.filename, keep_unicode=policy.keep_unicode)
    if is_stem_empty(name):
        extension = name.strip().lstrip(".").strip()
        name = rewrite_extension(f"{fallback}.{extension}" if extension else fallback,
                                 info.item_type)
    elif rewrite:
        name = rewrite_extension(name, info.item_type)
    name = safe_component(name, keep_unicode=policy.keep_unicode, fallback=fallback)
    name = fit_component(name, BASE_NAME_MAX_BYTES)
    if policy.file_match_policy == NAME_ID7:
        name = add_suffix(name, "_" + id7(info.master_record_name))
    return name


def version_name(
    base: str, key: str, file_type: str, info: NamingInput, *, live_policy: str = LIVE_SUFFIX,
    icloud_base: str | None = None,
) -> str:
    """The file name of one rendition (before collision handling), as icloudpd 1.32 names it:
    a live photo's video from the name with iCloud's own extension (`icloud_base`)."""
    if not info.is_video and file_type == MOVIE_UTI:
        name = live_video_name(icloud_base or base, live_policy)
    else:
        name = rewrite_extension(base, file_type)
    if key in _ALWAYS_SUFFIXED:
        name = add_suffix(name, _ALWAYS_SUFFIXED[key])
    return name


def version_names(
    info: NamingInput, policy: NamingPolicy, renditions: dict[str, str]
) -> dict[str, str]:
    """File names for the renditions (key -> UTI), `original` included.

    `adjusted`, `alternative` and `adjusted_video` get their suffix only when they would take
    the original's or the live video's name (icloudpd's rule), so the caller passes the
    original (and live video) even when only another rendition is fetched.
    """
    base = base_name(info, policy)
    icloud_base = base_name(info, policy, rewrite=False)
    live = policy.live_photo_mov_filename_policy
    names = {key: version_name(base, key, uti, info, live_policy=live, icloud_base=icloud_base)
             for key, uti in renditions.items()}
    taken = {names[key].casefold() for key in _UNSUFFIXED if key in names}
    for key, suffix in _SUFFIXED_ON_COLLISION.items():
        if key in names and names[key].casefold() in taken:
            names[key] = add_suffix(names[key], suffix)
    return names


def local_capture_date(captured_at_utc: datetime | None, local_tz: tzinfo) -> datetime:
    """The capture time in the local zone (icloudpd's epoch when unknown)."""
    moment = captured_at_utc or _EPOCH
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(local_tz)
    except (OverflowError, ValueError, OSError):
        return moment.astimezone(UTC)


def folder_for(
    captured_at_utc: datetime | None, policy: NamingPolicy, *, library: str = "PrimarySync"
) -> str:
    """The folder (relative, `/`-separated, "" for flat) for a capture date; `{library}` in
    the template is `library` (engine.libraries.library_folder of the asset's zone)."""
    if policy.folder_structure.strip().lower() == FLAT:
        return ""
    moment = local_capture_date(captured_at_utc, policy.local_tz)
    try:
        formatted = policy.folder_structure.format(moment, library=library)
    except (ValueError, KeyError, IndexError, AttributeError):
        formatted = f"{moment:%Y/%m/%d}"
    return safe_folder(formatted, keep_unicode=policy.keep_unicode)


def safe_folder(path: str, *, keep_unicode: bool) -> str:
    """A formatted folder made safe component by component; empty and `.` parts dropped."""
    parts = []
    for raw in re.split(r"[/\\]", path):
        if raw in {"", "."}:
            continue
        parts.append(safe_component(raw, keep_unicode=keep_unicode, fallback="_"))
    return "/".join(parts)


def join_relpath(folder: str, name: str) -> str:
    """`folder/name`, or `name` for a flat layout."""
    return f"{folder}/{name}" if folder else name


def candidate_names(
    name: str, *, declared_size_bytes: int, policy: NamingPolicy, asset_key: str
) -> list[str]:
    """Names to try in order until one is free (see the module docstring)."""
    tag = asset_key[:8]
    if policy.file_match_policy == SIZE_DEDUP:
        sized = add_suffix(name, f"-{declared_size_bytes}")
        first = [name, sized]
    else:
        sized = name
        first = [name]
    tagged = add_suffix(sized, f"_{tag}")
    stem, ext = split_extension(tagged)  # once: this list is built for every file downloaded
    counted = [f"{stem}-{n}{ext}" for n in range(2, MAX_COUNTER + 1)]
    longest = len(counted[-1].encode("utf-8", "surrogatepass"))
    if longest > COMPONENT_MAX_BYTES:
        counted = [fit_component(candidate) for candidate in counted]
    return [fit_component(candidate) for candidate in (*first, tagged)] + counted


def choose_free_name(
    candidates: list[str], folder: str, is_taken: Callable[[str], bool]
) -> str | None:
    """The first candidate whose relative path `is_taken` says is free (None: all taken)."""
    for candidate in candidates:
        if not is_taken(join_relpath(folder, candidate)):
            return candidate
    return None
