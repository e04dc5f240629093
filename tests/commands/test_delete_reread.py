"""`delete execute` re-reads every NAS copy of an asset at the moment of deletion (DESIGN.md §5 (b)).

The world is the iCloud simulator over HTTP, a real library and a real NAS folder
(tests/cleanup_world.py); the issue's scenarios run `photoledger delete execute` as a real
subprocess. Between the plan and the execute nothing runs `verify nas`: only the re-read at
deletion can see what changed on the NAS.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import pytest

from engine import events as ev
from engine.cleanup.nas_evidence import REREAD_METHOD
from engine.cleanup.run import run_delete_execute
from engine.errors import ExitCode
from engine.history import run_deletion_stories
from engine.nas.access import NAS_MARKER_NAME, NasUnavailableError, read_nas_id
from tests.cleanup_world import CleanupWorld, open_cleanup_world, prepare
from tests.factories import run_cli
from tests.scenarios.fault_world import asset_id
from tests.sim import PASSWORD
from tests.unit.test_nas_files import flip_byte_keep_stat


def tree_digest(root: Path) -> str:
    """sha256 over every file's relative path and bytes under `root`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def execute_cli(cw: CleanupWorld, plan_id: str, *options: str) -> CompletedProcess[str]:
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": cw.world.server.base_url,
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
    return run_cli(["--no-progress", "delete", "execute", *options, plan_id], cw.config_path,
                   env=env)


def events_of(cw: CleanupWorld, record_name: str, kind: type[Any]) -> list[Any]:
    ledger = cw.library.open_ledger()
    try:
        return [e for e in ledger.events_of(asset_id(record_name)) if isinstance(e, kind)]
    finally:
        ledger.close()


def relpath_of(cw: CleanupWorld, record_name: str, key: str) -> str:
    return next(r.relpath for r in cw.state(record_name).resources_downloaded if r.key == key)


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


@contextmanager
def planned(tmp_path: Path, assets: int = 10) -> Iterator[tuple[CleanupWorld, str, list[str]]]:
    """A world whose plan is recorded: the world, the plan id, the planned record names."""
    with open_cleanup_world(tmp_path, assets=assets) as cw:
        prepare(cw)
        plan = cw.plan()
        assert len(plan.entries) >= 3
        yield cw, plan.plan_id, [e.record_name for e in plan.entries]


# ----------------------------------------------------------------- the two scenarios of the issue


def test_a_nas_swapped_after_the_plan_deletes_nothing_and_records_what_it_lacks(
    tmp_path: Path,
) -> None:
    with planned(tmp_path) as (cw, plan_id, names):
        old_id = read_nas_id(cw.nas_root)
        os.rename(cw.nas_root, tmp_path / "old-nas")
        cw.nas_root.mkdir()  # an empty share mounted at the same place, marked by init
        assert run_cli(["init"], cw.config_path).returncode == 0
        new_id = read_nas_id(cw.nas_root)
        assert old_id and new_id and new_id != old_id
        old_tree = tree_digest(tmp_path / "old-nas")

        result = execute_cli(cw, plan_id)

        assert result.returncode == ExitCode.NAS_MISMATCHED, result.stdout + result.stderr
        assert result.stderr.startswith("photoledger: error: ") and result.stderr.count("\n") == 1
        assert f"{len(names)} assets not deleted" in flat(result.stderr)
        assert not set(names) & cw.icloud_deleted()
        assert set(names) <= cw.album_members()  # still in DeletePending
        for name in names:
            mismatched = events_of(cw, name, ev.NasMismatched)[-1]
            assert mismatched.nas_id == new_id
            assert f"original {cw.state(name).local_relpath}: missing on the NAS" in (
                mismatched.detail
            )
            assert "DeletionRequested" not in cw.topics_of(name)
        assert f"not NAS {old_id[:8]} that the evidence names" in flat(result.stdout)
        assert [p.name for p in cw.nas_root.iterdir()] == [NAS_MARKER_NAME]  # read, not written
        assert tree_digest(tmp_path / "old-nas") == old_tree


def test_a_byte_flipped_in_a_planned_original_keeps_that_asset_and_deletes_the_others(
    tmp_path: Path,
) -> None:
    with planned(tmp_path) as (cw, plan_id, names):
        target = names[1]
        relpath = relpath_of(cw, target, "original")
        flip_byte_keep_stat(cw.nas_root / relpath)  # same size, same mtime: only bytes differ

        result = execute_cli(cw, plan_id)

        assert result.returncode == ExitCode.NAS_MISMATCHED, result.stdout + result.stderr
        assert cw.icloud_deleted() & set(names) == set(names) - {target}
        assert cw.state(target).deletion_state is None
        assert target in cw.album_members()
        mismatched = events_of(cw, target, ev.NasMismatched)
        assert len(mismatched) == 1
        assert mismatched[0].detail.startswith(f"original {relpath}: expected sha256 ")
        assert mismatched[0].nas_id == read_nas_id(cw.nas_root)
        assert f"skipped {cw.state(target).local_relpath}: nas-mismatched: " in flat(result.stdout)
        assert "1 assets not deleted" in flat(result.stderr) and relpath in flat(result.stderr)
        for name in set(names) - {target}:  # each deletion rests on its own re-read
            topics = cw.topics_of(name)
            assert topics[-3:] == ["NasVerified", "DeletionRequested", "Deleted"]


