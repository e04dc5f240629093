"""Which NAS: the id in its marker, facts that name it, a swapped share, a nested config;
and repairs of NAS copies from any good local source.

Commands that leave a damaged NAS copy behind are checked by what they print and record, not
by their exit code (17 or 18: the NAS damage check's, tested with it).

The CLI runs in subprocesses (tests.factories.run_cli) on real files; the swapped-share test
of the deletion gate runs every stage for real against the iCloud simulator
(tests/cleanup_world.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from engine import events as ev
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode
from engine.library_init import run_init
from engine.nas.access import NAS_MARKER_NAME, read_nas_id
from tests.cleanup_world import open_cleanup_world, prepare
from tests.commands.test_backup_nas import (
    NasLibrary,
    add_fact,
    all_states,
    assert_nas_holds_the_originals,
    make_nas_library,
    media,
    nas_facts,
)
from tests.factories import make_library, run_cli
from tests.reliability.invariants import ledger_digests
from tests.sim import PASSWORD
from tests.unit.test_nas_files import flip_byte_keep_stat


def tree_digest(root: Path) -> str:
    """Every file's path and bytes under `root`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def swap_nas(nas_root: Path, config_path: Path, old_place: Path) -> str:
    """The old share goes; a new empty one is mounted at the same place and `init` marks it."""
    os.rename(nas_root, old_place)
    nas_root.mkdir()
    marked = run_cli(["init"], config_path)
    assert marked.returncode == 0, marked.stderr
    new_id = read_nas_id(nas_root)
    assert new_id and f"marker {NAS_MARKER_NAME} written (NAS id {new_id[:8]})" in marked.stdout
    return new_id


def nas_ids_of_last_facts(nl: NasLibrary) -> set[str]:
    return {nas_facts(nl, aid)[-1].nas_id for aid in nl.asset_ids}  # type: ignore[attr-defined]


def test_every_nas_fact_names_the_nas_in_the_marker(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 3, live_every=2)
    nas_id = read_nas_id(nl.nas_root)
    assert nas_id and len(nas_id) == 32

    assert run_cli(["backup-nas"], nl.library.config_path).returncode == 0
    (nl.nas_root / "2024/05/01/IMG_0000.HEIC").unlink()
    checked = run_cli(["verify", "nas"], nl.library.config_path)
    assert "re-verified 2, mismatched 1" in checked.stdout, checked.stdout + checked.stderr

    facts = [f for aid in nl.asset_ids for f in nas_facts(nl, aid)]
    kinds = {type(f).__name__ for f in facts}
    assert kinds == {"NasCopied", "NasVerified", "NasMismatched"}
    assert {f.nas_id for f in facts} == {nas_id}  # type: ignore[attr-defined]
    assert {s.nas_id for s in all_states(nl).values()} == {nas_id}


def test_swapped_nas_gets_every_file_and_the_old_nas_is_left_alone(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 4, live_every=2, resources=(("alternative",), ()))
    assert run_cli(["backup-nas"], nl.library.config_path).returncode == 0
    old_id = read_nas_id(nl.nas_root)
    new_id = swap_nas(nl.nas_root, nl.library.config_path, tmp_path / "old-nas")
    old_tree = tree_digest(tmp_path / "old-nas")

    dry = run_cli(["backup-nas", "--dry-run"], nl.library.config_path)
    assert "8 files would be copied or adopted" in dry.stdout, dry.stdout + dry.stderr
    checked = run_cli(["verify", "nas"], nl.library.config_path)  # facts for the mounted NAS

    assert "re-verified 0, mismatched 4" in checked.stdout, checked.stdout + checked.stderr
    assert nas_ids_of_last_facts(nl) == {new_id}
    assert "missing on the NAS" in nas_facts(nl, nl.asset_ids[0])[-1].detail  # type: ignore[attr-defined]

    copied = run_cli(["backup-nas"], nl.library.config_path)

    assert copied.returncode == 0, copied.stderr
    assert "copied 4 " in copied.stdout
    assert_nas_holds_the_originals(nl)
    assert nas_ids_of_last_facts(nl) == {new_id} and old_id != new_id
    assert tree_digest(tmp_path / "old-nas") == old_tree


def test_backup_nas_fills_a_swapped_nas_nobody_verified_yet(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 3, resources=(("adjusted", "adjusted_video"),))
    assert run_cli(["backup-nas"], nl.library.config_path).returncode == 0
    new_id = swap_nas(nl.nas_root, nl.library.config_path, tmp_path / "old-nas")
    assert {s.nas_status for s in all_states(nl).values()} == {"verified"}  # of the old NAS

    copied = run_cli(["backup-nas"], nl.library.config_path)

    assert copied.returncode == 0, copied.stderr
    assert "copied 3 " in copied.stdout
    assert_nas_holds_the_originals(nl)
    assert nas_ids_of_last_facts(nl) == {new_id}


