"""Raw CloudKit calls for the Photos container: JSON in, JSON out, Apple's errors mapped.

Invariants:
- Every call is a POST to `<ckdatabasews>/database/1/com.apple.photos.cloud/production/<db>/<op>`
  with the query parameters pyicloud's Photos service sends (client ids, dsid, remapEnums,
  getCurrentSyncToken); the JSON answer is returned untouched for the tolerant parser.
- Calls go through per-thread sessions that start from a copy of the logged-in cookie jar and
  carry the redirect/counting adapter; they never write pyicloud's session files, so parallel
  calls cannot corrupt them. A re-login makes every thread start from the new jar.
- 429/503/5xx, THROTTLED-like codes, dropped connections and unreadable bodies are retried with
  bounded backoff; 401/421/450 and AUTHENTICATION_* mean the session expired: one re-login, one
  more try, then AuthenticationError. ACCESS_DENIED is WebAccessDeniedError.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from requests.cookies import RequestsCookieJar

from engine.icloud.login import IcloudLogin, access_denied_error, transient_to_port_error
from engine.icloud.port import AuthenticationError, IcloudError, SyncTokenExpiredError
from engine.icloud.redirect import mount_on
from engine.icloud.retry import TransientError, execute_with_retry, parse_retry_after_s

CONTAINER_PATH = "/database/1/com.apple.photos.cloud/production"
CHANGES_OP = "changes/zone"
_SESSION_EXPIRED_STATUSES = {401, 421, 450}
_THROTTLE_STATUSES = {429, 503}
_RETRY_STATUSES = {500, 502, 504}
_THROTTLE_CODES = {"THROTTLED", "TRY_AGAIN_LATER", "ZONE_BUSY", "RATE_LIMITED"}
_AUTH_CODES = {"AUTHENTICATION_REQUIRED", "AUTHENTICATION_FAILED"}
_EXPIRED_TOKEN_CODES = {
    "CHANGE_TOKEN_EXPIRED",
    "SYNC_TOKEN_EXPIRED",
    "BAD_SYNC_TOKEN",
    "INVALID_SYNC_TOKEN",
    "BAD_REQUEST",
}


class SessionExpiredError(Exception):
    """Apple no longer accepts the session's cookies: log in again."""


@dataclass(frozen=True)
class CloudKitTimeouts:
    connect_s: float = 10.0
    read_s: float = 60.0


