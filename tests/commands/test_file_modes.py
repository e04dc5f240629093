"""Files the household can read: the modes, owner and times of what photoledger writes on the
NAS, in the library and in the Pixel outbox, whatever the umask; the state folder stays private.

Real files everywhere: the NAS route on a marked NAS folder, download against the iCloud
simulator, compress with the real encoders, the outbox with a real Syncthing pair; the owner
is set as root (a test uid) and refused to a root without CAP_CHOWN (setpriv).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from commands.context import Settings
from engine import events as ev
from engine.config import load_config
from engine.crashpoints import CrashPoints
from engine.errors import ConfigError, ExitCode
from engine.filemodes import FileModes
from engine.google.plan import SourceSeen
from engine.google.stage import place_outbox_file, resend_outbox_file
from engine.services import open_writer, utc_now
from engine.sidecar_run import write_sidecars
from tests.commands.test_backup_google import backup as backup_google
from tests.commands.test_backup_google import pair, wired  # noqa: F401 (fixtures)
from tests.commands.test_backup_nas import (
    _ENTRY,
    NasLibrary,
    all_states,
    backup,
    make_nas_library,
)
from tests.commands.test_download import download, states, world  # noqa: F401 (a fixture)
from tests.compress_library import (
    HEIC_COMPRESSION,
    CompressLibrary,
    Item,
    generate_media,
    make_compress_library,
)
from tests.factories import REPO_ROOT, Library, run_cli
from tests.syncthing_pair import SyncthingPair, add_downloaded_assets

TEST_OWNER = (12345, 12345)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(mask: int) -> Iterator[None]:
    """The process umask for the block (tests run in their own worker process)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def configure(library: Library, **keys: str) -> Library:
    """Set `section__key="value"` in the library's config (replacing the template's line)."""
    text = library.config_path.read_text()
    for dotted, value in keys.items():
        section, key = dotted.split("__")
        head, sep, rest = text.partition(f"\n{section}:\n")
        assert sep, section
        body, blank, tail = rest.partition("\n\n")
        body, count = re.subn(rf"(?m)^  {key}: .*$", f"  {key}: {value}", body)
        assert count == 1, dotted
        text = head + sep + body + blank + tail
    library.config_path.write_text(text)
    return Library(library.config_path, load_config(library.config_path))


def reconfigured(nl: NasLibrary, **keys: str) -> NasLibrary:
    return NasLibrary(configure(nl.library, **keys), nl.nas_root, nl.asset_ids)


def created_folders(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_dir()]


def state_modes(library: Library) -> dict[Path, int]:
    state = library.config.state_dir
    return {p: mode_of(p) for p in [state, *state.rglob("*")]}


# --- configuration ---------------------------------------------------------------------------

MINIMAL = """\
library:
  root: ./library
icloud:
  username: jdoe@example.com
  session_dir: ./session
"""


