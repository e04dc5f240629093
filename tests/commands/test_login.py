"""`photoledger login` against the iCloud simulator: headless codes, FIFOs, exit codes, reuse."""

from __future__ import annotations

import os
import secrets
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from commands.context import Settings
from commands.login import login_command
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode, PhotoledgerError
from engine.icloud.login import WrongTwoFactorCodeError
from engine.icloud.login_flow import INTERACTIVE_ATTEMPTS, run_login
from engine.services import utc_now
from simulator.icloud.server import SimulatorServer
from tests.factories import Library
from tests.sim import PASSWORD, USERNAME, TinyPhotoDatabase, start_simulator


@pytest.fixture(autouse=True)
def _icloud_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOLEDGER_ICLOUD_PASSWORD", PASSWORD)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorServer]:
    with start_simulator(TinyPhotoDatabase()) as running:
        monkeypatch.setenv("PHOTOLEDGER_ICLOUD_ENDPOINT", running.base_url)
        yield running


def invoke(library: Library, *args: str) -> tuple[int, str]:
    """(exit code as the CLI's error mapper would give it, output or error message)."""
    settings = Settings(
        config_path=library.config_path,
        crash=CrashPoints(),
        clock=utc_now,
        show_progress=False,
        warn=lambda _m: None,
    )
    result = CliRunner().invoke(login_command, list(args), obj=settings)
    if isinstance(result.exception, PhotoledgerError):
        return int(result.exception.exit_code), str(result.exception)
    return result.exit_code, result.output


def _request_paths(server: SimulatorServer) -> list[str]:
    return [entry.path for entry in server.requests.entries()]


def test_login_keeps_a_private_session_that_the_next_login_reuses(
    server: SimulatorServer, library: Library
) -> None:
    code, output = invoke(library)
    assert code == ExitCode.OK, output
    assert "logged in to iCloud as jdoe@example.com" in output
    session_dir = library.config_path.parent / "session"
    assert stat.S_IMODE(session_dir.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in session_dir.iterdir())
    server.requests.reset()
    code, _ = invoke(library)
    assert code == ExitCode.OK
    assert _request_paths(server) == ["/setup/ws/1/validate"]


