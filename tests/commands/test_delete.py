"""album-move, delete plan / execute, audit and history against the iCloud simulator over HTTP.

Every stage before Google runs for real (discover, download, backup-nas, verify nas); Google
verification is the ledger fact backup-google records (see tests/cleanup_world.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cleanup.audit import run_audit
from engine.cleanup.run import run_delete_execute
from engine.errors import DeleteRefusedError, ExitCode, PlanInvalidError
from engine.history import run_deletion_stories
from engine.icloud.port import ChangeTagConflictError
from engine.nas.run import NasOptions
from engine.nas.stage import run_verify_nas
from engine.reporting import NullReporter
from projections.worklists import worklist
from tests.cleanup_world import CleanupWorld, open_cleanup_world, prepare
from tests.commands.test_selection_cleanup import with_selection
from tests.factories import run_cli
from tests.scenarios.fault_world import ZONE, asset_id
from tests.sim import PASSWORD
from tests.unit.test_nas_files import flip_byte_keep_stat


def tree_digest(root: Path) -> str:
    """sha256 over every file's relative path and bytes under `root`."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def flip_on_nas(cw: CleanupWorld, record_name: str) -> None:
    flip_byte_keep_stat(cw.nas_root / cw.state(record_name).local_relpath)


def verify_nas(cw: CleanupWorld) -> None:
    with cw.writer("verify") as deps:
        run_verify_nas(deps, NasOptions(workers=2), NullReporter())


@contextmanager
def prepared(tmp_path: Path, **cleanup: Any) -> Iterator[tuple[CleanupWorld, list[str]]]:
    with open_cleanup_world(tmp_path, **cleanup) as cw:
        yield cw, prepare(cw)


# ----------------------------------------------------------------- only confirmed successes

STAGES = ("download", "nas", "google", "ok")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_only_confirmed_successes_are_deleted(tmp_path_factory: Any, data: Any) -> None:
    tmp_path = tmp_path_factory.mktemp("world")
    with open_cleanup_world(tmp_path, assets=8) as cw:
        zone = cw.world.state.primary()
        names = sorted(  # the generator's undecodable names are quarantined at download
            a.record_name for a in zone.assets.values()
            if not a.is_deleted and "\0" not in (zone.masters[a.master_name].filename or "\0")
        )
        # Every example has each kind of failure; hypothesis chooses which assets get which.
        order = data.draw(st.permutations(names))
        extra = data.draw(st.lists(st.sampled_from(STAGES), min_size=len(names) - len(STAGES),
                                   max_size=len(names) - len(STAGES)))
        chosen = dict(zip(order, [*STAGES, *extra], strict=True))
        for name, stage in chosen.items():
            if stage == "download":  # iCloud serves more bytes than it declares
                cw.world.state.set_served_size_delta(name, 5)
        already_deleted = cw.icloud_deleted()
        cw.world.discover()
        cw.world.download()
        cw.backup_nas()
        for name, stage in chosen.items():
            if stage == "nas" and cw.state(name).sha256 is not None:
                flip_on_nas(cw, name)
        verify_nas(cw)
        cw.google_verify(n for n, stage in chosen.items() if stage != "google")
        cw.album_move()
        plan = cw.plan()
        summary = cw.execute(plan.plan_id)

        verified = {
            n for n in names
            if (s := cw.state(n)).nas_status == "verified" and s.google_status == "verified"
        }
        planned = {e.record_name for e in plan.entries}
        deleted = {n for n in names if cw.state(n).deletion_state == "deleted"}
        assert planned == verified
        assert deleted == verified & planned
        assert cw.icloud_deleted() - already_deleted == deleted
        assert len(summary.deleted) == len(deleted)
        assert all(chosen[n] == "ok" for n in deleted)
        assert deleted  # the "ok" asset (at least one) went all the way


# ----------------------------------------------------------------- changes between plan and execute


