"""The deletion gate (DESIGN.md §5): a pure function of (asset state, facts, policy, now).

Invariants:
- `decide_deletable` is the only judge of whether an asset may be deleted from iCloud. Plan,
  execute and audit all call it; execute calls it again for each asset at the moment of
  deletion, with the state read from the ledger just before, so a plan is never trusted alone.
- Every refusal is a Block with a stable code and a detail a person can act on; an asset is
  deletable only when the list is empty. Unknown is never good: a missing fact blocks.
- An asset is every resource its record lists (engine.resources): the original, the live
  video, the RAW/JPEG alternative, the edited still and the edited video. Each one needs a
  verified download of its listed size, and (when the NAS is required) a NAS re-read to its
  downloaded sha256; a block names the resource (`alternative-not-on-nas`). A record whose
  resource fields could not be read blocks: unknown is never good.
- Evidence is about exact bytes: the NAS verification must be of the downloaded sha256, and
  counts only while younger than `nas.max_verify_age_days`, and only for the NAS mounted
  now: `mounted_nas_id` is the id in its marker (None: no marker, not mounted; "": a marker
  from before ids), and facts naming another id (`nas-other`) count for nothing.
- "Unchanged in iCloud" compares every resource's checksum and size with what was
  downloaded; a favourite toggle changes the change tag, not the content, and is checked
  against the live record at execution (see engine.cleanup.run).
- A Shared Library asset (zone `SharedSync-*`) is never album-moved or deleted unless
  `cleanup.include_shared_library` is true (`shared-library`): deleting it there deletes it
  for every participant.
- A resource adopted by `import-existing` (another tool's file, checked by size only) blocks
  (`adopted-unconfirmed`) until iCloud's bytes, streamed by the download stage, hashed to
  its sha256; one they did not hash to blocks (`adopted-disproved`) until downloaded again.
- An asset outside the configured selection (engine.selection: kinds, dates, albums, hidden,
  recent) is `not-selected`: never album-moved, never deleted. A selection only narrows.
- No clock, file system or network here: `now` and `mounted_nas_id` are passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from engine import events as ev
from engine import resources as res
from engine.asset import MediaState
from engine.compress.tiers import CompressionPolicy, decide_compression
from engine.config import ConfigFile
from engine.libraries import is_shared_library_zone
from engine.nas.access import short_id
from engine.selection import SelectionCheck

DELETE_PENDING_ALBUM = "DeletePending"
RECOVERABLE_FOR = timedelta(days=30)  # iCloud keeps deleted photos in Recently Deleted


@dataclass(frozen=True)
class Block:
    """One reason an asset may not be deleted (or album-moved) now."""

    code: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


@dataclass(frozen=True)
class Evidence:
    """The facts that make an asset safe to delete, copied into DeletionRequested."""

    sha256: str
    icloud_size_bytes: int
    nas_verified_at_utc: datetime | None
    google_device_id: str | None
    google_verified_at_utc: datetime | None
    remote_change_tag: str
    files: tuple[ev.ResourceHash, ...] = ()  # every resource the deletion destroys


@dataclass(frozen=True)
class GateVerdict:
    """The gate's answer for one asset."""

    blocks: tuple[Block, ...]
    evidence: Evidence | None

    @property
    def is_deletable(self) -> bool:
        return not self.blocks and self.evidence is not None


def icloud_size_bytes(state: MediaState) -> int:
    """What deleting the asset frees in iCloud: every resource its record lists."""
    return res.icloud_bytes(state)


def decide_deletable(
    state: MediaState, now: datetime, settings: ConfigFile, mounted_nas_id: str | None,
    selection: SelectionCheck,
) -> GateVerdict:
    """Whether the asset may be deleted from iCloud at `now`, and the evidence if so, with
    the NAS whose marker holds `mounted_nas_id` mounted (None: no NAS mounted), under the
    selection (engine.selection_scope; audit: NO_SELECTION)."""
    blocks = [*decide_album_move(state, now, settings, selection), *_album_blocks(state)]
    if "nas" in settings.cleanup.require:
        blocks += _nas_freshness_blocks(state, now, settings, mounted_nas_id)
    if state.deletion_state in ("requested", "deleted"):
        blocks.append(Block("already-" + state.deletion_state, "a deletion was already asked for"))
    evidence = _evidence(state) if not blocks else None
    return GateVerdict(tuple(blocks), evidence)


