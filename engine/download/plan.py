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

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from engine import resources as res
from engine.asset import MediaState
from engine.discover import remote_facts
from engine.icloud.model import LIVE_VIDEO, ORIGINAL, RemoteAsset, RemoteVersion
from engine.libraries import library_folder
from engine.naming import (
    NamingInput,
    NamingPolicy,
    candidate_names,
    fit_component,
    folder_for,
    join_relpath,
    version_names,
)
from engine.selection import HIDDEN_FOLDER

StreamStatus = Literal["complete", "cut", "expired", "http_error", "throttled"]
EXTRA_KEYS = res.DERIVED_KEYS  # opt-in renditions Apple derives from the others
# `adjusted` and `alternative` are archived by default now (download.resources); icloudpd's
# `--size adjusted/alternative` spellings stay accepted.
SIZE_CHOICES = ("original", *EXTRA_KEYS, "adjusted", "alternative")


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
SYSTEMIC_REASON = "throttled"  # iCloud throttled past every retry: not this file's fault


def decide_file_verdict(result: StreamResult, declared_size_bytes: int) -> FileVerdict:
    """Judge what a stream produced against the declared size."""
    if result.status == "expired":
        return FileVerdict("failed", "url_expired", f"download URL expired: {result.detail}")
    if result.status == "http_error":
        return FileVerdict("failed", "http_error", result.detail)
    if result.status == "throttled":
        return FileVerdict("failed", SYSTEMIC_REASON, result.detail)
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


def decide_changed_keys(listed_checksums: dict[str, str], fresh: RemoteAsset | None) -> set[str]:
    """After a download: the resources whose listed checksum iCloud no longer lists.

    Those bytes may belong to another version than the one listed, so they must not be filed
    under it. A record gone meanwhile changes nothing (the bytes are the last iCloud had, and
    keeping them is the safe side).
    """
    if fresh is None:
        return set()
    changed = set()
    for key, checksum in listed_checksums.items():
        version = fresh.version(key)
        if (version.checksum if version is not None else None) != checksum:
            changed.add(key)
    return changed


def remote_changed_facts(fresh: RemoteAsset) -> dict[str, Any]:
    """The RemoteChanged fields for a fresh record with a new change tag."""
    return remote_facts(fresh)


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
    checksum: str = ""  # Apple's checksum of the listed version
    expected_sha256: str = ""  # a re-download after a recover: the bytes must be these
    replaces_own_file: bool = False  # ... and may replace the asset's own (compressed) file

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
    state: MediaState,
    fresh: RemoteAsset | None,
    sizes: tuple[str, ...],
    resources: tuple[str, ...] = res.ARCHIVE_KEYS,
) -> list[RemoteVersion]:
    """The listed resources not yet downloaded (of those configured), then requested extras.

    A resource already downloaded as listed is never fetched again: a live video that failed
    last run is fetched alone, beside the still that landed.
    """
    offered = _offered(state, fresh)
    wanted = [key for key in state.missing_resources if key in resources or key == ORIGINAL]
    wanted += [
        key for key in EXTRA_KEYS if key in sizes and res.downloaded(state, key) is None
    ]
    return [offered[key] for key in wanted if key in offered]


def _offered(state: MediaState, fresh: RemoteAsset | None) -> dict[str, RemoteVersion]:
    if fresh is not None:
        return {v.key: v for v in fresh.versions}
    return {  # planning from the ledger alone (dry run): no URLs
        v.key: RemoteVersion(
            key=v.key, size_bytes=v.size_bytes, checksum=v.checksum, file_type=v.file_type
        )
        for v in state.versions
    }