def load(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "photoledger.yaml"
    path.write_text(text)
    return load_config(path)


def test_modes_default_to_0644_and_0755_without_an_owner(tmp_path: Path) -> None:
    config = load(tmp_path, MINIMAL)
    assert config.library_modes() == FileModes(0o644, 0o755, None)
    assert config.nas_modes() == FileModes(0o644, 0o755, None)


def test_modes_and_owner_are_read_from_octal_strings_and_ids_or_names(tmp_path: Path) -> None:
    text = MINIMAL.replace("library:\n", 'library:\n  file_mode: "0600"\n  dir_mode: "700"\n')
    text += 'nas:\n  file_mode: "0o640"\n  dir_mode: "0750"\n  owner: "12345:100"\n'
    config = load(tmp_path, text)
    assert config.library_modes() == FileModes(0o600, 0o700, None)
    nas = config.nas_modes()
    assert (nas.file_mode, nas.dir_mode) == (0o640, 0o750)
    assert nas.owner is not None and (nas.owner.uid, nas.owner.gid) == (12345, 100)
    assert "line 11: nas.owner" in nas.owner.configured_at
    named = load(tmp_path, MINIMAL + 'nas:\n  owner: "root:root"\n').nas_modes().owner
    assert named is not None and (named.uid, named.gid) == (0, 0)


@pytest.mark.parametrize(
    ("section", "value", "key", "why"),
    [
        ("nas", 'file_mode: "0999"', "nas.file_mode", "not an octal mode"),
        ("nas", "file_mode: 0644", "nas.file_mode", "in quotes"),
        ("nas", 'file_mode: "0444"', "nas.file_mode", "read and write"),
        ("library", 'file_mode: "4644"', "library.file_mode", "not an octal mode"),
        ("library", 'dir_mode: "0644"', "library.dir_mode", "enter"),
        ("nas", 'owner: "12345"', "nas.owner", "uid:gid"),
        ("nas", 'owner: "no-such-user-here:root"', "nas.owner", "no user"),
        ("nas", 'owner: "root:no-such-group-here"', "nas.owner", "no group"),
    ],
)
def test_a_bad_mode_or_owner_is_a_config_error_naming_its_key_and_line(
    tmp_path: Path, section: str, value: str, key: str, why: str
) -> None:
    text = MINIMAL + f"{section}:\n  {value}\n" if section == "nas" else MINIMAL.replace(
        "library:\n", f"library:\n  {value}\n")
    line = 7 if section == "nas" else 2
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    message = str(caught.value)
    assert f"line {line}: {key}: " in message and why in message and "\n" not in message


def test_a_bad_mode_stops_the_cli_with_one_line_and_exit_3(tmp_path: Path) -> None:
    path = tmp_path / "photoledger.yaml"
    path.write_text(MINIMAL + 'nas:\n  dir_mode: "rwxr-xr-x"\n')

    done = run_cli(["status"], path)

    assert done.returncode == ExitCode.CONFIG
    assert done.stderr.strip().count("\n") == 0
    assert done.stderr.startswith("photoledger: error: ") and "line 7: nas.dir_mode" in done.stderr


# --- the NAS ---------------------------------------------------------------------------------


def with_sidecars(nl: NasLibrary) -> None:
    """Write the XMP sidecar of every asset (the download stage's step) into the library."""
    settings = Settings(nl.library.config_path, CrashPoints(), utc_now, False, lambda _m: None)
    with open_writer(nl.library.config, settings, "download") as deps:
        assert write_sidecars(deps).written == len(nl.asset_ids)


def assert_nas_files(nl: NasLibrary, file_mode: int, dir_mode: int) -> None:
    """Every NAS copy has `file_mode` and the capture time; the sidecar the time of its copy;
    every folder under the root `dir_mode`."""
    states = all_states(nl)
    copies = 0
    for state in states.values():
        assert state.nas_status == "verified" and state.captured_at_utc is not None
        for resource in state.resources_downloaded:
            on_nas = nl.nas_root / resource.relpath
            assert mode_of(on_nas) == file_mode, resource.relpath
            assert on_nas.stat().st_mtime == state.captured_at_utc.timestamp(), resource.relpath
            copies += 1
        assert state.sidecar_relpath is not None
        sidecar = nl.nas_root / state.sidecar_relpath
        assert mode_of(sidecar) == file_mode
        # A sidecar is rewritten when iCloud's facts change: its time says when it was copied,
        # so a tool that syncs by time and size never misses a rewrite of the same size.
        assert abs(sidecar.stat().st_mtime - time.time()) < 600
    assert copies > len(states)  # live videos too
    folders = created_folders(nl.nas_root)
    assert folders and {mode_of(f) for f in folders} == {dir_mode}


def test_nas_copies_sidecars_and_folders_get_the_modes_set_whatever_the_umask(
    tmp_path: Path,
) -> None:
    nl = make_nas_library(tmp_path, 4, live_every=2)
    # Local sidecars owner-only: the NAS copy's mode comes from nas.file_mode, not its source.
    nl = reconfigured(nl, library__file_mode='"0600"', nas__file_mode='"0640"',
                      nas__dir_mode='"0750"')
    with_sidecars(nl)
    root_mode = mode_of(nl.nas_root)

    with umask(0o000):  # would leave 0666 files and 0777 folders: not widened
        assert backup(nl).copied == 4

    assert_nas_files(nl, 0o640, 0o750)
    assert mode_of(nl.nas_root) == root_mode  # the share's own folder is left as it is
    assert {mode_of(nl.library_root / s.sidecar_relpath) for s in all_states(nl).values()
            if s.sidecar_relpath} == {0o600}


def test_nas_defaults_let_the_household_read_even_under_a_private_umask(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 3, live_every=3)
    with_sidecars(nl)

    with umask(0o077):  # would leave 0600 files and 0700 folders: not narrowed
        assert backup(nl).copied == 3

    assert_nas_files(nl, 0o644, 0o755)


def test_a_configured_owner_is_given_to_nas_copies_sidecars_and_new_folders(
    tmp_path: Path,
) -> None:
    assert os.geteuid() == 0, "setting an owner needs root"
    nl = make_nas_library(tmp_path, 3, live_every=2)
    nl = reconfigured(nl, nas__owner=f'"{TEST_OWNER[0]}:{TEST_OWNER[1]}"')
    with_sidecars(nl)

    assert backup(nl).copied == 3

    written = [p for p in nl.nas_root.rglob("*") if p.name != ".photoledger-nas"]
    assert len(written) > 6
    assert {(p.stat().st_uid, p.stat().st_gid) for p in written} == {TEST_OWNER}
    assert (nl.nas_root.stat().st_uid, nl.nas_root.stat().st_gid) == (0, 0)
    library_files = [p for p in nl.library_root.rglob("*") if ".photoledger" not in p.parts]
    assert {p.stat().st_uid for p in library_files} == {0}  # nas.owner is for the NAS only


def test_an_owner_the_system_refuses_stops_backup_nas_with_one_line_and_exit_3(
    tmp_path: Path,
) -> None:
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "setpriv (util-linux) is needed to drop CAP_CHOWN"
    nl = make_nas_library(tmp_path, 2)
    nl = reconfigured(nl, nas__owner='"12345:12345"')

    done = subprocess.run(
        [setpriv, "--bounding-set=-chown", sys.executable, "-c", _ENTRY,
         "--config", str(nl.library.config_path), "--no-progress", "backup-nas"],
        capture_output=True, text=True, timeout=120, cwd=REPO_ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )

    assert done.returncode == ExitCode.CONFIG, done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("photoledger: error: ") and "nas.owner: cannot make " in error
    assert "owned by 12345:12345: Operation not permitted" in error
    assert [p for p in nl.nas_root.rglob("*") if p.is_file()] == [
        nl.nas_root / ".photoledger-nas"]  # no copy, no temp file
    assert all(s.nas_status != "verified" for s in all_states(nl).values())


# --- the library: downloads and compressed copies ---------------------------------------------


def test_downloads_and_sidecars_get_the_library_modes_and_the_state_folder_stays_as_it_was(
    world: dict[str, Any],  # noqa: F811 (the fixture imported above)
) -> None:
    library = configure(world["library"], library__file_mode='"0664"',
                        library__dir_mode='"0775"')
    root = library.config.library_root
    state_before = state_modes(library)

    with umask(0o000):
        summary = download(library, world["port"])

    assert summary.downloaded > 0
    files = [p for p in root.rglob("*") if p.is_file() and ".photoledger" not in p.parts]
    assert any(p.suffix == ".xmp" for p in files) and len(files) > summary.downloaded
    assert {mode_of(p) for p in files} == {0o664}
    folders = [p for p in root.rglob("*") if p.is_dir() and ".photoledger" not in p.parts]
    assert folders and {mode_of(p) for p in folders} == {0o775}
    state_after = state_modes(library)
    assert {p: state_after[p] for p in state_before} == state_before  # never widened
    for state in states(library).values():
        for resource in state.resources_downloaded:
            assert state.captured_at_utc is not None
            at = (root / resource.relpath).stat().st_mtime
            assert at == state.captured_at_utc.timestamp(), resource.relpath


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_media(tmp_path_factory.getbasetemp() / "compress-media")


def test_compressed_copies_keep_the_capture_time_and_get_the_library_mode(
    tmp_path: Path, media: Path
) -> None:
    cl = make_compress_library(tmp_path, media, [
        Item("IMG_0100", "small.JPG", 100, live_media="live_HEVC.MOV"),
    ], compression=HEIC_COMPRESSION)
    cl = CompressLibrary(configure(cl.library, library__file_mode='"0640"'), cl.nas_root,
                         cl.ids, cl.relpaths)
    cl.backup_nas()
    jpeg = cl.root / cl.relpaths["IMG_0100"]
    heic, video = jpeg.with_suffix(".HEIC"), jpeg.with_name("IMG_0100_HEVC.MOV")
    before = video.stat().st_mtime

    with umask(0o000):
        summary = cl.compress()

    assert (summary.compressed, summary.failed) == (1, 0), summary.problems
    (fact,) = cl.facts("IMG_0100", ev.Compressed)
    assert fact.local_relpath_after is not None and fact.live_video_sha256_after is not None
    captured = next(e for e in cl.events_of("IMG_0100") if isinstance(e, ev.Discovered))
    capture_s = captured.captured_at_utc.timestamp()
    assert before != capture_s  # the seeded copy had the time it was copied
    for path in (heic, video):  # the still in its new format, the re-encoded video
        assert path.stat().st_mtime == capture_s, path
        assert mode_of(path) == 0o640, path


# --- the Pixel outbox --------------------------------------------------------------------------


def test_outbox_copies_and_folders_get_the_library_modes(tmp_path: Path) -> None:
    modes = FileModes(0o640, 0o750, None)
    # /dev/shm is another file system: no hardlink, a copy.
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other:
        source = Path(other) / "IMG.HEIC"
        source.write_bytes(b"original bytes" * 100)
        source.chmod(0o600)
        os.utime(source, (1_700_000_000, 1_700_000_000))
        sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
        with umask(0o000):
            placed = place_outbox_file(source, tmp_path / "outbox/2024/05/IMG.HEIC", sha256,
                                       modes)
            resent = resend_outbox_file(SourceSeen("nas", str(source), sha256),
                                        tmp_path / "outbox/2024/06/IMG.HEIC", sha256, 5, modes)
    assert (placed.method, resent.method) == ("copy", "copy-from-nas")
    for name in ("2024/05/IMG.HEIC", "2024/06/IMG.HEIC"):
        assert mode_of(tmp_path / "outbox" / name) == 0o640  # not the source's 0600
    assert (tmp_path / "outbox/2024/05/IMG.HEIC").stat().st_mtime == 1_700_000_000
    assert {mode_of(p) for p in created_folders(tmp_path / "outbox")} == {0o750}


def test_backup_google_and_a_resend_write_the_outbox_with_the_library_modes(
    wired: Library, pair: SyncthingPair,  # noqa: F811 (the fixtures imported above)
) -> None:
    library = configure(wired, library__file_mode='"0640"', library__dir_mode='"0750"')
    assets = add_downloaded_assets(library, 2)
    with umask(0o000):
        assert backup_google(library).verified == 2
        relpath = assets[0].state.local_relpath
        assert relpath is not None
        resent = backup_google(library, resend=(relpath,))
    assert resent.resent == 1
    assert mode_of(pair.outbox / relpath) == 0o640  # a fresh copy
    assert {mode_of(p) for p in created_folders(pair.outbox) if ".st" not in p.name} == {0o750}
