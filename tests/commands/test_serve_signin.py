"""The 2FA and password pages over real HTTP, against the simulator with the real pyicloud.

- Without a session every sign-in page and action sends the browser to /login; without the
  CSRF token an action is 403 and nothing reaches Apple (no code asked for, none consumed).
- With no password stored the page asks for it; it is used for that sign-in only (found in
  no file afterwards) unless "save to keyring" is ticked, which keeps it in the keyring as
  `login --save-password` does; a wrong password says so and asks Apple for nothing.
- A malformed or wrong code says so and the sign-in still waits; the right one ends the wait
  (as `login --submit-code`) and says until when Apple trusts the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
import requests

from engine.icloud.credentials import KEYRING_SERVICE
from engine.icloud.twofa_state import icloud_login_status
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.server import SimulatorServer
from tests.commands.test_serve import Server, serving, sign_in
from tests.sim import PASSWORD, USERNAME, start_simulator


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    database = generate_library(GeneratorSpec(assets=2, seed=3, include_malformed=False,
                                              shared_assets=0, size_scale=0.01))
    with start_simulator(database, two_factor="device") as running:
        yield running


@pytest.fixture
def no_password(monkeypatch: pytest.MonkeyPatch, sim: SimulatorServer) -> None:
    monkeypatch.setenv("PHOTOLEDGER_ICLOUD_ENDPOINT", sim.base_url)
    monkeypatch.delenv("PHOTOLEDGER_ICLOUD_PASSWORD", raising=False)
    monkeypatch.delenv("PHOTOLEDGER_ICLOUD_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


def csrf_of(session: requests.Session, url: str) -> str:
    text = session.get(url).text
    marker = 'name="csrf" value="'
    return text[text.index(marker) + len(marker):].split('"', 1)[0]


def waiting(server: Server) -> bool:
    from datetime import UTC, datetime

    return "waiting for a 2FA code" in (
        icloud_login_status(server.library.config, datetime.now(UTC)) or "")


def files_holding(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.mark.usefixtures("no_password")
def test_a_code_for_the_waiting_sign_in(tmp_path: Path, sim: SimulatorServer) -> None:
    with serving(tmp_path) as server:
        anonymous = requests.Session()
        for method, path in (("GET", "/signin"), ("POST", "/signin/code"),
                             ("POST", "/signin/request")):
            response = anonymous.request(method, server.url + path, data={"code": "123456"},
                                         allow_redirects=False)
            assert (response.status_code, response.headers["location"]) == (303, "/login")
        session, _ = sign_in(server, server.token)
        url = f"{server.url}/signin"
        page = session.get(url).text
        assert "No sign-in waits for a code" in page and 'name="password"' in page
        csrf = csrf_of(session, url)
        # No CSRF token: refused, and Apple is asked for nothing.
        response = session.post(f"{url}/request", data={"password": PASSWORD})
        assert response.status_code == 403 and sim.pending_code(USERNAME) is None
        response = session.post(f"{url}/request", data={"csrf": csrf})
        assert response.status_code == 400 and "type it" in response.text
        response = session.post(f"{url}/request", data={"csrf": csrf, "password": "wrong"})
        assert response.status_code == 401 and sim.pending_code(USERNAME) is None
        assert "iCloud refused that password: check it and try again." in response.text
        response = session.post(f"{url}/request", data={"csrf": csrf, "password": PASSWORD})
        assert response.status_code == 200, response.text
        assert "Apple was asked for a new code" in response.text
        pending = sim.pending_code(USERNAME)
        assert pending is not None and waiting(server)
        assert 'name="code"' in response.text and "trusted Apple device" in response.text
        assert files_holding(tmp_path, PASSWORD) == []  # used for that sign-in only
        dashboard = session.get(f"{server.url}/").text
        assert 'href="/signin"' in dashboard  # the alarm links here
        # A code without the CSRF token: refused, the code is not used up.
        response = session.post(f"{url}/code", data={"code": pending})
        assert response.status_code == 403
        assert sim.pending_code(USERNAME) == pending and waiting(server)
        response = session.post(f"{url}/code", data={"csrf": csrf, "code": "12"})
        assert response.status_code == 400 and "6 digits" in response.text
        wrong = "000000" if pending != "000000" else "111111"
        response = session.post(f"{url}/code", data={"csrf": csrf, "code": wrong})
        assert response.status_code == 400 and "did not accept that code" in response.text
        assert waiting(server) and 'name="code"' in response.text  # try again
        response = session.post(f"{url}/code", data={"csrf": csrf, "code": pending})
        assert response.status_code == 200, response.text
        assert "iCloud trusts this session until about" in response.text
        assert not waiting(server)
        response = session.post(f"{url}/code", data={"csrf": csrf, "code": pending})
        assert response.status_code == 409 and "no sign-in" in response.text


def test_save_to_keyring_keeps_the_password(tmp_path: Path, sim: SimulatorServer,
                                            monkeypatch: pytest.MonkeyPatch,
                                            request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("PHOTOLEDGER_ICLOUD_ENDPOINT", sim.base_url)
    monkeypatch.delenv("PHOTOLEDGER_ICLOUD_PASSWORD", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the keyring's file
    before = keyring.get_keyring()
    keyring.set_keyring(keyring.core.load_keyring("keyrings.alt.file.PlaintextKeyring"))
    request.addfinalizer(lambda: keyring.set_keyring(before))
    (tmp_path / "lib").mkdir()
    with serving(tmp_path / "lib") as server:
        session, _ = sign_in(server, server.token)
        url = f"{server.url}/signin"
        csrf = csrf_of(session, url)
        response = session.post(f"{url}/request",
                                data={"csrf": csrf, "password": PASSWORD, "save": "yes"})
        assert response.status_code == 200, response.text
        assert "kept in the OS keyring" in response.text
        assert keyring.get_password(KEYRING_SERVICE, USERNAME) == PASSWORD
        assert 'name="password"' not in session.get(url).text  # found now: not asked again
