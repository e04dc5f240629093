"""Pure decisions of the Google route: what to stage, whether the Pixel holds a file, clean-up.

Invariants:
- The outbox uses the asset's library relative path (DESIGN §1): the original at
  `local_relpath`, its live-photo video at `live_video_relpath`, and the edited still only
  when `google.include_edits` is on (Google Photos would otherwise show a photo twice).
  Nothing else is staged: the RAW twin and the edited video stay on the NAS.
- Every staged file must carry the bytes the ledger recorded at download (sha256).
- A resend (`--resend`) takes the library copy while it still hashes to the downloaded
  sha256, else the NAS copy at the same relative path, else refuses; the resent copy gets a
  modification time later than the one it replaces, so Syncthing announces a new version.
- "The Pixel holds it" needs all of: Syncthing's global record is a live file of the outbox
  copy's exact size and modification time, and `availability` lists the Pixel with
  `fromTemporary: false`. Not listed while the Pixel is disconnected is UNKNOWN, never
  absent; a different size or time means Syncthing has not indexed our copy yet.
- Completion percentages are never consulted (Syncthing 1.19 reports a false 100 % while the
  Pixel's index is still empty).
- These functions take values and return values: no clock, file system or network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from engine.asset import MediaState
from engine.google.syncthing import FileView
from engine.resources import ADJUSTED, downloaded


@dataclass(frozen=True)
class OutboxFile:
    """One file to place in the outbox: the library copy at `relpath`, with these bytes."""

    key: str  # "original", "live_video" or "adjusted"
    relpath: str
    sha256: str


@dataclass(frozen=True)
class OutboxStat:
    """The outbox copy as it is on disk now."""

    size_bytes: int
    mtime_ns: int


class PixelCopy(Enum):
    """What the server's Syncthing says about one staged file on the Pixel."""

    HELD = "held"  # the exact version is on the Pixel
    WAITING = "waiting"  # connected, not there (yet): in flight, or never sent
    UNKNOWN = "unknown"  # the Pixel is disconnected: Syncthing cannot say
    NOT_INDEXED = "not indexed"  # Syncthing's record is not our copy yet: scan, then wait


def plan_outbox_files(state: MediaState, *, include_edits: bool = False) -> list[OutboxFile]:
    """The files of one asset that go to the Pixel (original first)."""
    if state.local_relpath is None or state.sha256 is None:
        return []
    files = [OutboxFile("original", state.local_relpath, state.sha256)]
    if state.live_video_relpath is not None and state.live_video_sha256 is not None:
        files.append(OutboxFile("live_video", state.live_video_relpath, state.live_video_sha256))
    edit = downloaded(state, ADJUSTED) if include_edits else None
    if edit is not None:
        files.append(OutboxFile(ADJUSTED, edit.relpath, edit.sha256))
    return files


def decide_pixel_copy(
    view: FileView | None, pixel_device_id: str, outbox: OutboxStat, *, is_connected: bool
) -> PixelCopy:
    """Whether the Pixel holds the outbox copy described by `outbox`."""
    if view is None or view.is_deleted:
        return PixelCopy.NOT_INDEXED
    if view.global_size_bytes != outbox.size_bytes or view.global_modified_ns != outbox.mtime_ns:
        return PixelCopy.NOT_INDEXED
    if view.availability is not None and (pixel_device_id, False) in view.availability:
        return PixelCopy.HELD
    # Syncthing 1.19 answers null both while the Pixel is away and when no peer has the file;
    # only the connection state tells "not there" from "cannot say".
    return PixelCopy.WAITING if is_connected else PixelCopy.UNKNOWN


def decide_asset_copy(verdicts: list[PixelCopy]) -> PixelCopy:
    """An asset is held only when every one of its files is; otherwise the weakest verdict."""
    for verdict in (PixelCopy.NOT_INDEXED, PixelCopy.UNKNOWN, PixelCopy.WAITING):
        if verdict in verdicts:
            return verdict
    return PixelCopy.HELD if verdicts else PixelCopy.WAITING


def is_outbox_copy_due_for_removal(
    verified_at_utc: datetime | None, remove_after_days: int | None, now_utc: datetime
) -> bool:
    """Remove the outbox copy only when clean-up is on and the grace period has passed."""
    if remove_after_days is None or verified_at_utc is None:
        return False
    return now_utc - verified_at_utc >= timedelta(days=remove_after_days)


# Syncthing counts two modification times within the folder's modTimeWindowS as the same
# (2 s by default on FAT and Android file systems); a resent copy must be further from the
# copy it replaces than that, or the server would not announce a new version.
RESEND_MTIME_STEP_NS = 2_000_000_000


@dataclass(frozen=True)
class SourceSeen:
    """A place that may hold one file's downloaded bytes, as it was just observed."""

    where: str  # "library" or "nas"
    path: str  # for messages
    sha256: str | None  # None: no file there
    note: str = ""  # why there is no file, when that is worth saying ("the NAS is not mounted")


def decide_resend_refusal(state: MediaState) -> str | None:
    """Why the asset cannot be re-sent at all, or None (only Google-verified or staged assets)."""
    if not plan_outbox_files(state):
        return "it has not been downloaded"
    if state.google_status not in ("verified", "staged"):
        return "it was never staged for Google (run backup-google without --resend)"
    return None


def decide_resend_source(file: OutboxFile, seen: list[SourceSeen]) -> SourceSeen | str:
    """The first observed place holding `file`'s downloaded bytes, else why there is none.

    `seen` comes in order of preference: the library copy (unless compression or an edit
    replaced it), then the NAS copy at the same relative path.
    """
    for source in seen:
        if source.sha256 == file.sha256:
            return source
    reasons = [_why_not(source) for source in seen]
    if not any(source.where == "nas" for source in seen):
        reasons.append("no NAS is configured")
    where = "" if file.key == "original" else f"its live-photo video {file.relpath}: "
    return where + ", ".join(reasons) + " (no copy has the downloaded bytes)"


def _why_not(source: SourceSeen) -> str:
    name = "NAS" if source.where == "nas" else source.where
    if source.sha256 is None:
        return f"the {name} copy {source.note or 'is missing'}"
    return f"the {name} copy is not the downloaded file (sha256 {source.sha256[:12]}...)"


def decide_resend_mtime_ns(now_ns: int, previous: OutboxStat | None) -> int:
    """The modification time of a resent copy: now, and clearly later than the copy it replaces.

    Syncthing announces a new version only when size or time changed; a copy with the old time
    and the same bytes is the same file to it, and a receive-only Pixel that deleted the file
    keeps that deletion until someone reverts it.
    """
    if previous is None:
        return now_ns
    return max(now_ns, previous.mtime_ns + RESEND_MTIME_STEP_NS)