def decide_album_move(
    state: MediaState, now: datetime, settings: ConfigFile, selection: SelectionCheck
) -> list[Block]:
    """Blocks against moving the asset to DeletePending: copies, age, remote changes."""
    if state.is_remote_deleted:
        return [Block("deleted-elsewhere", "the asset is no longer in iCloud")]
    not_selected = selection.reason(state)
    if not_selected is not None:
        return [Block("not-selected", f"outside the selection: {not_selected}")]
    shared = _shared_library_blocks(state, settings)
    if shared:
        return shared
    blocks = _download_blocks(state) or _adoption_blocks(state)
    if blocks:
        return blocks
    require = settings.cleanup.require
    if "nas" in require:
        blocks += _nas_blocks(state)
    if "google" in require and state.google_status != "verified":
        status = state.google_status or "not staged"
        blocks.append(Block("google-not-verified", f"Google copy {status}"))
    if "compress" in require:
        blocks += _compression_blocks(state, now, settings)
    blocks += _age_blocks(state, now, settings.cleanup.keep_recent_days)
    if state.is_album_removal_observed:
        blocks.append(Block("removed-from-album", "the user took it out of DeletePending"))
    return blocks


def _shared_library_blocks(state: MediaState, settings: ConfigFile) -> list[Block]:
    """A Shared Library asset stays unless the config allows it: deleting it there deletes it
    for every participant."""
    if not is_shared_library_zone(state.zone) or settings.cleanup.include_shared_library:
        return []
    return [Block("shared-library", f"in the Shared Library {state.zone}: deleting it would "
                  "delete it for every participant (set cleanup.include_shared_library: true "
                  "to allow)")]


def _compression_blocks(state: MediaState, now: datetime, settings: ConfigFile) -> list[Block]:
    """A block while the compress stage still has work for this asset (a tier is due)."""
    # Only "is a tier still due?" matters here (waiting for backups blocks as much), so the
    # NAS is taken as the one the evidence names.
    policy = CompressionPolicy(
        settings.compression, timedelta(days=settings.nas.max_verify_age_days), now,
        state.nas_id or "",
    )
    decision = decide_compression("", state, policy)
    if decision.action in ("compress", "waiting-backups"):
        return [Block("not-compressed", f"the {decision.tier} compression tier is due")]
    return []


def _download_blocks(state: MediaState) -> list[Block]:
    """The problems with the downloaded resources (later checks assume earlier)."""
    if state.sha256 is None or state.downloaded_size_bytes is None:
        return [Block("not-downloaded", "no verified download of the original")]
    checks = (
        (state.quarantine_reason is not None, "quarantined", state.quarantine_reason or ""),
        (
            state.downloaded_size_bytes != state.declared_size_bytes,
            "size-mismatch",
            f"downloaded {state.downloaded_size_bytes} bytes, iCloud declares "
            f"{state.declared_size_bytes}",
        ),
        (
            state.downloaded_checksum != state.remote_checksum,
            "remote-changed",
            "iCloud holds a newer original than the one downloaded",
        ),
        (
            state.local_removed_at_utc is not None,
            "local-removed",
            "the local copy was already removed",
        ),
    )
    first = [Block(code, detail) for failed, code, detail in checks if failed][:1]
    return first or _resource_blocks(state)


def _resource_blocks(state: MediaState) -> list[Block]:
    """A block per resource the record lists that is unreadable or not downloaded as listed."""
    blocks = [
        Block(f"{key}-unreadable", f"iCloud's record of the {_label(key)} could not be read")
        for key in state.unreadable_resources
    ]
    listed = res.listed_resources(state)
    if state.kind == "live" and res.LIVE_VIDEO not in listed:  # a live photo lists its video
        blocks.append(Block("live_video-not-downloaded", "the live photo's video is not known"))
    for key, version in listed.items():
        got = res.downloaded(state, key)
        if got is None:
            blocks.append(Block(f"{key}-not-downloaded", f"the {_label(key)} was not downloaded"))
        elif not res.is_current(version, got):
            blocks.append(
                Block(
                    f"{key}-changed",
                    f"the {_label(key)} downloaded ({got.size_bytes} bytes) is not the one "
                    f"iCloud lists ({version.size_bytes} bytes)",
                )
            )
    return blocks


def _adoption_blocks(state: MediaState) -> list[Block]:
    """A resource adopted from another tool's tree counts only once iCloud's bytes hashed to
    it (AdoptionConfirmed): a file written wrong at the right size would be backed up twice
    and then the iCloud original deleted."""
    blocks = [
        Block("adopted-disproved", f"the adopted {_label(key)} is not iCloud's bytes (moved "
              "aside; the next download fetches iCloud's)")
        for key in state.adoption_disproved
    ]
    if state.adoption_unconfirmed:
        labels = ", ".join(_label(key) for key in state.adoption_unconfirmed)
        blocks.append(Block(
            "adopted-unconfirmed", f"the local copy ({labels}) came from another tool's tree "
            "and is not yet compared with iCloud's bytes (`run` compares it once it may leave "
            "iCloud; now: `download --compare-adopted`)"))
    return blocks


