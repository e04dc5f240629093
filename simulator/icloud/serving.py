"""Which bytes a download token serves, and which token a (record, resource) is served under.

Invariants:
- A token names (owner record, prefix, revision); the owner is a master for the master's
  renditions and an asset for its edits (ASSET_PREFIXES). The bytes served are those the
  owner holds *now*, whatever revision the token names, as with Apple's content store.
- Bytes come from the generator's real files when it wrote them, else from deterministic fast
  blobs; only the original is resized by a served-size fault (library.py).
- `content_address` resolves what a test names (an asset or master record name, and either a
  resource key such as "live_video" or a CloudKit prefix such as "resOriginalVidCompl") to the
  (owner, prefix) its URLs carry, so a fault aimed at it hits every URL of that content.
"""

from __future__ import annotations

from simulator.icloud.blobs import FileBlob, ResizedBlob, fast_blob, parse_content_token
from simulator.icloud.contract import ContentBlob
from simulator.icloud.library import PhotoLibraryState, UnknownRecordError
from simulator.icloud.rows import (
    ASSET_PREFIXES,
    JPEG,
    JPEG_FULL,
    JPEG_MED,
    JPEG_THUMB,
    LIVE_VIDEO,
    MEDIA_KINDS,
    ORIGINAL,
    ORIGINAL_ALT,
    QUICKTIME,
    VID_FULL,
    VID_MED,
    VID_SMALL,
    AssetRow,
    MasterRow,
)

# resource key (the product's vocabulary) -> (prefix for stills, prefix for movies)
RESOURCE_PREFIXES: dict[str, tuple[str, str]] = {
    "original": (ORIGINAL, ORIGINAL),
    "live_video": (LIVE_VIDEO, LIVE_VIDEO),
    "alternative": (ORIGINAL_ALT, ORIGINAL_ALT),
    "adjusted": (JPEG_FULL, JPEG_FULL),
    "adjusted_video": (VID_FULL, VID_FULL),
    "medium": (JPEG_MED, VID_MED),
    "thumb": (JPEG_THUMB, VID_SMALL),
}


def blob_for_token(state: PhotoLibraryState, token: str) -> ContentBlob | None:
    """The bytes behind a download token, or None when nothing is stored under it."""
    parsed = parse_content_token(token)
    if parsed is None:
        return None
    owner, prefix, _ = parsed
    with state.lock:
        if prefix in ASSET_PREFIXES:
            return _edit_blob(state, owner, prefix)
        master = state.master(owner)
        if master is None:
            return None
        state.fire_checksum_change(owner)
        return _master_blob(state, master, prefix)


def _master_blob(state: PhotoLibraryState, master: MasterRow, prefix: str) -> ContentBlob | None:
    size = master.size_of(prefix)
    if size is None:
        return None
    owner = master.record_name
    file_type = next(s.file_type for s in MEDIA_KINDS[master.kind].resources if s.prefix == prefix)
    path = state.real_files.get((owner, prefix))
    blob: ContentBlob = (
        FileBlob(path, size)
        if path is not None
        else fast_blob(state.seed, owner, prefix, master.content_rev, size, file_type)
    )
    delta = state.served_size_delta_bytes.get(owner, 0) if prefix == ORIGINAL else 0
    return ResizedBlob(blob, max(0, size + delta)) if delta else blob


def _edit_blob(state: PhotoLibraryState, asset_name: str, prefix: str) -> ContentBlob | None:
    zone_name = state.asset_zone.get(asset_name)
    asset = state.zones[zone_name].assets.get(asset_name) if zone_name else None
    if asset is None or asset.edit_rev == 0:
        return None
    size, file_type = _edit_size_and_type(asset, prefix)
    if prefix == VID_FULL and size <= 0:
        return None
    path = state.real_files.get((asset_name, prefix))
    if path is not None:
        return FileBlob(path, size)
    return fast_blob(state.seed, asset_name, prefix, asset.edit_rev, size, file_type)


def _edit_size_and_type(asset: AssetRow, prefix: str) -> tuple[int, str]:
    if prefix == VID_FULL:
        return asset.adjusted_video_size_bytes, QUICKTIME
    return asset.adjusted_size_bytes, JPEG


def resource_prefix(resource: str, *, is_movie: bool) -> str:
    """A CloudKit prefix for a resource key ("live_video") or a prefix given as is."""
    if resource in RESOURCE_PREFIXES:
        still, movie = RESOURCE_PREFIXES[resource]
        return movie if is_movie else still
    if resource.startswith("res"):
        return resource
    raise ValueError(f"unknown resource {resource!r}; one of {', '.join(RESOURCE_PREFIXES)}")


def content_address(state: PhotoLibraryState, record_name: str, resource: str) -> tuple[str, str]:
    """(token owner, prefix) of a record's resource; UnknownRecordError when no such record."""
    with state.lock:
        asset: AssetRow | None = None
        if record_name in state.asset_zone:
            asset = state.asset(record_name)
        master = state.master(asset.master_name if asset is not None else record_name)
        if master is None:
            raise UnknownRecordError(record_name)
        prefix = resource_prefix(resource, is_movie=MEDIA_KINDS[master.kind].is_movie)
        if prefix in ASSET_PREFIXES:
            if asset is None:
                raise UnknownRecordError(f"{record_name} is not an asset; edits live on assets")
            return asset.record_name, prefix
        return master.content_of or master.record_name, prefix
