"""The web UI's security sweep over every route build_app serves (the pages any module adds
through page_routes are included, so a new page cannot forget its checks):

- Without a session, every route refuses: a redirect to /login, or 401/403, never a 200 page.
- With a session, every POST route refuses a form without its CSRF token (403).
- A session cookie made under another token is refused: `photoledger serve --new-token` run
  while the server runs ends its sessions, and the new token signs in.
- A taken port without --new-token is one usage line (exit 2), the token file untouched;
  SIGTERM stops the server cleanly (exit 0).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import requests
from starlette.routing import Mount, Route

from engine.errors import ExitCode
from engine.web import build_app
from tests.commands.test_serve import Server, serving, settings_for, sign_in
from tests.factories import REPO_ROOT, make_library, run_cli
from tests.web_server import serve_cli, signed_in

PUBLIC = {"/login"}  # the sign-in form itself
DUMMY = "0123456789abcdef0123456789abcdef"  # fits any {param}: an id no library has


def every_route(server: Server) -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the app, parameters filled with DUMMY."""
    app = build_app(server.library.config, settings_for(server.library), server.store)
    found = []
    for route in app.routes:
        if isinstance(route, Mount):
            continue  # static files (vendored scripts): public by design
        assert isinstance(route, Route), route
        path = re.sub(r"\{[^}]+\}", DUMMY, route.path)
        found += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


def refused(response: requests.Response) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code in (302, 303, 307) and response.headers.get(
        "location", "").endswith("/login")


def test_every_route_refuses_without_a_session_and_every_post_without_csrf(
        tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        routes = every_route(server)
        assert ("GET", "/") in routes and ("POST", "/logout") in routes
        assert ("GET", "/assets") in routes and ("GET", f"/assets/{DUMMY}") in routes
        forged = {"photoledger_session": "made-up"}
        for method, path in routes:
            if path in PUBLIC:
                continue
            for cookies in ({}, forged):
                response = requests.request(method, f"{server.url}{path}", cookies=cookies,
                                            data={"csrf": "x"}, allow_redirects=False,
                                            timeout=10, stream=True)
                assert refused(response), (method, path, response.status_code)
                response.close()
        session, _ = sign_in(server, server.token)
        for method, path in routes:
            if method != "POST":
                continue
            for data in ({}, {"csrf": "not-the-token"}):
                response = session.post(f"{server.url}{path}", data=data,
                                        allow_redirects=False, timeout=10)
                assert response.status_code == 403, (path, data, response.status_code)
        assert session.get(f"{server.url}/", allow_redirects=False).status_code == 200


def test_a_session_of_another_token_is_refused(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        session, _ = sign_in(server, server.token)
        cookie = session.cookies["photoledger_session"]
        assert session.get(f"{server.url}/", allow_redirects=False).status_code == 200
        new = server.store.ensure(renew=True)  # what `serve --new-token` does to the file
        assert new is not None
        again = requests.get(f"{server.url}/", cookies={"photoledger_session": cookie},
                             allow_redirects=False)
        assert again.status_code == 303 and again.headers["location"] == "/login"
        _old, response = sign_in(server, server.token)
        assert response.status_code == 401
        fresh, response = sign_in(server, new)
        assert response.status_code == 303
        assert fresh.get(f"{server.url}/", allow_redirects=False).status_code == 200
        server.store.path.write_text("damaged")  # an unreadable token file ends them all
        assert fresh.get(f"{server.url}/", allow_redirects=False).status_code == 303


def test_new_token_ends_the_sessions_of_a_running_server(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    with serve_cli(library.config_path) as server:
        session = signed_in(server.url, server.token)
        assert session.get(f"{server.url}/", allow_redirects=False).status_code == 200
        port = server.url.rsplit(":", 1)[1]
        busy = run_cli(["serve", "--port", port], library.config_path)
        assert busy.returncode == ExitCode.USAGE
        assert len(busy.stderr.strip().splitlines()) == 1 and "in use" in busy.stderr
        assert session.get(f"{server.url}/", allow_redirects=False).status_code == 200
        renewed = subprocess.run(
            [sys.executable, "-c", "from commands import main; main()", "--config",
             str(library.config_path), "serve", "--port", port, "--new-token"],
            capture_output=True, text=True, timeout=60, cwd=REPO_ROOT)
        assert renewed.returncode == 0, renewed.stderr
        lines = renewed.stdout.splitlines()
        assert lines[0].startswith("access token (shown once")
        assert "old sessions have ended" in lines[1]
        token = lines[0].rsplit(" ", 1)[1]
        assert session.get(f"{server.url}/", allow_redirects=False).status_code == 303
        assert signed_in(server.url, token).get(f"{server.url}/").status_code == 200
    assert server.process.returncode == 0  # SIGTERM (docker stop) is a clean stop
