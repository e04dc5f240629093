"""An asset is every resource iCloud would destroy: the fold, the gate and older ledgers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import uuid4

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import events as ev
from engine import resources as res
from engine.asset import Asset, SyncRun, fold_fact
from engine.cleanup.gate import decide_deletable
from engine.config import ConfigFile, IcloudSettings, LibrarySettings
from engine.mapper import MsgspecMapper
from engine.selection import NO_SELECTION
from tests.factories import T0, discover, new_run

NOW = T0 + timedelta(days=400)
SIZES = {"original": 1000, "live_video": 400, "alternative": 9000, "adjusted": 800,
         "adjusted_video": 500}


def versions_for(keys: list[str]) -> tuple[ev.VersionFact, ...]:
    return tuple(
        ev.VersionFact(key=k, size_bytes=SIZES[k], checksum=f"ck-{k}", file_type="public.jpeg")
        for k in keys
    )


def asset_with(run: SyncRun, keys: list[str], **overrides: Any) -> Asset:
    live = "live_video" in keys
    return discover(
        run, 3, declared_size_bytes=SIZES["original"], remote_checksum="ck-original",
        item_type="public.jpeg", kind="live" if live else "photo",
        live_video_declared_size_bytes=SIZES["live_video"] if live else None,
        live_video_checksum="ck-live_video" if live else None,
        versions=versions_for(keys), **overrides,
    )


def sha(key: str) -> str:
    return (key.encode().hex() + "0" * 64)[:64]


def download_resource(asset: Asset, run: SyncRun, key: str, size: int | None = None) -> None:
    asset.record(
        ev.Downloaded, run.id.hex, resource=key, local_relpath=f"2024/IMG_3-{key}.JPG",
        size_bytes=SIZES[key] if size is None else size, sha256=sha(key), checksum=f"ck-{key}",
    )


def verify_on_nas(asset: Asset, run: SyncRun, keys: list[str]) -> None:
    files = tuple(ev.ResourceHash(key=k, sha256=sha(k)) for k in keys)
    asset.record(
        ev.NasVerified, run.id.hex, sha256=sha("original"), method="reread", files=files,
        nas_id="nas-1", timestamp=NOW - timedelta(hours=1),
    )


def moved(asset: Asset, run: SyncRun) -> None:
    asset.record(ev.PixelStaged, run.id.hex, outbox_relpath="x", size_bytes=1, method="copy")
    asset.record(ev.GoogleVerified, run.id.hex, device_id="PIXEL", size_bytes=1)
    asset.record(ev.AlbumMoved, run.id.hex, album_name="DeletePending")


SETTINGS = ConfigFile(
    library=LibrarySettings(root="/lib"),
    icloud=IcloudSettings(username="jdoe@example.com", session_dir="/s"),
)


def block_codes(asset: Asset) -> list[str]:
    verdict = decide_deletable(asset.state, NOW, SETTINGS, "nas-1", NO_SELECTION)
    return [b.code for b in verdict.blocks]


ALL = ["original", "live_video", "alternative", "adjusted", "adjusted_video"]


def test_each_resource_download_is_its_own_fact_and_the_missing_ones_are_listed() -> None:
    run = new_run()
    asset = asset_with(run, ALL)
    assert asset.state.missing_resources == tuple(ALL)
    assert asset.state.icloud_size_bytes == sum(SIZES.values())
    download_resource(asset, run, "original")
    download_resource(asset, run, "adjusted")
    assert asset.state.missing_resources == ("live_video", "alternative", "adjusted_video")
    assert asset.state.sha256 == sha("original")
    assert [f.key for f in asset.state.extra_files] == ["adjusted"]
    download_resource(asset, run, "live_video")
    assert asset.state.live_video_sha256 == sha("live_video")


def test_a_resource_of_another_size_than_listed_is_still_missing() -> None:
    run = new_run()
    asset = asset_with(run, ["original", "alternative"])
    download_resource(asset, run, "original")
    download_resource(asset, run, "alternative", size=12)
    assert asset.state.missing_resources == ("alternative",)


def test_gate_blocks_until_every_resource_is_downloaded_and_on_the_nas() -> None:
    run = new_run()
    asset = asset_with(run, ALL)
    for key in ("original", "live_video"):
        download_resource(asset, run, key)
    verify_on_nas(asset, run, ["original", "live_video"])
    moved(asset, run)
    codes = block_codes(asset)
    assert "alternative-not-downloaded" in codes and "adjusted_video-not-downloaded" in codes
    for key in ("alternative", "adjusted", "adjusted_video"):
        download_resource(asset, run, key)
    assert asset.state.nas_status == "incomplete"  # the NAS lacks the new resources
    assert set(block_codes(asset)) == {"alternative-not-on-nas", "adjusted-not-on-nas",
                                       "adjusted_video-not-on-nas"}
    verify_on_nas(asset, run, ALL)
    assert block_codes(asset) == []
    verdict = decide_deletable(asset.state, NOW, SETTINGS, "nas-1", NO_SELECTION)
    assert verdict.evidence is not None
    assert {f.key for f in verdict.evidence.files} == set(ALL)
    assert verdict.evidence.icloud_size_bytes == sum(SIZES.values())


def test_a_nas_copy_of_other_bytes_does_not_count_for_that_resource() -> None:
    run = new_run()
    asset = asset_with(run, ["original", "alternative"])
    download_resource(asset, run, "original")
    download_resource(asset, run, "alternative")
    files = (ev.ResourceHash(key="original", sha256=sha("original")),
             ev.ResourceHash(key="alternative", sha256="f" * 64))
    asset.record(ev.NasVerified, run.id.hex, sha256=sha("original"), method="reread",
                 files=files, nas_id="nas-1", timestamp=NOW - timedelta(hours=1))
    moved(asset, run)
    assert block_codes(asset) == ["alternative-not-on-nas"]


def test_a_written_sidecar_must_be_current_and_on_the_nas() -> None:
    run = new_run()
    asset = asset_with(run, ["original"])
    download_resource(asset, run, "original")
    asset.record(ev.SidecarWritten, run.id.hex, sidecar_relpath="2024/IMG_3.JPG.xmp",
                 sha256="5" * 64, album_paths=("Trips/Paris",))
    verify_on_nas(asset, run, ["original"])
    moved(asset, run)
    assert block_codes(asset) == ["sidecar-not-on-nas"]
    files = (ev.ResourceHash(key="original", sha256=sha("original")),
             ev.ResourceHash(key="sidecar", sha256="5" * 64))
    asset.record(ev.NasVerified, run.id.hex, sha256=sha("original"), method="reread",
                 files=files, nas_id="nas-1", timestamp=NOW - timedelta(hours=1))
    assert block_codes(asset) == []
    asset.state.is_sidecar_stale = True  # as a MetadataChanged or an edit leaves it
    assert block_codes(asset) == ["sidecar-stale"]


def test_an_unreadable_resource_blocks_deletion() -> None:
    run = new_run()
    asset = asset_with(run, ["original"], unreadable_resources=("adjusted",))
    download_resource(asset, run, "original")
    verify_on_nas(asset, run, ["original"])
    moved(asset, run)
    assert block_codes(asset) == ["adjusted-unreadable"]


@settings(max_examples=200, deadline=None)
@given(
    listed=st.sets(st.sampled_from(ALL[1:])),
    downloaded=st.sets(st.sampled_from(ALL)),
    on_nas=st.sets(st.sampled_from(ALL)),
    bad_nas=st.sets(st.sampled_from(ALL)),
)
def test_gate_never_passes_an_asset_with_a_resource_not_verified_on_the_nas(
    listed: set[str], downloaded: set[str], on_nas: set[str], bad_nas: set[str]
) -> None:
    run = new_run()
    keys = ["original", *sorted(listed)]
    asset = asset_with(run, keys)
    for key in sorted(downloaded & set(keys)):
        download_resource(asset, run, key)
    files = tuple(
        ev.ResourceHash(key=k, sha256="e" * 64 if k in bad_nas else sha(k)) for k in on_nas
    )
    asset.record(ev.NasVerified, run.id.hex, sha256=sha("original"), method="reread",
                 files=files, nas_id="nas-1", timestamp=NOW - timedelta(hours=1))
    moved(asset, run)
    good_on_nas = on_nas - bad_nas
    verdict = decide_deletable(asset.state, NOW, SETTINGS, "nas-1", NO_SELECTION)
    assert verdict.is_deletable == (set(keys) <= downloaded and set(keys) <= good_on_nas)


# ------------------------------------------------------------------ older ledgers

def positional(version: int, values: list[Any]) -> bytes:
    return msgspec.msgpack.encode([version, *values])


def test_a_v2_downloaded_with_live_video_and_extras_folds_into_every_resource() -> None:
    run = new_run()
    asset = asset_with(run, ["original", "live_video", "adjusted"])
    extra = ev.LocalFileFact(key="adjusted", relpath="a/x-adjusted.JPG", size_bytes=800,
                             sha256=sha("adjusted"))
    asset.record(
        ev.Downloaded, run.id.hex, local_relpath="a/x.JPG", size_bytes=1000,
        sha256=sha("original"), live_video_relpath="a/x.MOV", live_video_size_bytes=400,
        live_video_sha256=sha("live_video"), extra_files=(extra,),
    )
    assert asset.state.missing_resources == ()
    assert {r.key for r in asset.state.resources_downloaded} == {
        "original", "live_video", "adjusted"}


def test_a_v1_nas_verification_covers_the_original_and_its_live_video() -> None:
    run = new_run()
    asset = asset_with(run, ["original", "live_video"])
    download_resource(asset, run, "original")
    download_resource(asset, run, "live_video")
    v1 = positional(1, [T0, run.id.hex, sha("original"), "reread"])
    event = MsgspecMapper().to_domain_event(
        StoredEvent(asset.id, asset.version + 1, "NasVerified", v1)
    )
    fold_fact(asset.state, ev.NasVerified, event, asset.version + 1)
    assert asset.state.nas_status == "verified"
    assert {h.key for h in asset.state.nas_files} == {"original", "live_video"}


@pytest.mark.parametrize(
    ("topic", "version", "values", "expected"),
    [
        ("Downloaded", 2, ["2021-03-04T05:06:07Z", "r", "a/b.jpg", 3, "0" * 64, None, None,
                           None, []], {"resource": "original", "checksum": ""}),
        ("NasVerified", 1, ["2021-03-04T05:06:07Z", "r", "0" * 64, "reread"],
         {"files": (ev.ResourceHash(key="original", sha256="0" * 64),
                    ev.ResourceHash(key="live_video", sha256="")), "nas_id": ""}),
        ("NasCopied", 1, ["2021-03-04T05:06:07Z", "r", "a/b.jpg", 3], {"nas_id": ""}),
        ("NasMismatched", 1, ["2021-03-04T05:06:07Z", "r", "0" * 64, None, "gone"],
         {"nas_id": ""}),
        ("DeletionRequested", 1, ["2021-03-04T05:06:07Z", "r", "p", "0" * 64, None, None,
                                  None, "t"], {"files": ()}),
    ],
)
def test_older_positional_rows_are_upcast(
    topic: str, version: int, values: list[Any], expected: dict[str, Any]
) -> None:
    values[0] = T0  # stored as a msgpack timestamp, as the codec writes it
    stored = StoredEvent(uuid4(), 2, topic, positional(version, values))
    event = MsgspecMapper().to_domain_event(stored)
    for name, value in expected.items():
        assert getattr(event, name) == value


def test_v2_discovered_and_remote_changed_rows_read_with_no_unreadable_resource() -> None:
    run = new_run()
    asset = asset_with(run, ["original"])
    (created,) = asset.collect_events()
    stored = MsgspecMapper().to_stored_event(created)
    values = msgspec.msgpack.decode(stored.state)
    assert values[0] == 3
    old = positional(2, values[1:-1])  # as a v2 photoledger wrote it
    event = MsgspecMapper().to_domain_event(
        StoredEvent(stored.originator_id, 1, stored.topic, old)
    )
    assert event.unreadable_resources == () and event.record_name == created.record_name
    assert res.listed_resources(asset.state).keys() == {"original"}