def test_checksum_changed_in_icloud_after_verification_is_skipped_with_remote_changed(
    tmp_path: Path,
) -> None:
    with prepared(tmp_path) as (cw, _names):
        plan = cw.plan()
        target = plan.entries[0].record_name
        master = cw.world.state.master(cw.world.state.asset(target).master_name)
        assert master is not None
        master.content_rev += 1  # iCloud now holds other bytes for this original
        cw.world.state.touch_master(master, 1)

        summary = cw.execute(plan.plan_id)

        assert target not in cw.icloud_deleted()
        assert any(line.startswith(f"{cw.state(target).local_relpath}: RemoteChanged")
                   for line in summary.skipped)
        assert cw.topics_of(target)[-1] == "RemoteChanged"
        assert len(summary.deleted) == len(plan.entries) - 1
        with cw.reader() as deps:  # queued for a new download
            assert asset_id(target).hex in worklist(deps.projection, "download")


def test_nas_byte_flip_blocks_deletion(tmp_path: Path) -> None:
    with prepared(tmp_path) as (cw, _names):
        plan = cw.plan()
        target = plan.entries[0].record_name
        flip_on_nas(cw, target)
        verify_nas(cw)

        summary = cw.execute(plan.plan_id)

        assert target not in cw.icloud_deleted()
        assert cw.state(target).deletion_state is None
        assert any("nas-not-verified" in line for line in summary.skipped)
        replan = cw.plan()
        assert target not in {e.record_name for e in replan.entries}
        assert any(b.blocks[0].code == "nas-not-verified" for b in replan.blocked)


def test_asset_the_user_took_out_of_delete_pending_is_not_deleted_nor_moved_again(
    tmp_path: Path,
) -> None:
    with prepared(tmp_path) as (cw, _names):
        plan = cw.plan()
        target = plan.entries[0].record_name
        cw.remove_from_album(target)

        cw.execute(plan.plan_id)
        cw.album_move()

        assert target not in cw.icloud_deleted()
        assert "AlbumRemovalObserved" in cw.topics_of(target)
        assert target not in cw.album_members()
        assert target not in {e.record_name for e in cw.plan().entries}


def test_a_hidden_photo_in_delete_pending_is_not_mistaken_for_one_taken_out(
    tmp_path: Path,
) -> None:
    # iCloud's album listings never show hidden photos; membership is asked of the relation.
    with open_cleanup_world(tmp_path) as cw:
        with_selection(cw.world, "  hidden: include\n")  # the default skips hidden photos
        state = cw.world.state
        hidden = sorted(a.record_name for a in state.primary().assets.values() if not a.is_deleted)
        for name in hidden[:3]:
            state.touch_asset(_hide(state.asset(name)), 1_700_000_000_000)
        downloaded = prepare(cw)
        targets = [name for name in hidden[:3] if name in downloaded]
        assert targets, "no hidden asset was downloaded"
        assert set(targets) <= cw.album_members()
        port = cw.world.new_port()
        album = next(a for a in port.list_albums(ZONE) if a.name == "DeletePending")
        assert not set(targets) & set(port.album_member_ids(ZONE, album))  # the listing hides them

        plan = cw.plan()
        assert set(targets) <= {e.record_name for e in plan.entries}
        cw.execute(plan.plan_id)
        assert set(targets) <= cw.icloud_deleted()
        assert all("AlbumRemovalObserved" not in cw.topics_of(name) for name in targets)


def _hide(row: Any) -> Any:
    row.is_hidden = True
    return row


class ConflictingPort:
    """The real port, but someone favourites the photo just before our delete arrives."""

    def __init__(self, cw: CleanupWorld) -> None:
        self.port = cw.world.new_port()
        self.cw = cw
        self.conflicts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.port, name)

    def soft_delete(self, zone: str, record_name: str, change_tag: str) -> None:
        self.cw.world.state.set_favorite(record_name, True)
        try:
            self.port.soft_delete(zone, record_name, change_tag)
        except ChangeTagConflictError:
            self.conflicts += 1
            raise