def test_wrong_password_exits_10(
    server: SimulatorServer, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOLEDGER_ICLOUD_PASSWORD", "wrong")
    code, message = invoke(library)
    assert code == ExitCode.AUTH_FAILED == 10
    assert "wrong password" in message
    assert "\n" not in message


def test_password_from_the_dotenv_file_beside_the_config(
    server: SimulatorServer, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHOTOLEDGER_ICLOUD_PASSWORD")
    (library.config_path.parent / ".env").write_text(
        f"# secrets\nPHOTOLEDGER_ICLOUD_PASSWORD='{PASSWORD}'\n"
    )
    assert invoke(library)[0] == ExitCode.OK


def test_no_password_anywhere_headless_exits_10(
    server: SimulatorServer, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHOTOLEDGER_ICLOUD_PASSWORD")
    code, message = invoke(library)
    assert code == ExitCode.AUTH_FAILED
    assert "PHOTOLEDGER_ICLOUD_PASSWORD" in message


@pytest.fixture
def two_factor_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatorServer]:
    with start_simulator(TinyPhotoDatabase(), two_factor="device") as running:
        monkeypatch.setenv("PHOTOLEDGER_ICLOUD_ENDPOINT", running.base_url)
        yield running


def test_2fa_headless_without_a_code_exits_10_and_says_what_to_do(
    two_factor_server: SimulatorServer, library: Library
) -> None:
    code, message = invoke(library)
    assert code == ExitCode.AUTH_FAILED
    assert "photoledger login" in message


def test_2fa_with_code_option(
    two_factor_server: SimulatorServer, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_randbelow = secrets.randbelow

    def next_code_is_424242(upper: int) -> int:  # only the simulator draws six-digit codes
        return 424242 if upper == 1_000_000 else real_randbelow(upper)

    monkeypatch.setattr(secrets, "randbelow", next_code_is_424242)
    assert invoke(library, "--code", "111111")[0] == ExitCode.AUTH_FAILED  # wrong code
    code, output = invoke(library, "--code", "424242")
    assert code == ExitCode.OK, output
    two_factor_server.requests.reset()
    assert invoke(library)[0] == ExitCode.OK  # trusted: no code needed any more
    assert _request_paths(two_factor_server) == ["/setup/ws/1/validate"]


def test_2fa_code_from_a_fifo(
    two_factor_server: SimulatorServer, library: Library, tmp_path: Path
) -> None:
    fifo = tmp_path / "code.fifo"
    os.mkfifo(fifo)

    def write_code_when_sent() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            code = two_factor_server.pending_code(USERNAME)
            if code is not None:
                with fifo.open("w") as handle:
                    handle.write(code + "\n")
                return
            time.sleep(0.01)

    writer = threading.Thread(target=write_code_when_sent)
    writer.start()
    code, output = invoke(library, "--code-file", str(fifo))
    writer.join(timeout=10)
    assert code == ExitCode.OK, output


def test_code_and_code_file_together_is_a_usage_error(library: Library, tmp_path: Path) -> None:
    code, output = invoke(library, "--code", "1", "--code-file", str(tmp_path / "c"))
    assert code == ExitCode.USAGE
    assert "only one of --code, --code-file" in output


def test_request_code_and_submit_code_together_is_a_usage_error(library: Library) -> None:
    code, output = invoke(library, "--request-code", "--submit-code", "123456")
    assert code == ExitCode.USAGE
    assert "only one of --request-code, --submit-code" in output


def test_2fa_headless_records_the_request_so_submit_code_can_answer_it(
    two_factor_server: SimulatorServer, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, message = invoke(library)
    assert code == ExitCode.AUTH_FAILED
    assert "--submit-code" in message
    pending = two_factor_server.pending_code(USERNAME)
    assert pending is not None
    monkeypatch.delenv("PHOTOLEDGER_ICLOUD_PASSWORD")
    code, output = invoke(library, "--submit-code", pending)
    assert code == ExitCode.OK, output


def test_at_a_terminal_a_mistyped_code_is_asked_for_again(
    two_factor_server: SimulatorServer, library: Library
) -> None:
    asked: list[str] = []

    def prompt(method: str) -> str:  # what a person types: a typo first, then the code
        asked.append(method)
        pending = two_factor_server.pending_code(USERNAME)
        assert pending is not None
        return "000000" if pending != "000000" and len(asked) == 1 else pending

    report = run_login(library.config, password_prompt=None, code_source=prompt,
                       environ=os.environ, now=utc_now(), code_attempts=INTERACTIVE_ATTEMPTS)
    assert report.two_factor_passed
    assert asked == ["trusted_device", "trusted_device"]
    assert two_factor_server.requests.count(path_prefix="/appleauth/auth/signin/complete") == 1


def test_a_code_given_with_code_is_not_retried(
    two_factor_server: SimulatorServer, library: Library
) -> None:
    with pytest.raises(WrongTwoFactorCodeError, match="--submit-code"):
        run_login(library.config, password_prompt=None, code_source=lambda _m: "000000",
                  environ=os.environ, now=utc_now())
    assert two_factor_server.requests.count(
        path_prefix="/appleauth/auth/verify/trusteddevice/securitycode") == 1


def test_save_password_keeps_it_in_the_keyring_for_later_logins(
    server: SimulatorServer, library: Library, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    import keyring

    from engine.icloud.credentials import KEYRING_SERVICE

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # the keyring's file
    before = keyring.get_keyring()
    keyring.set_keyring(keyring.core.load_keyring("keyrings.alt.file.PlaintextKeyring"))
    request.addfinalizer(lambda: keyring.set_keyring(before))

    code, output = invoke(library, "--save-password")

    assert code == ExitCode.OK, output
    assert f"password of {USERNAME} kept in the OS keyring" in output
    assert keyring.get_password(KEYRING_SERVICE, USERNAME) == PASSWORD
    # Later sign-ins need no password in the environment: the keyring gives it.
    monkeypatch.delenv("PHOTOLEDGER_ICLOUD_PASSWORD")
    (library.config_path.parent / "session").rename(tmp_path / "old-session")
    code, output = invoke(library)
    assert code == ExitCode.OK, output


def test_save_password_without_a_working_keyring_is_a_config_error(
    server: SimulatorServer, library: Library, request: pytest.FixtureRequest
) -> None:
    import keyring

    before = keyring.get_keyring()
    keyring.set_keyring(keyring.core.load_keyring("keyring.backends.null.Keyring"))
    request.addfinalizer(lambda: keyring.set_keyring(before))

    code, message = invoke(library, "--save-password")  # the null keyring drops it

    assert code == ExitCode.CONFIG, message
    assert "PHOTOLEDGER_ICLOUD_PASSWORD_FILE" in message


def test_save_password_headless_without_a_password_is_a_usage_error(
    server: SimulatorServer, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHOTOLEDGER_ICLOUD_PASSWORD")
    code, message = invoke(library, "--save-password")
    assert code == 2, message
    assert "--save-password needs the password" in message
