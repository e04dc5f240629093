"""In Chromium on a phone-sized screen: a person opens the deletion plan `delete plan` made,
sees every asset's thumbnail and evidence and the asset they took out of DeletePending blocked
with its reason, presses Execute, confirms, and sees each asset's outcome; iCloud (the
simulator) then holds exactly the planned assets in Recently Deleted, never the blocked one."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page

from tests.browser.conftest import sign_in
from tests.cleanup_world import CleanupWorld, open_cleanup_world, prepare
from tests.commands.test_recover import cli
from tests.commands.test_serve_deletion import sim_env
from tests.web_server import serve_cli

IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".heic": "HEIF", ".png": "PNG"}


def give_real_pixels(cw: CleanupWorld, names: list[str]) -> int:
    """Replace the simulator's stand-in bytes of the local stills with real images in their
    own format (HEIC through pillow-heif); returns how many were replaced."""
    replaced = 0
    for i, name in enumerate(names):
        relpath = cw.state(name).local_relpath
        path = cw.library.config.library_root / str(relpath)
        image_format = IMAGE_FORMATS.get(path.suffix.lower())
        if image_format:
            Image.new("RGB", (800, 600), (40 * i % 256, 120, 200)).save(path, image_format)
            replaced += 1
    return replaced


def test_review_thumbnails_and_evidence_then_execute_and_see_icloud_change(
    tmp_path: Path, page: Page,
) -> None:
    with open_cleanup_world(tmp_path, assets=6) as cw:
        downloaded = prepare(cw)
        kept = downloaded[0]
        cw.remove_from_album(kept)  # on the phone: taken out of DeletePending
        plan = json.loads(cli(cw, "delete", "plan", "--json").stdout)
        planned = list(plan["would_delete"])
        assert planned and kept not in planned
        real = give_real_pixels(cw, planned)
        assert real >= 1
        with serve_cli(cw.config_path, sim_env(cw)) as server:
            sign_in(page, server)
            page.goto(f"{server.url}/deletion")
            page.click(f"a[href='/deletion/plans/{plan['plan_id']}']")
            assert page.inner_text("#plan-status") == "waiting"
            images = page.locator(".asset img")
            assert images.count() == len(planned)
            for i in range(images.count()):
                images.nth(i).scroll_into_view_if_needed()
            page.wait_for_function(
                "() => [...document.querySelectorAll('.asset img')]"
                ".every(i => i.complete && i.naturalWidth > 0)")
            thumbs = page.evaluate("() => [...document.querySelectorAll('.asset img')]"
                                   ".map(i => [i.naturalWidth, i.naturalHeight])")
            assert thumbs.count([256, 192]) == real  # the real stills, as 256 px thumbnails
            for name in planned:
                card = page.locator(".asset", has_text=str(cw.state(name).local_relpath))
                assert cw.state(name).sha256 in card.inner_text()
                assert "NAS re-read" in card.inner_text()
            blocked = page.locator(".blocked", has_text=str(cw.state(kept).local_relpath))
            assert "took it out of DeletePending" in blocked.inner_text()
            blocked.locator("img").scroll_into_view_if_needed()
            page.wait_for_function("() => [...document.querySelectorAll('.blocked img')]"
                                   ".every(i => i.complete && i.naturalWidth > 0)")

            page.click("#execute")
            assert f"{len(planned)} assets" in page.inner_text("#confirm-text")
            page.click("#confirm")
            page.wait_for_selector("#outcomes")
            assert page.locator("#outcomes tr.deleted").count() == len(planned)
            assert page.locator("#alarm").count() == 0
            assert cw.icloud_deleted() == set(planned)
            assert kept not in cw.icloud_deleted()
            page.click("text=Back to the plan")
            assert page.inner_text("#plan-status").startswith(f"executed: {len(planned)} deleted")
