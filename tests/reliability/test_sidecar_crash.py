"""kill -9 while the download stage writes XMP sidecars, then rerun: no half file, no double fact.

`photoledger download` runs as a real subprocess against the simulator with
PHOTOLEDGER_CRASH_AT armed at a sidecar point; the files and their Downloaded facts are saved
before the first sidecar, so the kill comes at the first sidecar. Afterwards a temp file (a
kill before the rename) or a complete sidecar without its fact (a kill after it) is all that
is left; a plain rerun writes every sidecar once, records one SidecarWritten per asset, leaves
no temp file, and the library's files match the ledger.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.config import load_config
from engine.crashpoints import CRASH_ENV
from engine.placement import TEMP_SUFFIX
from engine.tempfiles import find_temp_files
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.server import SimulatorServer
from tests.factories import Library, make_library, run_cli
from tests.reliability.invariants import assert_invariants, events_by_type
from tests.sim import PASSWORD, USERNAME, start_simulator

SIDECAR_CRASH_TESTS: dict[str, str] = {
    "sidecars.before_rename": "sidecar synced as a temp file, killed before the rename",
    "sidecars.after_write_before_save": "sidecar in place, killed before SidecarWritten",
}
ASSETS = 16


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    spec = GeneratorSpec(assets=ASSETS, seed=9, include_malformed=False, shared_assets=0,
                         size_scale=0.002)
    with start_simulator(generate_library(spec)) as running:
        yield running


def photoledger(library: Library, server: SimulatorServer, *args: str,
                crash_at: str = "") -> tuple[int, str]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url, "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD,
           CRASH_ENV: crash_at}
    result = run_cli(["--no-progress", *args], library.config_path, env=env, timeout=300)
    return result.returncode, result.stderr


def counts(library: Library, topic: str) -> dict[str, int]:
    ledger = library.open_ledger()
    try:
        return dict(events_by_type(ledger)[topic])
    finally:
        ledger.close()


def sidecars_on_disk(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.xmp") if not p.name.startswith(".")]


@pytest.mark.parametrize("point", sorted(SIDECAR_CRASH_TESTS))
def test_kill_while_writing_sidecars_then_rerun_writes_each_once(
    server: SimulatorServer, tmp_path: Path, point: str
) -> None:
    made = make_library(tmp_path)
    made.config_path.write_text(made.config_path.read_text().replace("jdoe@example.com", USERNAME))
    library = Library(made.config_path, load_config(made.config_path))
    root = library.config.library_root
    assert photoledger(library, server, "discover")[0] == 0

    code, stderr = photoledger(library, server, "download", "--workers", "2", crash_at=point)

    assert code == -signal.SIGKILL, stderr
    downloaded = counts(library, "Downloaded")
    assert downloaded, "the files were saved before the sidecars"
    assert counts(library, "SidecarWritten") == {}
    temps = find_temp_files([root])
    if point == "sidecars.before_rename":
        [temp] = temps  # the first sidecar, whole and synced, never renamed
        assert temp.name.startswith(".") and ".xmp." in temp.name
        assert temp.name.endswith(TEMP_SUFFIX)
        assert not sidecars_on_disk(root)
    else:
        assert temps == [] and len(sidecars_on_disk(root)) == 1

    code, stderr = photoledger(library, server, "download")

    assert code == 0, stderr
    written = counts(library, "SidecarWritten")
    assert set(written) == set(downloaded) and set(written.values()) == {1}
    assert len(sidecars_on_disk(root)) == len(written)
    for path in sidecars_on_disk(root):  # whole files, to the packet's last byte
        assert path.read_bytes().endswith(b'<?xpacket end="w"?>\n')
    assert_invariants(library, tmp_path / "scratch")  # no temp file; files match the facts
    assert photoledger(library, server, "download")[0] == 0
    assert counts(library, "SidecarWritten") == written  # a third run records nothing
