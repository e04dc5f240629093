"""Discovery decisions: new, changed, unchanged, undecodable, unparsed and deleted records."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from engine import events as ev
from engine.asset import Asset, MediaState
from engine.discover import (
    decide_for_deleted,
    decide_for_problem,
    decide_for_remote,
    discovered_facts,
    plan_missing_after_full_scan,
)
from engine.icloud.model import RecordProblem, RemoteAsset, RemoteVersion
from engine.ids import IcloudIdentity

T = datetime(2023, 7, 1, 12, tzinfo=UTC)


def remote(**overrides: object) -> RemoteAsset:
    base = RemoteAsset(
        zone="PrimarySync", record_name="A1", master_record_name="M1", change_tag="t1",
        master_change_tag="m1", filename="IMG_0001.HEIC", filename_status="ok",
        item_type="public.heic", captured_at_utc=T, added_at_utc=T,
        versions=(
            RemoteVersion(key="original", size_bytes=100, checksum="c1", file_type="public.heic",
                          download_url="https://cvws.icloud-content.com/B/x"),
            RemoteVersion(key="live_video", size_bytes=40, checksum="c2",
                          file_type="com.apple.quicktime-movie"),
        ),
    )
    return msgspec.structs.replace(base, **overrides)


def known_state(asset: RemoteAsset) -> MediaState:
    identity = IcloudIdentity("jdoe@example.com", asset.zone, asset.record_name)
    return Asset.discover(identity, "run", **discovered_facts(asset, ())).state


def test_a_new_record_is_discovered_with_every_rendition_but_no_url() -> None:
    [fact] = decide_for_remote(None, remote(), ("ALB1",))
    assert fact.event_class is ev.Discovered
    assert fact.facts["kind"] == "live" and fact.facts["album_ids"] == ("ALB1",)
    assert fact.facts["declared_size_bytes"] == 100 and fact.facts["live_video_checksum"] == "c2"
    assert [v.key for v in fact.facts["versions"]] == ["original", "live_video"]
    assert "download_url" not in msgspec.json.encode(fact.facts["versions"]).decode()


def test_an_unchanged_record_appends_nothing() -> None:
    asset = remote()
    assert decide_for_remote(known_state(asset), asset, ()) == []


def test_an_edit_is_a_remote_change_with_the_new_facts() -> None:
    before = remote()
    after = remote(change_tag="t2", is_favorite=True)
    [fact] = decide_for_remote(known_state(before), after, ())
    assert fact.event_class is ev.RemoteChanged
    assert fact.facts["remote_change_tag"] == "t2" and fact.facts["is_favorite"] is True


def test_an_undecodable_filename_is_discovered_under_its_fallback_name_not_quarantined() -> None:
    asset = remote(filename="AZ7rAbc_____.HEIC", filename_status="undecodable")
    first = decide_for_remote(None, asset, ())
    assert [f.event_class for f in first] == [ev.Discovered]
    assert first[0].facts["filename"] == "AZ7rAbc_____.HEIC"
    assert decide_for_remote(known_state(asset), asset, ()) == []


def test_an_asset_an_older_version_quarantined_for_its_name_is_freed_by_a_remote_change() -> None:
    asset = remote(filename="AZ7rAbc_____.HEIC", filename_status="undecodable")
    state = known_state(asset)
    state.quarantine_reason = "undecodable_filename"
    [fact] = decide_for_remote(state, asset, ())
    assert fact.event_class is ev.RemoteChanged  # its fold clears the quarantine


def test_an_unparsed_record_is_recorded_and_quarantined_with_its_reason() -> None:
    problem = RecordProblem(zone="PrimarySync", record_name="BAD", master_record_name="M9",
                            reason="malformed_record", detail="assetDate is not a number")
    plan = decide_for_problem(None, problem)
    assert [f.event_class for f in plan] == [ev.Discovered, ev.Quarantined]
    assert plan[1].facts == {"reason": "malformed_record", "detail": "assetDate is not a number"}
    state = MediaState(record_name="BAD", quarantine_reason="malformed_record")
    assert decide_for_problem(state, problem) == []


def test_deletion_is_recorded_once_and_only_for_known_assets() -> None:
    state = known_state(remote())
    [fact] = decide_for_deleted(state, "A1", "changes/zone")
    assert fact.event_class is ev.RemoteDeleted and fact.facts == {"observed_via": "changes/zone"}
    state.is_remote_deleted = True
    assert decide_for_deleted(state, "A1", "changes/zone") == []
    assert decide_for_deleted(None, "NEVER-SEEN", "changes/zone") == []


def test_a_deleted_asset_listed_again_is_a_remote_change() -> None:
    asset = remote()
    state = known_state(asset)
    state.is_remote_deleted = True
    [fact] = decide_for_remote(state, asset, ())
    assert fact.event_class is ev.RemoteChanged


def test_missing_after_a_full_scan_is_exactly_the_unseen_names() -> None:
    assert plan_missing_after_full_scan(["A", "B", "C"], {"A", "C", "Z"}) == ["B"]
