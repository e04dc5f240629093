"""In Chromium: the access token signs a person in, and the dashboard shows what
`status --json` says; a wrong token stays on the sign-in page with its message."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page

from tests.browser.conftest import sign_in
from tests.cleanup_world import open_cleanup_world, prepare
from tests.commands.test_recover import cli
from tests.web_server import serve_cli


def test_sign_in_and_the_dashboard_equals_status_json(tmp_path: Path, page: Page) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        prepare(cw)
        status = json.loads(cli(cw, "status", "--json").stdout)
        with serve_cli(cw.config_path) as server:
            page.goto(f"{server.url}/")
            assert page.url == f"{server.url}/login"  # no session: sent to sign in
            page.fill("input[name=token]", server.token + "x")
            page.click("button[type=submit]")
            assert "not the one" in page.inner_text("body")
            sign_in(page, server)
            totals = status["totals"]
            for label, key in (("downloaded", "downloaded"),
                               ("verified on the NAS", "nas_verified")):
                row = page.locator("tr", has_text=label).first
                assert str(totals[key]) in row.inner_text(), (label, row.inner_text())
