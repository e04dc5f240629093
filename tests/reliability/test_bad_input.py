"""Bad input: a damaged ledger, an unwritable library, broken configs (part B, test 17).

Every case must end with the documented ExitCode, exactly one line on stderr starting with
`photoledger: error:`, no traceback, and nothing recorded changed: the ledger file, its WAL and
the projection hash the same before and after, and no temp or probe file is left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ExitCode
from tests.factories import REPO_ROOT, Library, discover, download, make_library, new_run, run_cli
from tests.reliability.invariants import assert_no_stray_files, file_digest, ledger_digests

ASSETS, BATCH = 2000, 500
NOBODY = "65534"


# ---------------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Library:
    """A library with 2000 assets (a ledger of hundreds of pages); the projection has applied
    all but the last batch, as after a writer killed between its save and its catch-up."""
    library = make_library(tmp_path_factory.mktemp("base"))
    ledger = library.open_ledger()
    projection = library.open_projection()
    try:
        run = new_run()
        ledger.save(run)
        for start in range(0, ASSETS, BATCH):
            assets = [discover(run, i) for i in range(start, start + BATCH)]
            for asset in assets:
                download(asset, run)
            ledger.save(*assets)
            if start + BATCH < ASSETS:
                projection.catch_up(ledger)
        assert projection.position() < ledger.max_position()
    finally:
        projection.close()
        ledger.close()
    return library


def copy_library(base: Library, dest: Path) -> Library:
    """A private copy of `base` (the config names its own library root)."""
    source = base.config_path.parent
    shutil.copytree(source, dest)
    config_path = dest / base.config_path.name
    config_path.write_text(config_path.read_text().replace(str(source), str(dest)))
    return Library(config_path=config_path, config=load_config(config_path))


@pytest.fixture
def copy(base: Library, tmp_path: Path) -> Library:
    return copy_library(base, tmp_path / "lib")


def recorded(library: Library) -> dict[str, str | None]:
    """Digests of everything recorded: the ledger, its WAL, and the projection."""
    media = library.config.state_dir / "media.db"
    return {**ledger_digests(library), "media.db": file_digest(media)}


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: ExitCode, *needles: str
) -> str:
    """The command failed with `code` and said so in one `photoledger: error:` line."""
    assert result.returncode == code, (result.returncode, result.stderr, result.stdout)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got: {result.stderr!r}"
    assert lines[0].startswith("photoledger: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


# ---------------------------------------------------------------------------- damaged ledger


def _flip(offset: int) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[offset] ^= 0xFF
        path.write_bytes(bytes(data))

    return damage


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(path.stat().st_size))


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _half(path: Path) -> None:
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)


def _missing(path: Path) -> None:
    path.unlink()


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "header-magic-byte-flipped": (_flip(0), "is not an SQLite database"),
    "header-page-size-byte-flipped": (_flip(16), "ledger.db"),
    "header-read-version-byte-flipped": (_flip(19), "cannot be read"),
    "overwritten-with-garbage": (_garbage, "is not an SQLite database"),
    "truncated-to-0-bytes": (_empty, "is empty (0 bytes)"),
    "truncated-to-half": (_half, "is truncated"),
    "deleted": (_missing, "no ledger at"),
}


@pytest.mark.parametrize("command", ["status", "check", "rebuild"])
@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damaged_ledger_is_refused_and_left_untouched(
    copy: Library, damage: str, command: str
) -> None:
    size = copy.ledger_path.stat().st_size
    assert size > 100 * 4096, "the ledger must span many pages for the truncation case"
    damage_file, says = DAMAGES[damage]
    damage_file(copy.ledger_path)
    before = recorded(copy)

    result = run_cli([command], copy.config_path)

    if command == "check":  # check reports damage as its finding (exit 8, README), reason on stdout
        assert_one_line_error(result, ExitCode.CHECK_FAILED, "check found 1 problem")
        assert says in result.stdout, result.stdout
    else:
        assert_one_line_error(result, ExitCode.LEDGER_DAMAGED, says)
    assert recorded(copy) == before
    assert copy.ledger_path.exists() == (damage != "deleted")  # never created by a reader
    assert_no_stray_files(copy)


def _corrupt_event_state(ledger_path: Path, position: int) -> tuple[str, int]:
    """Make one stored event undecodable (on this copy); returns its id and version."""
    con = sqlite3.connect(ledger_path)
    try:
        originator_id, version, state = con.execute(
            "SELECT originator_id, originator_version, state FROM stored_events WHERE rowid = ?",
            (position,),
        ).fetchone()
        data = bytearray(state)
        data[0] = 0xC1  # never used by msgpack, and not JSON either
        with pytest.raises(ValueError):
            json.loads(bytes(data))
        with con:
            con.execute(
                "UPDATE stored_events SET state = ? WHERE rowid = ?", (bytes(data), position)
            )
    finally:
        con.close()
    return originator_id, version


def test_undecodable_event_fails_check_naming_the_event(copy: Library) -> None:
    head = 1 + 2 * ASSETS
    originator_id, version = _corrupt_event_state(copy.ledger_path, head)
    before = recorded(copy)

    result = run_cli(["check"], copy.config_path)

    assert_one_line_error(result, ExitCode.CHECK_FAILED, "check found 1 problem(s)")
    assert f"cannot decode event {originator_id} v{version} at position {head}" in result.stdout
    assert ledger_digests(copy) == {k: v for k, v in before.items() if k != "media.db"}


def test_undecodable_event_makes_status_exit_damaged(copy: Library) -> None:
    head = 1 + 2 * ASSETS  # after the projection's position: status must decode it to catch up
    originator_id, version = _corrupt_event_state(copy.ledger_path, head)
    before = recorded(copy)

    result = run_cli(["status"], copy.config_path)

    assert_one_line_error(
        result, ExitCode.LEDGER_DAMAGED, f"{originator_id} v{version} at position {head}"
    )
    assert recorded(copy) == before  # the failed catch-up rolled back


# ------------------------------------------------------------------------ unwritable library


@contextmanager
def _read_only_bind_mount(folder: Path) -> Iterator[None]:
    """Remount `folder` read-only on itself (root with mount rights only; else skip)."""
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {mounted.stderr.decode().strip()}")
    try:
        remounted = subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True
        )
        if remounted.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remounted.stderr.decode().strip()}")
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@contextmanager
def unwritable_library(
    method: str, base: Library, tmp_path: Path
) -> Iterator[tuple[Library, list[str]]]:
    """A copy of `base` whose state folder the child cannot write, and the argv prefix that
    runs the child. Root ignores permission bits, so root uses a read-only bind mount
    ("ro-mount") or runs the child as `nobody` ("nobody"); a normal user removes the folders'
    write bits ("no-write-bits"). A method this machine or user cannot use is skipped, and at
    least one of them applies to every user."""
    is_root = os.geteuid() == 0
    if method == "no-write-bits":
        if is_root:
            pytest.skip("root ignores permission bits (the ro-mount and nobody cases cover root)")
        library = copy_library(base, tmp_path / "lib")
        folders = [library.config.library_root, library.config.state_dir]
        for folder in folders:
            folder.chmod(0o555)
        try:
            yield library, []
        finally:
            for folder in folders:
                folder.chmod(0o755)
    elif method == "ro-mount":
        if not is_root:
            pytest.skip("mount needs root (the no-write-bits case covers a normal user)")
        library = copy_library(base, tmp_path / "lib")
        with _read_only_bind_mount(library.config.library_root):
            yield library, []
    elif method == "nobody":
        if not is_root or shutil.which("setpriv") is None:
            pytest.skip("running a child as nobody needs root and setpriv")
        # `nobody` must reach the copy, and pytest's tmp dirs are private to root.
        public = Path(tempfile.mkdtemp(prefix="photoledger-ro-"))
        try:
            public.chmod(0o755)
            library = copy_library(base, public / "lib")
            for path in [public, *public.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)  # readable; writable by root only
            yield library, ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        finally:
            shutil.rmtree(public)
    else:
        raise AssertionError(method)


def run_as(prefix: list[str], args: list[str], config_path: Path) -> subprocess.CompletedProcess[str]:
    """tests.factories.run_cli, behind an argv prefix (setpriv)."""
    return subprocess.run(
        [*prefix, sys.executable, "-c", "from commands import main; main()",
         "--config", str(config_path), *args],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, cwd=REPO_ROOT,
        timeout=120,
    )


@pytest.mark.parametrize("method", ["ro-mount", "nobody", "no-write-bits"])
@pytest.mark.parametrize("command", ["status", "check", "rebuild"])
def test_unwritable_library_exits_storage(
    base: Library, tmp_path: Path, command: str, method: str
) -> None:
    with unwritable_library(method, base, tmp_path) as (library, prefix):
        before = recorded(library)

        result = run_as(prefix, [command], library.config_path)

        assert_one_line_error(
            result, ExitCode.STORAGE, str(library.config.state_dir), "is not writable"
        )
        assert recorded(library) == before
        assert_no_stray_files(library)


# ---------------------------------------------------------------------------------- config


def _config(root: str, *extra: str, icloud: tuple[str, ...] = ("username", "session_dir")) -> str:
    lines = ["library:", f"  root: {json.dumps(root)}", "icloud:"]
    values = {"username": "jdoe@example.com", "session_dir": "/tmp/session"}
    lines += [f"  {key}: {values[key]}" for key in icloud]
    return "\n".join([*lines, *extra]) + "\n"


CONFIG_CASES: dict[str, tuple[Callable[[str], str], tuple[str, ...]]] = {
    "library-root-missing": (
        lambda root: _config(root + "/not-mounted"),
        ("line 2: library.root: folder ", "not-mounted does not exist"),
    ),
    "yaml-syntax-error": (
        lambda root: _config(root).replace("username: jdoe@example.com", "username: a: b"),
        ("line 4: not valid YAML",),
    ),
    "unknown-key": (
        lambda root: _config(root, "nas:", "  root: /srv/nas", "  max_verfy_age_days: 3"),
        ("line 8: nas.max_verfy_age_days: unknown key",),
    ),
    "unknown-section": (
        lambda root: _config(root, "cleanups:", "  max_delete: 3"),
        ("line 6: cleanups: unknown key",),
    ),
    "wrong-type": (
        lambda root: _config(root, "cleanup:", "  max_delete: many"),
        ("line 7: cleanup.max_delete: expected `int`, got `str`",),
    ),
    "wrong-type-in-list": (
        lambda root: _config(root, "cleanup:", "  require: [nas, dropbox]"),
        ("line 7: cleanup.require[1]: invalid enum value 'dropbox'",),
    ),
    "missing-required-key": (
        lambda root: _config(root, icloud=("session_dir",)),
        ("line 3: icloud.username: missing required value",),
    ),
    "missing-required-section": (
        lambda root: "library:\n  root: " + json.dumps(root) + "\n",
        ("icloud: missing required value",),
    ),
    "value-out-of-range": (
        lambda root: _config(root, "cleanup:", "  max_delete_fraction: 2"),
        ("line 7: cleanup.max_delete_fraction: must be above 0 and at most 1",),
    ),
    "secret-in-config": (
        lambda root: _config(root, "  password: hunter2"),
        ("line 6: icloud.password: secrets are never read from the config",),
    ),
    "not-a-mapping": (
        lambda _root: "- library\n- icloud\n",
        ("expected a mapping",),
    ),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_bad_config_exits_config_naming_key_and_line(
    copy: Library, tmp_path: Path, case: str
) -> None:
    render, needles = CONFIG_CASES[case]
    config_path = tmp_path / "bad.yaml"
    config_path.write_text(render(str(copy.config.library_root)))
    before = recorded(copy)

    result = run_cli(["status"], config_path)

    line = assert_one_line_error(result, ExitCode.CONFIG, str(config_path), *needles)
    assert "hunter2" not in line
    assert recorded(copy) == before


def test_config_file_missing_exits_config(copy: Library, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "photoledger.yaml"
    before = recorded(copy)

    result = run_cli(["status"], missing)

    assert_one_line_error(result, ExitCode.CONFIG, f"config file {missing} not found")
    assert not missing.parent.exists()
    assert recorded(copy) == before


def test_config_from_environment_variable_is_read(copy: Library) -> None:
    """The happy path of the same runner, so the refusals above are not a broken harness."""
    result = run_cli(["status", "--json"], env={"PHOTOLEDGER_CONFIG": str(copy.config_path)})

    assert result.returncode == ExitCode.OK, result.stderr
    assert json.loads(result.stdout)["totals"]["assets"] == ASSETS
    assert result.stderr == ""


# ------------------------------------------------ regressions: bugs found and fixed
# Each test below states the behaviour the product promises and fails today; strict=True makes
# the suite fail once the bug is fixed, so the marker is removed together with the fix.


def test_config_that_is_not_utf8_exits_config(copy: Library, tmp_path: Path) -> None:
    config_path = tmp_path / "latin1.yaml"
    config_path.write_bytes(_config(str(copy.config.library_root), "# caf\xe9").encode("latin-1"))

    result = run_cli(["status"], config_path)

    assert_one_line_error(result, ExitCode.CONFIG, str(config_path), "UTF-8")


def test_error_naming_a_path_with_a_closing_bracket_tag_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "backup[/]" / "photoledger.yaml"

    result = run_cli(["status"], missing)

    assert_one_line_error(result, ExitCode.CONFIG, f"config file {missing} not found")


def test_error_names_a_path_with_brackets_exactly(copy: Library, tmp_path: Path) -> None:
    root = tmp_path / "Family [iphone]" / "library"
    config_path = tmp_path / "brackets.yaml"
    config_path.write_text(_config(str(root)))

    result = run_cli(["status"], config_path)

    assert_one_line_error(result, ExitCode.CONFIG, "library.root", str(root))


# A ledger that lost recorded events (a truncated WAL dropped the last commits, or an older copy
# of ledger.db was restored) while the projection had already applied them: the projection's
# tracking position is beyond the ledger's head, and it is the only remaining trace of them.


@pytest.fixture
def ledger_lost_events(tmp_path: Path) -> tuple[Library, int, int]:
    """(library, ledger head now, projection position) after an older ledger.db came back."""
    (tmp_path / "lost").mkdir()
    library = make_library(tmp_path / "lost")
    ledger = library.open_ledger()
    projection = library.open_projection()
    try:
        run = new_run()
        first = [discover(run, i) for i in range(10)]
        ledger.save(run, *first)
        old_head = ledger.max_position()
        ledger.close()
        older_copy = library.ledger_path.read_bytes()  # closed: checkpointed, no WAL
        ledger = library.open_ledger()
        ledger.save(*[discover(run, i) for i in range(10, 20)])
        projection.catch_up(ledger)
        position = projection.position()
    finally:
        projection.close()
        ledger.close()
    library.ledger_path.write_bytes(older_copy)
    for side in ("ledger.db-wal", "ledger.db-shm"):
        library.ledger_path.with_name(side).unlink(missing_ok=True)
    assert old_head < position
    return library, old_head, position


def test_check_fails_when_the_ledger_lost_events_the_projection_applied(
    ledger_lost_events: tuple[Library, int, int],
) -> None:
    library, _, _ = ledger_lost_events

    result = run_cli(["check"], library.config_path)

    assert_one_line_error(result, ExitCode.CHECK_FAILED, "check found 1 problem(s)")


def test_status_refuses_when_the_ledger_lost_events_the_projection_applied(
    ledger_lost_events: tuple[Library, int, int],
) -> None:
    library, head, position = ledger_lost_events

    result = run_cli(["status"], library.config_path)

    assert_one_line_error(result, ExitCode.LEDGER_DAMAGED, str(head), str(position))


def test_rebuild_refuses_when_the_ledger_lost_events_the_projection_applied(
    ledger_lost_events: tuple[Library, int, int],
) -> None:
    library, head, position = ledger_lost_events
    before = recorded(library)

    result = run_cli(["rebuild"], library.config_path)

    assert_one_line_error(result, ExitCode.LEDGER_DAMAGED, str(head), str(position))
    assert recorded(library) == before
