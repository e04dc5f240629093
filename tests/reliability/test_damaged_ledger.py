"""A damaged ledger stops every command that acts on what it says (part B, test 17).

A byte flipped in a page of the event table, a byte flipped in a stored event, a WAL cut in
half (the last commits lost while the projection had applied them) and a missing ledger file:
`check` fails naming the problem, and `compress`, `album-move`, `delete plan`, `delete execute`
and `run` exit LEDGER_DAMAGED with one line, before recording anything or touching a file.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.errors import ExitCode
from tests.commands.test_backup_nas import with_nas
from tests.factories import Library, make_library, run_cli
from tests.reliability.invariants import file_digest, files_under, ledger_digests
from tests.reliability.test_bad_input import assert_one_line_error
from tests.syncthing_pair import add_downloaded_assets

ASSETS = 60
EMPTY = hashlib.sha256(b"").hexdigest()
ACTING = {
    "compress": ["compress"],
    "album-move": ["album-move"],
    "delete-plan": ["delete", "plan"],
    "delete-execute": ["delete", "execute", "0" * 32],
    "run": ["run", "--execute-deletes"],
}


def caught_up(library: Library) -> None:
    ledger, projection = library.open_ledger(), library.open_projection()
    try:
        projection.catch_up(ledger)
    finally:
        projection.close()
        ledger.close()


def flip_event_page_byte(library: Library) -> str:
    """Flip the page-type byte of a leaf page of the event table (SQLite's own structure)."""
    con = sqlite3.connect(library.ledger_path)
    try:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        leaves = [row[0] for row in con.execute(
            "SELECT pageno FROM dbstat WHERE name = 'stored_events' AND pagetype = 'leaf'")]
    finally:
        con.close()
    with library.ledger_path.open("r+b") as handle:
        handle.seek((leaves[len(leaves) // 2] - 1) * page_size)
        kind = handle.read(1)[0]
        handle.seek(-1, 1)
        handle.write(bytes([kind ^ 0xFF]))
    return "sqlite integrity"


def flip_event_byte(library: Library) -> str:
    """Flip the first byte of one stored event's payload: it no longer decodes."""
    con = sqlite3.connect(library.ledger_path)
    try:
        rowid, state = con.execute(
            "SELECT rowid, state FROM stored_events ORDER BY rowid LIMIT 1 OFFSET 30").fetchone()
        with con:
            con.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                        (bytes([state[0] ^ 0xFF]) + bytes(state[1:]), rowid))
    finally:
        con.close()
    return "cannot decode event"


def remove_ledger(library: Library) -> str:
    library.ledger_path.unlink()
    return "no ledger at"


def cut_wal_in_half(library: Library) -> str:
    """Leave the ledger as a crash with a half-written WAL would: later commits lost, while
    the projection had already applied them."""
    keep = library.ledger_path.parent / "kept"
    keep.mkdir()
    ledger = library.open_ledger()
    try:
        ledger.max_position()  # a connection held open: closing the others keeps the WAL
        add_downloaded_assets(library, 10, start=ASSETS)  # into the WAL, not checkpointed
        caught_up(library)
        for name in ("ledger.db", "ledger.db-wal"):
            shutil.copy2(library.ledger_path.with_name(name), keep / name)
    finally:
        ledger.close()
    wal = keep / "ledger.db-wal"
    with wal.open("r+b") as handle:
        handle.truncate(wal.stat().st_size // 2)
    for name in ("ledger.db", "ledger.db-wal"):
        shutil.move(keep / name, library.ledger_path.with_name(name))
    library.ledger_path.with_name("ledger.db-shm").unlink(missing_ok=True)
    keep.rmdir()
    return "projection"


DAMAGES: dict[str, Callable[[Library], str]] = {
    "event-page-byte-flipped": flip_event_page_byte,
    "event-byte-flipped": flip_event_byte,
    "wal-cut-in-half": cut_wal_in_half,
    "ledger-missing": remove_ledger,
}


@pytest.fixture
def library(tmp_path: Path) -> Library:
    """Downloaded assets with real files, a NAS with its marker, the projection at the head."""
    (tmp_path / "nas").mkdir()
    library = with_nas(make_library(tmp_path), tmp_path / "nas")
    add_downloaded_assets(library, ASSETS)
    caught_up(library)
    return library


def everything(library: Library) -> dict[str, str | None]:
    """Digests of the ledger, its WAL, the projection and every file of the library."""
    state = library.config.state_dir
    files = files_under(library.config.library_root, skip=frozenset({".photoledger"}))
    return {**ledger_digests(library), "media.db": file_digest(state / "media.db"),
            **{rel: file_digest(path) for rel, path in files.items()}}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_ledger_fails_check_and_stops_every_acting_command(
    library: Library, damage: str
) -> None:
    says = DAMAGES[damage](library)
    before = everything(library)

    check = run_cli(["check"], library.config_path)

    if check.returncode == ExitCode.CHECK_FAILED:  # opened: the finding names the damage
        assert "problem: " in check.stdout and says in check.stdout, check.stdout
    else:  # could not even be opened: one line saying why
        assert_one_line_error(check, ExitCode.LEDGER_DAMAGED, says)
    for name, args in ACTING.items():
        result = run_cli(["--no-progress", *args], library.config_path)
        line = assert_one_line_error(result, ExitCode.LEDGER_DAMAGED)
        assert "damaged" in line or "no ledger" in line or "projection" in line, (name, line)
        after = everything(library)
        if damage == "wal-cut-in-half":  # SQLite's own recovery drops the torn frames
            assert after.pop("ledger.db-wal") in (before["ledger.db-wal"], EMPTY)
            assert after == {k: v for k, v in before.items() if k != "ledger.db-wal"}, name
        else:
            assert after == before, f"{name} changed something"


def damage_media_db(library: Library) -> Path:
    """Overwrite bytes in the middle of the media projection: a page of its media table."""
    path = library.config.state_dir / "media.db"
    con = sqlite3.connect(path)
    try:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = [row[0] for row in con.execute(
            "SELECT pageno FROM dbstat WHERE name = 'media' AND pagetype = 'leaf'")]
    finally:
        con.close()
    assert len(pages) > 2
    with path.open("r+b") as handle:
        handle.seek((pages[len(pages) // 2] - 1) * page_size)
        handle.write(b"\xa5" * 64)
    return path


def test_damaged_projection_is_found_by_check_named_by_status_and_repaired_by_rebuild(
    library: Library,
) -> None:
    damage_media_db(library)
    ledger_before = ledger_digests(library)

    check = run_cli(["--no-progress", "check"], library.config_path)
    assert check.returncode == ExitCode.CHECK_FAILED, (check.stdout, check.stderr)
    assert "problem: media projection" in check.stdout and "photoledger rebuild" in check.stdout
    status = run_cli(["status"], library.config_path)
    assert_one_line_error(status, ExitCode.CHECK_FAILED, "media projection", "rebuild")
    report = run_cli(["report", "backlog"], library.config_path)
    assert_one_line_error(report, ExitCode.CHECK_FAILED, "media projection", "rebuild")

    rebuild = run_cli(["--no-progress", "rebuild"], library.config_path)
    assert rebuild.returncode == 0, rebuild.stderr
    assert f"{ASSETS} assets" in rebuild.stdout
    check = run_cli(["--no-progress", "check"], library.config_path)
    assert check.returncode == 0 and "projection matches" in check.stdout, check.stdout
    status = run_cli(["status", "--json"], library.config_path)
    assert status.returncode == 0, status.stderr
    assert ledger_digests(library) == ledger_before  # the ledger was only read


def test_check_of_a_missing_ledger_exits_8_naming_it(library: Library) -> None:
    remove_ledger(library)
    check = run_cli(["--no-progress", "check"], library.config_path)
    assert check.returncode == ExitCode.CHECK_FAILED, (check.stdout, check.stderr)
    assert "problem: " in check.stdout and "no ledger at" in check.stdout
