"""Compact in-memory rows of the simulated Photos library, and the media kinds they describe.

Invariants:
- A row holds facts only (dates in epoch milliseconds, sizes in bytes); CloudKit JSON is
  rendered from rows on demand (records.py) and never stored, so memory per asset is a few
  hundred bytes and a listing allocates only the page it answers.
- A master's renditions are fixed by its MediaKind: `MEDIA_KINDS[kind].resources` lists the
  resource prefixes in order and `MasterRow.sizes_bytes` holds their sizes in the same order.
  Edits (ASSET_PREFIXES: resJPEGFull, resVidFull) live on the asset row, not the master.
- A master with `content_of` set serves another master's bytes under that master's tokens
  (Apple stores content once): its URLs and checksums are the other's, its sizes its own.
- Record change tags are unique per library: every mutation of a row takes a fresh tag.
- Several AssetRows may point at one MasterRow (byte-identical duplicates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

JPEG = "public.jpeg"
HEIC = "public.heic"
PNG = "public.png"
QUICKTIME = "com.apple.quicktime-movie"
MPEG4 = "public.mpeg-4"
CANON_RAW = "com.canon.cr2-raw-image"

ORIGINAL = "resOriginal"
ORIGINAL_ALT = "resOriginalAlt"
LIVE_VIDEO = "resOriginalVidCompl"
JPEG_MED = "resJPEGMed"
JPEG_THUMB = "resJPEGThumb"
VID_MED = "resVidMed"
VID_SMALL = "resVidSmall"
JPEG_FULL = "resJPEGFull"  # the edited still render; it lives on the CPLAsset record
VID_FULL = "resVidFull"  # the edited video (edited video or live photo); on the CPLAsset record
ASSET_PREFIXES = (JPEG_FULL, VID_FULL)


class MediaKind(IntEnum):
    JPEG_PHOTO = 0
    HEIC_PHOTO = 1
    HEIC_LIVE = 2
    MOV_VIDEO = 3
    MP4_VIDEO = 4
    RAW_JPEG_PAIR = 5  # JPEG original, RAW alternative
    PNG_SCREENSHOT = 6
    RAW_ORIGINAL_PAIR = 7  # RAW original, JPEG alternative ("use RAW as original")


class Subtype(IntEnum):
    """Values sent as assetSubtypeV2; they select the matching smart albums."""

    NONE = 0
    PANORAMA = 1
    LIVE = 2
    SCREENSHOT = 3
    SLOMO = 101
    TIMELAPSE = 102


@dataclass(frozen=True)
class ResourceSpec:
    prefix: str
    file_type: str
    scale: float  # rendition width/height relative to the original's


@dataclass(frozen=True)
class KindSpec:
    item_type: str
    extension: str
    is_movie: bool
    resources: tuple[ResourceSpec, ...]


def _photo(item_type: str, extension: str, *extra: ResourceSpec) -> KindSpec:
    derived = (ResourceSpec(JPEG_MED, JPEG, 0.32), ResourceSpec(JPEG_THUMB, JPEG, 0.1))
    return KindSpec(
        item_type, extension, False, (ResourceSpec(ORIGINAL, item_type, 1.0), *extra, *derived)
    )


def _movie(item_type: str, extension: str) -> KindSpec:
    return KindSpec(
        item_type,
        extension,
        True,
        (
            ResourceSpec(ORIGINAL, item_type, 1.0),
            ResourceSpec(VID_MED, QUICKTIME, 0.5),
            ResourceSpec(VID_SMALL, QUICKTIME, 0.25),
            ResourceSpec(JPEG_THUMB, JPEG, 0.1),
        ),
    )


MEDIA_KINDS: dict[MediaKind, KindSpec] = {
    MediaKind.JPEG_PHOTO: _photo(JPEG, ".JPG"),
    MediaKind.HEIC_PHOTO: _photo(HEIC, ".HEIC"),
    MediaKind.HEIC_LIVE: _photo(HEIC, ".HEIC", ResourceSpec(LIVE_VIDEO, QUICKTIME, 0.5)),
    MediaKind.MOV_VIDEO: _movie(QUICKTIME, ".MOV"),
    MediaKind.MP4_VIDEO: _movie(MPEG4, ".MP4"),
    MediaKind.RAW_JPEG_PAIR: _photo(JPEG, ".JPG", ResourceSpec(ORIGINAL_ALT, CANON_RAW, 1.0)),
    MediaKind.PNG_SCREENSHOT: _photo(PNG, ".PNG"),
    MediaKind.RAW_ORIGINAL_PAIR: _photo(CANON_RAW, ".CR2", ResourceSpec(ORIGINAL_ALT, JPEG, 1.0)),
}


@dataclass(slots=True)
class MasterRow:
    """One CPLMaster: the original file and its derived renditions."""

    record_name: str
    zone: str
    kind: MediaKind
    filename: str | None  # None: the record carries no filenameEnc at all
    sizes_bytes: tuple[int, ...]  # aligned with MEDIA_KINDS[kind].resources
    width: int
    height: int
    change_tag: str
    created_ms: int
    modified_ms: int
    filename_wire: str | None = None  # a raw filenameEnc value that overrides `filename`
    content_rev: int = 0  # bumps when iCloud starts serving different bytes
    is_expunged: bool = False
    content_of: str | None = None  # the master whose stored bytes this one's URLs serve

    def size_of(self, prefix: str) -> int | None:
        for spec, size in zip(MEDIA_KINDS[self.kind].resources, self.sizes_bytes, strict=True):
            if spec.prefix == prefix:
                return size
        return None


@dataclass(slots=True)
class AssetRow:
    """One CPLAsset: what the user sees in the Library, pointing at a master."""

    record_name: str
    master_name: str
    zone: str
    asset_date_ms: int
    added_date_ms: int
    tz_offset_s: int
    change_tag: str
    created_ms: int
    modified_ms: int
    subtype: Subtype = Subtype.NONE
    duration_s: int = 0
    is_favorite: bool = False
    is_hidden: bool = False
    is_deleted: bool = False
    is_expunged: bool = False
    deleted_at_ms: int = 0
    caption: str | None = None
    location: tuple[float, float] | None = None  # (latitude, longitude)
    description: str | None = None  # extendedDescEnc
    keywords: tuple[str, ...] = ()  # keywordsEnc (a binary plist list)
    rotation: int | None = None  # EXIF orientation of a rotate edit (adjustmentSimpleDataEnc)
    edit_rev: int = 0  # 0: never edited; otherwise the revision of resJPEGFull/resVidFull
    adjusted_size_bytes: int = 0  # resJPEGFull, rendered whenever edit_rev > 0
    adjusted_video_size_bytes: int = 0  # resVidFull when edit_rev > 0; 0: no edited video


@dataclass(slots=True)
class AlbumRow:
    """One CPLAlbum: a user album (albumType 0) or a folder (albumType 3)."""

    record_name: str
    zone: str
    name: str
    album_type: int
    position: int
    change_tag: str
    created_ms: int
    modified_ms: int
    parent_id: str | None = None
    is_deleted: bool = False
    sort_ascending: int = 1
    extra_fields: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class RelationRow:
    """One CPLContainerRelation `<assetId>-IN-<albumId>`: an asset's membership in an album."""

    record_name: str
    zone: str
    item_id: str
    container_id: str
    position: int
    change_tag: str
    created_ms: int
    modified_ms: int


def relation_name(asset_name: str, album_name: str) -> str:
    return f"{asset_name}-IN-{album_name}"


def is_live_asset(asset: AssetRow, master: MasterRow) -> bool:
    return master.kind is MediaKind.HEIC_LIVE and asset.subtype in (Subtype.NONE, Subtype.LIVE)


def is_video_master(master: MasterRow) -> bool:
    return MEDIA_KINDS[master.kind].is_movie
