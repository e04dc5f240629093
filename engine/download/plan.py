"""Pure decisions of the download stage: what to fetch, under which names, and what happened.

Invariants:
- Nothing here touches the network or the disk; every decision is a function of the ledger's
  state, Apple's fresh record, the naming policy and what a stream returned.
- A file counts as good only when its byte count equals Content-Length (for a 206: the
  Content-Range total) and the ledger's declared size.
- Quarantined means Apple's metadata disagrees with itself or with what it serves (a complete
  response of another size; the same change tag with another size or checksum; an undecodable
  filename); DownloadFailed means transient trouble (a body cut after every resume, 5xx or
  throttling after the adapter's retries, an expired URL without a fresh one). A new change
  tag means RemoteChanged first, then the new version is downloaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from engine import events as ev
from engine.asset import MediaState
from engine.discover import remote_facts
from engine.icloud.model import LIVE_VIDEO, ORIGINAL, RemoteAsset, RemoteVersion
from engine.naming import (
    NamingInput,
    NamingPolicy,
    candidate_names,
    fit_component,
    folder_for,
    join_relpath,
    version_names,
)

StreamStatus = Literal["complete", "cut", "expired", "http_error"]
EXTRA_KEYS = ("medium", "thumb", "adjusted", "alternative")
SIZE_CHOICES = ("original", *EXTRA_KEYS)


@dataclass(frozen=True)
class StreamResult:
    """What one or more requests left in a part file."""

    status: StreamStatus
    size_bytes: int  # bytes now in the part file (resumed prefix included)
    sha256: str
    body_bytes: int = 0  # bytes of the last response's body
    content_length: int | None = None
    total_size_bytes: int | None = None
    detail: str = ""

    @classmethod
    def failed(cls, status: StreamStatus, size_bytes: int, detail: str) -> StreamResult:
        return cls(status=status, size_bytes=size_bytes, sha256="", detail=detail)


@dataclass(frozen=True)
class FileVerdict:
    """The outcome for one file or a whole asset."""

    outcome: Literal["ok", "failed", "quarantined"]
    reason: str = ""
    detail: str = ""
    is_retriable: bool = True


OK = FileVerdict("ok")


def decide_file_verdict(result: StreamResult, declared_size_bytes: int) -> FileVerdict:
    """Judge what a stream produced against the declared size."""
    if result.status == "expired":
        return FileVerdict("failed", "url_expired", f"download URL expired: {result.detail}")
    if result.status == "http_error":
        return FileVerdict("failed", "http_error", result.detail)
    if result.status == "cut":
        return FileVerdict(
            "failed", "cut_body", f"body cut after every resume attempt: {result.detail}"
        )
    served = result.total_size_bytes if result.total_size_bytes is not None else result.size_bytes
    if served != declared_size_bytes or result.size_bytes != declared_size_bytes:
        return FileVerdict(
            "quarantined",
            "served_size_mismatch",
            f"iCloud declared {declared_size_bytes} bytes but served {result.size_bytes} "
            f"(response says {served})",
        )
    return OK


def decide_asset_verdict(verdicts: list[FileVerdict]) -> FileVerdict:
    """Any quarantined file quarantines the asset; else any failure fails it; else ok."""
    for wanted in ("quarantined", "failed"):
        for verdict in verdicts:
            if verdict.outcome == wanted:
                return verdict
    return OK


@dataclass(frozen=True)
class RemoteCheck:
    """How the fresh record compares with what the ledger knows."""

    kind: Literal["same", "changed", "mismatch", "missing"]
    detail: str = ""


def decide_remote_check(state: MediaState, fresh: RemoteAsset | None) -> RemoteCheck:
    """Compare Apple's fresh record with the discovered facts."""
    if fresh is None:
        return RemoteCheck("missing", "iCloud did not return the record (deleted since?)")
    if fresh.change_tag != state.remote_change_tag:
        return RemoteCheck("changed", f"change tag {state.remote_change_tag} -> {fresh.change_tag}")
    known = {v.key: (v.size_bytes, v.checksum) for v in state.versions}
    known[ORIGINAL] = (state.declared_size_bytes, state.remote_checksum)
    if state.live_video_declared_size_bytes is not None:
        known[LIVE_VIDEO] = (
            state.live_video_declared_size_bytes,
            state.live_video_checksum or known.get(LIVE_VIDEO, (0, ""))[1],
        )
    differences = []
    for version in fresh.versions:
        if version.key not in known:
            continue
        size, checksum = known[version.key]
        if version.size_bytes != size or (checksum and version.checksum != checksum):
            differences.append(
                f"{version.key}: {size} bytes/{checksum} -> {version.size_bytes} bytes/"
                f"{version.checksum}"
            )
    if fresh.original is None:
        differences.append("original: missing from the fresh record")
    if differences:
        return RemoteCheck("mismatch", "same change tag, " + "; ".join(differences))
    return RemoteCheck("same")