def test_init_gives_an_old_marker_an_id_and_backup_nas_adopts_the_copies_there(
    tmp_path: Path,
) -> None:
    nl = make_nas_library(tmp_path, 3)
    marker = nl.nas_root / NAS_MARKER_NAME
    marker.write_text("This folder is a photoledger NAS archive root.\n")  # from before ids
    assert run_cli(["backup-nas"], nl.library.config_path).returncode == 0  # still mounted
    assert nas_ids_of_last_facts(nl) == {""}

    marked = run_cli(["init"], nl.library.config_path)

    assert marked.returncode == 0, marked.stderr
    nas_id = read_nas_id(nl.nas_root)
    assert nas_id and f"id added (NAS id {nas_id[:8]})" in marked.stdout
    assert marker.read_text().startswith("This folder is a photoledger NAS archive root.\n")
    again = run_cli(["init"], nl.library.config_path)
    assert "already there" in again.stdout and read_nas_id(nl.nas_root) == nas_id
    before = tree_digest(nl.nas_root)

    adopted = run_cli(["backup-nas"], nl.library.config_path)

    assert adopted.returncode == 0, adopted.stderr
    assert "copied 0 (0 B), adopted 3" in adopted.stdout, adopted.stdout
    assert nas_ids_of_last_facts(nl) == {nas_id}
    assert tree_digest(nl.nas_root) == before  # re-read, nothing rewritten


@pytest.mark.parametrize("where", ["inside", "same", "around"])
def test_nas_root_nested_with_the_library_is_a_config_error(tmp_path: Path, where: str) -> None:
    library = make_library(tmp_path)
    root = library.config.library_root
    nas = {"inside": root / "nas", "same": root / "sub" / "..", "around": tmp_path}[where]
    text = library.config_path.read_text()
    library.config_path.write_text(text.replace("  root: null", f"  root: {json.dumps(str(nas))}"))
    line = next(i for i, row in enumerate(library.config_path.read_text().splitlines(), 1)
                if row.startswith("  root: ") and json.dumps(str(nas)) in row)
    before = ledger_digests(library)

    result = run_cli(["backup-nas"], library.config_path)

    assert result.returncode == ExitCode.CONFIG, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1
    assert f"photoledger.yaml line {line}: nas.root:" in result.stderr
    assert {"inside": "is inside library.root", "same": "is library.root itself",
            "around": "holds library.root"}[where] in result.stderr
    assert ledger_digests(library) == before


def test_swapped_nas_blocks_deletion_until_backup_nas_fills_it(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, assets=10) as cw:
        prepare(cw)
        planned = cw.plan()
        assert planned.entries, "some assets should pass the gate on the first NAS"
        old_id = read_nas_id(cw.nas_root)
        os.rename(cw.nas_root, tmp_path / "old-nas")
        cw.nas_root.mkdir()
        assert run_init(cw.config_path, CrashPoints()).nas_marker == "written"
        new_id = read_nas_id(cw.nas_root)
        assert old_id and new_id and old_id != new_id

        blocked = cw.plan()

        assert blocked.entries == ()
        was_deletable = {e.asset_id for e in planned.entries}
        reasons = {b.asset_id: [str(r) for r in b.blocks] for b in blocked.blocked}
        for asset_id in was_deletable:
            assert reasons[asset_id] == [
                f"nas-other: verified on NAS {old_id[:8]}, the mounted NAS is {new_id[:8]} "
                "(run `photoledger backup-nas`)"
            ]
        cw.backup_nas()

        replanned = cw.plan()

        assert {e.asset_id for e in replanned.entries} == was_deletable
        for asset_id in was_deletable:
            state = cw.state(next(e.record_name for e in planned.entries
                                  if e.asset_id == asset_id))
            assert state.nas_id == new_id
            for resource in state.resources_downloaded:
                data = (cw.nas_root / resource.relpath).read_bytes()
                assert hashlib.sha256(data).hexdigest() == resource.sha256


# ------------------------------------------------------------------ repair from any good source

def with_outbox(nl: NasLibrary, outbox: Path) -> None:
    """Configure the Pixel outbox (google.outbox) of the library."""
    outbox.mkdir()
    text = nl.library.config_path.read_text()
    assert text.count("  outbox: null") == 1
    nl.library.config_path.write_text(
        text.replace("  outbox: null", f"  outbox: {json.dumps(str(outbox))}"))


def compress_locally(nl: NasLibrary, asset_id: str) -> None:
    """What the compress stage leaves: the library original re-encoded, Compressed recorded."""
    state = all_states(nl)[asset_id]
    assert state.local_relpath is not None
    (nl.library_root / state.local_relpath).write_bytes(b"re-encoded, smaller")
    add_fact(nl, asset_id, ev.Compressed, tier="t1", codec="jpeg", params_hash="p",
             size_bytes_before=state.downloaded_size_bytes or 0, size_bytes_after=19,
             sha256_after=hashlib.sha256(b"re-encoded, smaller").hexdigest(), source="local",
             local_relpath_after=None, live_video_sha256_after=None)


def nas_mismatches(nl: NasLibrary, asset_id: str) -> list[str]:
    return [f.detail for f in nas_facts(nl, asset_id)  # type: ignore[attr-defined]
            if type(f).__name__ == "NasMismatched"]


