"""The fold: how facts change an asset's state (the rules every projection inherits)."""

from __future__ import annotations

import pytest

from engine import events as ev
from engine.asset import Asset, SyncRun
from engine.resources import archived_hashes
from tests.factories import discover, download, new_run, remote_change


@pytest.fixture
def run() -> SyncRun:
    return new_run()


def verified(asset: Asset, run: SyncRun) -> Asset:
    run_id = run.id.hex
    download(asset, run)
    asset.record(ev.NasVerified, run_id, sha256=asset.state.sha256, method="reread",
                 files=archived_hashes(asset.state))
    asset.record(ev.PixelStaged, run_id, outbox_relpath="x", size_bytes=1, method="hardlink")
    asset.record(ev.GoogleVerified, run_id, device_id="DEV", size_bytes=1)
    return asset


def test_discovered_sets_identity_and_remote_facts(run: SyncRun) -> None:
    asset = discover(run, 5)
    s = asset.state
    assert (s.account, s.zone, s.record_name) == ("jdoe@example.com", "PrimarySync", "REC-00000005")
    assert s.sha256 is None and s.version == 1 and s.last_event == "Discovered"


def test_download_pins_the_change_tag_known_at_that_moment(run: SyncRun) -> None:
    asset = discover(run, 1)
    download(asset, run)
    assert asset.state.downloaded_change_tag == "tag1a"
    remote_change(asset, run, remote_change_tag="tag1b", remote_checksum="c2",
                  declared_size_bytes=5)
    assert asset.state.downloaded_change_tag == "tag1a"
    assert asset.state.remote_change_tag == "tag1b"


def test_new_original_bytes_forget_every_verification(run: SyncRun) -> None:
    asset = verified(discover(run, 1), run)
    assert asset.state.nas_status == "verified" and asset.state.google_status == "verified"
    download(asset, run, sha256="f" * 64)
    assert asset.state.nas_status is None
    assert asset.state.nas_verified_sha256 is None
    assert asset.state.google_status is None


def test_same_bytes_downloaded_again_keep_verifications(run: SyncRun) -> None:
    asset = verified(discover(run, 1), run)
    download(asset, run)
    assert asset.state.nas_status == "verified"


def test_nas_verification_defaults_to_the_local_relative_path(run: SyncRun) -> None:
    asset = verified(discover(run, 2), run)
    assert asset.state.nas_relpath == asset.state.local_relpath


def test_failures_count_and_a_download_clears_the_error(run: SyncRun) -> None:
    asset = discover(run, 1)
    for _ in range(2):
        asset.record(ev.DownloadFailed, run.id.hex, error="HTTP 503", is_retriable=True)
    assert asset.state.download_failures == 2 and asset.state.last_error == "HTTP 503"
    download(asset, run)
    assert asset.state.last_error is None and asset.state.download_failures == 2


def test_heavier_tier_keeps_the_original_size_before(run: SyncRun) -> None:
    asset = verified(discover(run, 1), run)
    for tier, before, after in (("light", 1000, 800), ("heavy", 800, 300)):
        asset.record(
            ev.Compressed,
            run.id.hex,
            tier=tier,
            codec="jpeg",
            params_hash="p",
            size_bytes_before=before,
            size_bytes_after=after,
            sha256_after="a" * 64,
            source="nas",
            local_relpath_after=None,
            live_video_sha256_after=None,
        )
    s = asset.state
    assert (
        s.compression_tier,
        s.size_bytes_before_compression,
        s.size_bytes_after_compression,
    ) == ("heavy", 1000, 300)


def test_album_removal_by_the_user_cancels_the_move(run: SyncRun) -> None:
    asset = verified(discover(run, 1), run)
    asset.record(ev.AlbumMoved, run.id.hex, album_name="DeletePending")
    assert asset.state.album_moved_at_utc is not None
    asset.record(ev.AlbumRemovalObserved, run.id.hex, album_name="DeletePending")
    assert asset.state.album_moved_at_utc is None and asset.state.is_album_removal_observed


def test_discovered_cannot_be_recorded_on_an_existing_asset(run: SyncRun) -> None:
    asset = discover(run, 1)
    with pytest.raises(TypeError, match="Discovered"):
        asset.record(ev.Discovered, run)
