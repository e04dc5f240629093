"""The deletion gate, plan hashing, the mass-delete guard and the audit, as pure functions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from engine import events as ev
from engine.asset import Asset
from engine.cleanup.audit import StoredPlan, decide_deletion_stories
from engine.cleanup.gate import decide_album_move, decide_deletable
from engine.cleanup.plan import decide_mass_delete_guard, plan_deletion, plan_sha256
from engine.compress.tiers import CompressionPolicy, decide_compression
from engine.config import CleanupSettings, ConfigFile, IcloudSettings, LibrarySettings
from engine.resources import archived_hashes
from engine.selection import NO_SELECTION
from tests.factories import T0, discover, download, new_run, remote_change

NOW = T0 + timedelta(days=3)
NAS_ID = "1a2b3c4d" + "0" * 24  # the id in the mounted NAS's marker


def settings(**cleanup: Any) -> ConfigFile:
    return ConfigFile(
        library=LibrarySettings(root="/lib"),
        icloud=IcloudSettings(username="jdoe@example.com", session_dir="/s"),
        cleanup=CleanupSettings(**{"keep_recent_days": 30, **cleanup}),
    )


def ready_asset(index: int = 100) -> Asset:
    """Downloaded, NAS- and Google-verified a day before NOW, moved to DeletePending."""
    run = new_run()
    asset = discover(run, index)
    download(asset, run)
    day = NOW - timedelta(days=1)
    asset.record(ev.NasVerified, run.id.hex, sha256=asset.state.sha256, method="reread",
                 files=archived_hashes(asset.state), nas_id=NAS_ID, timestamp=day)
    asset.record(ev.GoogleVerified, run.id.hex, device_id="PIXEL", size_bytes=1, timestamp=day)
    asset.record(ev.AlbumMoved, run.id.hex, album_name="DeletePending", timestamp=day)
    return asset


def codes(asset: Asset, *, nas_id: str | None = NAS_ID, **cleanup: Any) -> list[str]:
    verdict = decide_deletable(asset.state, NOW, settings(**cleanup), nas_id, NO_SELECTION)
    return [block.code for block in verdict.blocks]


def test_gate_passes_a_fully_backed_up_old_album_moved_asset_with_its_evidence() -> None:
    asset = ready_asset()
    verdict = decide_deletable(asset.state, NOW, settings(), NAS_ID, NO_SELECTION)
    assert verdict.is_deletable and verdict.blocks == ()
    assert verdict.evidence is not None
    assert verdict.evidence.sha256 == asset.state.sha256
    assert verdict.evidence.google_device_id == "PIXEL"
    assert verdict.evidence.remote_change_tag == asset.state.remote_change_tag


def test_gate_blocks_an_asset_whose_download_failed() -> None:
    run = new_run()
    asset = discover(run, 100)
    asset.record(ev.DownloadFailed, run.id.hex, error="truncated", is_retriable=True)
    asset.record(ev.AlbumMoved, run.id.hex, album_name="DeletePending")
    assert codes(asset) == ["not-downloaded"]
    assert decide_deletable(asset.state, NOW, settings(), NAS_ID, NO_SELECTION).evidence is None


def test_gate_blocks_a_mismatched_nas_copy() -> None:
    asset = ready_asset()
    asset.record(ev.NasMismatched, "r", expected_sha256=asset.state.sha256 or "",
                 actual_sha256="0" * 64, detail="byte flipped")
    assert "nas-not-verified" in codes(asset)


def test_gate_blocks_a_nas_verification_older_than_max_verify_age() -> None:
    asset = ready_asset()
    later = decide_deletable(
        asset.state, NOW + timedelta(days=31), settings(), NAS_ID, NO_SELECTION
    )
    assert [b.code for b in later.blocks] == ["nas-stale"]


def test_gate_blocks_when_the_nas_marker_is_missing() -> None:
    assert codes(ready_asset(), nas_id=None) == ["nas-unavailable"]


def test_gate_counts_nas_evidence_only_for_the_nas_mounted_now() -> None:
    asset = ready_asset()
    other = "9f8e7d6c" + "1" * 24
    verdict = decide_deletable(asset.state, NOW, settings(), other, NO_SELECTION)
    assert [str(b) for b in verdict.blocks] == [
        "nas-other: verified on NAS 1a2b3c4d, the mounted NAS is 9f8e7d6c "
        "(run `photoledger backup-nas`)"
    ]
    assert verdict.evidence is None
    assert codes(asset, nas_id="") == ["nas-other"]  # a marker without an id is not that NAS


def test_gate_counts_evidence_without_a_nas_id_only_on_a_marker_without_one() -> None:
    run = new_run()
    asset = ready_asset()
    asset.record(ev.NasVerified, run.id.hex, sha256=asset.state.sha256, method="reread",
                 files=archived_hashes(asset.state), nas_id="", timestamp=NOW)
    assert codes(asset, nas_id="") == []  # before ids: the marker is all there is
    assert codes(asset) == ["nas-other"]  # once init gave the NAS an id, re-read it there


def test_gate_requires_google_only_when_configured() -> None:
    run = new_run()
    asset = ready_asset()
    asset.record(ev.Downloaded, run.id.hex, local_relpath="a/b.HEIC",
                 size_bytes=asset.state.declared_size_bytes, sha256="ab" * 32,
                 live_video_relpath=None, live_video_size_bytes=None, live_video_sha256=None,
                 extra_files=())  # new bytes: every verification is forgotten
    assert {"nas-not-verified", "google-not-verified"} <= set(codes(asset))
    assert "google-not-verified" not in codes(asset, require=("nas",))


def test_gate_requires_a_due_compression_only_when_configured() -> None:
    asset = ready_asset()  # captured long before NOW: a compression tier is due
    assert "not-compressed" not in codes(asset)
    assert "not-compressed" in codes(asset, require=("nas", "google", "compress"))
    run = new_run()
    tier = decide_compression(
        "", asset.state, CompressionPolicy(settings().compression, timedelta(days=30), NOW, "")
    ).tier
    assert tier is not None
    asset.record(ev.Compressed, run.id.hex, tier=tier, codec="jpeg", params_hash="p",
                 size_bytes_before=2, size_bytes_after=1, sha256_after="cd" * 32, source="nas",
                 local_relpath_after=None, live_video_sha256_after=None)
    assert "not-compressed" not in codes(asset, require=("nas", "google", "compress"))


def test_compression_waits_when_the_mounted_nas_is_not_the_one_verified() -> None:
    asset = ready_asset()
    verified_on = asset.state.nas_id
    policy = CompressionPolicy(settings().compression, timedelta(days=30), NOW, verified_on)
    assert decide_compression("", asset.state, policy).action == "compress"
    for mounted in ("a-new-share", None):  # swapped for another NAS, or not mounted
        swapped = CompressionPolicy(settings().compression, timedelta(days=30), NOW, mounted)
        assert decide_compression("", asset.state, swapped).action == "waiting-backups"


def test_gate_blocks_a_remote_change_since_download() -> None:
    asset = ready_asset()
    remote_change(asset, new_run(), remote_checksum="newer", remote_change_tag="t2")
    assert codes(asset) == ["remote-changed"]


def test_gate_ignores_a_favourite_toggle_for_content_but_keeps_the_new_tag_as_evidence() -> None:
    asset = ready_asset()
    remote_change(asset, new_run(), is_favorite=True, remote_change_tag="fav")
    verdict = decide_deletable(asset.state, NOW, settings(), NAS_ID, NO_SELECTION)
    assert verdict.evidence is not None and verdict.evidence.remote_change_tag == "fav"


def test_gate_blocks_recent_photos_and_photos_without_a_date() -> None:
    asset = ready_asset()
    assert codes(asset, keep_recent_days=100_000) == ["too-recent"]
    run = new_run()
    undated = discover(run, 5, captured_at_utc=None, added_at_utc=None)
    download(undated, run)
    blocks = decide_album_move(undated.state, NOW, settings(), NO_SELECTION)
    assert "no-date" in [b.code for b in blocks]


def test_gate_blocks_assets_not_in_or_taken_out_of_delete_pending() -> None:
    run = new_run()
    asset = discover(run, 100)
    download(asset, run)
    assert "not-in-delete-pending" in codes(asset)
    moved = ready_asset()
    moved.record(ev.AlbumRemovalObserved, "r", album_name="DeletePending")
    assert codes(moved) == ["removed-from-album"]


def test_gate_blocks_assets_deleted_elsewhere_or_already_requested() -> None:
    gone = ready_asset()
    gone.record(ev.RemoteDeleted, "r", observed_via="full scan")
    assert codes(gone) == ["deleted-elsewhere"]
    asked = ready_asset()
    asked.record(ev.DeletionRequested, "r", plan_id="p", sha256="x", nas_verified_at_utc=None,
                 google_device_id=None, google_verified_at_utc=None, remote_change_tag="t")
    assert codes(asked) == ["already-requested"]


def test_plan_holds_only_deletable_assets_and_its_hash_ignores_order() -> None:
    good, bad = ready_asset(101), ready_asset(102)
    bad.record(ev.NasMismatched, "r", expected_sha256="x", actual_sha256=None, detail="gone")
    plan = plan_deletion(
        "p1", [("a" * 32, good.state), ("b" * 32, bad.state)], NOW, settings(), NAS_ID,
        selection=NO_SELECTION,
    )
    assert [e.asset_id for e in plan.entries] == ["a" * 32]
    assert [b.asset_id for b in plan.blocked] == ["b" * 32]
    assert plan.freed_bytes == good.state.declared_size_bytes
    two = [*plan.entries, msgspec.structs.replace(plan.entries[0], asset_id="c" * 32)]
    assert plan_sha256(two) == plan_sha256(reversed(two))
    changed = msgspec.structs.replace(plan.entries[0], sha256="0" * 64)
    assert plan_sha256([changed]) != plan.plan_sha256


@pytest.mark.parametrize(
    ("count", "library", "io_error", "refused"),
    [(5, 100, False, False), (6, 100, False, True), (3, 4, False, True), (1, 100, True, True)],
)
def test_mass_delete_guard(count: int, library: int, io_error: bool, refused: bool) -> None:
    s = settings(max_delete=5, max_delete_fraction=0.5)
    assert bool(decide_mass_delete_guard(count, library, s, io_error)) is refused


def _executed(asset: Asset, plan_id: str) -> tuple[list[Any], dict[str, StoredPlan]]:
    plan = plan_deletion(
        plan_id, [("a" * 32, asset.state)], NOW, settings(), NAS_ID, selection=NO_SELECTION
    )
    evidence = decide_deletable(asset.state, NOW, settings(), NAS_ID, NO_SELECTION).evidence
    assert evidence is not None
    asset.record(ev.DeletionRequested, "r", plan_id=plan_id, sha256=evidence.sha256,
                 nas_verified_at_utc=evidence.nas_verified_at_utc,
                 google_device_id=evidence.google_device_id,
                 google_verified_at_utc=evidence.google_verified_at_utc,
                 remote_change_tag=evidence.remote_change_tag, timestamp=NOW)
    asset.record(ev.Deleted, "r", plan_id=plan_id, recoverable_until_utc=NOW + timedelta(days=30),
                 is_reconciled=False, timestamp=NOW)
    stored = {plan_id: StoredPlan(plan_id, plan.plan_sha256, plan.entries)}
    return asset.collect_events(), stored


def test_audit_accepts_a_deletion_with_complete_evidence() -> None:
    events, plans = _executed(ready_asset(), "p1")
    stories, strays = decide_deletion_stories(events, plans, settings())
    assert strays == [] and len(stories) == 1
    assert stories[0].problems == [] and stories[0].outcome == "Deleted"


def test_audit_rejects_a_deletion_whose_plan_is_missing_or_tampered() -> None:
    events, plans = _executed(ready_asset(), "p1")
    assert decide_deletion_stories(events, {}, settings())[0][0].problems
    tampered = {"p1": StoredPlan("p1", "0" * 64, plans["p1"].entries)}
    assert decide_deletion_stories(events, tampered, settings())[0][0].problems


def test_audit_rejects_a_deletion_made_without_a_verified_nas_copy() -> None:
    asset = ready_asset()
    events, plans = _executed(asset, "p1")
    # The same history, but without the NAS verification: the gate could not have passed.
    stripped = [e for e in events if not isinstance(e, ev.NasVerified)]
    stories, _ = decide_deletion_stories(stripped, plans, settings())
    assert any("nas-not-verified" in p for p in stories[0].problems)


def test_audit_rejects_a_deleted_fact_without_a_request() -> None:
    asset = ready_asset()
    asset.record(ev.Deleted, "r", plan_id="p", recoverable_until_utc=NOW, is_reconciled=False)
    _stories, strays = decide_deletion_stories(asset.collect_events(), {}, settings())
    assert strays
