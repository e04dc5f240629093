"""Turning what happened to an asset's files into its facts, and the breaker that stops a run.

Invariants:
- Each resource that verified is its own Downloaded, whatever happened to its siblings: a
  still whose live video failed is filed, and only the video is fetched next run. The
  original's fact comes first (the fold starts a new set of resources from it).
- The resources that failed become one DownloadFailed naming each resource and its reason
  (retried next run), or one Quarantined when iCloud served bytes that disagree with its own
  record (a size the body does not have): those bytes cannot be trusted.
- An asset iCloud no longer lists (deleted, or in Recently Deleted) gets RemoteDeleted
  instead of a failure: there is nothing left to retry.
- One bad asset never stops the others. Only `max_consecutive` assets failing one after the
  other (distinct assets, no success between) trips the breaker: that is the account or the
  network, not a file (DownloadStoppedError, exit 11).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine import events as ev
from engine import resources as res
from engine.asset import Asset
from engine.download.options import DownloadSummary
from engine.download.plan import FileVerdict, downloaded_facts
from engine.errors import ExitCode, PhotoledgerError


class DownloadStoppedError(PhotoledgerError):
    """Too many assets in a row failed: something systemic, not one file."""

    exit_code = ExitCode.ICLOUD_UNAVAILABLE


@dataclass(frozen=True)
class FileOutcome:
    """What happened to one resource of an asset in this run."""

    key: str
    verdict: FileVerdict
    relpath: str | None = None  # set when the file was put in place
    size_bytes: int = 0
    sha256: str = ""
    checksum: str = ""
    path: Path | None = None

    @property
    def is_placed(self) -> bool:
        return self.relpath is not None


AssetOutcome = Literal["downloaded", "partial", "failed", "quarantined", "gone"]


def record_outcome(
    asset: Asset, run_id: str, files: list[FileOutcome], *, is_gone: bool
) -> AssetOutcome:
    """Append the asset's facts for this run's files; returns the asset's outcome."""
    placed = sorted((f for f in files if f.is_placed), key=_original_first)
    for f in placed:
        assert f.relpath is not None
        facts = downloaded_facts(f.key, f.relpath, f.size_bytes, f.sha256, f.checksum)
        asset.record(ev.Downloaded, run_id, **facts)
    failed = [f for f in files if not f.is_placed]
    if not failed:
        return "downloaded"
    if is_gone:
        asset.record(ev.RemoteDeleted, run_id, observed_via="records/lookup after a download")
        return "gone"
    quarantined = [f for f in failed if f.verdict.outcome == "quarantined"]
    if quarantined:
        first = quarantined[0].verdict
        asset.record(ev.Quarantined, run_id, reason=first.reason, detail=describe(failed))
        return "quarantined"
    retriable = all(f.verdict.is_retriable for f in failed)
    asset.record(ev.DownloadFailed, run_id, error=describe(failed), is_retriable=retriable)
    return "partial" if placed else "failed"


def describe(failed: list[FileOutcome]) -> str:
    """`<reason>: <detail> (<resource>)` per failed resource, in one line."""
    return "; ".join(
        f"{f.verdict.reason}: {f.verdict.detail} ({res.RESOURCE_LABELS.get(f.key, f.key)})"
        for f in failed
    )


def _original_first(f: FileOutcome) -> int:
    keys = (*res.ARCHIVE_KEYS, *res.DERIVED_KEYS)
    return keys.index(f.key) if f.key in keys else len(keys)


def count_outcome(
    summary: DownloadSummary, outcome: AssetOutcome, files: list[FileOutcome]
) -> None:
    """Add one asset's outcome and its filed bytes to the run's summary."""
    placed = [f for f in files if f.is_placed]
    summary.files_downloaded += len(placed)
    summary.bytes_downloaded += sum(f.size_bytes for f in placed)
    if outcome == "downloaded":
        summary.downloaded += 1
    elif outcome == "partial":
        summary.partial += 1
    elif outcome == "quarantined":
        summary.quarantined += 1
    elif outcome == "gone":
        summary.remote_deleted += 1
    else:
        summary.failed += 1


@dataclass
class Breaker:
    """Counts assets failing one after the other; trips at `max_consecutive`."""

    max_consecutive: int
    failing: list[str] = field(default_factory=list)

    def observe(self, asset_label: str, is_failure: bool, detail: str) -> None:
        if not is_failure:
            self.failing.clear()
            return
        if asset_label not in self.failing:
            self.failing.append(asset_label)
        if len(self.failing) >= self.max_consecutive:
            raise DownloadStoppedError(
                f"stopped after {len(self.failing)} assets in a row failed (last: "
                f"{asset_label}: {detail}); this looks like iCloud or the network, not one "
                "file; the failures are recorded and the next run retries them"
            )
