"""The transport adapter every iCloud request goes through: counts calls, optionally redirects.

Invariants:
- Every request sent through a session this adapter is mounted on is counted once, by kind
  (login, CloudKit, content), at send time: retries and re-logins are counted too, so nothing
  the product sends to Apple escapes the counts.
- When an endpoint (`http://HOST:PORT`, read once by the command layer and passed in) is given,
  a request meant for an Apple host goes to that base URL with the same path and query, and the
  original host travels in `X-Photoledger-Original-Host`. The response's `url` and `request` are
  set back to the Apple URL, so cookies are stored and matched against the real hosts.
- Requests to any other host pass through untouched.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from engine.icloud.port import CallCounts

ORIGINAL_HOST_HEADER = "X-Photoledger-Original-Host"
DEFAULT_TIMEOUT_S = (10.0, 60.0)
"""(connect, read) seconds for requests that set no timeout of their own."""

_APPLE_SUFFIXES = (
    "apple.com",
    "icloud.com",
    "icloud-content.com",
    "apple.com.cn",
    "icloud.com.cn",
    "icloud-content.com.cn",
)


def is_apple_host(host: str) -> bool:
    """Whether a host name belongs to Apple's iCloud service (including the .com.cn variants)."""
    host = host.lower().rstrip(".")
    return any(host == suffix or host.endswith("." + suffix) for suffix in _APPLE_SUFFIXES)


def call_kind(host: str) -> str:
    """Which CallCounts field a request to this host counts against."""
    host = host.lower()
    if "icloud-content.com" in host:
        return "content"
    if "ckdatabasews" in host:
        return "cloudkit"
    return "login"


class CallCounter:
    """Thread-safe increments of a shared CallCounts."""

    def __init__(self, counts: CallCounts) -> None:
        self.counts = counts
        self._lock = threading.Lock()

    def add(self, kind: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self.counts, kind, getattr(self.counts, kind) + amount)


def validate_endpoint(endpoint: str) -> str:
    """The endpoint without a trailing slash; ValueError when it is not http(s)://HOST:PORT."""
    parts = urlsplit(endpoint)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"expected http://HOST:PORT, got {endpoint!r}")
    return endpoint.rstrip("/")


class AppleRedirectAdapter(HTTPAdapter):
    """An HTTPAdapter that counts every request and sends Apple-bound ones to `endpoint`."""

    def __init__(
        self,
        *,
        endpoint: str | None,
        counter: CallCounter | None,
        default_timeout_s: tuple[float, float] = DEFAULT_TIMEOUT_S,
    ) -> None:
        super().__init__()
        self._endpoint = validate_endpoint(endpoint) if endpoint else None
        self._counter = counter
        self._default_timeout_s = default_timeout_s

    def send(  # noqa: PLR0917 (HTTPAdapter's own signature)
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        if timeout is None:  # pyicloud's login calls set none: a stalled socket must not hang us
            timeout = self._default_timeout_s
        original_url = request.url or ""
        host = urlsplit(original_url).hostname or ""
        if self._counter is not None:
            self._counter.add(call_kind(host))
        if self._endpoint is None or not is_apple_host(host):
            return super().send(request, stream, timeout, verify, cert, proxies)
        redirected = request.copy()
        redirected.url = _rebase(original_url, self._endpoint)
        redirected.headers[ORIGINAL_HOST_HEADER] = host
        # Proxies were chosen for the Apple URL; the local endpoint is reached directly.
        response = super().send(redirected, stream, timeout, verify, cert, {})
        response.url = original_url
        response.request = request
        return response


def _rebase(url: str, endpoint: str) -> str:
    parts = urlsplit(url)
    base = urlsplit(endpoint)
    path = base.path.rstrip("/") + (parts.path or "/")
    return urlunsplit((base.scheme, base.netloc, path, parts.query, ""))


def mount_on(
    session: requests.Session, *, endpoint: str | None, counter: CallCounter | None
) -> AppleRedirectAdapter:
    """Mount one adapter for https (Apple's scheme) and http on a session; returns it."""
    adapter = AppleRedirectAdapter(endpoint=endpoint, counter=counter)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return adapter
