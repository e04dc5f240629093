"""The dashboard of the real `photoledger serve` on a simulator-backed library with faults on:
one original whose download always breaks off, and the NAS unmounted (its marker gone).

- Each stage's backlog says why its items wait, in words: the failed download with its
  recorded error, the NAS not mounted with the assets not copied yet, the assets not staged for
  the Pixel; the counts add up to what `status --json` says is waiting.
- The failed asset is listed under Problems with its error, linked to its page; that page
  tells the failed attempt in words, its library copy as not downloaded; the recent runs list
  the download with its outcome.
- The figures are computed once per ledger position and NAS and reused for KEEP_FOR_S; a new
  fact recomputes them at once; the 2FA alarm is read afresh on every load.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.icloud.twofa_state import TwoFactorCodeRequestedError, record_request, state_path
from engine.web.dashboard import KEEP_FOR_S, read_dashboard
from engine.web.units import visible
from simulator.icloud.faults import ContentFault
from tests.cleanup_world import open_cleanup_world
from tests.commands.test_recover import cli
from tests.commands.test_serve import seed, settings_for
from tests.factories import discover, make_library, new_run
from tests.scenarios.fault_world import original_token, pick_target
from tests.web_server import serve_cli, signed_in


def words_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_backlog_says_why_with_a_broken_download_and_the_nas_unmounted(
        tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        cw.world.discover()
        target = pick_target(cw.world)
        cw.world.server.faults.add_content_fault(
            ContentFault(mode="drop", times=None, token=original_token(cw.world, target)))
        cw.world.download()
        (cw.nas_root / ".photoledger-nas").unlink()  # the NAS is not mounted
        status = json.loads(cli(cw, "status", "--json").stdout)
        waiting = {s["stage"]: s["waiting"] for s in status["stages"]}
        assert waiting["download"] == 1 and waiting["backup-nas"] > 0
        with serve_cli(cw.config_path) as server:
            session = signed_in(server.url, server.token)
            page = session.get(f"{server.url}/").text
            why = {m.group(1): words_of(m.group(2)) for m in re.finditer(
                r'<tr class="why" data-stage="([a-z-]+)">(.*?)</tr>', page, re.S)}
            assert "1 · failed: the connection broke off every time (cut_body)" in (
                why["download"]), why["download"]
            nas = why["backup-nas"]
            assert f"the NAS is not mounted (no marker in {cw.nas_root})" in nas
            assert f"{waiting['backup-nas']} · not copied to the NAS yet" in nas
            assert f"{waiting['backup-google']} · not staged for the Pixel yet" in (
                why["backup-google"])
            runs = words_of(page[page.index('id="runs"'):])
            assert re.search(r"download 20\d\d-\d\d-\d\d \d\d:\d\d UTC \w+", runs), runs

            filename = visible(cw.state(target).filename)  # it may hold a NUL: shown escaped
            problems = page[page.index('id="problems"'):page.index("<h2>Backlog")]
            assert words_of(problems).count("cut_body") == 1 and filename in problems
            link = re.search(r'href="(/assets/[0-9a-f]{32})"', problems)
            assert link is not None  # the problem links to the asset's page
            asset = words_of(session.get(f"{server.url}{link.group(1)}").text)
            assert "A download attempt failed (nothing kept) " in asset
            assert "error cut_body" in asset and "tried again later yes" in asset
            assert "library - not downloaded yet" in asset


def test_figures_are_reused_at_the_same_position_and_alarms_are_always_fresh(
        tmp_path: Path) -> None:
    library = make_library(tmp_path)
    seed(library)
    clock = FakeClock(datetime(2026, 12, 6, 5, 0, tzinfo=UTC))
    runtime = replace(settings_for(library), clock=clock)
    first = read_dashboard(library.config, runtime)
    assert first.as_of == "2026-12-06 05:00 UTC" and not first.alarms
    clock.now += timedelta(seconds=30)
    error = TwoFactorCodeRequestedError("sent", "trusted_device", {})
    record_request(state_path(library.config.state_dir), error, "jdoe@example.com", clock.now)
    again = read_dashboard(library.config, runtime)
    assert again.as_of == first.as_of  # same ledger position, same NAS: reused
    assert next(a.text for a in again.alarms).startswith("waiting for a 2FA code")  # fresh
    ledger = library.open_ledger()
    run = new_run("discover")
    ledger.save(run, discover(run, 50))
    ledger.close()
    moved = read_dashboard(library.config, runtime)
    assert moved.milestones[0][1] == 5  # recomputed at once
    assert moved.ledger_position > first.ledger_position
    assert read_dashboard(library.config, runtime).as_of == moved.as_of
    clock.now += timedelta(seconds=KEEP_FOR_S)  # then the clock alone makes it stale
    assert read_dashboard(library.config, runtime).as_of == "2026-12-06 05:02 UTC"


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
