"""kill -9 inside discover and download, then rerun: each asset exactly once, no temp file left.

The simulator runs in this process; `photoledger` runs as a real subprocess that reaches it
through PHOTOLEDGER_ICLOUD_ENDPOINT, exactly as a user's run would.
"""

from __future__ import annotations

import hashlib
import signal
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from engine import events as ev
from engine.config import load_config
from engine.crashpoints import CRASH_ENV
from engine.ledger import Ledger
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.server import SimulatorServer
from tests.factories import Library, make_library, run_cli
from tests.reliability.invariants import (
    assert_each_resource_downloaded_once,
    assert_invariants,
    assert_no_stray_files,
    assert_projection_matches_replay,
    assert_versions_contiguous,
    events_by_type,
)
from tests.sim import PASSWORD, USERNAME, start_simulator

ICLOUD_CRASH_TESTS: dict[str, str] = {
    "discover.after_page_save": "first page saved, killed before the next page is read",
    "download.mid_write": "a body half written to its part file, killed mid-stream",
    "download.before_rename": "files verified as parts, killed before any rename",
    "download.after_rename_before_save": "files in place, killed before Downloaded is saved",
}
ASSETS = 260  # more than one discovery page, small files


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    spec = GeneratorSpec(assets=ASSETS, seed=7, include_malformed=False, size_scale=0.002)
    with start_simulator(generate_library(spec)) as running:
        yield running


def photoledger(
    library: Library, server: SimulatorServer, *args: str, crash_at: str | None = None
) -> tuple[int, str]:
    env = {
        "PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url,
        "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD,
        CRASH_ENV: crash_at or "",
    }
    result = run_cli(["--no-progress", *args], library.config_path, env=env, timeout=300)
    return result.returncode, result.stderr


def icloud_library(tmp_path: Path) -> Library:
    library = make_library(tmp_path)
    text = library.config_path.read_text().replace("jdoe@example.com", USERNAME)
    library.config_path.write_text(text)
    return Library(library.config_path, load_config(library.config_path))


def hidden_assets(ledger: Ledger) -> set[str]:
    """The assets iCloud listed as hidden when first seen (hex ids)."""
    found = set()
    for raw in ledger.iter_all():
        if raw.topic.endswith("Discovered"):
            first = ledger.events_of(UUID(raw.originator_id))[0]
            if isinstance(first, ev.Discovered) and first.is_hidden:
                found.add(raw.originator_id)
    return found


def assert_each_asset_once(library: Library, scratch: Path, *, downloaded: bool) -> None:
    ledger = library.open_ledger()
    try:
        counts = events_by_type(ledger)
        discovered = counts["Discovered"]
        assert len(discovered) >= ASSETS - 5 and set(discovered.values()) == {1}
        if downloaded:  # undecodable names are kept under the fallback name: none quarantined
            assert not counts["Quarantined"]
            # hidden assets are left out by the default selection (selection.hidden: skip)
            selected = set(discovered) - hidden_assets(ledger)
            assert set(counts["Downloaded"]) == selected
            assert_each_resource_downloaded_once(ledger, selected)
        assert_versions_contiguous(ledger)
        scratch.mkdir(exist_ok=True)
        assert_projection_matches_replay(library, ledger, scratch)
    finally:
        ledger.close()
    assert_no_stray_files(library)


def assert_files_match_the_ledger(library: Library) -> None:
    root = Path(library.config.settings.library.root)
    projection = library.open_projection()
    try:
        rows = projection._query(
            "SELECT local_relpath, sha256 FROM media"
            " WHERE quarantine_reason IS NULL AND local_relpath IS NOT NULL"
        )
    finally:
        projection.close()
    for relpath, sha256 in rows:
        assert hashlib.sha256((root / relpath).read_bytes()).hexdigest() == sha256
    leftovers = [p for p in root.rglob("*") if p.name.endswith(".part")]
    assert leftovers == [], leftovers


def test_kill_during_discovery_then_rerun_records_each_asset_once(
    server: SimulatorServer, tmp_path: Path
) -> None:
    library = icloud_library(tmp_path)
    code, stderr = photoledger(library, server, "discover", crash_at="discover.after_page_save")
    assert code == -signal.SIGKILL, stderr
    ledger = library.open_ledger()
    try:
        partial = len(events_by_type(ledger)["Discovered"])
    finally:
        ledger.close()
    assert 0 < partial < ASSETS - 5  # died after the first page, not before, not at the end
    code, stderr = photoledger(library, server, "discover")
    assert code == 0, stderr
    assert_each_asset_once(library, tmp_path / "scratch", downloaded=False)
    code, stderr = photoledger(library, server, "discover")  # incremental: nothing new
    assert code == 0, stderr
    assert_each_asset_once(library, tmp_path / "scratch2", downloaded=False)
    assert_invariants(library, tmp_path / "scratch3")


@pytest.mark.parametrize("point", sorted(p for p in ICLOUD_CRASH_TESTS if p.startswith("download.")))
def test_kill_during_download_then_rerun_downloads_each_asset_once(
    server: SimulatorServer, tmp_path: Path, point: str
) -> None:
    library = icloud_library(tmp_path)
    code, stderr = photoledger(library, server, "discover")
    assert code == 0, stderr
    code, stderr = photoledger(library, server, "download", "--workers", "4", crash_at=point)
    assert code == -signal.SIGKILL, stderr
    code, stderr = photoledger(library, server, "download")
    assert code == 0, stderr
    assert_each_asset_once(library, tmp_path / "scratch", downloaded=True)
    assert_files_match_the_ledger(library)
    assert_invariants(library, tmp_path / "scratch2")
