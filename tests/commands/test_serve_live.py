"""The live progress endpoints over real HTTP, beside a real writer in another process.

- Without a session /progress and /progress/cancel send the browser to /login and the event
  stream is a 401; nothing is signalled.
- The event stream's first event is the writer's snapshot in words (stage, files, bytes in
  binary units, rate); a killed writer's snapshot, or one whose pid is another process now,
  reads as not running and cannot be cancelled.
- Cancel without its CSRF token is 403 and the writer runs on; for another run it is refused;
  confirmed, the writer stops by SIGTERM as Ctrl-C would: exit 130, RunFinished
  `interrupted`, and the stream says so.
- `run` feeds the board from its stages and leaves it finished with its exit code.
- The stream sends one event per change, a comment to keep it alive, and ends after a while
  (the browser reconnects after the `retry` it was given).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from engine.progress_board import Snapshot, progress_path, read_snapshot, write_snapshot
from engine.services import open_reader
from engine.status import run_status
from engine.web import live
from tests.commands.test_serve import Server, serving, settings_for, sign_in
from tests.factories import run_cli
from tests.scenarios.fault_world import open_world
from tests.sim import PASSWORD

# A writer as every command opens one (engine.services.open_writer), reporting a download.
WRITER = """
import sys, time
from pathlib import Path
from engine.config import load_config
from engine.crashpoints import CrashPoints
from engine.services import open_writer, utc_now
from commands.context import Settings
config = load_config(Path(sys.argv[1]))
settings = Settings(Path(sys.argv[1]), CrashPoints(), utc_now, False, print)
try:
    with open_writer(config, settings, "download") as services:
        services.progress.started("download", 10, 10 * 2**20)
        for _ in range(3):
            services.progress.advance_bytes(2**20)
            services.progress.asset_done("ok", "IMG_0001.HEIC", size_bytes=2**20)
        print("ready", flush=True)
        while True:
            time.sleep(0.05)
except KeyboardInterrupt:  # as commands.main turns it into exit 130
    sys.exit("interrupted; everything recorded so far is kept")