def decide_still_listed(listed_checksums: dict[str, str], fresh: RemoteAsset | None) -> str:
    """After a download: "" when iCloud still lists the checksums the URLs came with.

    Otherwise the difference, in words: the bytes may belong to another version than the one
    listed, so they must not be filed under it. A record gone meanwhile is no difference (the
    bytes are the last iCloud had, and keeping them is the safe side).
    """
    if fresh is None:
        return ""
    differences = []
    for key, checksum in sorted(listed_checksums.items()):
        version = fresh.version(key)
        now = version.checksum if version is not None else "gone"
        if now != checksum:
            differences.append(f"{key}: checksum {checksum} -> {now}")
    return "; ".join(differences)


def remote_changed_facts(fresh: RemoteAsset) -> dict[str, Any]:
    """The RemoteChanged fields for a fresh record with a new change tag."""
    return remote_facts(fresh)


def decide_before_download(state: MediaState) -> FileVerdict:
    """Refusals that need no download (the record itself is unusable)."""
    if state.filename_status == "undecodable":
        detail = f"filename could not be decoded: {state.filename!r}"
        return FileVerdict("quarantined", "undecodable_filename", detail)
    return OK


@dataclass(frozen=True)
class FilePlan:
    """One file to download: the rendition, its size, its folder and names to try."""

    key: str
    file_type: str
    declared_size_bytes: int
    url: str | None
    relfolder: str
    candidates: tuple[str, ...]
    part_name: str

    @property
    def first_relpath(self) -> str:
        return join_relpath(self.relfolder, self.candidates[0])


def naming_input(state: MediaState) -> NamingInput:
    """What naming needs from the ledger's state of an asset."""
    return NamingInput(
        filename=state.filename,
        master_record_name=state.master_record_name,
        item_type=state.item_type,
        captured_at_utc=state.captured_at_utc,
        is_video=state.kind == "video",
    )


def renditions_to_fetch(
    state: MediaState, fresh: RemoteAsset | None, sizes: tuple[str, ...]
) -> list[RemoteVersion]:
    """The original, the live-photo video (always) and the requested extras that exist."""
    if fresh is not None:
        offered = {v.key: v for v in fresh.versions}
    else:  # planning from the ledger alone (dry run): no URLs
        offered = {
            v.key: RemoteVersion(
                key=v.key, size_bytes=v.size_bytes, checksum=v.checksum, file_type=v.file_type
            )
            for v in state.versions
        }
    wanted = [ORIGINAL]
    if state.kind == "live":
        wanted.append(LIVE_VIDEO)
    wanted += [key for key in EXTRA_KEYS if key in sizes]
    return [offered[key] for key in wanted if key in offered]


def plan_files(
    state: MediaState,
    fresh: RemoteAsset | None,
    *,
    asset_key: str,
    sizes: tuple[str, ...],
    policy: NamingPolicy,
) -> list[FilePlan]:
    """Every file to fetch for one asset, with its candidate names in order."""
    renditions = renditions_to_fetch(state, fresh, sizes)
    names = version_names(naming_input(state), policy, {v.key: v.file_type for v in renditions})
    relfolder = folder_for(state.captured_at_utc, policy)
    plans = []
    for version in renditions:
        declared = state.declared_size_bytes if version.key == ORIGINAL else version.size_bytes
        candidates = candidate_names(
            names[version.key], declared_size_bytes=declared, policy=policy, asset_key=asset_key
        )
        plans.append(
            FilePlan(
                key=version.key,
                file_type=version.file_type,
                declared_size_bytes=declared,
                url=version.download_url,
                relfolder=relfolder,
                candidates=tuple(candidates),
                part_name=part_name(names[version.key], asset_key, version.checksum),
            )
        )
    return plans


def part_name(name: str, asset_key: str, checksum: str) -> str:
    """`.<name>.<asset id8>.<checksum hash8>.part`: per asset and content, never a photo name."""
    content = hashlib.sha256(checksum.encode("utf-8")).hexdigest()[:8]
    tail = f".{asset_key[:8]}.{content}.part"
    return "." + fit_component(name, 255 - len(tail) - 1) + tail


def capture_mtime_s(captured_at_utc: datetime | None) -> float | None:
    """The file time to set: the capture time (icloudpd does the same)."""
    return captured_at_utc.timestamp() if captured_at_utc is not None else None


def downloaded_facts(files: dict[str, tuple[str, int, str]]) -> dict[str, Any]:
    """Downloaded's fields from key -> (relpath, size_bytes, sha256)."""
    relpath, size_bytes, sha256 = files[ORIGINAL]
    live = files.get(LIVE_VIDEO)
    return {
        "local_relpath": relpath,
        "size_bytes": size_bytes,
        "sha256": sha256,
        "live_video_relpath": live[0] if live else None,
        "live_video_size_bytes": live[1] if live else None,
        "live_video_sha256": live[2] if live else None,
        "extra_files": tuple(
            ev.LocalFileFact(key=key, relpath=rel, size_bytes=size, sha256=digest)
            for key, (rel, size, digest) in files.items()
            if key not in {ORIGINAL, LIVE_VIDEO}
        ),
    }