def test_delete_with_a_stale_change_tag_is_refused_and_recorded_then_a_new_plan_deletes(
    tmp_path: Path,
) -> None:
    with prepared(tmp_path) as (cw, _names):
        plan = cw.plan()
        port = ConflictingPort(cw)
        try:
            with cw.writer("delete") as deps:
                summary = run_delete_execute(deps, port, plan.plan_id)  # type: ignore[arg-type]
        finally:
            port.port.close()

        assert port.conflicts == len(plan.entries)
        assert summary.deleted == [] and len(summary.failed) == len(plan.entries)
        assert "CONFLICT" in summary.failed[0]
        assert not {e.record_name for e in plan.entries} & cw.icloud_deleted()
        target = plan.entries[0].record_name
        assert cw.topics_of(target)[-2:] == ["DeletionRequested", "DeletionFailed"]

        cw.world.discover()  # learns the favourite (a new change tag, same bytes)
        planned = {e.record_name for e in plan.entries}
        stale = {n for n in planned if cw.state(n).is_sidecar_stale}
        assert stale  # their sidecars' rating is out of date: no deletion for them yet
        assert not stale & {e.record_name for e in cw.plan().entries}
        cw.world.download()  # rewrites the sidecars (nothing else to fetch: same bytes)
        cw.backup_nas()  # and puts them on the NAS
        again = cw.plan()
        assert {e.record_name for e in again.entries} == {e.record_name for e in plan.entries}
        assert len(cw.execute(again.plan_id).deleted) == len(plan.entries)


# ----------------------------------------------------------------- guard, dry run, identity