def test_deleted_in_icloud_asset_gets_its_damaged_nas_copy_repaired_from_the_library(
    tmp_path: Path,
) -> None:
    nl = make_nas_library(tmp_path, 2, resources=(("alternative",),))
    assert run_cli(["backup-nas"], nl.library.config_path).returncode == 0
    add_fact(nl, nl.asset_ids[0], ev.RemoteDeleted, observed_via="full scan")
    flip_byte_keep_stat(nl.nas_root / "2024/05/01/IMG_0000.DNG", offset=77)
    checked = run_cli(["verify", "nas"], nl.library.config_path)
    assert "re-verified 1, mismatched 1" in checked.stdout, checked.stdout + checked.stderr

    repaired = run_cli(["backup-nas"], nl.library.config_path)

    assert repaired.returncode == 0, repaired.stderr
    assert "copied 1 " in repaired.stdout, repaired.stdout
    assert_nas_holds_the_originals(nl)
    state = all_states(nl)[nl.asset_ids[0]]
    assert state.is_remote_deleted and state.nas_status == "verified"


def test_damaged_nas_copy_of_a_compressed_asset_is_repaired_from_the_pixel_outbox(
    tmp_path: Path,
) -> None:
    nl = make_nas_library(tmp_path, 2, live_every=1)
    with_outbox(nl, tmp_path / "outbox")
    assert run_cli(["backup-nas"], nl.library.config_path).returncode == 0
    for resource in all_states(nl)[nl.asset_ids[1]].resources_downloaded:  # staged for Google
        target = tmp_path / "outbox" / resource.relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((nl.library_root / resource.relpath).read_bytes())
    compress_locally(nl, nl.asset_ids[1])
    (nl.nas_root / "2024/05/02/IMG_0001.HEIC").unlink()
    checked = run_cli(["verify", "nas"], nl.library.config_path)
    assert "mismatched 1" in checked.stdout, checked.stdout + checked.stderr

    repaired = run_cli(["backup-nas"], nl.library.config_path)

    assert repaired.returncode == 0, repaired.stderr
    assert "copied 1 " in repaired.stdout, repaired.stdout
    assert_nas_holds_the_originals(nl)  # the downloaded bytes, not the compressed ones


def test_nas_copy_no_local_source_can_repair_is_recorded_once_as_needing_a_redownload(
    tmp_path: Path,
) -> None:
    nl = make_nas_library(tmp_path, 1, resources=(("alternative",),))
    with_outbox(nl, tmp_path / "outbox")  # never staged: nothing in it
    assert run_cli(["backup-nas"], nl.library.config_path).returncode == 0
    compress_locally(nl, nl.asset_ids[0])
    damaged = nl.nas_root / "2024/05/01/IMG_0000.HEIC"
    flip_byte_keep_stat(damaged)
    left = damaged.read_bytes()
    checked = run_cli(["verify", "nas"], nl.library.config_path)
    assert "mismatched 1" in checked.stdout, checked.stdout + checked.stderr

    first = run_cli(["backup-nas"], nl.library.config_path)
    again = run_cli(["backup-nas"], nl.library.config_path)

    # Damage left after a run is exit 17 once the NAS damage check ends the command.
    assert first.returncode in (0, ExitCode.NAS_MISMATCHED), first.stderr
    assert "mismatched 1" in first.stdout and "1 of them have no good local source" in (
        first.stdout)
    details = nas_mismatches(nl, nl.asset_ids[0])
    assert len(details) == 2  # verify's, then backup-nas's once: the rerun added nothing
    assert details[1].startswith("original 2024/05/01/IMG_0000.HEIC: expected sha256")
    assert "no good local source (library: not the downloaded file" in details[1]
    assert "Pixel outbox: cannot read" in details[1]
    assert "mismatched 1" in again.stdout
    assert damaged.read_bytes() == left  # never overwritten by a wrong copy
    assert media(nl)[nl.asset_ids[0]]["nas_status"] == "mismatched"


# ------------------------------------------------------------------ delete with the NAS away

def test_delete_execute_with_the_nas_unmounted_exits_12_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    with open_cleanup_world(tmp_path, assets=8) as cw:
        prepare(cw)
        plan = cw.plan()
        assert plan.entries
        os.rename(cw.nas_root, tmp_path / "nas-away")  # unmounted: an empty mount point
        cw.nas_root.mkdir()
        deleted_before = cw.icloud_deleted()  # the generated library has some already
        env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": cw.world.server.base_url,
               "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}

        result = run_cli(["--no-progress", "delete", "execute", plan.plan_id], cw.config_path,
                         env=env)

        assert result.returncode == ExitCode.NAS_UNAVAILABLE, result.stdout + result.stderr
        assert NAS_MARKER_NAME in result.stderr.splitlines()[-1]
        assert cw.icloud_deleted() == deleted_before
        assert all("DeletionRequested" not in cw.topics_of(e.record_name) for e in plan.entries)
        cw.nas_root.rmdir()
        os.rename(tmp_path / "nas-away", cw.nas_root)  # mounted again: the plan goes through
        done = run_cli(["--no-progress", "delete", "execute", plan.plan_id], cw.config_path,
                       env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert {e.record_name for e in plan.entries} <= cw.icloud_deleted()
