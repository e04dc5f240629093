"""`login --import-icloudpd-session`: a session the real pyicloud made against the simulator,
left as icloudpd leaves it (`<name>` LWP jar + `<name>.session`), is taken over and the
next sign-in makes no 2FA request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.errors import ExitCode
from engine.icloud.icloudpd_session import file_stem
from simulator.icloud.server import SimulatorServer
from tests.commands.test_login import invoke
from tests.factories import Library
from tests.sim import PASSWORD, USERNAME, TinyPhotoDatabase, connect_pyicloud, start_simulator

TWO_FACTOR_PATHS = ("securitycode", "/verify/", "2sv/trust")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorServer]:
    monkeypatch.setenv("PHOTOLEDGER_ICLOUD_PASSWORD", PASSWORD)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    with start_simulator(TinyPhotoDatabase(), two_factor="device") as running:
        monkeypatch.setenv("PHOTOLEDGER_ICLOUD_ENDPOINT", running.base_url)
        yield running


def icloudpd_folder(server: SimulatorServer, folder: Path) -> Path:
    """Sign in with the real pyicloud, pass 2FA, trust: what `icloudpd --auth-only` leaves."""
    api = connect_pyicloud(server, cookie_dir=folder)
    assert api.requires_2fa
    code = server.pending_code(USERNAME)
    assert code is not None and api.validate_2fa_code(code) and api.trust_session()
    stem = file_stem(USERNAME)
    (folder / f"{stem}.cookiejar").rename(folder / stem)  # icloudpd's jar has no extension
    return folder


def two_factor_requests(server: SimulatorServer) -> list[str]:
    return [e.path for e in server.requests.entries() if any(p in e.path for p in TWO_FACTOR_PATHS)]


def test_an_icloudpd_session_is_taken_over_and_needs_no_2fa(
    server: SimulatorServer, library: Library, tmp_path: Path
) -> None:
    folder = icloudpd_folder(server, tmp_path / "pyicloud")
    server.requests.reset()
    code, output = invoke(library, "--import-icloudpd-session", str(folder))
    assert code == ExitCode.OK, output
    assert "with a 2FA trust token" in output
    assert two_factor_requests(server) == []
    session_dir = library.config.resolve(library.config.settings.icloud.session_dir)
    for name in (f"{file_stem(USERNAME)}.session", f"{file_stem(USERNAME)}.cookiejar"):
        assert (session_dir / name).stat().st_mode & 0o777 == 0o600
    server.requests.reset()
    assert invoke(library)[0] == ExitCode.OK  # the next run: no code either
    assert two_factor_requests(server) == []
    own = (session_dir / f"{file_stem(USERNAME)}.session").read_bytes()
    code, output = invoke(library, "--import-icloudpd-session", str(folder))  # again
    assert code == ExitCode.OK and "before-icloudpd-import" in output
    kept = session_dir / f"{file_stem(USERNAME)}.session.before-icloudpd-import"
    assert kept.read_bytes() == own and kept.stat().st_mode & 0o777 == 0o600


def test_the_trust_token_alone_skips_2fa_after_a_new_password_sign_in(
    server: SimulatorServer, library: Library, tmp_path: Path
) -> None:
    folder = icloudpd_folder(server, tmp_path / "pyicloud")
    session = folder / f"{file_stem(USERNAME)}.session"
    data = json.loads(session.read_text())
    data.pop("session_token")  # Apple forgot the web session: SRP again, with the trust token
    session.write_text(json.dumps(data))
    server.requests.reset()
    code, output = invoke(library, "--import-icloudpd-session", str(folder))
    assert code == ExitCode.OK, output
    assert any("signin/complete" in e.path for e in server.requests.entries())
    assert two_factor_requests(server) == []
    assert server.pending_code(USERNAME) is None


def test_a_folder_without_the_session_is_one_line_and_changes_nothing(
    server: SimulatorServer, library: Library, tmp_path: Path
) -> None:
    code, message = invoke(library, "--import-icloudpd-session", str(tmp_path))
    assert code == ExitCode.NOT_FOUND and "--cookie-directory" in message
    (tmp_path / f"{file_stem(USERNAME)}.session").write_text("{}")
    (tmp_path / file_stem(USERNAME)).write_text("#LWP-Cookies-2.0\n")
    code, message = invoke(library, "--import-icloudpd-session", str(tmp_path))
    assert code == ExitCode.CONFIG and "no session or trust token" in message


def test_domain_cn_signs_in_through_apples_mainland_china_hosts(
    monkeypatch: pytest.MonkeyPatch, library: Library
) -> None:
    monkeypatch.setenv("PHOTOLEDGER_ICLOUD_PASSWORD", PASSWORD)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    text = library.config_path.read_text()
    assert "  domain: com\n" in text
    library.config_path.write_text(text.replace("  domain: com\n", "  domain: cn\n"))
    with start_simulator(TinyPhotoDatabase()) as running:
        monkeypatch.setenv("PHOTOLEDGER_ICLOUD_ENDPOINT", running.base_url)
        code, output = invoke(library)
        assert code == ExitCode.OK, output
        hosts = {e.host for e in running.requests.entries()}
    assert "setup.icloud.com.cn" in hosts and "setup.icloud.com" not in hosts


def test_max_retries_and_retry_delay_are_the_retry_policy(library: Library) -> None:
    from engine.config import load_config
    from engine.icloud.factory import retry_policy

    assert retry_policy(library.config).max_attempts == 6  # icloud.max_retries 5, then give up
    text = library.config_path.read_text()
    library.config_path.write_text(text.replace("  max_retries: 5\n", "  max_retries: 0\n")
                                   .replace("  retry_delay_s: 1.0\n", "  retry_delay_s: 2.5\n"))
    policy = retry_policy(load_config(library.config_path))
    assert (policy.max_attempts, policy.base_delay_s) == (1, 2.5)  # icloudpd 1.29+: no retry