def test_mass_delete_guard_refuses_without_force(tmp_path: Path) -> None:
    with prepared(tmp_path, max_delete=2) as (cw, _names):
        plan = cw.plan()
        assert len(plan.entries) > 2
        with pytest.raises(DeleteRefusedError, match=r"cleanup\.max_delete"):
            cw.execute(plan.plan_id)
        assert not {e.record_name for e in plan.entries} & cw.icloud_deleted()

        result = run_cli(["--no-progress", "delete", "execute", plan.plan_id], cw.config_path,
                         env={"PHOTOLEDGER_ICLOUD_ENDPOINT": cw.world.server.base_url,
                              "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD})
        assert result.returncode == ExitCode.DELETE_REFUSED, result.stderr
        assert "--force" in result.stderr

        assert len(cw.execute(plan.plan_id, force=True).deleted) == len(plan.entries)


def test_dry_run_changes_nothing_and_lists_what_execute_then_deletes(tmp_path: Path) -> None:
    with prepared(tmp_path) as (cw, _names):
        plan = cw.plan()
        ledger_file = cw.library.ledger_path
        before = (tree_digest(cw.library.config.library_root), tree_digest(cw.nas_root),
                  hashlib.sha256(ledger_file.read_bytes()).hexdigest(), cw.icloud_deleted(),
                  cw.modify_requests())

        dry = cw.execute(plan.plan_id, dry_run=True)

        after = (tree_digest(cw.library.config.library_root), tree_digest(cw.nas_root),
                 hashlib.sha256(ledger_file.read_bytes()).hexdigest(), cw.icloud_deleted(),
                 cw.modify_requests())
        assert after == before
        assert dry.deleted and sorted(dry.deleted) == sorted(cw.execute(plan.plan_id).deleted)


def test_of_two_identical_filenames_only_the_planned_one_is_deleted(tmp_path: Path) -> None:
    with open_cleanup_world(tmp_path, remove_local=True) as cw:
        zone = cw.world.state.primary()
        twins = sorted(a.record_name for a in zone.assets.values()
                       if zone.masters[a.master_name].filename == "IMG_0001.JPG")
        assert len(twins) == 2
        for name in twins:
            if cw.world.state.asset(name).is_deleted:
                cw.world.state.restore_asset(name)
        cw.world.discover()
        cw.world.download()
        cw.backup_nas()
        keep, drop = twins
        others = [n for n in cw.downloaded() if n != keep]
        cw.google_verify(others)  # `keep` never reaches Google, so it must stay
        cw.album_move()
        kept = cw.state(keep)
        paths = [cw.library.config.library_root / kept.local_relpath,
                 cw.nas_root / kept.local_relpath]
        before = [p.read_bytes() for p in paths]
        assert cw.state(drop).filename == kept.filename

        summary = cw.execute(cw.plan().plan_id)

        assert drop in cw.icloud_deleted() and keep not in cw.icloud_deleted()
        assert [p.read_bytes() for p in paths] == before
        dropped = cw.state(drop)
        assert dropped.local_relpath in summary.local_removed
        assert not (cw.library.config.library_root / dropped.local_relpath).exists()
        assert (cw.nas_root / dropped.local_relpath).exists()  # the NAS copy always stays
        assert "LocalCopyRemoved" in cw.topics_of(drop)


def test_asset_deleted_in_icloud_by_someone_else_keeps_every_copy(tmp_path: Path) -> None:
    with prepared(tmp_path, remove_local=True) as (cw, _names):
        target = cw.plan().entries[0].record_name
        cw.world.state.delete_asset(target)  # deleted on the phone
        cw.world.discover()
        state = cw.state(target)
        assert state.is_remote_deleted

        plan = cw.plan()
        cw.execute(plan.plan_id)

        assert target not in {e.record_name for e in plan.entries}
        assert (cw.library.config.library_root / state.local_relpath).exists()
        assert (cw.nas_root / state.local_relpath).exists()
        assert "LocalCopyRemoved" not in cw.topics_of(target)
        assert "DeletionRequested" not in cw.topics_of(target)


# ----------------------------------------------------------------- audit, history, plan checks


def test_audit_and_history_show_the_evidence_of_each_deletion(tmp_path: Path) -> None:
    with prepared(tmp_path) as (cw, _names):
        plan = cw.plan()
        cw.execute(plan.plan_id)
        target = plan.entries[0]
        with cw.reader() as deps:
            report = run_audit(deps)
            stories = run_deletion_stories(deps, asset_id(target.record_name))
        assert len(report.assets) == len(plan.entries) and report.failing == []
        assert [s.outcome for s in stories] == ["Deleted"]
        assert stories[0].evidence["sha256"] == target.sha256
        assert stories[0].plan_id == plan.plan_id and stories[0].recoverable_until_utc

        env = {"PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
        status = run_cli(["status", "--json"], cw.config_path, env=env)
        freed = json.loads(status.stdout)["totals"]["icloud_freed_bytes"]
        assert freed == sum(e.icloud_size_bytes for e in plan.entries) > 0
        audit = run_cli(["--no-progress", "audit", "--json"], cw.config_path, env=env)
        assert audit.returncode == 0, audit.stderr
        assert json.loads(audit.stdout)["failing"] == 0
        history = run_cli(["history", "--json", target.record_name], cw.config_path, env=env)
        assert json.loads(history.stdout)["deletions"][0]["evidence"]["sha256"] == target.sha256


def test_audit_fails_for_a_deletion_without_evidence(tmp_path: Path) -> None:
    with prepared(tmp_path) as (cw, names):
        from engine import events as ev

        with cw.writer("forged") as deps:  # a Deleted that no request and no plan led to
            asset = deps.ledger.get_asset(asset_id(names[0]))
            asset.record(ev.Deleted, deps.run_id, plan_id="0" * 32,
                         recoverable_until_utc=deps.clock(), is_reconciled=False)
            deps.ledger.save(asset)
        audit = run_cli(["--no-progress", "audit"], cw.config_path)
        assert audit.returncode == ExitCode.AUDIT_FAILED, audit.stdout + audit.stderr
        assert "without a request" in audit.stdout


def test_execute_refuses_an_unknown_plan(tmp_path: Path) -> None:
    with prepared(tmp_path) as (cw, _names):
        before = cw.icloud_deleted()
        with pytest.raises(PlanInvalidError, match="no deletion plan"):
            cw.execute("f" * 32)
        assert cw.icloud_deleted() == before
