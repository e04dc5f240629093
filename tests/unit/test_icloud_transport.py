"""Retry timing and the redirect adapter, with an injected clock and a local echo server."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from engine.icloud.port import CallCounts
from engine.icloud.redirect import (
    ORIGINAL_HOST_HEADER,
    CallCounter,
    call_kind,
    is_apple_host,
    mount_on,
)
from engine.icloud.retry import (
    RetryPolicy,
    TransientError,
    execute_with_retry,
    parse_retry_after_s,
)


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now_s += seconds

    def __call__(self) -> float:
        return self.now_s


def policy(clock: FakeClock, **overrides: Any) -> RetryPolicy:
    options: dict[str, Any] = {
        "max_attempts": 5,
        "max_total_s": 100.0,
        "base_delay_s": 1.0,
        "max_delay_s": 8.0,
        "sleep": clock.sleep,
        "clock": clock,
        "rng": random.Random(3),
    }
    return RetryPolicy(**(options | overrides))


def failing(times: int, retry_after_s: float | None = None) -> Any:
    calls = {"n": 0}

    def operation() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise TransientError("503", kind="throttled", retry_after_s=retry_after_s)
        return "ok"

    operation.calls = calls  # type: ignore[attr-defined]
    return operation


def test_full_jitter_stays_under_the_exponential_ceiling() -> None:
    clock = FakeClock()
    assert execute_with_retry(policy(clock), failing(4)) == "ok"
    assert len(clock.sleeps) == 4
    for number, slept in enumerate(clock.sleeps, start=1):
        assert 0 <= slept <= min(8.0, 2 ** (number - 1))


def test_retry_after_is_honoured() -> None:
    clock = FakeClock()
    execute_with_retry(policy(clock), failing(2, retry_after_s=30))
    assert clock.sleeps == [30, 30]


def test_attempts_are_bounded() -> None:
    clock = FakeClock()
    operation = failing(100)
    with pytest.raises(TransientError):
        execute_with_retry(policy(clock, max_attempts=3), operation)
    assert operation.calls["n"] == 3


def test_total_time_is_bounded() -> None:
    clock = FakeClock()
    operation = failing(100, retry_after_s=40)
    with pytest.raises(TransientError):
        execute_with_retry(policy(clock, max_total_s=100.0), operation)
    assert clock.now_s <= 100.0
    assert operation.calls["n"] == 3  # waits of 40 + 40; a third would end past 100 s


def test_other_errors_are_not_retried() -> None:
    clock = FakeClock()

    def broken() -> None:
        raise ValueError("bug")

    with pytest.raises(ValueError):
        execute_with_retry(policy(clock), broken)
    assert clock.sleeps == []


def test_retry_after_parsing() -> None:
    assert parse_retry_after_s("12") == 12
    assert parse_retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after_s(None) is None
    assert parse_retry_after_s("-1") is None


@pytest.mark.parametrize(
    ("host", "apple"),
    [
        ("idmsa.apple.com", True),
        ("setup.icloud.com", True),
        ("setup.icloud.com.cn", True),
        ("p42-ckdatabasews.icloud.com", True),
        ("cvws.icloud-content.com", True),
        ("cvws.icloud-content.com.cn", True),
        ("example.com", False),
        ("notapple.com", False),
        ("icloud.com.evil.org", False),
    ],
)
def test_apple_hosts(host: str, apple: bool) -> None:
    assert is_apple_host(host) is apple


def test_call_kinds() -> None:
    assert call_kind("p42-ckdatabasews.icloud.com") == "cloudkit"
    assert call_kind("cvws.icloud-content.com") == "content"
    assert call_kind("idmsa.apple.com") == "login"


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "X-APPLE-WEBAUTH-TOKEN=abc; Domain=.icloud.com; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_apple_requests_are_redirected_and_keep_their_apple_url(echo_url: str) -> None:
    counts = CallCounts()
    session = requests.Session()
    mount_on(session, endpoint=echo_url, counter=CallCounter(counts))
    response = session.get("https://setup.icloud.com/setup/ws/1/validate?a=1&b=2")
    seen = response.json()
    assert seen["path"] == "/setup/ws/1/validate?a=1&b=2"
    assert seen["headers"][ORIGINAL_HOST_HEADER] == "setup.icloud.com"
    assert response.url == "https://setup.icloud.com/setup/ws/1/validate?a=1&b=2"
    assert session.cookies.get("X-APPLE-WEBAUTH-TOKEN", domain=".icloud.com") == "abc"
    assert counts.login == 1


def test_other_hosts_pass_through_untouched(echo_url: str) -> None:
    counts = CallCounts()
    session = requests.Session()
    mount_on(session, endpoint="http://127.0.0.1:9", counter=CallCounter(counts))
    seen = session.get(f"{echo_url}/plain?x=1").json()
    assert seen["path"] == "/plain?x=1"
    assert ORIGINAL_HOST_HEADER not in seen["headers"]
