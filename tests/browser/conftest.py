"""Browser fixtures: Playwright for Python driving Debian's Chromium (/usr/bin/chromium,
installed by scripts/setup.sh; Playwright's own browser download cannot work offline).

Chromium runs headless with background networking off: the machine's closed network would
otherwise refuse its calls home, many at a time.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.web_server import CliServer

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    found = shutil.which("chromium")
    assert found, "Debian's chromium is missing: run scripts/setup.sh"
    return found


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                          args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone's screen
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def sign_in(page: Page, server: CliServer) -> None:
    """Type the access token into /login as a person would and land on the dashboard."""
    page.goto(f"{server.url}/login")
    page.fill("input[name=token]", server.token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}/")
