"""The 2FA state file: private, whole, per Apple ID; the back-off and the trust estimate."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.errors import ExitCode
from engine.icloud.twofa_state import (
    TRUST_DAYS,
    TwoFactorCodeRequestedError,
    read_state,
    record_request,
    record_trusted,
    trust_warning,
    waiting_reason,
    waiting_since,
)
from engine.notify import Notification
from engine.pipeline.summary import RunSummary, StageResult
from engine.pipeline.twofa_wait import WaitingForCodeError, WaitingRunSummary, waiting_port
from engine.watch import decide_exit

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
ERROR = TwoFactorCodeRequestedError("sent", "sms", {"mode": "sms"})


def test_a_request_is_recorded_privately_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "icloud-2fa.json"
    record_request(path, ERROR, "a@example.com", NOW)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    state = read_state(path, "a@example.com")
    assert (state.requested_at, state.method, dict(state.auth_options)) == (
        NOW, "sms", {"mode": "sms"})
    assert read_state(path, "b@example.com").requested_at is None  # another Apple ID
    assert ERROR.exit_code == ExitCode.AUTH_FAILED


def test_a_damaged_state_file_means_nothing_pending(tmp_path: Path) -> None:
    path = tmp_path / "icloud-2fa.json"
    path.write_text("{not json")
    assert read_state(path, "a@example.com").requested_at is None


def test_the_wait_lasts_until_the_back_off_passes(tmp_path: Path) -> None:
    path = tmp_path / "icloud-2fa.json"
    state = record_request(path, ERROR, "a@example.com", NOW)
    assert waiting_since(state, NOW + timedelta(hours=23), 24) == NOW
    assert waiting_since(state, NOW + timedelta(hours=24), 24) is None
    assert waiting_reason(NOW) == ("waiting for a 2FA code since 2026-12-06T03:00:00+00:00: "
                                   "photoledger login --submit-code CODE")


def test_an_accepted_code_ends_the_wait_and_starts_the_trust(tmp_path: Path) -> None:
    path = tmp_path / "icloud-2fa.json"
    record_request(path, ERROR, "a@example.com", NOW)
    record_trusted(path, "a@example.com", NOW)
    state = read_state(path, "a@example.com")
    assert waiting_since(state, NOW, 24) is None
    assert trust_warning(state, NOW + timedelta(days=TRUST_DAYS - 8), 7) is None
    soon = trust_warning(state, NOW + timedelta(days=TRUST_DAYS - 6), 7)
    assert soon is not None and "about 6 days" in soon and "estimated" in soon
    over = trust_warning(state, NOW + timedelta(days=TRUST_DAYS + 1), 7)
    assert over is not None and "probably ended" in over


def test_a_waiting_pass_exits_auth_failed_unless_the_alarm_outranks_it() -> None:
    waiting = WaitingRunSummary(waiting_reason="waiting for a 2FA code since x")
    waiting.stages.append(StageResult("compress", "failed", "disk", int(ExitCode.STORAGE)))
    assert waiting.exit_code == ExitCode.AUTH_FAILED
    assert waiting.headline == "waiting for a 2FA code since x"
    waiting.damage_code, waiting.damage = ExitCode.LAST_COPY_DAMAGED, ["ALARM"]
    assert waiting.exit_code == ExitCode.LAST_COPY_DAMAGED


def test_watch_exits_with_the_last_cycles_code_when_it_failed() -> None:
    failed = RunSummary(stages=[StageResult("discover", "failed", "no", 11)])
    attention = RunSummary(notifications=[Notification("quarantined", "1 new")])
    assert attention.exit_code == ExitCode.NEEDS_ATTENTION
    assert decide_exit(None) == (ExitCode.OK, "")
    assert decide_exit(failed) == (ExitCode.ICLOUD_UNAVAILABLE, "discover failed: no")
    assert decide_exit(attention)[0] == ExitCode.OK


def test_while_waiting_the_stages_get_a_port_that_never_signs_in() -> None:
    port = waiting_port("waiting for a 2FA code since x")
    with pytest.raises(WaitingForCodeError, match="waiting for a 2FA code since x"):
        port.login()
    port.close()
    assert WaitingForCodeError("x").exit_code == ExitCode.AUTH_FAILED
