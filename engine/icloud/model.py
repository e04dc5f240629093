"""Plain, typed views of Apple's Photos records, as the stages need them.

Invariants:
- Built only by the adapter's tolerant record parser from CloudKit JSON; immutable afterwards.
- `download_url` is short-lived (Apple signs it with an expiry) and is never stored in the ledger;
  a download that meets an expired URL asks the port for a fresh record.
- A record the parser cannot turn into a RemoteAsset becomes a RecordProblem with its reason;
  one bad record never costs the rest of its page.
- A resource other than the original whose fields are present but malformed never costs the
  asset: its key is listed in `unreadable_resources` and it has no RemoteVersion.
- Descriptive metadata (caption, description, keywords, place, orientation, screenshot) that
  cannot be read is absent (None or empty), never a reason to drop the asset.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

ORIGINAL = "original"
LIVE_VIDEO = "live_video"  # resOriginalVidCompl: the video half of a live photo
ALTERNATIVE = "alternative"  # resOriginalAlt: the RAW (or JPEG) twin of a RAW+JPEG pair
ADJUSTED = "adjusted"  # resJPEGFull: the edited still render (on the CPLAsset record)
ADJUSTED_VIDEO = "adjusted_video"  # resVidFull: the edited video (an edited video or live photo)
MEDIUM = "medium"
THUMB = "thumb"

VERSION_PREFIXES: dict[str, str] = {
    ORIGINAL: "resOriginal",
    ALTERNATIVE: "resOriginalAlt",
    LIVE_VIDEO: "resOriginalVidCompl",
    ADJUSTED: "resJPEGFull",
    ADJUSTED_VIDEO: "resVidFull",
    MEDIUM: "resJPEGMed",
    THUMB: "resJPEGThumb",
}
"""Version key -> CloudKit field prefix (`<prefix>Res`, `<prefix>FileType`, ...)."""

VIDEO_VERSION_PREFIXES: dict[str, str] = {MEDIUM: "resVidMed", THUMB: "resVidSmall"}
"""For movies, medium and thumb renditions are videos with these prefixes."""

RESOURCE_KEYS: tuple[str, ...] = (ORIGINAL, LIVE_VIDEO, ALTERNATIVE, ADJUSTED, ADJUSTED_VIDEO)
"""The renditions a deletion in iCloud destroys and nothing regenerates: medium and thumb are
derived by Apple from these, so only these count as an asset's resources."""


class RemoteVersion(msgspec.Struct, frozen=True, kw_only=True):
    """One downloadable rendition of an asset."""

    key: str
    size_bytes: int
    checksum: str  # Apple's fileChecksum: opaque, identifies content, cannot check bytes
    file_type: str  # UTI, e.g. "public.heic", "com.apple.quicktime-movie"
    download_url: str | None = None
    width: int | None = None
    height: int | None = None


class RemoteAsset(msgspec.Struct, frozen=True, kw_only=True):
    """A CPLAsset joined with its CPLMaster."""

    zone: str
    record_name: str  # the CPLAsset recordName: the asset's iCloud identity
    master_record_name: str
    change_tag: str  # the CPLAsset's recordChangeTag
    master_change_tag: str
    filename: str  # decoded filenameEnc, or the icloudpd fallback name when it is missing
    filename_status: str  # "ok", "missing" (fallback used) or "undecodable"
    item_type: str  # UTI of the original
    captured_at_utc: datetime | None
    added_at_utc: datetime | None
    timezone_offset_s: int | None = None
    is_favorite: bool = False
    is_hidden: bool = False
    is_deleted: bool = False
    has_location: bool = False
    caption: str | None = None  # captionEnc: the title shown under the photo
    description: str | None = None  # extendedDescEnc
    keywords: tuple[str, ...] = ()  # keywordsEnc, in iCloud's order
    latitude_deg: float | None = None  # locationEnc; WGS84, with longitude or not at all
    longitude_deg: float | None = None
    altitude_m: float | None = None
    orientation: int | None = None  # EXIF code: the user's rotation, or the master's own if not 1
    is_screenshot: bool = False  # assetSubtypeV2 == 3
    asset_subtype: int | None = None  # assetSubtypeV2 naming a smart album (panorama 1, ...)
    versions: tuple[RemoteVersion, ...] = ()
    # RESOURCE_KEYS whose fields were present but could not be read: the asset is kept, but
    # what it holds there is unknown, so nothing may treat it as safely copied.
    unreadable_resources: tuple[str, ...] = ()
    album_ids: tuple[str, ...] = ()

    def version(self, key: str) -> RemoteVersion | None:
        """The rendition with this key, if the asset has it."""
        return next((v for v in self.versions if v.key == key), None)

    @property
    def original(self) -> RemoteVersion | None:
        return self.version(ORIGINAL)

    @property
    def kind(self) -> str:
        """ "video", "live" (a still with its paired video) or "photo"."""
        if is_video_type(self.item_type):
            return "video"
        has_live = self.version(LIVE_VIDEO) is not None or LIVE_VIDEO in self.unreadable_resources
        return "live" if has_live else "photo"


class RecordProblem(msgspec.Struct, frozen=True, kw_only=True):
    """A record that could not be used, with why; the asset is quarantined, the page goes on."""

    zone: str
    record_name: str
    master_record_name: str | None
    reason: str  # e.g. "malformed_record", "missing_master", "undecodable_filename"
    detail: str


class RemoteAlbum(msgspec.Struct, frozen=True, kw_only=True):
    """A user album or folder (CPLAlbum)."""

    record_name: str
    name: str
    parent_id: str | None
    is_folder: bool
    change_tag: str
    position: int = 0  # order among its siblings (a new album goes after the last)


class AlbumRelation(msgspec.Struct, frozen=True, kw_only=True):
    """A CPLContainerRelation change: the asset entered (or left) the album."""

    asset_record_name: str
    album_id: str
    is_member: bool


class ScanPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a listing: the assets it held and the records that could not be parsed."""

    assets: tuple[RemoteAsset, ...]
    problems: tuple[RecordProblem, ...] = ()


class ChangePage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of `changes/zone`: assets added or edited, assets gone, and the token after it."""

    changed: tuple[RemoteAsset, ...]
    deleted_record_names: tuple[str, ...]
    problems: tuple[RecordProblem, ...]
    sync_token: str
    more_coming: bool
    albums: tuple[RemoteAlbum, ...] = ()  # live albums and folders added or changed
    removed_album_ids: tuple[str, ...] = ()  # albums flagged isDeleted (tombstones: above)
    relations: tuple[AlbumRelation, ...] = ()  # memberships added or removed


def is_video_type(uti: str) -> bool:
    """Whether a UTI names a movie."""
    return uti in {"com.apple.quicktime-movie", "public.mpeg-4", "public.movie", "public.avi"} or (
        uti.endswith("-movie") or uti.endswith(".movie")
    )