"""


_NONE = Snapshot(0, "", "", "", "", "")


@contextmanager
def writer(server: Server) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(server.library.config_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready", process.stderr
        deadline = time.monotonic() + 10
        while (read_snapshot(server.library.config.state_dir) or _NONE).assets_done < 3:
            assert time.monotonic() < deadline, "the board was not flushed"
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def first_event(session: requests.Session, url: str) -> dict[str, object]:
    with session.get(f"{url}/progress/events", stream=True, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                return dict(json.loads(line[len("data: "):]))
    raise AssertionError("no event")


def csrf_of(session: requests.Session, url: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', session.get(url).text)
    assert found is not None
    return found.group(1)


def test_without_a_session_nothing_is_shown_or_stopped(tmp_path: Path) -> None:
    with serving(tmp_path) as server, writer(server) as running:
        anonymous = requests.Session()
        for path in ("/progress", "/progress/cancel?run=x"):
            response = anonymous.get(server.url + path, allow_redirects=False)
            assert (response.status_code, response.headers["location"]) == (303, "/login")
        assert anonymous.get(f"{server.url}/progress/events").status_code == 401
        snapshot = read_snapshot(server.library.config.state_dir)
        assert snapshot is not None
        response = anonymous.post(f"{server.url}/progress/cancel",
                                  data={"run": snapshot.run_id, "csrf": "x"},
                                  allow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        time.sleep(0.3)
        assert running.poll() is None


def test_progress_stream_and_cancel(tmp_path: Path) -> None:
    with serving(tmp_path) as server, writer(server) as running:
        session, _ = sign_in(server, server.token)
        event = first_event(session, server.url)
        assert event["state"] == "running" and event["active"] is True
        assert (event["command"], event["phase"]) == ("download", "downloading")
        assert event["files"] == "3 of 10" and event["bytes"] == "3.0 MiB of 10.0 MiB"
        assert event["percent"] == 30 and str(event["rate"]).endswith("/s")
        assert event["pid"] == running.pid
        run_id = str(event["run_id"])
        page = session.get(f"{server.url}/progress").text
        assert "3.0 MiB of 10.0 MiB" in page and f"pid {running.pid}" in page
        assert event["last"] == "IMG_0001.HEIC" and event["problems"] == 0
        dashboard = session.get(f"{server.url}/").text
        assert 'id="live"' in dashboard  # the panel, filled by the same stream,
        assert "3.0 MiB of 10.0 MiB" in dashboard  # and right without JavaScript
        confirm = session.get(f"{server.url}/progress/cancel?run={run_id}").text
        assert "Yes, stop it" in confirm and run_id in confirm
        csrf = csrf_of(session, f"{server.url}/")
        # No CSRF token: refused, and the writer runs on.
        response = session.post(f"{server.url}/progress/cancel", data={"run": run_id})
        assert response.status_code == 403
        # Another run than the one reporting: refused.
        response = session.post(f"{server.url}/progress/cancel",
                                data={"run": "0" * 32, "csrf": csrf})
        assert response.status_code == 409 and "nothing was stopped" in response.text
        time.sleep(0.3)
        assert running.poll() is None
        response = session.post(f"{server.url}/progress/cancel",
                                data={"run": run_id, "csrf": csrf}, allow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/progress?cancelling={run_id}"
        assert running.wait(20) == 1  # the KeyboardInterrupt came, and was handled
        assert "interrupted" in running.stderr.read()  # type: ignore[union-attr]
        event = first_event(session, server.url)
        assert event["state"] == "finished" and event["active"] is False
        assert (event["outcome"], event["exit_code"]) == ("interrupted", 130)
        assert "stopped as asked" in str(event["headline"])
        library = server.library
        with open_reader(library.config, settings_for(library)) as services:
            last = run_status(services).last_run
        assert last is not None and last["outcome"] == "interrupted"  # the ledger's word
        response = session.post(f"{server.url}/progress/cancel",
                                data={"run": run_id, "csrf": csrf})
        assert response.status_code == 409 and "already ended" in response.text


def test_a_killed_writers_snapshot_reads_as_not_running(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        session, _ = sign_in(server, server.token)
        assert "no command has reported" in str(first_event(session, server.url)["headline"])
        with writer(server) as running:
            running.kill()
            running.wait()
        # Its pid is now another process's: the lock table says it holds no lock.
        bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            state_dir = server.library.config.state_dir
            killed = read_snapshot(state_dir)
            assert killed is not None and not killed.is_finished
            reused = Snapshot(**{**killed.__dict__, "pid": bystander.pid,
                                 "host": socket.gethostname()})
            write_snapshot(progress_path(state_dir), reused, durable=False)
            event = first_event(session, server.url)
            assert event["state"] == "stopped" and event["active"] is False
            assert "stopped without recording its end" in str(event["headline"])
            csrf = csrf_of(session, f"{server.url}/")
            response = session.post(f"{server.url}/progress/cancel",
                                    data={"run": killed.run_id, "csrf": csrf})
            assert response.status_code == 409 and "does not hold" in response.text
            time.sleep(0.3)
            assert bystander.poll() is None
        finally:
            bystander.kill()
            bystander.wait()
        assert os.path.exists(progress_path(state_dir))


def test_run_feeds_the_board_from_its_stages(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=4) as world:
        env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": world.server.base_url,
               "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
        result = run_cli(["--no-progress", "run", "--json"], world.library.config_path, env=env)
        assert result.returncode in (0, 15), result.stderr
        board = read_snapshot(world.library.config.state_dir)
        assert board is not None and board.command == "run" and board.is_finished
        assert board.exit_code == result.returncode
        assert board.outcome == ("ok" if result.returncode == 0 else "needs_attention")
        assert board.phase  # the stages reported through it, not only the run's start
        assert board.pid != os.getpid() and board.host == socket.gethostname()


def test_the_stream_keeps_alive_and_ends_for_the_browser_to_reconnect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "STREAM_S", 1.5)
    monkeypatch.setattr(live, "KEEPALIVE_S", 0.4)
    with serving(tmp_path) as server:
        session, _ = sign_in(server, server.token)
        started = time.monotonic()
        with session.get(f"{server.url}/progress/events", stream=True, timeout=10) as response:
            assert response.headers["cache-control"] == "no-store"
            lines = list(response.iter_lines(decode_unicode=True))
        assert time.monotonic() - started < 8  # it ended by itself
        assert lines[0] == "retry: 2000"  # how soon the browser comes back
        assert lines.count("event: progress") == 1  # nothing changed: one event only
        assert ": still here" in lines  # comments keep proxies from closing it