class CloudKitClient:
    """POSTs to the Photos container on behalf of one logged-in account."""

    def __init__(
        self,
        login: IcloudLogin,
        *,
        timeouts: CloudKitTimeouts = CloudKitTimeouts(),
        database: str = "private",
    ) -> None:
        self._login = login
        self._timeouts = timeouts
        self._database = database
        self._local = threading.local()
        self._jar_lock = threading.Lock()

    def post(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer to `op`; port errors for everything that cannot be retried away."""
        generation = self._login.generation
        try:
            return self._post_with_retry(op, body)
        except SessionExpiredError:
            self._login.relogin(generation)
        try:
            return self._post_with_retry(op, body)
        except SessionExpiredError:
            raise AuthenticationError(
                "iCloud refused the session again right after a fresh login: run "
                "`photoledger login`"
            ) from None

    def _post_with_retry(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        counter = self._login.options.counter
        try:
            return execute_with_retry(
                self._login.options.policy,
                lambda: self._post_once(op, body),
                on_retry=lambda _e, _d: counter.add("retries"),
            )
        except TransientError as exc:
            raise transient_to_port_error(exc, f"calling CloudKit {op}") from exc

    def _post_once(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        session = self._session()
        api = self._login.api
        url = f"{self._container_url(api)}/{op}?{urlencode(_cloudkit_params(api.params))}"
        try:
            response = session.post(
                url, json=body, timeout=(self._timeouts.connect_s, self._timeouts.read_s)
            )
            status = response.status_code
            content = response.content
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise TransientError(f"{type(exc).__name__} on {op}", kind="network") from exc
        except requests.RequestException as exc:  # a body cut short, a broken chunk
            raise TransientError(f"{type(exc).__name__} on {op}", kind="unavailable") from exc
        return decide_answer(op, status, content, response.headers.get("Retry-After"), self._user)

    @property
    def _user(self) -> str:
        return self._login.options.username

    def _container_url(self, api: Any) -> str:
        try:
            root = str(api.get_webservice_url("ckdatabasews")).rstrip("/")
        except Exception as exc:
            raise IcloudError(
                "iCloud did not offer the Photos database (ckdatabasews) for this account"
            ) from exc
        return f"{root}{CONTAINER_PATH}/{self._database}"

    def _session(self) -> requests.Session:
        generation = self._login.generation
        cached = getattr(self._local, "session", None)
        if cached is not None and self._local.generation == generation:
            session: requests.Session = cached
            return session
        session = self._new_session()
        self._local.session = session
        self._local.generation = generation
        return session

    def _new_session(self) -> requests.Session:
        api_session = self._login.api.session
        session = requests.Session()
        session.headers.update(api_session.headers)
        jar = RequestsCookieJar()
        with self._jar_lock:
            for cookie in list(api_session.cookies):
                jar.set_cookie(cookie)
        session.cookies = jar
        options = self._login.options
        mount_on(session, endpoint=options.endpoint, counter=options.counter)
        return session


def _cloudkit_params(params: dict[str, Any]) -> dict[str, str]:
    merged = {**params, "remapEnums": True, "getCurrentSyncToken": True}
    return {key: str(value) for key, value in merged.items()}


def decide_answer(
    op: str, status: int, content: bytes, retry_after: str | None, username: str
) -> dict[str, Any]:
    """The JSON body of a CloudKit answer, or the error it stands for."""
    if status in _SESSION_EXPIRED_STATUSES:
        raise SessionExpiredError(f"HTTP {status}")
    if status in _THROTTLE_STATUSES or status in _RETRY_STATUSES:
        kind = "throttled" if status in _THROTTLE_STATUSES else "unavailable"
        raise TransientError(
            f"HTTP {status}", kind=kind, retry_after_s=parse_retry_after_s(retry_after)
        )
    data = _json_dict(content)
    if data is None:
        if status >= 400:
            raise IcloudError(f"iCloud answered HTTP {status} to CloudKit {op}")
        raise TransientError(f"unreadable answer to {op}", kind="unavailable")
    error = _server_error(op, data)
    if error is not None:
        raise_server_error(op, error, username)
    if status >= 400:
        raise IcloudError(f"iCloud answered HTTP {status} to CloudKit {op}")
    return data


def _json_dict(content: bytes) -> dict[str, Any] | None:
    import json

    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _server_error(op: str, data: dict[str, Any]) -> dict[str, Any] | None:
    if "serverErrorCode" in data:
        return data
    zones = data.get("zones") if op == CHANGES_OP else None
    if isinstance(zones, list):
        for zone in zones:
            if isinstance(zone, dict) and "serverErrorCode" in zone:
                return zone
    return None


def raise_server_error(op: str, error: dict[str, Any], username: str) -> None:
    """Raise the error an Apple `serverErrorCode` stands for."""
    code = str(error.get("serverErrorCode"))
    reason = " ".join(str(error.get("reason") or "").split())[:160]
    if code == "ACCESS_DENIED":
        raise access_denied_error(username)
    if code in _THROTTLE_CODES:
        raise TransientError(
            f"{code} on {op}", kind="throttled", retry_after_s=_float(error.get("retryAfter"))
        )
    if code in _AUTH_CODES:
        raise SessionExpiredError(code)
    if op == CHANGES_OP and code in _EXPIRED_TOKEN_CODES:
        raise SyncTokenExpiredError(
            f"iCloud no longer accepts the stored sync token ({code}); a full scan will reconcile"
        )
    if code == "ZONE_NOT_FOUND":
        raise IcloudError(f"the iCloud Photos zone is not there ({reason or code})")
    raise IcloudError(f"iCloud refused CloudKit {op}: {code} {reason}".rstrip())


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
