"""Lay out a folder the way icloudpd 1.32 would have downloaded the simulator's library.

Written from icloudpd's naming rules (reference/icloudpd-features.md §1c), not from
engine.naming, so a test compares two independent readings of those rules:
- enumeration newest-added first, hidden and deleted assets left out;
- folder `{:%Y/%m/%d}` of the asset date in the given zone;
- name from the master's filename: `<>:"/\\|?*` and NUL to `_`, non-ASCII removed; no filename:
  (or one that cannot be decoded) the first 12 characters of the master recordName,
  non-alphanumerics as `_`; then the
  extension rewritten from the version's type (HEIC, JPG, PNG, MOV, CR2; other types keep it);
- live video `NAME_HEVC.MOV` when iCloud's name of the still ends in `.heic` (any case),
  `NAME.MOV` otherwise (iCloud's name, before the extension is rewritten);
- the alternative (RAW/JPEG twin, `--size alternative`) gets `-alternative` only when it would
  take the original's name;
- `name-size-dedup-with-suffix`: a name held by a file of another size becomes
  `NAME-<size>.EXT`; a file of the same size counts as already downloaded (nothing written);
- `name-id7`: every name gets `_` + the first 7 characters of base64(master recordName).
Bytes are the simulator's own for each resource.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from simulator.icloud.blobs import content_token
from simulator.icloud.library import PhotoLibraryState
from simulator.icloud.rows import LIVE_VIDEO, MEDIA_KINDS, ORIGINAL, ORIGINAL_ALT
from simulator.icloud.serving import blob_for_token, content_address

EXTENSIONS = {
    "public.heic": "HEIC", "public.jpeg": "JPG", "public.png": "PNG",
    "com.apple.quicktime-movie": "MOV", "com.canon.cr2-raw-image": "CR2",
}
KEYS = {ORIGINAL: "original", LIVE_VIDEO: "live_video", ORIGINAL_ALT: "alternative"}


@dataclass
class IcloudpdTree:
    """What was written: record name -> resource key -> relative path, and the sizes."""

    root: Path
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # relpath -> bytes written

    def relpaths(self) -> set[str]:
        return set(self.sizes)


def _stem_ext(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, "." + ext) if dot and stem else (name, "")


def _base_name(filename: str | None, master_name: str, item_type: str) -> str:
    if filename is None:
        extension = {**EXTENSIONS, "public.mpeg-4": "MP4"}[item_type]
        filename = re.sub(r"[^0-9a-zA-Z]", "_", master_name)[:12] + "." + extension
    for char in '<>:"/\\|?*\0':
        filename = filename.replace(char, "_")
    return filename.encode("utf-8").decode("ascii", "ignore")


def _with_type(name: str, file_type: str) -> str:
    extension = EXTENSIONS.get(file_type)
    return f"{_stem_ext(name)[0]}.{extension}" if extension else name


def _id7(master_name: str) -> str:
    return base64.b64encode(master_name.encode()).decode()[:7]


def write_icloudpd_tree(
    state: PhotoLibraryState, root: Path, *, tz: tzinfo = UTC, id7: bool = False,
    alternative: bool = True,
) -> IcloudpdTree:
    """Write the tree; returns where each resource went."""
    tree = IcloudpdTree(root)
    zone = state.primary()
    assets = sorted(zone.assets.values(), key=lambda a: (-a.added_date_ms, a.record_name))
    for asset in assets:
        if asset.is_hidden or asset.is_deleted or asset.is_expunged:
            continue
        master = state.master(asset.master_name)
        assert master is not None
        kind = MEDIA_KINDS[master.kind]
        folder = datetime.fromtimestamp(asset.asset_date_ms / 1000, tz).strftime("%Y/%m/%d")
        filename = master.filename if master.filename_wire is None else None  # undecodable
        icloud_name = _base_name(filename, master.record_name, kind.item_type)
        if id7:
            stem, ext = _stem_ext(icloud_name)
            icloud_name = f"{stem}_{_id7(master.record_name)}{ext}"
        base = _with_type(icloud_name, kind.item_type)
        types = {spec.prefix: spec.file_type for spec in kind.resources}
        names = {ORIGINAL: base}
        if LIVE_VIDEO in types:  # from iCloud's own name, before the extension is rewritten
            stem, ext = _stem_ext(icloud_name)
            names[LIVE_VIDEO] = stem + ("_HEVC.MOV" if ext.lower() == ".heic" else ".MOV")
        if alternative and ORIGINAL_ALT in types:
            alt = _with_type(base, types[ORIGINAL_ALT])
            names[ORIGINAL_ALT] = f"{_stem_ext(alt)[0]}-alternative{_stem_ext(alt)[1]}" if (
                alt.casefold() == base.casefold()) else alt
        for prefix, name in names.items():
            relpath = _write(state, tree, asset.record_name, prefix,
                             relpath=f"{folder}/{name}", id7=id7)
            if relpath is not None:
                tree.files.setdefault(asset.record_name, {})[KEYS[prefix]] = relpath
    return tree


def _write(
    state: PhotoLibraryState, tree: IcloudpdTree, record_name: str, prefix: str, *,
    relpath: str, id7: bool,
) -> str | None:
    """Write one version where icloudpd would; None when icloudpd would see it as present."""
    owner, owner_prefix = content_address(state, record_name, prefix)
    owner_master = state.master(owner)
    assert owner_master is not None
    blob = blob_for_token(state, content_token(owner, owner_prefix, owner_master.content_rev))
    assert blob is not None
    data = blob.read_range(0, blob.size_bytes)
    path = tree.root / relpath
    if path.exists() and not id7:
        if path.stat().st_size == len(data):
            return None  # icloudpd: "already exists"
        stem, ext = _stem_ext(relpath)
        relpath = f"{stem}-{len(data)}{ext}"
        path = tree.root / relpath
        if path.exists():
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    tree.sizes[relpath] = len(data)
    return relpath


def truncate(tree: IcloudpdTree, relpath: str, keep_bytes: int) -> None:
    """Cut a file short, as an interrupted icloudpd download leaves it (#1297, #1311)."""
    path = tree.root / relpath
    path.write_bytes(path.read_bytes()[:keep_bytes])
    tree.sizes[relpath] = keep_bytes
