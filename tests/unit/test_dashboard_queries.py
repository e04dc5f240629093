"""projections.dashboard on a real ledger and projection: the plain reasons each copying stage's
assets wait for (never for an asset with a recorded problem), and the recent runs."""

from __future__ import annotations

from pathlib import Path

from engine import events as ev
from projections.dashboard import recent_runs, waiting_reasons
from tests.factories import discover, download, make_library, new_run


def test_waiting_reasons_and_recent_runs(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    ledger = library.open_ledger()
    run = new_run("download")
    assets = [discover(run, i) for i in range(6)]
    for asset in assets[1:5]:
        download(asset, run)
    assets[5].record(ev.DownloadFailed, run.id.hex, error="cut_body: broke off",
                     is_retriable=True)
    copied, verified, staged = assets[2], assets[3], assets[4]
    for asset in (copied, verified):
        asset.record(ev.NasCopied, run.id.hex, nas_relpath="x", size_bytes=1, nas_id="n")
    sha = verified.state.sha256 or ""
    verified.record(ev.NasVerified, run.id.hex, sha256=sha, method="reread", nas_id="n",
                    files=(ev.ResourceHash(key="original", sha256=sha),))
    staged.record(ev.PixelStaged, run.id.hex, outbox_relpath="x", size_bytes=1,
                  method="hardlink")
    run.record(ev.RunFinished, exit_code=16, outcome="assets_failed")
    later = new_run("status")
    ledger.save(run, later, *assets)
    projection = library.open_projection()
    projection.catch_up(ledger)
    found = {(r.stage, r.code): r.assets for r in waiting_reasons(projection)}
    assert found == {
        ("download", "not-downloaded-yet"): 1,  # asset 0; asset 5 has a problem: not here
        ("backup-nas", "nas-not-copied"): 2,
        ("backup-nas", "nas-not-verified"): 1,
        ("backup-google", "not-staged"): 3,
        ("backup-google", "waiting-for-pixel"): 1,
    }
    runs = recent_runs(projection, limit=5)
    assert [r.command for r in runs] == ["status", "download"]
    assert (runs[1].exit_code, runs[1].outcome) == (16, "assets_failed")
    assert runs[0].finished_at_utc is None
    assert [r.command for r in recent_runs(projection, limit=1)] == ["status"]
    projection.close()
    ledger.close()
