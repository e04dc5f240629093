"""2FA that waits for a person, against the simulator with the real pyicloud over HTTP: one
code request per wait however many cycles run, the two-step headless login across processes,
a wrong code then the right one, and the trust state `status` reads."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ExitCode
from engine.icloud.twofa_state import STATE_NAME
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.server import SimulatorServer
from tests.factories import Library, make_library, run_cli
from tests.sim import PASSWORD, USERNAME, start_simulator

SIGNIN = "/appleauth/auth/signin/complete"
SCRIPT = """#!/bin/sh
echo "--- $PHOTOLEDGER_EVENT" >> "$0.log"
"""


@pytest.fixture
def server() -> Iterator[SimulatorServer]:
    database = generate_library(GeneratorSpec(assets=4, seed=3, include_malformed=False,
                                              shared_assets=0, size_scale=0.01))
    with start_simulator(database, two_factor="device") as running:
        yield running


@pytest.fixture
def world(tmp_path: Path) -> Library:
    library = make_library(tmp_path)
    script = tmp_path / "notify.sh"
    script.write_text(SCRIPT)
    script.chmod(0o755)
    text = library.config_path.read_text().replace("  script: null", f"  script: {script}")
    library.config_path.write_text(text)
    return Library(library.config_path, load_config(library.config_path))


def cli(library: Library, server: SimulatorServer, *args: str, password: bool = True,
        timeout: float = 180) -> tuple[int, str, str]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD if password else ""}
    result = run_cli(["--no-progress", *args], library.config_path, env=env, timeout=timeout)
    return result.returncode, result.stdout, result.stderr


def sent_events(library: Library) -> list[str]:
    log = library.config_path.parent / "notify.sh.log"
    if not log.exists():
        return []
    return [line[4:] for line in log.read_text().splitlines() if line.startswith("--- ")]


def two_step_login(library: Library, server: SimulatorServer) -> None:
    code, out, err = cli(library, server, "login", "--request-code")
    assert code == ExitCode.OK, err
    assert "--submit-code" in out
    pending = server.pending_code(USERNAME)
    assert pending is not None
    code, out, err = cli(library, server, "login", "--submit-code", pending, password=False)
    assert code == ExitCode.OK, err
    assert "logged in to iCloud" in out


def expire_session_and_trust(server: SimulatorServer) -> None:
    """Apple forgot the session and its trust: only a password login with 2FA works again."""
    server.expire_sessions(include_session_tokens=True)
    server.accounts[USERNAME].trust_tokens.clear()


def test_request_then_submit_in_two_processes_without_the_password(
    world: Library, server: SimulatorServer
) -> None:
    two_step_login(world, server)
    state_file = world.config.state_dir / STATE_NAME
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    state = json.loads(state_file.read_text())
    assert state["requested_at"] is None and state["trusted_at"] is not None
    assert PASSWORD not in state_file.read_text()
    session_dir = world.config_path.parent / "session"
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in session_dir.iterdir())
    assert not any(PASSWORD in p.read_text() for p in session_dir.iterdir())
    server.requests.reset()
    code, _, err = cli(world, server, "login", password=False)  # trusted: no code, no password
    assert code == ExitCode.OK, err
    assert server.requests.count(path_prefix=SIGNIN) == 0
    code, out, err = cli(world, server, "login", "--request-code")  # trusted: nothing to ask
    assert code == ExitCode.OK and "logged in to iCloud" in out, err
    assert server.requests.count(path_prefix=SIGNIN) == 0


def test_a_wrong_code_keeps_the_sign_in_waiting_for_the_right_one(
    world: Library, server: SimulatorServer
) -> None:
    assert cli(world, server, "login", "--request-code")[0] == ExitCode.OK
    pending = server.pending_code(USERNAME)
    assert pending is not None
    wrong = f"{(int(pending) + 1) % 1_000_000:06d}"
    code, _, err = cli(world, server, "login", "--submit-code", wrong, password=False)
    assert code == ExitCode.AUTH_FAILED
    message = [line for line in err.splitlines() if line.startswith("photoledger: error:")]
    assert len(message) == 1 and "try again" in message[0] and "--submit-code" in message[0]
    code, _, err = cli(world, server, "login", "--submit-code", pending, password=False)
    assert code == ExitCode.OK, err
    assert server.requests.count(path_prefix=SIGNIN) == 1  # one sign-in, two attempts


def test_submit_without_a_waiting_sign_in_says_request_first(
    world: Library, server: SimulatorServer
) -> None:
    code, _, err = cli(world, server, "login", "--submit-code", "123456", password=False)
    assert code == ExitCode.AUTH_FAILED
    assert "--request-code" in err


def test_expired_session_in_watch_asks_apple_once_and_notifies_once(
    world: Library, server: SimulatorServer
) -> None:
    two_step_login(world, server)
    expire_session_and_trust(server)
    server.requests.reset()
    code, out, err = cli(world, server, "watch", "--cycles", "5", "--interval", "1",
                         timeout=300)
    assert code == ExitCode.AUTH_FAILED, err  # every cycle waited: the watcher says so
    assert server.requests.count(path_prefix=SIGNIN) == 1  # one sign-in, one code
    assert sent_events(world).count("2fa-needed") == 1
    cycles = [line for line in out.splitlines() if line.startswith("cycle ")]
    assert len(cycles) == 5 and all("exit 10" in line for line in cycles)
    assert all("discover skipped" in line for line in cycles[1:])
    assert "waiting for a 2FA code since" in err and "--submit-code" in err

    code, out, err = cli(world, server, "run", "--json")  # still waiting: skipped, exit 10
    summary = json.loads(out)
    stages = {s["stage"]: s for s in summary["stages"]}
    for stage in ("discover", "download", "album-move", "delete"):
        assert stages[stage]["status"] == "skipped"
        assert stages[stage]["detail"].startswith("waiting for a 2FA code since ")
        assert stages[stage]["detail"].endswith(": photoledger login --submit-code CODE")
    assert code == summary["exit_code"] == ExitCode.AUTH_FAILED
    assert server.requests.count(path_prefix=SIGNIN) == 1

    code, out, _ = cli(world, server, "status")
    assert "waiting for a 2FA code since" in out

    pending = server.pending_code(USERNAME)
    assert pending is not None  # the code of the one request answers the waiting sign-in
    code, _, err = cli(world, server, "login", "--submit-code", pending, password=False)
    assert code == ExitCode.OK, err
    code, out, err = cli(world, server, "run", "--json")
    stages = {s["stage"]: s for s in json.loads(out)["stages"]}
    assert stages["discover"]["status"] == "ok", err
    assert server.requests.count(path_prefix=SIGNIN) == 1
    assert sent_events(world).count("2fa-needed") == 1


def test_the_back_off_lets_a_later_cycle_ask_again(
    world: Library, server: SimulatorServer
) -> None:
    text = world.config_path.read_text()
    assert "  twofa_retry_after_hours: 24\n" in text
    world.config_path.write_text(text.replace("  twofa_retry_after_hours: 24\n",
                                              "  twofa_retry_after_hours: 0.0005\n"))  # 1.8 s
    code, _, err = cli(world, server, "watch", "--cycles", "3", "--interval", "2")
    assert code == ExitCode.AUTH_FAILED, err
    asked = server.requests.count(path_prefix=SIGNIN)
    assert 2 <= asked <= 3  # a new sign-in only once the back-off passed
    assert sent_events(world).count("2fa-needed") == asked


def test_watch_exits_with_the_failed_cycles_code(
    world: Library, server: SimulatorServer
) -> None:
    server.accounts[USERNAME].two_factor = "none"
    env_wrong = {"PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url,
                 "PHOTOLEDGER_ICLOUD_PASSWORD": "wrong password",
                 "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    result = run_cli(["--no-progress", "watch", "--cycles", "2", "--interval", "0"],
                     world.config_path, env=env_wrong)
    assert result.returncode == ExitCode.AUTH_FAILED, result.stderr
    assert result.stdout.count("exit 10") == 2
    assert "photoledger: error: the last cycle failed: discover failed" in result.stderr
    code, out, err = cli(world, server, "watch", "--cycles", "2", "--interval", "0")
    assert code == ExitCode.OK, err  # 15 (needs attention) is no failure either
    assert out.count("cycle ") == 2


def test_status_and_one_notification_warn_before_the_trust_ends(
    world: Library, server: SimulatorServer
) -> None:
    two_step_login(world, server)
    code, out, _ = cli(world, server, "status")
    assert "iCloud trusts this session until about" in out and "estimated" in out
    state_file = world.config.state_dir / STATE_NAME
    state = json.loads(state_file.read_text())
    long_ago = datetime.now(UTC) - timedelta(days=55)  # trust ends in about 5 days
    state["trusted_at"] = long_ago.isoformat(timespec="seconds")
    state_file.write_text(json.dumps(state))
    text = world.config_path.read_text()
    assert "backup-damaged, trust-expiring]" in text  # on by default
    code, out, _ = cli(world, server, "status")
    assert "ends in about 4 days" in out
    for _ in range(2):
        code, _, err = cli(world, server, "run")
        assert code in (ExitCode.OK, ExitCode.NEEDS_ATTENTION), err  # a warning, not a failure
    assert sent_events(world).count("trust-expiring") == 1  # at most once a day


def test_request_then_submit_an_sms_code_in_two_processes(world: Library) -> None:
    database = generate_library(GeneratorSpec(assets=1, seed=4, include_malformed=False,
                                              shared_assets=0, size_scale=0.01))
    with start_simulator(database, two_factor="sms") as sms_server:
        two_step_login(world, sms_server)
        verify = "/appleauth/auth/verify/phone"
        assert sms_server.requests.count(path_prefix=verify) == 2  # one SMS sent, one check
        assert sms_server.requests.count(path_prefix=f"{verify}/securitycode") == 1
        state = json.loads((world.config.state_dir / STATE_NAME).read_text())
        assert state["trusted_at"] is not None
