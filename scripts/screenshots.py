#!/usr/bin/env python3
"""Screenshots of every page of the web UI, phone-sized, for the README (docs/screenshots/).

    python scripts/screenshots.py [--out docs/screenshots] [--work DIR] [--assets 16]

Builds a demo library on the built-in iCloud simulator with the real CLI (`photoledger
simulator --content real --two-factor device`, init with a NAS folder, login with the code the
simulator sent, discover, download, backup-nas, album-move, delete plan + execute for part of
it, a second plan left waiting for review, and a new sign-in left waiting for its 2FA code; no
Pixel, so backup-google has a backlog), serves it with `photoledger serve`, signs in with the
printed token in Debian's Chromium (Playwright) at 390x844, and saves one PNG per page: every
GET page of the app without a parameter, an asset search and one asset's page, and the first
deletion plan's review page when there is one. PNGs are reduced to a 256-colour palette to
stay small (< 150 KB each). Nothing outside --work (a temporary folder by default) and --out
is written.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests.browser.conftest import CHROMIUM_ARGS, chromium_path  # noqa: E402
from tests.web_server import serve_cli  # noqa: E402

CLI = [sys.executable, "-c", "from commands import main; main()"]
MAX_HEIGHT = 2400  # a long page is cut here (phone pixels)


def photoledger(config: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*CLI, "--config", str(config), "--no-progress", *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    print(f"photoledger {' '.join(args)}: exit {done.returncode}")
    if done.returncode not in (0, 15, 16):  # needs attention / some assets failed: go on
        raise SystemExit(f"photoledger {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


@contextmanager
def simulator(work: Path, assets: int) -> Iterator[dict[str, str]]:
    process = subprocess.Popen(
        [*CLI, "simulator", "--assets", str(assets), "--content", "real",
         "--two-factor", "device", "--cache-dir", str(work / ".media-cache")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        user = lines[1].split(": ", 1)[1].strip()
        password = lines[2].split(": ", 1)[1].strip()
        endpoint = lines[3].strip().split("=", 1)[1]
        yield {**os.environ, "PHOTOLEDGER_ICLOUD_ENDPOINT": endpoint,
               "PHOTOLEDGER_ICLOUD_PASSWORD": password, "SIM_USER": user, "COLUMNS": "200"}
    finally:
        process.terminate()
        process.wait(10)


def build_library(work: Path, env: dict[str, str]) -> Path:
    config = work / "photoledger.yaml"
    if config.exists():  # --work given again: the library is there already
        return config
    (work / "nas").mkdir(exist_ok=True)
    subprocess.run([*CLI, "--config", str(config), "init", "--library-root",
                    str(work / "library"), "--nas-root", str(work / "nas"), "--session-dir",
                    str(work / "session"), "--username", env["SIM_USER"]],
                   env=env, check=True, capture_output=True)
    text = config.read_text()
    text = re.sub(r"(?m)^(  require: )\[nas, google\]", r"\1[nas]", text, count=1)
    text = re.sub(r"(?m)^(  keep_recent_days: )\d+", r"\g<1>0", text, count=1)
    config.write_text(text)
    photoledger(config, env, "login", "--request-code")  # Apple (the simulator) sends a code
    photoledger(config, env, "login", "--submit-code", sim_code(env))
    for stage in ("discover", "download", "backup-nas"):
        photoledger(config, env, stage)
    photoledger(config, env, "album-move", "--limit", "6")
    plan = re.search(r"photoledger delete execute (\S+)`", photoledger(config, env, "delete",
                                                                        "plan"))
    if plan:
        photoledger(config, env, "delete", "execute", plan.group(1), "--force")
    photoledger(config, env, "album-move", "--limit", "4")
    photoledger(config, env, "delete", "plan")  # left waiting for review
    # The session's trust is gone (its files removed, as when Apple ends it): a new sign-in is
    # left waiting for its 2FA code, for the dashboard's alarm and the sign-in page.
    shutil.rmtree(work / "session")
    photoledger(config, env, "login", "--request-code")
    return config


def sim_code(env: dict[str, str]) -> str:
    """The 2FA code the simulator sent (what the phone would show)."""
    url = f"{env['PHOTOLEDGER_ICLOUD_ENDPOINT']}/_sim/code"
    return str(requests.get(url, params={"username": env["SIM_USER"]}, timeout=10).json()["code"])


def save(page: Page, out: Path, name: str) -> None:
    page.evaluate("document.querySelectorAll('img[loading=lazy]')"
                  ".forEach(img => img.loading = 'eager')")
    page.wait_for_load_state("networkidle")
    target = out / f"{name}.png"
    height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
    page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": 390, "height": height},
                    full_page=True)
    with Image.open(target) as shot:
        small = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(target, optimize=True)
    print(f"{target}: {target.stat().st_size // 1024} KiB")


def page_paths(config: Path) -> list[str]:
    """Every GET route of the app without a parameter (the sign-in page apart)."""
    from commands.context import Settings
    from engine.config import load_config
    from engine.crashpoints import CrashPoints
    from engine.services import utc_now
    from engine.web import TokenStore, build_app

    runtime = Settings(config_path=config, crash=CrashPoints(), clock=utc_now,
                       show_progress=False, warn=lambda _line: None)
    app = build_app(load_config(config), runtime, TokenStore.beside(config))
    return [r.path for r in app.routes if "GET" in (getattr(r, "methods", None) or ())
            and "{" not in r.path and r.path != "/login"]


def is_html_page(url: str, cookies: dict[str, str]) -> bool:
    with requests.get(url, cookies=cookies, stream=True, timeout=10) as response:
        return response.headers.get("content-type", "").startswith("text/html")


def name_of(path: str) -> str:
    return "dashboard" if path == "/" else path.strip("/").replace("/", "-")


def shoot(config: Path, env: dict[str, str], out: Path) -> None:
    with serve_cli(config, env, "--new-token") as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True,
                                     args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 390, "height": 844})
        page = context.new_page()
        page.goto(f"{server.url}/login")
        save(page, out, "sign-in")
        page.fill("input[name=token]", server.token)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/")
        cookies = {c["name"]: c["value"] for c in context.cookies()}
        for path in page_paths(config):
            if path == "/assets" or not is_html_page(f"{server.url}{path}", cookies):
                continue  # shot with a search below; an event stream is not a page
            page.goto(f"{server.url}{path}", wait_until="domcontentloaded")
            page.wait_for_timeout(500)
            save(page, out, name_of(path))
            if path == "/":
                continue
            hrefs = [h for h in page.locator(f'a[href^="{path}/"]:visible').evaluate_all(
                "links => links.map(a => a.getAttribute('href'))") if "?" not in h]
            if hrefs:  # a page that lists things (deletion plans): its first one too
                page.goto(f"{server.url}{hrefs[0]}", wait_until="domcontentloaded")
                page.wait_for_timeout(500)
                save(page, out, f"{name_of(path)}-detail")
        page.goto(f"{server.url}/assets?name=IMG")
        save(page, out, "assets-search")
        first = page.locator("#results a").first
        if first.count():
            first.click()
            save(page, out, "asset")
        page.goto(f"{server.url}/")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--assets", type=int, default=16)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="photoledger-shots-") as temp:
        work = (args.work or Path(temp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        with simulator(work, args.assets) as env:
            config = build_library(work, env)
            shoot(config, env, args.out)


if __name__ == "__main__":
    main()
