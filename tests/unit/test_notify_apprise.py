"""The Apprise channel against a real HTTP server on loopback: Apprise's json:// and ntfy://
services deliver the event name, the summary and the details; a failing endpoint is a problem
line without the URL's token; a URL Apprise rejects is a config error at load time."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from engine.config import load_config
from engine.errors import ConfigError
from engine.notify import Notification, Notifier, NotifySettings
from engine.secrets import APPRISE_URLS
from tests.unit.test_config import GOOD, write

PLAN = Notification("deletion-plan-waiting", "plan p1 with 3 assets waits",
                    {"plan_id": "p1", "assets": "3"})


class Endpoint:
    def __init__(self, status: int) -> None:
        self.status = status
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.requests.append((self.path, dict(self.headers), body))
                self.send_response(endpoint.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]


@pytest.fixture
def endpoint(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    found = Endpoint(getattr(request, "param", 200))
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


def test_json_url_delivers_event_summary_and_details(endpoint: Endpoint) -> None:
    url = f"json://127.0.0.1:{endpoint.port}/hook"
    assert Notifier(NotifySettings(apprise_urls=(url,)), {}).send(PLAN) == []
    [(path, _, body)] = endpoint.requests
    sent = json.loads(body)
    assert path == "/hook"
    assert sent["title"] == "photoledger: deletion-plan-waiting: plan p1 with 3 assets waits"
    assert "plan_id: p1" in sent["message"] and "assets: 3" in sent["message"]


def test_ntfy_url_from_a_secret_file(endpoint: Endpoint, tmp_path: Path) -> None:
    urls = tmp_path / "apprise_urls"
    urls.write_text(f"ntfy://127.0.0.1:{endpoint.port}/family-photos\n")
    notifier = Notifier(NotifySettings(), {f"{APPRISE_URLS}_FILE": str(urls)})
    assert notifier.send(Notification("2fa-needed", "enter the code")) == []
    [(_, _, body)] = endpoint.requests
    sent = json.loads(body)
    assert sent["topic"] == "family-photos"
    assert "2fa-needed" in sent["title"] and "enter the code" in sent["message"]


def test_disabled_event_sends_nothing(endpoint: Endpoint) -> None:
    url = f"json://127.0.0.1:{endpoint.port}/"
    assert Notifier(NotifySettings(apprise_urls=(url,)), {}).send(
        Notification("run-completed", "done")) == []
    assert endpoint.requests == []


@pytest.mark.parametrize("endpoint", [500], indirect=True)
def test_a_failing_service_is_a_problem_without_its_token(endpoint: Endpoint) -> None:
    url = f"json://family:tok3n-Secret-99@127.0.0.1:{endpoint.port}/"
    [problem] = Notifier(NotifySettings(apprise_urls=(url,)), {}).send(PLAN)
    assert problem.startswith("notify via Apprise URL 1 (json://")
    assert "tok3n-Secret-99" not in problem
    assert len(endpoint.requests) == 1


def test_a_url_apprise_rejects_is_a_config_error_without_its_token(tmp_path: Path) -> None:
    text = GOOD + "notify:\n  apprise_urls:\n    - json://127.0.0.1/\n    - nosuch://tok3n-Secret-99/x\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), {})
    message = str(caught.value)
    assert "line 9: notify.apprise_urls[1]: Apprise does not accept this nosuch://… URL" in message
    assert "tok3n-Secret-99" not in message
    with pytest.raises(ConfigError, match=f"{APPRISE_URLS}: Apprise does not accept this tgram"):
        load_config(write(tmp_path, GOOD), {APPRISE_URLS: "tgram://"})
