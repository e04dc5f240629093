"""Test helpers for the web UI: `photoledger serve` for real, as a subprocess on a free loopback
port, and a requests session signed in with its access token.

The token is read from the command's own first line (it is shown once, at first start), so a
test signs in exactly as a person would.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

TOKEN_LINE = re.compile(r"^access token .*: (\S+)$")


@dataclass
class CliServer:
    url: str
    token: str
    process: subprocess.Popen[str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_cli(config_path: Path, env: dict[str, str] | None = None,
              *extra_args: str) -> Iterator[CliServer]:
    """`photoledger serve` in a subprocess (first start: it prints the token), until the
    block ends; SIGTERM then, SIGKILL after 10 s."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", "from commands import main; main()", "--config",
         str(config_path), "--no-progress", "serve", "--port", str(port), *extra_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})})
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        found = TOKEN_LINE.match(first)
        assert found, f"no token line: {first!r} {process.stderr.read() if process.poll() else ''}"
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, process)
        yield CliServer(url, found.group(1), process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_up(url: str, process: subprocess.Popen[str], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited early"
        try:
            requests.get(f"{url}/login", timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("serve did not start listening")


def login_form_csrf(session: requests.Session, url: str) -> str:
    page = session.get(f"{url}/login")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def signed_in(url: str, token: str) -> requests.Session:
    """A requests session past /login with `token` (asserts the login worked)."""
    session = requests.Session()
    csrf = login_form_csrf(session, url)
    response = session.post(f"{url}/login", data={"token": token, "csrf": csrf},
                            allow_redirects=False)
    assert response.status_code == 303, response.text
    return session


def page_csrf(session: requests.Session, url: str) -> str:
    """The CSRF token a signed-in page's forms carry."""
    found = re.search(r'name="csrf" value="([^"]+)"', session.get(url).text)
    assert found is not None
    return found.group(1)
