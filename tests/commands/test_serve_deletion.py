"""The deletion pages of `photoledger serve`, over HTTP against a simulator-backed library.

- Without a session every deletion page, action and thumbnail sends the browser to /login and
  nothing is planned or deleted; a POST without its CSRF token is 403, without the
  confirmation (or naming another plan's hash) 400, and nothing is deleted.
- Execute while another command holds the writer lock is a clear refusal (409, naming the
  holder) that changes nothing; afterwards it runs `delete execute`'s gate: a NAS copy damaged
  after the plan is re-read at deletion, that asset is not deleted and the page raises the
  exit-17 alarm, the others are deleted in iCloud. "Check only" (the dry run) finds the same
  and deletes and records nothing.
- The dashboard's "deletion plan waiting" alarm links to the plan until it is executed.
- Thumbnails: a real JPEG local copy gives a JPEG, an undecodable or missing one a placeholder
  PNG, an id that is no asset a 404.
- Over the mass-delete limit the confirmation offers `--force`; without it Execute is refused
  (exit 20) and nothing deleted; with the NAS not mounted it is exit 12 and nothing deleted; a
  plan made from the page is the same recorded plan.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import requests
from PIL import Image

from engine.lock import WriterLock
from engine.units import human_bytes
from engine.web.deletion_read import read_waiting_plan
from tests.cleanup_world import CleanupWorld, open_cleanup_world, prepare
from tests.commands.test_recover import cli, nas_file
from tests.scenarios.fault_world import asset_id
from tests.sim import PASSWORD
from tests.unit.test_nas_files import flip_byte_keep_stat
from tests.web_server import page_csrf, serve_cli, signed_in


def sim_env(cw: CleanupWorld) -> dict[str, str]:
    return {"PHOTOLEDGER_ICLOUD_ENDPOINT": cw.world.server.base_url,
            "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}


def make_plan(cw: CleanupWorld) -> dict[str, object]:
    plan: dict[str, object] = json.loads(cli(cw, "delete", "plan", "--json").stdout)
    return plan


def confirm_form(session: requests.Session, url: str, plan_id: str) -> dict[str, str]:
    page = session.get(f"{url}/deletion/plans/{plan_id}/confirm").text
    fields = dict(re.findall(r'name="(csrf|confirm|plan_sha256)" value="([^"]+)"', page))
    assert set(fields) == {"csrf", "confirm", "plan_sha256"}, page
    return fields


def requested_topics(cw: CleanupWorld, names: list[str]) -> list[str]:
    return [t for n in names for t in cw.topics_of(n) if t.startswith("Deletion")]


def test_deletion_pages_guard_every_step_and_execute_runs_the_gate(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=5) as cw:
        prepare(cw)
        plan = make_plan(cw)
        names = [str(n) for n in plan["would_delete"]]  # type: ignore[attr-defined]
        assert len(names) >= 3
        plan_id = str(plan["plan_id"])
        real = cw.library.config.library_root / str(cw.state(names[0]).local_relpath)
        Image.new("RGB", (640, 480), (0, 90, 200)).save(real, "JPEG")  # a decodable copy
        with serve_cli(cw.config_path, sim_env(cw)) as server:
            url, first = server.url, asset_id(names[0]).hex
            for path in ("/deletion", f"/deletion/plans/{plan_id}",
                         f"/deletion/plans/{plan_id}/confirm", f"/deletion/thumbnails/{first}"):
                response = requests.get(url + path, allow_redirects=False)
                assert (response.status_code, response.headers["location"]) == (303, "/login")
            for path in (f"/deletion/plans/{plan_id}/execute", "/deletion/plan"):
                response = requests.post(url + path, data={"confirm": "yes"},
                                         allow_redirects=False)
                assert (response.status_code, response.headers["location"]) == (303, "/login")

            session = signed_in(url, server.token)
            listing = session.get(f"{url}/deletion").text
            assert plan_id[:8] in listing and "waiting" in listing
            page = session.get(f"{url}/deletion/plans/{plan_id}").text
            assert human_bytes(int(plan["icloud_freed_bytes"])) in page  # type: ignore[call-overload]
            for name in names:
                state = cw.state(name)
                assert state.sha256 in page and state.remote_change_tag in page
                assert f'/deletion/thumbnails/{asset_id(name).hex}' in page
            assert "NAS re-read" in page and "PIXEL-TEST-DEVICE" in page

            thumb = session.get(f"{url}/deletion/thumbnails/{first}")
            assert thumb.headers["content-type"] == "image/jpeg"
            assert Image.open(io.BytesIO(thumb.content)).size == (256, 192)
            other = session.get(f"{url}/deletion/thumbnails/{asset_id(names[1]).hex}")
            assert other.status_code == 200 and other.headers["content-type"] == "image/png"
            gone = cw.library.config.library_root / str(cw.state(names[2]).local_relpath)
            gone.unlink()  # a local copy that disappeared: a placeholder, never a 500
            missing = session.get(f"{url}/deletion/thumbnails/{asset_id(names[2]).hex}")
            assert missing.status_code == 200 and missing.headers["content-type"] == "image/png"
            assert session.get(f"{url}/deletion/thumbnails/{'0' * 32}").status_code == 404
            assert session.get(f"{url}/deletion/thumbnails/nope").status_code == 404
            assert session.get(f"{url}/deletion/plans/{'0' * 32}").status_code == 404

            form = confirm_form(session, url, plan_id)
            execute = f"{url}/deletion/plans/{plan_id}/execute"
            no_csrf = {k: v for k, v in form.items() if k != "csrf"}
            assert session.post(execute, data=no_csrf).status_code == 403
            assert session.post(execute, data={**form, "csrf": "forged"}).status_code == 403
            assert session.post(execute, data={**form, "confirm": "no"}).status_code == 400
            assert session.post(execute, data={**form, "plan_sha256": "0" * 64}).status_code == 400
            assert session.post(f"{url}/deletion/plan", data={}).status_code == 403
            assert cw.icloud_deleted() == set() and requested_topics(cw, names) == []

            with WriterLock(cw.library.config.state_dir / "writer.lock", "watch"):
                locked = session.post(execute, data=form)
                assert locked.status_code == 409
                assert "locked by pid" in locked.text and "(watch)" in locked.text
                assert "Nothing was changed" in locked.text
                made = session.post(f"{url}/deletion/plan",
                                    data={"csrf": page_csrf(session, f"{url}/deletion")})
                assert made.status_code == 409 and "No plan was made" in made.text
            assert cw.icloud_deleted() == set() and requested_topics(cw, names) == []
            with cw.reader() as services:
                waiting = read_waiting_plan(services)
            assert waiting is not None and waiting.plan_id == plan_id
            assert waiting.assets == len(names) and waiting.link.endswith(plan_id)
            assert human_bytes(int(plan["icloud_freed_bytes"])) in waiting.text  # type: ignore[call-overload]
            board = session.get(f"{url}/").text  # the dashboard's alarm links to the plan
            assert waiting.text in board and f'href="/deletion/plans/{plan_id}"' in board

            flip_byte_keep_stat(nas_file(cw, names[1]))  # damaged after the plan
            dry = session.post(execute, data={**form, "dry_run": "yes"})
            assert dry.status_code == 200 and "Dry run of plan" in dry.text
            assert "exit code 17" in dry.text and "not recorded: dry run" in dry.text
            assert dry.text.count('<tr class="would-delete">') == len(names) - 1
            assert cw.icloud_deleted() == set() and requested_topics(cw, names) == []
            done = session.post(execute, data=form)
            assert done.status_code == 200
            assert "exit code 17" in done.text and 'id="alarm"' in done.text
            assert cw.icloud_deleted() == set(names) - {names[1]}
            outcome = done.text
            assert outcome.count('<tr class="deleted">') == len(names) - 1
            assert outcome.count('<tr class="not-deleted">') == 1
            after = session.get(f"{url}/deletion/plans/{plan_id}").text
            assert f"executed: {len(names) - 1} deleted" in after
            assert "the gate refuses it now: the NAS copy does not match" in after
            assert after.count("; re-read again ") == len(names) - 1  # at their deletion
            with cw.reader() as services:
                assert read_waiting_plan(services) is None  # executed: no longer waiting
            assert "waits for your review" not in session.get(f"{url}/").text


def test_force_is_offered_over_the_mass_delete_limit_and_a_page_plan_is_recorded(
    tmp_path: Path,
) -> None:
    with open_cleanup_world(tmp_path, assets=4, max_delete=1) as cw:
        prepare(cw)
        with serve_cli(cw.config_path, sim_env(cw)) as server:
            url = server.url
            session = signed_in(url, server.token)
            made = session.post(f"{url}/deletion/plan",
                                data={"csrf": page_csrf(session, f"{url}/deletion")},
                                allow_redirects=False)
            assert made.status_code == 303
            plan_id = made.headers["location"].rsplit("/", 1)[1]
            again = session.post(f"{url}/deletion/plan",
                                 data={"csrf": page_csrf(session, f"{url}/deletion")},
                                 allow_redirects=False)
            newer = again.headers["location"].rsplit("/", 1)[1]
            with cw.reader() as services:
                waiting = read_waiting_plan(services)
            assert waiting is not None and waiting.plan_id == newer  # the newest verdict
            listing = session.get(f"{url}/deletion").text
            assert listing.count("waiting") == 1 and "a newer plan replaces it" in listing
            page = session.get(f"{url}{made.headers['location']}").text
            assert "more than cleanup.max_delete (1)" in page
            confirm = session.get(f"{url}/deletion/plans/{plan_id}/confirm").text
            assert 'name="force"' in confirm
            form = confirm_form(session, url, plan_id)
            execute = f"{url}/deletion/plans/{plan_id}/execute"
            refused = session.post(execute, data=form)
            assert "exit code 20" in refused.text and "--force" in refused.text
            assert cw.icloud_deleted() == set()
            marker = cw.nas_root / ".photoledger-nas"
            marker.rename(cw.nas_root / "marker.away")  # the NAS is not mounted
            unmounted = session.post(execute, data={**form, "force": "yes"})
            assert "exit code 12" in unmounted.text and cw.icloud_deleted() == set()
            page = session.get(f"{url}/deletion/plans/{plan_id}").text
            assert "the NAS marker is missing (not mounted?)" in page  # blocked now, in words
            (cw.nas_root / "marker.away").rename(marker)
            forced = session.post(execute, data={**form, "force": "yes"})
            assert "exit code" not in forced.text
            assert len(cw.icloud_deleted()) >= 2
            listing = session.get(f"{url}/deletion").text
            assert "a later execution overtook it" in listing  # the newer plan
            with cw.reader() as services:
                assert read_waiting_plan(services) is None
            dry = cli(cw, "delete", "execute", plan_id, "--dry-run", "--force", "--json")
            assert json.loads(dry.stdout)["deleted"] == []  # the CLI sees the same plan, done
