"""Discovery's memory stays flat as the library grows: 10,000 against 100,000 fast-mode assets.

Invariants:
- The measured `photoledger discover` is a process of its own, started exactly as a user
  would (the console entry point, PHOTOLEDGER_ICLOUD_ENDPOINT); the simulator serves from
  another process (serve_library.py), so neither's memory counts against the other.
- The peak is the kernel's high-water mark of resident memory (VmHWM) of exactly that
  child's address space, written by the child as it exits: nothing is sampled, so no short
  peak is missed, and the test process's own size never leaks into the figure.
- Each size gets a fresh library and a fresh simulator: nothing is shared between the two runs.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from engine.config import load_config
from tests.factories import REPO_ROOT, make_library
from tests.sim import PASSWORD, USERNAME

SMALL_ASSETS = 10_000
LARGE_ASSETS = 100_000
SIZE_SCALE = 0.0001  # sizes only appear in the records; no byte is downloaded here
PEAK_BUDGET_MB = 200.0
FLAT_FACTOR = 1.5
FLAT_SLACK_MB = 30.0
SERVER_START_TIMEOUT_S = 120.0


@contextmanager
def simulator_process(assets: int) -> Iterator[str]:
    """A simulator serving `assets` generated assets from a child process; yields its endpoint."""
    command = [sys.executable, "-m", "tests.scenarios.serve_library", "--assets", str(assets)]
    server = subprocess.Popen(
        [*command, "--size-scale", str(SIZE_SCALE)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        ready, _, _ = select.select([server.stdout], [], [], SERVER_START_TIMEOUT_S)
        assert ready, "the simulator process did not start in time"
        word, port = server.stdout.readline().split()
        assert word == "port"
        yield f"http://127.0.0.1:{int(port)}"
    finally:
        server.stdin.close()  # its signal to stop
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def measure_discover(folder: Path, endpoint: str) -> tuple[dict[str, Any], float]:
    """Run `photoledger discover --json` on a fresh library; its summary and peak RSS in MB."""
    folder.mkdir()
    library = make_library(folder)
    text = library.config_path.read_text().replace("jdoe@example.com", USERNAME)
    library.config_path.write_text(text)
    load_config(library.config_path)  # the edited config must still be valid
    env = {
        **os.environ,
        "PHOTOLEDGER_ICLOUD_ENDPOINT": endpoint,
        "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD,
    }
    args = ["--config", str(library.config_path), "--no-progress", "discover", "--json"]
    out_path, err_path = folder / "stdout.txt", folder / "stderr.txt"
    with out_path.open("w") as out, err_path.open("w") as err:
        child = subprocess.run(
            [sys.executable, "-c", _REPORT_PEAK + "from commands import main; main()", *args],
            stdout=out,
            stderr=err,
            env={**env, "PEAK_FILE": str(folder / "peak_kib.txt")},
            cwd=REPO_ROOT,
            check=False,
        )
    assert child.returncode == 0, err_path.read_text()[-2000:]
    summary: dict[str, Any] = json.loads(out_path.read_text())
    return summary, int((folder / "peak_kib.txt").read_text()) / 1024


# The child's own high-water mark (VmHWM of its address space, which exec starts afresh). The
# rusage of a waited child is not used: Linux carries the parent's peak over fork and exec,
# so a child of a large test process would report the test process's memory.
_REPORT_PEAK = """
import atexit, os
def _report_peak():
    with open("/proc/self/status") as status:
        kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PEAK_FILE"], "w") as out:
        out.write(kib)
atexit.register(_report_peak)
"""


@pytest.mark.slow  # about 65 s on two cores: 110,000 assets listed, parsed and recorded
def test_discovery_memory_is_flat_from_10k_to_100k_assets(tmp_path: Path) -> None:
    peaks_mb: dict[int, float] = {}
    for assets in (SMALL_ASSETS, LARGE_ASSETS):
        with simulator_process(assets) as endpoint:
            summary, peaks_mb[assets] = measure_discover(tmp_path / str(assets), endpoint)
        assert summary["mode"] == "full"
        assert summary["counts"]["Discovered"] >= 0.99 * assets  # a few are deleted in iCloud
        assert summary["listed"] >= summary["counts"]["Discovered"]
    small, large = peaks_mb[SMALL_ASSETS], peaks_mb[LARGE_ASSETS]
    report = f"peak RSS: {small:.0f} MB for 10k assets, {large:.0f} MB for 100k"
    assert large < PEAK_BUDGET_MB, report
    assert large < FLAT_FACTOR * small + FLAT_SLACK_MB, report
