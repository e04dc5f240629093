"""The NAS evidence of a deletion, re-read at the moment of deletion (DESIGN.md §5 (b)).

Invariants:
- When the NAS is required (`cleanup.require` lists "nas"), `delete execute` re-reads every
  archival resource of the asset (engine.resources ARCHIVE_KEYS, each downloaded resource at
  its library relpath under nas.root) with the page cache dropped, through the same re-read
  `verify nas` uses (engine.nas.files.execute_reverify_job), immediately before the
  asset's DeletionRequested. An earlier verification, however recent, is never enough alone:
  a byte flipped since then keeps size and mtime.
- The asset may be deleted only when every resource re-read to its downloaded sha256 AND the
  NAS read is the NAS its evidence names (the id in the marker equals the asset's `nas_id`).
- The run's NasGuard (marker id and device at the start) is checked before and after each
  re-read: a marker gone, replaced or on another device stops the run with
  NasUnavailableError (exit 12). So an unmounted share is never recorded as missing copies,
  and no deletion rests on a NAS that changed under the re-read.
- A missing or different copy is NasMismatched about the NAS read (its marker id), its detail
  naming each bad resource; a good re-read is a NasVerified of that moment (method
  `reread-at-deletion`), which becomes the NAS time of the deletion's evidence. Copies on
  another NAS that re-read right are recorded as nothing: `backup-nas` adopts them under
  that NAS's id.
- `decide_nas_evidence` is pure; only `reread_nas_copies` touches the file system.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from engine import events as ev
from engine.asset import Asset, MediaState
from engine.nas.access import NasGuard, NasUnavailableError, short_id
from engine.nas.files import NasRoots, execute_reverify_job
from engine.nas.plan import AssetVerdict, decide_asset_verdict, plan_nas_job

NasEvidenceOutcome = Literal["verified", "mismatched", "other-nas", "nothing-to-read"]
# The method of the NasVerified a deletion records: the same cache-dropping re-read as
# backup-nas's ("reread-fadvise-dontneed"), named apart so history and the chaos checks can
# tell a backup's verification from the one each deletion request rests on.
REREAD_METHOD = "reread-at-deletion"


@dataclass(frozen=True)
class NasReread:
    """What one re-read of an asset's NAS copies found, on the NAS `nas_id`."""

    verdict: AssetVerdict | None  # None: the asset has no downloaded resource to re-read
    nas_id: str
    bytes_read: int
    seconds: float


@dataclass(frozen=True)
class NasEvidence:
    """The decision about one asset's NAS evidence; `reason` says why it may not go."""

    outcome: NasEvidenceOutcome
    reason: str = ""


def start_nas_guard(nas_root: Path | None) -> NasGuard:
    """The NAS a delete run re-reads, as mounted now; NasUnavailableError (nothing deleted)
    when it is not."""
    if nas_root is None:
        raise NasUnavailableError(
            "cleanup.require lists nas but nas.root is not set: nothing was deleted"
        )
    try:
        return NasGuard.start(nas_root)
    except NasUnavailableError as exc:
        raise NasUnavailableError(f"{exc}; nothing was deleted") from None


def reread_nas_copies(
    guard: NasGuard, roots: NasRoots, asset_id: str, state: MediaState
) -> NasReread:
    """Re-read and hash every archival resource's NAS copy now (NasUnavailableError when
    the NAS of the run is not mounted before or after)."""
    started = time.monotonic()
    guard.check()
    job = plan_nas_job(asset_id, state)
    if job is None or not job.files:
        return NasReread(None, guard.nas_id, 0, time.monotonic() - started)
    read: list[int] = []
    results = execute_reverify_job(roots, job, read.append)
    guard.check()  # unmounted is not missing: a share gone during the re-read stops the run
    verdict = decide_asset_verdict(job, results, REREAD_METHOD, REREAD_METHOD)
    return NasReread(verdict, guard.nas_id, sum(read), time.monotonic() - started)


def decide_nas_evidence(state: MediaState, reread: NasReread) -> NasEvidence:
    """Whether the re-read lets the asset be deleted (see module invariants)."""
    verdict = reread.verdict
    if verdict is None:
        return NasEvidence("nothing-to-read", "nas-unknown: no downloaded resource to re-read")
    named = state.nas_id or ""
    where = f"NAS {short_id(reread.nas_id)}"
    if named != reread.nas_id:
        where += f", not NAS {short_id(named)} that the evidence names"
    if verdict.outcome != "verified":
        return NasEvidence(
            "mismatched", f"nas-mismatched: re-read at deletion on {where}: {verdict.detail}"
        )
    if named != reread.nas_id:
        return NasEvidence(
            "other-nas",
            f"nas-other: the copies re-read right on {where} (run `photoledger backup-nas`, "
            "then plan again)",
        )
    return NasEvidence("verified")


def record_nas_reread(
    asset: Asset, run_id: str, now: datetime, reread: NasReread, evidence: NasEvidence
) -> None:
    """Append what the re-read established about the NAS read (nothing for another NAS's
    good copies)."""
    verdict = reread.verdict
    if verdict is None or evidence.outcome == "other-nas":
        return
    if evidence.outcome == "mismatched":
        asset.record(
            ev.NasMismatched,
            run_id,
            timestamp=now,
            expected_sha256=verdict.expected_sha256,
            actual_sha256=verdict.actual_sha256,
            detail=verdict.detail,
            nas_id=reread.nas_id,
        )
        return
    asset.record(
        ev.NasVerified,
        run_id,
        timestamp=now,
        sha256=verdict.expected_sha256,
        method=REREAD_METHOD,
        files=verdict.files,
        nas_id=reread.nas_id,
    )
