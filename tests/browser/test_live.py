"""In Chromium, as a person on a phone: a running `photoledger download` (slowed by the
simulator's bandwidth fault) shows its stage, files and bytes live on /progress; Cancel, once
confirmed, stops it the way SIGTERM does: the page says "Cancelling…", then the recorded
outcome; the process exits 130 (interrupted) and a later `check` passes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Page

from engine.errors import ExitCode
from tests.browser.conftest import sign_in
from tests.factories import run_cli
from tests.scenarios.fault_world import open_world
from tests.sim import PASSWORD
from tests.web_server import serve_cli


def test_watch_a_download_and_cancel_it(tmp_path: Path, page: Page) -> None:
    with open_world(tmp_path, assets=40, size_scale=0.02) as world:
        config = world.library.config_path
        env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": world.server.base_url,
               "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
        found = run_cli(["--no-progress", "discover"], config, env=env)
        assert found.returncode == 0, found.stderr
        world.server.faults.set_bandwidth(100_000)  # slow bodies: still running when we look
        download = subprocess.Popen(
            [sys.executable, "-c", "from commands import main; main()", "--no-progress",
             "--config", str(config), "download", "--workers", "2"],
            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        try:
            with serve_cli(config, env) as server:
                sign_in(page, server)
                assert page.locator("#live").count() == 1  # the dashboard's panel
                page.goto(f"{server.url}/progress")
                page.wait_for_function(
                    "document.getElementById('live-phase').textContent == 'downloading'")
                assert f"download (pid {download.pid}) is running" in page.inner_text(
                    "#live-headline")
                assert re.fullmatch(r"\d+ of \d+", page.inner_text("#live-files"))
                first = page.inner_text("#live-bytes")
                assert re.search(r" of [\d.]+ (KiB|MiB|GiB)$", first), first  # binary units
                page.wait_for_function(  # it moves by itself (server-sent events)
                    f"document.getElementById('live-bytes').textContent != {first!r}")
                assert page.inner_text("#live-rate").endswith("/s")
                page.screenshot(path=str(tmp_path / "live.png"))
                page.click("#live-cancel")
                assert "Stop download" in page.inner_text("#cancel-question")
                page.click("#cancel-confirm")
                page.wait_for_url("**/progress?cancelling=*")
                page.wait_for_function(
                    "document.getElementById('live-headline').textContent.includes('ended')",
                    timeout=60_000)
                assert "interrupted (exit 130" in page.inner_text("#live-headline")
                assert page.locator("#live-figures").is_hidden()
            _out, err = download.communicate(timeout=60)
        finally:
            if download.poll() is None:
                download.kill()
                download.communicate()
        assert download.returncode == ExitCode.INTERRUPTED, err
        assert "interrupted; everything recorded so far is kept" in err
        world.server.faults.set_bandwidth(None)
        check = run_cli(["check"], config, env=env)
        assert check.returncode == 0, check.stdout + check.stderr
