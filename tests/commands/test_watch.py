"""`photoledger watch`: SIGTERM in the middle of a download stops cleanly (exit 0, no temp
file), the next start resumes; a second watcher is refused; sd_notify reaches a real socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from engine.errors import ExitCode
from engine.tempfiles import find_temp_files
from engine.watch import sd_notify
from tests.factories import Library, run_cli
from tests.reliability.invariants import assert_each_resource_downloaded_once, assert_invariants
from tests.scenarios.fault_world import open_world
from tests.sim import PASSWORD


def start_watch(library: Library, base_url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PHOTOLEDGER_ICLOUD_ENDPOINT": base_url,
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD, "COLUMNS": "200"}
    return subprocess.Popen(
        [sys.executable, "-c", "from commands import main; main()", "--no-progress",
         "--config", str(library.config_path), "watch", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def downloaded(library: Library) -> dict[str, int]:
    ledger = library.open_ledger()
    try:
        counts: dict[str, int] = {}
        for raw in ledger.iter_all():
            if raw.topic == "Downloaded":
                counts[raw.originator_id] = counts.get(raw.originator_id, 0) + 1
        return counts
    finally:
        ledger.close()


def test_sigterm_mid_download_stops_cleanly_and_resumes(tmp_path: Path) -> None:
    # More assets than download workers: some are still queued when SIGTERM comes.
    with open_world(tmp_path, assets=40, size_scale=0.02) as world:
        root = world.library.config.library_root
        world.server.faults.set_bandwidth(150_000)  # slow bodies: SIGTERM lands mid-file
        watcher = start_watch(world.library, world.server.base_url, "--interval", "30")
        try:
            wait_for(lambda: any(p.suffix == ".part" for p in find_temp_files([root])))
            second = run_cli(["watch"], world.library.config_path)
            assert second.returncode == ExitCode.LOCKED and "watch" in second.stderr
            watcher.send_signal(signal.SIGTERM)
            out, err = watcher.communicate(timeout=120)
        finally:
            if watcher.poll() is None:
                watcher.kill()
        assert watcher.returncode == 0, err
        assert "watch stopped" in out
        assert find_temp_files([root]) == []
        first = downloaded(world.library)
        assert first, "the file in flight at SIGTERM was finished and filed"
        assert_invariants(world.library, tmp_path / "scratch")  # no file without its event
        world.server.faults.set_bandwidth(None)
        again = start_watch(world.library, world.server.base_url, "--cycles", "1")
        out, err = again.communicate(timeout=120)
        assert again.returncode in (ExitCode.OK, ExitCode.NEEDS_ATTENTION), err
        after = downloaded(world.library)
        assert len(after) > len(first)
        ledger = world.library.open_ledger()
        try:  # each resource of each asset exactly once, across the stop and the resume
            assert_each_resource_downloaded_once(ledger, set(after))
        finally:
            ledger.close()
        assert find_temp_files([root]) == []


def test_sd_notify_reaches_a_real_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        assert sd_notify("READY=1", {"NOTIFY_SOCKET": str(path)})
        assert server.recv(100) == b"READY=1"
    assert not sd_notify("READY=1", {})
    assert not sd_notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
