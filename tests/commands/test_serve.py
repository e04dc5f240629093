"""`photoledger serve`: the real app under uvicorn on loopback, driven over HTTP with requests.

- Without a session every page sends the browser to /login; a wrong token is a 401 and no
  session; the right one gives a random HttpOnly, SameSite=Strict session cookie.
- The dashboard shows the library's figures as `status` computes them (engine.status), the
  alarms (damaged last copies, other NAS damage, a 2FA code awaited) above them.
- Over TLS the session cookie is Secure; the command prints the token once, at first start.
- POST /logout without its CSRF token is 403 and the session lives on; with it the session ends.
- The token file is 0600 and holds only a salted hash, never the token.
- A non-loopback --host without TLS files or --insecure-lan is one usage line, exit 2.
"""

from __future__ import annotations

import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
import uvicorn

from commands.context import Settings
from engine import events as ev
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode
from engine.icloud.twofa_state import TwoFactorCodeRequestedError, record_request, state_path
from engine.services import open_reader, utc_now
from engine.status import run_status
from engine.units import human_bytes
from engine.web import TokenStore, build_app
from engine.web.dashboard import dashboard_of
from tests.factories import REPO_ROOT, Library, discover, download, make_library, new_run, run_cli
from tests.web_server import free_port, login_form_csrf


@dataclass
class Server:
    url: str
    token: str
    library: Library
    store: TokenStore


def seed(library: Library) -> None:
    ledger = library.open_ledger()
    run = new_run("seed")
    assets = [discover(run, i) for i in range(4)]
    download(assets[0], run)
    assets[1].record(ev.DownloadFailed, run.id.hex, error="HTTP 503 from iCloud",
                     is_retriable=True)
    ledger.save(run, *assets)
    ledger.close()


def settings_for(library: Library) -> Settings:
    return Settings(config_path=library.config_path, crash=CrashPoints(), clock=utc_now,
                    show_progress=False, warn=lambda _line: None)


@contextmanager
def serving(tmp_path: Path, tls: tuple[Path, Path] | None = None) -> Iterator[Server]:
    """The real app under uvicorn in a thread, on a free loopback port (HTTPS with `tls`)."""
    library = make_library(tmp_path)
    seed(library)
    store = TokenStore.beside(library.config_path)
    token = store.ensure()
    assert token is not None
    app = build_app(library.config, settings_for(library), store, secure_cookies=tls is not None)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning",
        ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield Server(f"{'https' if tls else 'http'}://127.0.0.1:{port}", token, library, store)
    finally:
        uv.should_exit = True
        thread.join(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path) as running:
        yield running


def sign_in(server: Server, token: str, session: requests.Session | None = None,
            ) -> tuple[requests.Session, requests.Response]:
    session = session or requests.Session()
    csrf = login_form_csrf(session, server.url)
    response = session.post(f"{server.url}/login", data={"token": token, "csrf": csrf},
                            allow_redirects=False)
    return session, response