def test_a_byte_flipped_in_any_other_resource_keeps_its_asset(tmp_path: Path) -> None:
    keys = ("live_video", "alternative", "adjusted", "adjusted_video")
    with planned(tmp_path, assets=16) as (cw, plan_id, names):
        flipped: dict[str, str] = {}  # record name -> the resource flipped on the NAS
        for key in keys:
            name = next(n for n in names if n not in flipped
                        and key in {r.key for r in cw.state(n).resources_downloaded})
            flipped[name] = key
            flip_byte_keep_stat(cw.nas_root / relpath_of(cw, name, key))

        summary = cw.execute(plan_id)

        assert cw.icloud_deleted() & set(names) == set(names) - set(flipped)
        assert len(summary.nas_mismatched) == len(flipped)
        for name, key in flipped.items():
            detail = events_of(cw, name, ev.NasMismatched)[-1].detail
            assert detail.startswith(f"{key} {relpath_of(cw, name, key)}: expected sha256 ")
            assert cw.state(name).deletion_state is None
        sizes = [r.size_bytes for n in set(names) - set(flipped)
                 for r in cw.state(n).resources_downloaded]
        assert summary.nas_reread_bytes >= sum(sizes)  # every resource of every deleted asset


# ----------------------------------------------------------------- dry run, the marker, the evidence


def test_dry_run_re_reads_too_reports_the_skip_and_records_nothing(tmp_path: Path) -> None:
    with planned(tmp_path) as (cw, plan_id, names):
        target = names[0]
        flip_byte_keep_stat(cw.nas_root / relpath_of(cw, target, "original"))
        ledger_before = hashlib.sha256(cw.library.ledger_path.read_bytes()).hexdigest()

        dry = execute_cli(cw, plan_id, "--dry-run")

        assert dry.returncode == ExitCode.NAS_MISMATCHED, dry.stdout + dry.stderr
        assert "(not recorded: dry run;" in flat(dry.stderr)
        assert f"skipped {cw.state(target).local_relpath}: nas-mismatched: " in flat(dry.stdout)
        assert f"would delete {len(names) - 1} " in flat(dry.stdout)
        assert hashlib.sha256(cw.library.ledger_path.read_bytes()).hexdigest() == ledger_before
        assert not cw.icloud_deleted() & set(names)


class UnmountingPort:
    """The real port; the NAS share goes away right after iCloud deleted the first asset."""

    def __init__(self, cw: CleanupWorld) -> None:
        self.port = cw.world.new_port()
        self.marker = cw.nas_root / NAS_MARKER_NAME

    def __getattr__(self, name: str) -> Any:
        return getattr(self.port, name)

    def soft_delete(self, zone: str, record_name: str, change_tag: str) -> None:
        self.port.soft_delete(zone, record_name, change_tag)
        self.marker.unlink(missing_ok=True)


def test_a_marker_gone_mid_run_stops_it_with_nothing_more_deleted(tmp_path: Path) -> None:
    with planned(tmp_path) as (cw, plan_id, names):
        port = UnmountingPort(cw)
        try:
            with cw.writer("delete") as deps, pytest.raises(NasUnavailableError) as stopped:
                run_delete_execute(deps, port, plan_id)  # type: ignore[arg-type]
        finally:
            port.port.close()

        assert "delete stopped after 1 deleted, nothing more was deleted" in str(stopped.value)
        assert cw.icloud_deleted() & set(names) == {names[0]}
        for name in names[1:]:  # not recorded as missing copies either: unmounted is not missing
            assert cw.topics_of(name)[-1] == "AlbumMoved"


def test_the_re_read_is_the_evidence_audit_and_history_show(tmp_path: Path) -> None:
    with planned(tmp_path) as (cw, plan_id, names):
        before = {n: cw.state(n).nas_verified_at_utc for n in names}

        cw.execute(plan_id)

        for name in names:
            verified = events_of(cw, name, ev.NasVerified)[-1]
            request = events_of(cw, name, ev.DeletionRequested)[-1]
            assert request.nas_verified_at_utc == verified.timestamp > before[name]
            assert (verified.nas_id, verified.method) == (read_nas_id(cw.nas_root), REREAD_METHOD)
            assert {f.key for f in verified.files} == {
                r.key for r in cw.state(name).resources_downloaded
            } | {"sidecar"}  # the XMP sidecar the NAS holds is re-read with them
        with cw.reader() as deps:
            story = run_deletion_stories(deps, asset_id(names[0]))[0]
        assert story.evidence["nas_verified_at_utc"] == request_time(cw, names[0])
        assert story.problems == []
        audit = run_cli(["--no-progress", "audit"], cw.config_path)
        assert audit.returncode == 0, audit.stdout + audit.stderr


def request_time(cw: CleanupWorld, name: str) -> str:
    return str(events_of(cw, name, ev.DeletionRequested)[-1].nas_verified_at_utc.isoformat())
