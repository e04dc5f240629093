"""The real pyicloud logs in to the simulator over HTTP: SRP, 2FA, trust, session reuse, expiry."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from pyicloud.exceptions import (
    PyiCloudAPIResponseException,
    PyiCloudAuthRequiredException,
    PyiCloudFailedLoginException,
)

from simulator.icloud.accounts import make_salt
from simulator.icloud.contract import CONTAINER_PATH
from tests.sim import USERNAME, TinyPhotoDatabase, connect_pyicloud, start_simulator

SRP_PATHS = ["/appleauth/auth/signin/init", "/appleauth/auth/signin/complete"]


def _paths(server) -> list[tuple[str, int]]:
    return [(e.path, e.status) for e in server.requests.entries()]


def _cloudkit_query(api) -> requests.Response:
    url = f"{api.get_webservice_url('ckdatabasews')}{CONTAINER_PATH}private/records/query"
    return api.session.post(url, params=api.params, json={"query": {"recordType": "X"}})


@pytest.mark.parametrize("protocol", ["s2k", "s2k_fo"])
def test_login_without_2fa(tmp_path: Path, protocol: str) -> None:
    with start_simulator(TinyPhotoDatabase(), protocol=protocol) as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path)
        account = server.accounts[USERNAME]
        assert not api.requires_2fa
        assert api.is_trusted_session
        assert api.data["dsInfo"]["dsid"] == account.dsid
        assert api.get_webservice_url("ckdatabasews").startswith("https://p42-ckdatabasews")
        assert _paths(server) == [
            ("/appleauth/auth/authorize/signin", 200),
            ("/appleauth/auth/signin/init", 200),
            ("/appleauth/auth/signin/complete", 200),
            ("/setup/ws/1/accountLogin", 200),
        ]
        api.photos  # noqa: B018 - requestWebAccessState + the indexing-state query
        assert server.requests.count(kind="cloudkit", status=200) == 1


def test_wrong_password_is_a_failed_login(tmp_path: Path) -> None:
    with start_simulator(TinyPhotoDatabase()) as server:
        with pytest.raises(PyiCloudFailedLoginException, match="Invalid email/password"):
            connect_pyicloud(server, password="wrong", cookie_dir=tmp_path)
        assert ("/appleauth/auth/signin/complete", 401) in _paths(server)
        assert server.requests.count(path_prefix="/setup/ws/1/accountLogin") == 0


def test_unknown_account_fails_like_a_wrong_password(tmp_path: Path) -> None:
    with (
        start_simulator(TinyPhotoDatabase()) as server,
        pytest.raises(PyiCloudFailedLoginException, match="Invalid email/password"),
    ):
        connect_pyicloud(server, username="nobody@example.com", cookie_dir=tmp_path)


def test_503_at_signin_is_a_failed_login_carrying_the_code_and_is_transient(
    tmp_path: Path,
) -> None:
    with start_simulator(TinyPhotoDatabase()) as server:
        server.faults.throttle_signin(times=1)
        with pytest.raises(PyiCloudFailedLoginException) as caught:
            connect_pyicloud(server, cookie_dir=tmp_path / "a")
        assert "Failed to initiate srp" in str(caught.value)
        assert caught.value.args[1].code == 503
        assert connect_pyicloud(server, cookie_dir=tmp_path / "b").is_trusted_session


@pytest.mark.parametrize("mode", ["device", "sms"])
def test_2fa_wrong_code_then_right_code_then_trusted(tmp_path: Path, mode: str) -> None:
    with start_simulator(TinyPhotoDatabase(), two_factor=mode) as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path)
        assert api.requires_2fa
        assert not api.is_trusted_session
        assert ("/appleauth/auth/signin/complete", 409) in _paths(server)
        sms_sends = server.requests.count(path_prefix="/appleauth/auth/verify/phone", status=200)
        assert sms_sends == (1 if mode == "sms" else 0)
        code = server.pending_code(USERNAME)
        assert code is not None
        assert len(code) == 6
        assert code.isdigit()
        wrong = "000000" if code != "000000" else "111111"
        assert api.validate_2fa_code(wrong) is False
        assert not api.is_trusted_session
        assert api.validate_2fa_code(code) is True
        assert api.is_trusted_session
        assert not api.requires_2fa
        assert server.requests.count(path_prefix="/appleauth/auth/2sv/trust", status=204) == 1
        assert api.session.data.get("trust_token")
        api.photos  # noqa: B018 - a trusted session reaches CloudKit


def test_a_code_works_only_once(tmp_path: Path) -> None:
    with start_simulator(TinyPhotoDatabase(), two_factor="device") as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path / "a")
        code = server.pending_code(USERNAME)
        assert code is not None
        assert api.validate_2fa_code(code)
        assert server.pending_code(USERNAME) is None
        second = connect_pyicloud(server, cookie_dir=tmp_path / "b")
        assert second.requires_2fa
        if server.pending_code(USERNAME) != code:
            assert second.validate_2fa_code(code) is False


def test_second_service_with_the_same_cookie_directory_reuses_the_session(
    tmp_path: Path,
) -> None:
    with start_simulator(TinyPhotoDatabase(), two_factor="device") as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path)
        assert api.validate_2fa_code(server.pending_code(USERNAME) or "")
        server.requests.reset()
        again = connect_pyicloud(server, cookie_dir=tmp_path)
        assert again.is_trusted_session
        assert _paths(server) == [("/setup/ws/1/validate", 200)]


def test_after_trust_a_fresh_srp_login_skips_2fa(tmp_path: Path) -> None:
    with start_simulator(TinyPhotoDatabase(), two_factor="sms") as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path)
        assert api.validate_2fa_code(server.pending_code(USERNAME) or "")
        # Kill web and session tokens: only SRP (with the stored trust token) can log in now.
        server.expire_sessions(include_session_tokens=True)
        server.requests.reset()
        again = connect_pyicloud(server, cookie_dir=tmp_path)
        assert again.is_trusted_session
        assert not again.requires_2fa
        assert ("/appleauth/auth/signin/complete", 200) in _paths(server)
        assert server.requests.count(path_prefix="/appleauth/auth/verify") == 0


def test_without_trust_a_new_login_needs_2fa_again(tmp_path: Path) -> None:
    with start_simulator(TinyPhotoDatabase(), two_factor="device") as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path / "a")
        assert api.validate_2fa_code(server.pending_code(USERNAME) or "")
        elsewhere = connect_pyicloud(server, cookie_dir=tmp_path / "b")
        assert elsewhere.requires_2fa


def test_expired_session_answers_421_until_reauthentication(tmp_path: Path) -> None:
    with start_simulator(TinyPhotoDatabase()) as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path)
        assert _cloudkit_query(api).status_code == 200
        assert server.expire_sessions() == 1
        with pytest.raises(PyiCloudAPIResponseException) as caught:
            _cloudkit_query(api)
        assert caught.value.code == 421
        with pytest.raises(PyiCloudAPIResponseException):
            _cloudkit_query(api)  # still refused: nothing re-authenticated yet
        api.authenticate()
        assert _cloudkit_query(api).status_code == 200


def test_expired_session_450_variant_asks_for_reauthentication(tmp_path: Path) -> None:
    with start_simulator(TinyPhotoDatabase()) as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path)
        server.expire_sessions(status=450)
        with pytest.raises(PyiCloudAuthRequiredException):
            _cloudkit_query(api)
        api.authenticate()
        assert _cloudkit_query(api).status_code == 200


def test_advanced_data_protection_is_access_denied(tmp_path: Path) -> None:
    with start_simulator(TinyPhotoDatabase(), web_access_denied=True) as server:
        api = connect_pyicloud(server, cookie_dir=tmp_path)
        with pytest.raises(PyiCloudAPIResponseException) as caught:
            api.photos  # noqa: B018
        assert caught.value.code == "ACCESS_DENIED"
        assert server.requests.count(kind="cloudkit") == 0


def test_many_logins_in_a_row_all_succeed(tmp_path: Path) -> None:
    with start_simulator(TinyPhotoDatabase(), protocol="s2k_fo") as server:
        for attempt in range(25):
            api = connect_pyicloud(server, cookie_dir=tmp_path / str(attempt))
            assert api.is_trusted_session
        assert (
            server.requests.count(path_prefix="/appleauth/auth/signin/complete", status=200) == 25
        )


def test_salts_never_start_with_a_zero_byte() -> None:
    assert all(make_salt()[0] != 0 for _ in range(20_000))
