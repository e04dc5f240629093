"""In Chromium, as a person on a phone: the dashboard's 2FA alarm leads to the sign-in page, a
wrong code says so and lets them try again, the code the simulator's "device" shows ends the
wait, and `photoledger status` no longer waits."""

from __future__ import annotations

from pathlib import Path

import requests
from playwright.sync_api import Page

from simulator.icloud.generator import GeneratorSpec, generate_library
from tests.browser.conftest import sign_in
from tests.factories import make_library, run_cli
from tests.sim import PASSWORD, USERNAME, start_simulator
from tests.web_server import serve_cli

NULL_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}


def test_enter_the_2fa_code_wrong_first_then_right(tmp_path: Path, page: Page) -> None:
    database = generate_library(GeneratorSpec(assets=2, seed=3, include_malformed=False,
                                              shared_assets=0, size_scale=0.01))
    library = make_library(tmp_path)
    with start_simulator(database, two_factor="device") as sim:
        env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": sim.base_url, **NULL_KEYRING}
        asked = run_cli(["--no-progress", "login", "--request-code"], library.config_path,
                        env={**env, "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD})
        assert asked.returncode == 0, asked.stderr
        status = run_cli(["status"], library.config_path, env=env)
        assert "waiting for a 2FA code" in status.stdout
        with serve_cli(library.config_path, env) as server:
            sign_in(page, server)
            alarm = page.locator("#alarms p", has_text="2FA code").last
            alarm.locator("a").click()
            page.wait_for_url(f"{server.url}/signin")
            assert "A sign-in waits since" in page.inner_text("#signin-waiting")
            assert "trusted Apple device" in page.inner_text("#signin-waiting")
            shown = requests.get(f"{sim.base_url}/_sim/code", params={"username": USERNAME},
                                 timeout=10).json()["code"]
            page.fill("input[name=code]", "000000" if shown != "000000" else "111111")
            page.click("#send-code")
            assert "did not accept that code" in page.inner_text("#signin-message")
            page.fill("input[name=code]", shown)  # the sign-in still waits: try again
            page.click("#send-code")
            done = page.inner_text("#signin-done")
            assert "iCloud trusts this session until about" in done
            assert "No sign-in waits for a code" in page.inner_text("#signin-waiting")
            page.screenshot(path=str(tmp_path / "signin.png"))
        status = run_cli(["status"], library.config_path, env=env)
        assert status.returncode == 0, status.stderr
        assert "waiting for a 2FA code" not in status.stdout
        assert "iCloud trusts this session until about" in status.stdout
