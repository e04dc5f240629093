"""The backlog report agrees with the deletion gate, asset by asset, on a varied library.

The expected blocks are the gate's own answers on each asset's state replayed from the ledger
(the aggregate, not the projection), for the assets the album-move and delete stages would
work on; the report must hold exactly those, and count them per stage and reason.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb

from commands.context import Settings
from engine import events as ev
from engine.asset import Asset
from engine.cleanup.gate import decide_album_move, decide_deletable
from engine.crashpoints import CrashPoints
from engine.reports import run_named_report
from engine.resources import archived_hashes
from engine.selection import Selection
from engine.selection_scope import SelectionScope
from engine.services import open_reader, utc_now
from projections.worklists import STAGE_WORKLISTS
from tests.factories import Library, discover, download, make_library, new_run, remote_change
from tests.reports_world import NOW, populate_reports_world


def _backed_up(asset: Asset, rid: str) -> None:
    s = asset.state
    asset.record(ev.NasCopied, rid, nas_relpath=s.local_relpath, size_bytes=s.declared_size_bytes)
    asset.record(ev.NasVerified, rid, sha256=s.sha256, method="reread",
                 files=archived_hashes(s))
    asset.record(ev.PixelStaged, rid, outbox_relpath=s.local_relpath,
                 size_bytes=s.declared_size_bytes, method="hardlink")
    asset.record(ev.GoogleVerified, rid, device_id="PIXEL", size_bytes=s.declared_size_bytes)


def _live_versions(index: int) -> tuple[ev.VersionFact, ...]:
    return (
        ev.VersionFact(key="original", size_bytes=1_000_000 + index,
                       checksum=f"AZ{index:08d}checksum", file_type="public.heic"),
        ev.VersionFact(key="live_video", size_bytes=500, checksum="LV",
                       file_type="com.apple.quicktime-movie"),
    )


def _varied_assets(library: Library) -> None:
    """Assets on the album-move and delete work lists for as many gate reasons as possible."""
    run = new_run("varied")
    rid = run.id.hex
    assets = []
    for twist in range(12):
        undated = {"captured_at_utc": None, "added_at_utc": None} if twist == 3 else {}
        live = twist in (0, 9)  # a live photo whose listed video was never downloaded
        video = {"kind": "live", "live_video_declared_size_bytes": 500,
                 "live_video_checksum": "LV", "versions": _live_versions(100 + twist)}
        asset = discover(run, 100 + twist, **(video if live else {}), **undated)
        download(asset, run)
        _backed_up(asset, rid)
        if twist == 1:
            remote_change(asset, run, remote_checksum="AZnewer", remote_change_tag="tag-new")
        elif twist == 2:
            asset.record(ev.Quarantined, rid, reason="size_mismatch", detail="short read")
        elif twist == 4:
            asset.record(ev.LocalCopyRemoved, rid, local_relpath=asset.state.local_relpath)
        elif twist in (5, 6, 7):
            asset.record(ev.AlbumMoved, rid, album_name="DeletePending")
        if twist == 6:
            asset.record(ev.DeletionFailed, rid, plan_id="p2", error="HTTP 500")
        elif twist == 7:
            asset.record(ev.RemoteDeleted, rid, observed_via="full-scan")
        assets.append(asset)
    ledger = library.open_ledger()
    try:
        ledger.save(run, *assets)
    finally:
        ledger.close()


DEFAULT = SelectionScope(Selection())

def _expected_blocks(library: Library, meta: tuple[Any, ...]) -> set[tuple[str, str, str, str]]:
    now, marker = meta[0].replace(tzinfo=UTC), meta[1]
    settings = library.config.settings
    projection = library.open_projection()
    ledger = library.open_ledger()
    expected = set()
    try:
        for stage in ("album-move", "delete"):
            where = STAGE_WORKLISTS[stage]
            for (asset_id,) in projection._con.execute(f"SELECT asset_id FROM media WHERE {where}"):
                state = ledger.get_asset(UUID(asset_id)).state
                blocks = (  # the default selection, as the report applies it
                    decide_album_move(state, now, settings, DEFAULT)
                    if stage == "album-move"
                    else decide_deletable(state, now, settings, marker, DEFAULT).blocks
                )
                expected |= {(asset_id, stage, b.code, b.detail) for b in blocks}
    finally:
        ledger.close()
        projection.close()
    return expected


def test_backlog_gate_blocks_agree_with_the_gate(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    populate_reports_world(library, count=24)
    _varied_assets(library)
    settings = Settings(library.config_path, CrashPoints(), utc_now, False, lambda _m: None)
    with open_reader(library.config, settings) as deps:
        report = run_named_report(deps, "backlog")
    con = duckdb.connect(str(library.config.state_dir / "reports.duckdb"), read_only=True)
    try:
        meta = con.execute("SELECT gate_blocks_at_utc, mounted_nas_id FROM report_meta")
        meta_row = meta.fetchone()
        held = set(con.execute("SELECT asset_id, stage, code, detail FROM gate_blocks").fetchall())
    finally:
        con.close()
    assert meta_row is not None and abs(meta_row[0].replace(tzinfo=UTC) - NOW).days < 1
    expected = _expected_blocks(library, meta_row)
    assert held == expected
    codes = {code for _a, _s, code, _d in expected}
    assert {"too-recent", "remote-changed", "quarantined", "local-removed", "no-date",
            "live_video-not-downloaded", "nas-unavailable"} <= codes
    assets_per_reason = Counter((stage, f"gate: {code}") for _a, stage, code, _d in
                                {(a, s, c, "") for a, s, c, _d in expected})
    stuck = {(r["stage"], r["reason"]): r["assets"] for r in report.as_json()["sections"]["stuck"]
             if r["reason"].startswith("gate: ")}
    assert stuck == dict(assets_per_reason)
