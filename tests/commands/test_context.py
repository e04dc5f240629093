"""Writer commands: the lock is held, a SyncRun brackets the work, the exit code is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.context import Settings
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode, LedgerDamagedError, LockedError, NotFoundError
from engine.lock import WriterLock
from engine.services import open_writer, utc_now
from tests.factories import Library, discover

WARNINGS: list[str] = []


def settings_for(library: Library) -> Settings:
    return Settings(library.config_path, CrashPoints(), utc_now, False, WARNINGS.append)


def runs(library: Library) -> list[tuple[str, int | None, str | None]]:
    projection = library.open_projection()
    try:
        rows = projection._con.execute(
            "SELECT command, exit_code, outcome FROM runs ORDER BY started_at_utc"
        ).fetchall()
    finally:
        projection.close()
    return rows


def test_writer_run_is_bracketed_by_start_and_finish(library: Library) -> None:
    with open_writer(library.config, settings_for(library), "download") as deps:
        asset = discover(deps.run, 1)  # type: ignore[arg-type]
        deps.ledger.save(asset)
        assert (library.config.state_dir / "writer.lock").read_text().count("download") == 1
    assert runs(library) == [("download", 0, "ok")]
    assert (library.config.state_dir / "writer.lock").read_text() == ""


def test_failed_writer_records_its_exit_code_and_keeps_its_events(library: Library) -> None:
    with pytest.raises(NotFoundError):  # noqa: SIM117
        with open_writer(library.config, settings_for(library), "history") as deps:
            deps.ledger.save(discover(deps.run, 1))  # type: ignore[arg-type]
            raise NotFoundError("boom")
    assert runs(library) == [("history", int(ExitCode.NOT_FOUND), "not_found")]
    projection = library.open_projection()
    assert projection._con.execute("SELECT COUNT(*) FROM media").fetchone()[0] == 1
    projection.close()


def test_second_writer_is_refused_while_the_first_holds_the_lock(library: Library) -> None:
    holder = WriterLock(library.config.state_dir / "writer.lock", "other").acquire()
    try:
        with pytest.raises(LockedError, match="other"):  # noqa: SIM117
            with open_writer(library.config, settings_for(library), "download"):
                pass
    finally:
        holder.release()
    assert runs(library) == []


def test_missing_ledger_is_never_silently_recreated(tmp_path: Path, library: Library) -> None:
    (library.config.state_dir / "ledger.db").rename(tmp_path / "moved.db")
    with pytest.raises(LedgerDamagedError, match="no ledger at"):  # noqa: SIM117
        with open_writer(library.config, settings_for(library), "download"):
            pass
    assert not (library.config.state_dir / "ledger.db").exists()
