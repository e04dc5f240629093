"""A small ledger with every fact the reports read, and the figures they must show.

Invariants:
- Facts are appended through the real aggregate and ledger; `Expected` is computed here from
  the values handed to the events, never from the projection or the reports under test.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from engine import events as ev
from engine.asset import Asset
from engine.resources import archived_hashes
from tests.factories import T0, Library, discover, download, new_run

NOW = datetime.now(UTC)
TIERS = ("light", "medium", "heavy")
RECENT = 16  # backed up twice, but too recent for album-move


@dataclass
class Expected:
    """Sums computed independently from the facts appended."""

    saved_by_tier: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    saved_by_year: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    saved_by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bytes_before: int = 0
    bytes_after: int = 0
    freed: int = 0
    recoverable: int = 0
    local: int = 0
    nas: int = 0
    outbox: int = 0
    problems: set[str] = field(default_factory=set)
    waiting_download: int = 0
    waiting_download_bytes: int = 0


def populate_reports_world(library: Library, count: int = 24) -> Expected:
    """Assets spread over every milestone; returns the figures the reports must show."""
    exp = Expected()
    run = new_run("reports")
    assets: list[Asset] = []
    for i in range(count):
        kind = ("photo", "video", "live")[i % 3]
        captured = NOW - timedelta(days=1) if i == RECENT else T0 - timedelta(days=400 * (i % 4) + i)
        asset = discover(run, i, kind=kind, declared_size_bytes=1_000_000 + 1000 * i,
                         captured_at_utc=captured)
        assets.append(asset)
        _advance(asset, run, i, exp)
    ledger = library.open_ledger()
    try:
        ledger.save(run, *assets)
    finally:
        ledger.close()
    return exp


def _advance(asset: Asset, run: object, i: int, exp: Expected) -> None:
    rid = run.id.hex  # type: ignore[attr-defined]
    s = asset.state
    if i % 8 == 7:
        asset.record(ev.Quarantined, rid, reason="size_mismatch", detail="served 12 bytes")
        exp.problems.add(asset.id.hex)
        return
    if i % 8 == 6:
        asset.record(ev.DownloadFailed, rid, error="HTTP 503: try later", is_retriable=True)
        exp.problems.add(asset.id.hex)
        exp.waiting_download += 1
        exp.waiting_download_bytes += s.declared_size_bytes
        return
    download(asset, run)  # type: ignore[arg-type]
    size = s.declared_size_bytes
    if i % 8 == 5:
        exp.local += size
        return
    asset.record(ev.NasCopied, rid, nas_relpath=s.local_relpath, size_bytes=size)
    asset.record(ev.NasVerified, rid, sha256=s.sha256, method="reread",
                 files=archived_hashes(s))
    asset.record(ev.PixelStaged, rid, outbox_relpath=s.local_relpath, size_bytes=size,
                 method="hardlink")
    asset.record(ev.GoogleVerified, rid, device_id="PIXEL", size_bytes=size)
    exp.nas += size
    exp.outbox += size
    after = size
    if i % 8 in (0, 1, 2, 3):
        tier = TIERS[i % 3]
        after = size // (2 + i % 3)
        asset.record(ev.Compressed, rid, tier=tier, codec="x", params_hash="p",
                     size_bytes_before=size, size_bytes_after=after, sha256_after="c" * 64,
                     source="nas", local_relpath_after=None, live_video_sha256_after=None)
        saved = size - after
        exp.saved_by_tier[tier] += saved
        assert s.captured_at_utc is not None
        exp.saved_by_year[s.captured_at_utc.year] += saved
        exp.saved_by_kind[s.kind] += saved
        exp.bytes_before += size
        exp.bytes_after += after
    exp.local += after
    if i % 8 == 4:
        until = NOW + timedelta(days=20) if i % 16 == 4 else NOW - timedelta(days=2)
        asset.record(ev.AlbumMoved, rid, album_name="DeletePending")
        asset.record(ev.DeletionRequested, rid, plan_id="p1", sha256=s.sha256,
                     nas_verified_at_utc=s.nas_verified_at_utc, google_device_id="PIXEL",
                     google_verified_at_utc=s.google_verified_at_utc,
                     remote_change_tag=s.remote_change_tag)
        asset.record(ev.Deleted, rid, plan_id="p1", recoverable_until_utc=until,
                     is_reconciled=False)
        exp.freed += size
        if until > NOW:
            exp.recoverable += size