def _label(key: str) -> str:
    return res.RESOURCE_LABELS.get(key, key)


def _has_nas_facts(state: MediaState) -> bool:
    return state.nas_status in ("verified", "incomplete")


def _has_nas_copy(state: MediaState) -> bool:
    return state.nas_status == "verified" and state.nas_verified_sha256 == state.sha256


def _nas_blocks(state: MediaState) -> list[Block]:
    """The NAS copy is verified, and each downloaded resource was re-read there."""
    if state.nas_status not in ("verified", "incomplete") or (
        state.nas_verified_sha256 != state.sha256
    ):
        return [Block("nas-not-verified", _nas_status_detail(state))]
    blocks = [
        Block(f"{r.key}-not-on-nas", f"the {_label(r.key)} has no verified NAS copy")
        for r in state.resources_downloaded
        if r.key in res.ARCHIVE_KEYS and not res.is_on_nas(state, r)
    ]
    return blocks + _sidecar_blocks(state)


def _sidecar_blocks(state: MediaState) -> list[Block]:
    """The asset's current XMP sidecar (albums, caption, place) is on the NAS too.

    Only once one was written: a ledger from before sidecars has none, and the download
    stage writes it; a sidecar the asset's metadata has outdated is not current.
    """
    if state.sidecar_sha256 is None:
        return []
    if state.is_sidecar_stale:
        return [Block("sidecar-stale", "iCloud changed the metadata since the sidecar was "
                      "written (run download, then backup-nas)")]
    if not any(h.key == "sidecar" and h.sha256 == state.sidecar_sha256 for h in state.nas_files):
        return [Block("sidecar-not-on-nas", "the current XMP sidecar has no verified NAS copy")]
    return []


def _nas_status_detail(state: MediaState) -> str:
    if state.nas_status == "mismatched":
        return "the NAS copy does not match the downloaded original"
    if state.nas_status == "verified":
        return "the NAS copy was verified for other bytes than the downloaded original"
    return f"NAS copy {state.nas_status or 'not made'}"


def _nas_freshness_blocks(
    state: MediaState, now: datetime, settings: ConfigFile, mounted_nas_id: str | None
) -> list[Block]:
    blocks = []
    if mounted_nas_id is None:
        blocks.append(Block("nas-unavailable", "the NAS marker is missing (not mounted?)"))
    elif _has_nas_facts(state) and (state.nas_id or "") != mounted_nas_id:
        blocks.append(
            Block(
                "nas-other",
                f"verified on NAS {short_id(state.nas_id)}, the mounted NAS is "
                f"{short_id(mounted_nas_id)} (run `photoledger backup-nas`)",
            )
        )
    max_age = timedelta(days=settings.nas.max_verify_age_days)
    verified_at = state.nas_verified_at_utc
    if _has_nas_copy(state) and (verified_at is None or now - verified_at > max_age):
        when = verified_at.isoformat() if verified_at else "never"
        blocks.append(
            Block(
                "nas-stale",
                f"NAS copy last re-read {when}, more than {max_age.days} days ago "
                "(run `photoledger verify nas`)",
            )
        )
    return blocks


def _age_blocks(state: MediaState, now: datetime, keep_recent_days: int) -> list[Block]:
    taken = state.captured_at_utc or state.added_at_utc
    if taken is None:
        return [Block("no-date", "no capture or added date: cannot tell if it is recent")]
    if now - taken < timedelta(days=keep_recent_days):
        return [Block("too-recent", f"from {taken.date()}, within {keep_recent_days} days")]
    return []


def _album_blocks(state: MediaState) -> list[Block]:
    if state.album_moved_at_utc is None and not state.is_album_removal_observed:
        return [Block("not-in-delete-pending", f"not moved to {DELETE_PENDING_ALBUM} yet")]
    return []


def _evidence(state: MediaState) -> Evidence:
    assert state.sha256 is not None  # the download blocks guarantee it
    return Evidence(
        sha256=state.sha256,
        icloud_size_bytes=icloud_size_bytes(state),
        nas_verified_at_utc=state.nas_verified_at_utc,
        google_device_id=state.google_device_id,
        google_verified_at_utc=state.google_verified_at_utc,
        remote_change_tag=state.remote_change_tag,
        files=res.archived_hashes(state),
    )
