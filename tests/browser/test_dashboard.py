"""In Chromium, on a phone-sized screen, against `photoledger serve` on a simulator-backed
library where photoledger discovered, downloaded, backed up and deleted from iCloud:

- A wrong token stays on the sign-in page with its message; the right one opens the dashboard.
- Every milestone, iCloud's bytes by standing and every stage's backlog equal
  `status --json`; the assets not on the
  Pixel say why they wait, in words; the recent runs are listed with their outcome.
- The savings chart is there, with one point per month and series at exactly the running
  totals of `report savings --json`.
- Searching a file name finds the asset; its page tells its history in words (deleted from
  iCloud, with the evidence), its copies and the Recently Deleted line of `history`.
"""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page

from tests.browser.conftest import sign_in
from tests.cleanup_world import open_cleanup_world
from tests.commands.test_recover import cli
from tests.web_server import serve_cli

MILESTONES = (("known in the ledger", "assets"), ("downloaded", "downloaded"),
              ("verified on the NAS", "nas_verified"), ("on the Pixel", "google_verified"),
              ("compressed (bytes saved)", "compressed"),
              ("deleted from iCloud by photoledger", "deleted_from_icloud"))


def test_dashboard_equals_status_and_reports_and_an_asset_tells_its_history(
        tmp_path: Path, page: Page) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        cw.world.discover()
        cw.world.download()
        cw.backup_nas()
        names = cw.downloaded()
        cw.google_verify(names[:4])  # two are not on the Pixel: they wait, and say why
        cw.album_move()
        plan = cw.plan()
        assert plan.entries
        cw.execute(plan.plan_id)
        status = json.loads(cli(cw, "status", "--json").stdout)
        savings = json.loads(cli(cw, "report", "savings", "--json").stdout)
        deleted = next(n for n in names[:4] if cw.state(n).deletion_state == "deleted"
                       and cw.state(n).filename.isprintable())  # a name a person can type
        with serve_cli(cw.config_path) as server:
            page.goto(f"{server.url}/")
            assert page.url == f"{server.url}/login"  # no session: sent to sign in
            page.fill("input[name=token]", server.token + "x")
            page.click("button[type=submit]")
            assert "not the one" in page.inner_text("body")
            sign_in(page, server)

            totals = status["totals"]
            assert totals["deleted_from_icloud"] == len(plan.entries)
            for label, key in MILESTONES:
                cells = page.locator("#milestones tr", has_text=label).first.locator("td")
                assert cells.nth(1).inner_text() == str(totals[key]), label
            for stage in status["stages"]:
                row = page.locator(f'#backlog tr[data-stage="{stage["stage"]}"]').first
                assert row.locator("td").nth(1).inner_text() == str(stage["waiting"])
            icloud = status["icloud"]
            for label, key in (("in iCloud now", "in_icloud"),
                               ("in Recently Deleted", "recently_deleted"),
                               ("ever in iCloud", "ever")):
                cells = page.locator("#icloud tr", has_text=label).first.locator("td")
                assert cells.nth(1).inner_text() == str(icloud[key]["assets"]), label
            assert icloud["recently_deleted"]["assets"] == len(plan.entries)
            google = next(s for s in status["stages"] if s["stage"] == "backup-google")
            assert google["waiting"] == 2
            why = page.locator('#backlog tr.why[data-stage="backup-google"]').inner_text()
            assert "2 · not staged for the Pixel yet" in why

            over_time = savings["sections"]["over_time"]
            assert over_time and over_time[-1]["icloud_freed_total"] > 0
            points = page.locator("#savings-chart circle.point")
            assert points.count() == 2 * len(over_time)
            drawn = {(p.get_attribute("data-series"), p.get_attribute("data-month"),
                      int(p.get_attribute("data-bytes") or -1))
                     for p in points.all()}
            expected = {(key, row["month"], row[key]) for row in over_time
                        for key in ("compression_saved_total", "icloud_freed_total")}
            assert drawn == expected
            runs = page.locator("#runs tr").all_inner_texts()[1:]
            assert len(runs) >= 4 and any("delete" in r and "ok" in r for r in runs)

            page.click("nav >> text=Assets")
            filename = cw.state(deleted).filename
            page.fill("input[name=name]", filename)
            page.click("form.search button[type=submit]")
            page.click(f"#results a >> text={filename}")
            body = page.inner_text("body")
            for words in ("Seen in iCloud for the first time", "Downloaded to the library",
                          "Verified on the NAS", "Deletion from iCloud asked for",
                          "Deleted from iCloud", "in Recently Deleted until"):
                assert words in body, words
            assert "datetime." not in body and "None" not in body
            assert page.locator("#copies li", has_text="NAS").first.get_attribute(
                "class") == "good"