def plan_files(
    state: MediaState,
    fresh: RemoteAsset | None,
    *,
    asset_key: str,
    sizes: tuple[str, ...],
    policy: NamingPolicy,
    resources: tuple[str, ...] = res.ARCHIVE_KEYS,
    hidden_apart: bool = False,
) -> list[FilePlan]:
    """Every file to fetch for one asset, with its candidate names in order; with
    `hidden_apart` (selection.hidden: separate) a hidden asset's folder is under Hidden/."""
    renditions = renditions_to_fetch(state, fresh, sizes, resources)
    types = {v.key: v.file_type for v in state.versions if v.key in (ORIGINAL, LIVE_VIDEO)}
    types[ORIGINAL] = state.item_type  # named with the rest, so collisions are seen
    types.update({v.key: v.file_type for v in renditions})
    names = version_names(naming_input(state), policy, types)
    relfolder = folder_for(state.captured_at_utc, policy, library=library_folder(state.zone))
    if hidden_apart and state.is_hidden:
        relfolder = join_relpath(HIDDEN_FOLDER, relfolder)
    plans = [
        _file_plan(state, v, name=names[v.key], relfolder=relfolder, policy=policy,
                   asset_key=asset_key)
        for v in renditions
    ]
    return [_refetch_plan(state, p) for p in plans]


def _refetch_plan(state: MediaState, plan: FilePlan) -> FilePlan:
    """A resource fetched again (after a recover, or for a NAS repair) goes back to its own
    path (where the NAS copy lives too) and must be the bytes downloaded before."""
    old = res.downloaded(state, plan.key)
    listed = res.listed_resources(state).get(plan.key)
    if plan.key not in state.refetch_resources or old is None or listed is None:
        return plan
    if not res.is_current(listed, old):
        return plan  # iCloud holds another version now: a plain download of it
    relfolder, _sep, name = old.relpath.rpartition("/")
    return dataclasses.replace(
        plan, relfolder=relfolder, candidates=(name,), expected_sha256=old.sha256,
        replaces_own_file=True,
    )


def decide_refetched_bytes(expected_sha256: str, result: StreamResult) -> FileVerdict:
    """A re-download (after a recover, or to repair a NAS copy) must hash to the sha256
    recorded at the first download: other bytes are never filed in their place (the local
    copy is left as it is)."""
    if not expected_sha256 or result.sha256 == expected_sha256:
        return OK
    return FileVerdict(
        "quarantined", "recovered_bytes_differ",
        f"iCloud gave back other bytes than were downloaded before (sha256 "
        f"{result.sha256[:12]}, recorded {expected_sha256[:12]}); nothing was replaced",
    )


def _file_plan(
    state: MediaState,
    version: RemoteVersion,
    *,
    name: str,
    relfolder: str,
    policy: NamingPolicy,
    asset_key: str,
) -> FilePlan:
    declared = state.declared_size_bytes if version.key == ORIGINAL else version.size_bytes
    candidates = candidate_names(
        name, declared_size_bytes=declared, policy=policy, asset_key=asset_key
    )
    return FilePlan(
        key=version.key,
        file_type=version.file_type,
        declared_size_bytes=declared,
        url=version.download_url,
        relfolder=relfolder,
        candidates=tuple(candidates),
        part_name=part_name(name, asset_key, version.checksum),
        checksum=version.checksum,
    )


def part_name(name: str, asset_key: str, checksum: str) -> str:
    """`.<name>.<asset id8>.<checksum hash8>.part`: per asset and content, never a photo name."""
    content = hashlib.sha256(checksum.encode("utf-8")).hexdigest()[:8]
    tail = f".{asset_key[:8]}.{content}.part"
    return "." + fit_component(name, 255 - len(tail) - 1) + tail


def capture_mtime_s(captured_at_utc: datetime | None) -> float | None:
    """The file time to set: the capture time (icloudpd does the same)."""
    return captured_at_utc.timestamp() if captured_at_utc is not None else None


def downloaded_facts(
    key: str, relpath: str, size_bytes: int, sha256: str, checksum: str,
    *, provenance: str = "downloaded",
) -> dict[str, Any]:
    """One resource's Downloaded fields (v3: one fact per resource; v4: with its provenance,
    "downloaded" or "adopted" by import-existing)."""
    return {
        "resource": key,
        "local_relpath": relpath,
        "size_bytes": size_bytes,
        "sha256": sha256,
        "checksum": checksum,
        "provenance": provenance,
    }