def test_without_a_session_the_dashboard_redirects_to_login(server: Server) -> None:
    response = requests.get(f"{server.url}/", allow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    forged = requests.get(f"{server.url}/", cookies={"photoledger_session": "made-up"},
                          allow_redirects=False)
    assert forged.status_code == 303


def test_a_wrong_token_is_refused_without_a_session(server: Server) -> None:
    session, response = sign_in(server, server.token + "x")
    assert response.status_code == 401
    assert "not the one" in response.text
    assert "photoledger_session" not in session.cookies
    assert session.get(f"{server.url}/", allow_redirects=False).status_code == 303


def test_a_login_without_the_form_csrf_token_is_refused(server: Server) -> None:
    session = requests.Session()
    login_form_csrf(session, server.url)
    response = session.post(f"{server.url}/login", data={"token": server.token},
                            allow_redirects=False)
    assert response.status_code == 403
    assert "photoledger_session" not in session.cookies


def test_the_right_token_gives_a_strict_http_only_session(server: Server) -> None:
    session, response = sign_in(server, server.token)
    assert response.status_code == 303
    cookie = next(c for c in response.headers["set-cookie"].split(", ")
                  if c.startswith("photoledger_session="))
    assert "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain HTTP on loopback
    assert session.cookies["photoledger_session"] not in (server.token, "")


def test_the_dashboard_shows_the_library_figures(server: Server) -> None:
    session, _ = sign_in(server, server.token)
    page = session.get(f"{server.url}/")
    assert page.status_code == 200
    with open_reader(server.library.config, settings_for(server.library)) as services:
        report = run_status(services)
    assert report.totals["assets"] == 4
    text = re.sub(r"\s+", " ", page.text)
    assert '<td>known in the ledger</td><td class="n">4</td>' in text
    assert '<td>downloaded</td><td class="n">1</td>' in text
    for stage in report.stages:
        assert f'<td>{stage.stage}</td><td class="n">{stage.waiting}</td>' in text
    download_stage = next(s for s in report.stages if s.stage == "download")
    assert download_stage.waiting == 3
    assert re.search(r"\d+\.\d (KiB|MiB|GiB)", text)  # bytes in human units
    assert "<td>seed</td>" in text  # the recent runs


def test_logout_needs_its_csrf_token(server: Server) -> None:
    session, _ = sign_in(server, server.token)
    page = session.get(f"{server.url}/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    refused = session.post(f"{server.url}/logout", data={}, allow_redirects=False)
    assert refused.status_code == 403
    wrong = session.post(f"{server.url}/logout", data={"csrf": "x" + found.group(1)},
                         allow_redirects=False)
    assert wrong.status_code == 403
    assert session.get(f"{server.url}/", allow_redirects=False).status_code == 200
    cookie = session.cookies["photoledger_session"]
    done = session.post(f"{server.url}/logout", data={"csrf": found.group(1)},
                        allow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/login"
    # the old cookie is dead on the server, not only deleted in this browser
    again = requests.get(f"{server.url}/", cookies={"photoledger_session": cookie},
                         allow_redirects=False)
    assert again.status_code == 303


def test_the_token_file_is_private_and_holds_only_a_hash(server: Server) -> None:
    path = server.store.path
    assert path == server.library.config_path.parent / "photoledger-web.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert server.token not in path.read_text()
    assert server.store.ensure() is None  # kept across starts
    assert server.store.verify(server.token)
    renewed = server.store.ensure(renew=True)
    assert renewed is not None and renewed != server.token
    assert not server.store.verify(server.token)
    assert server.store.verify(renewed)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "nas.local"])
def test_a_non_loopback_host_without_tls_is_a_usage_error(tmp_path: Path, host: str) -> None:
    library = make_library(tmp_path)
    result = run_cli(["serve", "--host", host], library.config_path)
    assert result.returncode == ExitCode.USAGE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--insecure-lan" in lines[0]
    assert not (tmp_path / "photoledger-web.token").exists()


def test_tls_files_go_together(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    result = run_cli(["serve", "--tls-cert", str(cert)], library.config_path)
    assert result.returncode == ExitCode.USAGE
    assert "go together" in result.stderr


def test_over_tls_the_session_cookie_is_secure(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    with serving(tmp_path, (cert, key)) as server:
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        session.verify = str(cert)
        _, response = sign_in(server, server.token, session)
        assert response.status_code == 303
        cookie = next(c for c in response.headers["set-cookie"].split(", ")
                      if c.startswith("photoledger_session="))
        assert "; secure" in cookie.lower()
        assert session.get(f"{server.url}/").status_code == 200


def test_the_command_shows_the_token_once_and_serves_with_it(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    seed(library)
    port = free_port()
    args = [sys.executable, "-c", "from commands import main; main()",
            "--config", str(library.config_path), "serve", "--port", str(port)]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert first.stdout is not None
        line = first.stdout.readline()
        assert line.startswith("access token (shown once"), line
        token = line.rsplit(" ", 1)[1].strip()
        assert first.stdout.readline().startswith(f"serving http://127.0.0.1:{port}/")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{url}/login", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        running = Server(url, token, library, TokenStore.beside(library.config_path))
        session, response = sign_in(running, token)
        assert response.status_code == 303
        assert session.get(f"{url}/").status_code == 200
    finally:
        first.terminate()
        first.wait(10)
    second = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
    try:
        assert second.stdout is not None
        assert second.stdout.readline().startswith("serving ")  # no token the second time
    finally:
        second.terminate()
        second.wait(10)


def test_a_waiting_2fa_code_is_an_alarm_above_the_figures(server: Server) -> None:
    error = TwoFactorCodeRequestedError("sent", "trusted_device", {})
    record_request(state_path(server.library.config.state_dir), error, "jdoe@example.com",
                   utc_now())
    session, _ = sign_in(server, server.token)
    text = session.get(f"{server.url}/").text
    assert "waiting for a 2FA code since" in text
    assert text.index('class="alarm"') < text.index("<h2>Library</h2>")


def test_damaged_last_copies_come_first_and_bytes_read_in_units(server: Server) -> None:
    with open_reader(server.library.config, settings_for(server.library)) as services:
        report = run_status(services)
    damaged = replace(report, icloud_login="waiting for a 2FA code", nas_damage=[
        {"asset_id": "a", "nas_relpath": "x", "is_last_copy": False, "message": "x damaged"},
        {"asset_id": "b", "nas_relpath": "y", "is_last_copy": True, "message": "y LAST copy"},
    ])
    board = dashboard_of(damaged)
    assert [(a.text, a.severe) for a in board.alarms] == [
        ("y LAST copy", True), ("x damaged", False), ("waiting for a 2FA code", False)]
    assert [human_bytes(n) for n in (None, 0, 1023, 1536, 5 * 2**20, 3 * 2**40)] == [
        "-", "0 B", "1023 B", "1.5 KiB", "5.0 MiB", "3.0 TiB"]


def test_a_form_that_is_too_large_or_not_urlencoded_fails_its_check(server: Server) -> None:
    session = requests.Session()
    csrf = login_form_csrf(session, server.url)
    big = session.post(f"{server.url}/login", allow_redirects=False,
                       data={"token": server.token, "csrf": csrf, "pad": "x" * 20000})
    assert big.status_code == 403
    as_json = session.post(f"{server.url}/login", allow_redirects=False,
                           json={"token": server.token, "csrf": csrf})
    assert as_json.status_code == 403
    assert "photoledger_session" not in session.cookies


def test_a_damaged_token_file_is_one_error_line_naming_new_token(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    (tmp_path / "photoledger-web.token").write_text("not json")
    result = run_cli(["serve", "--port", str(free_port())], library.config_path)
    assert result.returncode == ExitCode.CONFIG
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--new-token" in result.stderr
