"""The library's disk fills up during a download (part B, test 5).

The library (and its state folder) lives on a small tmpfs; `photoledger download` runs as a
real subprocess against the iCloud simulator. When the disk fills mid-download the command
exits STORAGE (6, documented, not retried) with one line, leaves no part file and records no
Downloaded for a file that is not whole; once space is freed a rerun downloads the rest.
Mounting needs root (as on CI and the dev machines); elsewhere the test is skipped.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ExitCode
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.server import SimulatorServer
from tests.factories import Library, make_library
from tests.reliability.invariants import (
    assert_each_resource_downloaded_once,
    assert_files_match_events,
    assert_invariants,
    assert_no_temp_files,
    collect_file_facts,
    events_by_type,
    files_under,
)
from tests.reliability.test_icloud_crash import photoledger
from tests.sim import USERNAME, start_simulator

ASSETS = 30
TMPFS_BYTES = 12 * 1024 * 1024  # every resource of the 30 assets (6.6 MiB) and the state


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    spec = GeneratorSpec(assets=ASSETS, seed=7, include_malformed=False, shared_assets=0,
                         size_scale=0.01)
    with start_simulator(generate_library(spec)) as running:
        yield running


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount_point = tmp_path / "library"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mount_point)],
        capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def library_on(tmp_path: Path) -> Library:
    library = make_library(tmp_path)
    text = library.config_path.read_text().replace("jdoe@example.com", USERNAME)
    library.config_path.write_text(text)
    return Library(library.config_path, load_config(library.config_path))


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def test_full_library_disk_stops_download_cleanly_and_a_rerun_completes(
    server: SimulatorServer, tmp_path: Path, small_disk: Path
) -> None:
    library = library_on(tmp_path)
    code, stderr = photoledger(library, server, "discover")
    assert code == 0, stderr
    filler = small_disk / f"filler-{uuid.uuid4().hex}"
    filler.write_bytes(b"\0" * (free_bytes(small_disk) - 600_000))

    code, stderr = photoledger(library, server, "download", "--workers", "2")

    assert code == ExitCode.STORAGE, stderr
    last = stderr.splitlines()[-1]
    assert last.startswith("photoledger: error: ") and "No space left on device" in last, stderr
    assert "Traceback" not in stderr
    assert_no_temp_files(small_disk)
    ledger = library.open_ledger()
    try:
        facts = collect_file_facts(ledger)
        counts = events_by_type(ledger)
    finally:
        ledger.close()
    # Every recorded download is whole. Files put in place whose Downloaded the full disk kept
    # out of the ledger are adopted by the rerun, as after a crash between rename and save.
    assert_files_match_events(small_disk, facts.local_now, set(files_under(small_disk)), "library")
    assert "DownloadFailed" not in counts  # a full disk is not the asset's failure
    stopped_at = len(counts["Downloaded"])
    assert stopped_at < ASSETS - 2

    filler.unlink()
    code, stderr = photoledger(library, server, "download")

    assert code == 0, stderr
    facts = assert_invariants(library, tmp_path / "scratch")
    ledger = library.open_ledger()
    try:
        counts = events_by_type(ledger)
    finally:
        ledger.close()
    assert set(counts["Downloaded"]) == set(counts["Discovered"]) - set(counts["Quarantined"])
    ledger = library.open_ledger()
    try:
        assert_each_resource_downloaded_once(ledger, set(counts["Downloaded"]))
    finally:
        ledger.close()
