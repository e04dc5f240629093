"""kill -9 at every named crash point, then rerun: nothing lost, nothing duplicated.

(style-and-reliability.md part B, test 1.) A writer (tests/reliability/writer_script.py) is run
in a subprocess with PHOTOLEDGER_CRASH_AT=<point>; it must die by SIGKILL exactly where the point
says (checked by what the ledger and the projection hold after the kill). A rerun without the
variable must then finish the job: every asset once, contiguous versions, projection == replay
at the ledger's head, no temp file left.
"""

from __future__ import annotations

import importlib
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.crashpoints import CRASH_ENV, CRASH_POINTS
from engine.errors import ExitCode
from tests.factories import REPO_ROOT, Library, make_library, run_cli
from tests.reliability.invariants import (
    assert_library_consistent,
    assert_versions_contiguous,
    events_by_type,
)
from tests.reliability.writer_script import asset_id

ASSETS, BATCH = 40, 10

# Every crash point the parametrized kill test covers; the meta-test below fails when
# engine.crashpoints.CRASH_POINTS gains a point that is not listed here.
CRASH_TESTS: dict[str, str] = {
    "ledger.before_save": "events built, killed before the transaction: the batch is not recorded",
    "ledger.after_save": "batch committed, killed before the projection caught up",
    "projection.before_commit": "projection rows written, killed inside the open transaction",
}


def _after_crash(point: str, armed_at_save: int) -> tuple[int, int, bool]:
    """What the library must hold after the kill: (assets in ledger, in projection, lagging?).

    Save 0 records the run, save k >= 1 records asset batch k; points are armed before save K.
    """
    done_before = max(armed_at_save - 1, 0) * BATCH  # batches saved and projected before K
    if point == "ledger.before_save":
        return done_before, done_before, False
    if point in ("ledger.after_save", "projection.before_commit"):
        return armed_at_save * BATCH, done_before, True
    raise AssertionError(f"no expectation for crash point {point}: add one")


@dataclass(frozen=True)
class WriterRun:
    pid: int
    returncode: int
    stdout: str
    stderr: str


def run_writer(library: Library, *, crash_at: str | None = None, armed_at_save: int = 0) -> WriterRun:
    """Run writer_script to completion (or to its death) in a subprocess."""
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_at is not None:
        env[CRASH_ENV] = crash_at
    with subprocess.Popen(
        [
            sys.executable, "-m", "tests.reliability.writer_script", str(library.config_path),
            "--assets", str(ASSETS), "--batch", str(BATCH),
            "--arm-before-save", str(armed_at_save),
        ],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:
        stdout, stderr = process.communicate(timeout=60)
    return WriterRun(process.pid, process.returncode, stdout, stderr)


def _ledger_and_projection_counts(library: Library) -> tuple[int, int, int, int]:
    """(assets in ledger, ledger head, assets in projection, projection position)."""
    ledger = library.open_ledger()
    try:
        assets = len(events_by_type(ledger)["Discovered"])
        head = ledger.max_position()
        assert_versions_contiguous(ledger)  # even a killed writer never leaves a gap
    finally:
        ledger.close()
    projection = library.open_projection()
    try:
        projected = int(projection._con.execute("SELECT COUNT(*) FROM media").fetchone()[0])
        position = projection.position()
    finally:
        projection.close()
    return assets, head, projected, position


def covered_crash_points() -> set[str]:
    """Every point named by a `*CRASH_TESTS` dict in a tests/reliability/test_*.py module."""
    covered: set[str] = set()
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        module = importlib.import_module(f"tests.reliability.{path.stem}")
        for name, value in vars(module).items():
            if name.endswith("CRASH_TESTS") and isinstance(value, dict):
                covered |= set(value)
    return covered


def test_every_crash_point_has_a_kill_test() -> None:
    covered = covered_crash_points()
    assert covered == CRASH_POINTS, (
        f"crash points without a kill test: {sorted(CRASH_POINTS - covered)}; "
        f"tests for points that no longer exist: {sorted(covered - CRASH_POINTS)}"
    )


def test_writer_without_crash_point_completes_in_one_run(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    done = run_writer(library)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"done {ASSETS} 0"
    assert_library_consistent(library, {asset_id(i).hex for i in range(ASSETS)}, tmp_path / "s")
    again = run_writer(library)  # idempotent: a second run adds nothing
    assert again.stdout.splitlines()[-1] == f"done 0 {ASSETS}"
    assert_library_consistent(library, {asset_id(i).hex for i in range(ASSETS)}, tmp_path / "s")


@pytest.mark.parametrize("armed_at_save", [0, 2], ids=["first-save", "mid-job"])
@pytest.mark.parametrize("point", sorted(CRASH_TESTS))
def test_kill_at_crash_point_then_rerun_loses_and_duplicates_nothing(
    tmp_path: Path, point: str, armed_at_save: int
) -> None:
    library = make_library(tmp_path)

    killed = run_writer(library, crash_at=point, armed_at_save=armed_at_save)

    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    assert killed.stderr == ""  # died at the point, not by an error on the way
    assets, head, projected, position = _ledger_and_projection_counts(library)
    want_assets, want_projected, lagging = _after_crash(point, armed_at_save)
    assert (assets, projected) == (want_assets, want_projected)
    assert (position < head) is lagging

    rerun = run_writer(library)

    assert rerun.returncode == 0, rerun.stderr
    lines = rerun.stdout.splitlines()
    assert lines[0] == f"stale-lock {killed.pid} {socket.gethostname()}"  # the lock was taken over
    assert lines[-1] == f"done {ASSETS - want_assets} {want_assets}"  # skipped what was recorded
    assert_library_consistent(library, {asset_id(i).hex for i in range(ASSETS)}, tmp_path / "s")


def test_unknown_crash_point_is_a_config_error(library: Library) -> None:
    before = library.ledger_path.read_bytes()

    result = run_cli(["status"], library.config_path, env={CRASH_ENV: "ledger.nowhere"})

    assert result.returncode == ExitCode.CONFIG
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("photoledger: error:")
    assert "ledger.nowhere" in lines[0] and CRASH_ENV in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert library.ledger_path.read_bytes() == before
