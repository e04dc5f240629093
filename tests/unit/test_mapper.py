"""The msgspec mapper: typed round trips, compact stored state, class_version upcasting.

Stored rows are positional msgpack (engine.codec); rows written as JSON by earlier versions
are still read, through the real ledger.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import msgspec
import pytest
from eventsourcing.persistence import StoredEvent

from engine import events as ev
from engine.asset import Asset, SyncRun
from engine.codec import QUICKTIME
from engine.errors import LedgerDamagedError
from engine.mapper import MsgspecMapper, codec_for, decode_row, decode_stored_state, topic_of
from engine.resources import archived_hashes
from tests.factories import Library, discover, download, new_run

SAMPLE = {str: "x", int: 7, bool: True, datetime: datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)}


def sample_value(hint: Any) -> Any:
    """A well-typed sample for a field type (tuples hold two samples of their item type)."""
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return (sample_value(item), sample_value(item))
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        inner = typing.get_type_hints(hint)
        return hint(**{name: sample_value(inner[name]) for name in hint.__struct_fields__})
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
    return SAMPLE.get(base, "x")


def sample_event(event_class: type[Any]) -> Any:
    hints = typing.get_type_hints(event_class)
    values = {f.name: sample_value(hints[f.name]) for f in dataclasses.fields(event_class)}
    values.update(originator_id=uuid4(), originator_version=3, timestamp=SAMPLE[datetime])
    return event_class(**values)


@pytest.mark.parametrize("event_class", list(ev.TOPICS.values()), ids=lambda c: c.__name__)
def test_mapper_round_trips_every_event_type(event_class: type[Any]) -> None:
    mapper = MsgspecMapper()
    event = sample_event(event_class)
    stored = mapper.to_stored_event(event)
    values = msgspec.msgpack.decode(stored.state)
    assert stored.topic == event_class.__name__
    assert values[0] == getattr(event_class, "class_version", 1)
    assert len(values) == 1 + len(dataclasses.fields(event_class)) - 2  # no id, no version
    assert b"run_id" not in stored.state and b"timestamp" not in stored.state  # no names
    back = mapper.to_domain_event(stored)
    assert type(back) is event_class
    assert back == event
    assert back.timestamp.tzinfo is not None


def test_mapper_refuses_undecodable_state() -> None:
    stored = StoredEvent(uuid4(), 1, "Downloaded", b'{"timestamp": 12, "oops": true}')
    with pytest.raises(LedgerDamagedError, match="cannot decode event"):
        MsgspecMapper().to_domain_event(stored)


def test_mapper_refuses_unknown_topic() -> None:
    stored = StoredEvent(uuid4(), 1, "NoSuchEvent", b"{}")
    with pytest.raises(LedgerDamagedError, match="NoSuchEvent"):
        MsgspecMapper().to_domain_event(stored)


class CaptionSet(ev.AssetEvent):
    """Version 1 of a test-only event: a caption in one field."""

    caption: str


class CaptionSetV2(ev.AssetEvent):
    """Version 2 splits the caption and records its language."""

    class_version = 2
    title: str
    language: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["title"] = state.pop("caption")
        state["language"] = "und"


def legacy_json_state(event: Any) -> bytes:
    """The stored state as photoledger wrote it before the positional encoding."""
    state = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
    if getattr(type(event), "class_version", 1) > 1:
        state["class_version"] = type(event).class_version
    return msgspec.json.encode(state)


def test_upcaster_reads_version_one_json_events_through_the_real_ledger(library: Library) -> None:
    ledger = library.open_ledger()
    old = sample_event(CaptionSet)
    old = dataclasses.replace(old, originator_version=1, caption="Paris 2019")
    stored_v1 = StoredEvent(old.originator_id, 1, topic_of(CaptionSet), legacy_json_state(old))
    assert b"class_version" not in stored_v1.state
    ledger.app.recorder.insert_events([stored_v1])  # as an older photoledger wrote it

    ev.TOPICS[stored_v1.topic] = CaptionSetV2  # the class evolved; the stored topic did not
    try:
        (upcast,) = ledger.events_of(old.originator_id)
    finally:
        del ev.TOPICS[stored_v1.topic]
    assert isinstance(upcast, CaptionSetV2)
    assert (upcast.title, upcast.language) == ("Paris 2019", "und")
    assert upcast.timestamp == old.timestamp and upcast.run_id == old.run_id
    assert not hasattr(upcast, "caption")


def test_newer_class_version_is_stored_with_its_version() -> None:
    event = sample_event(CaptionSetV2)
    stored = MsgspecMapper().to_stored_event(event)
    assert msgspec.msgpack.decode(stored.state)[0] == 2


def test_saved_assets_replay_to_equal_state(library: Library) -> None:
    ledger = library.open_ledger()
    run = new_run()
    assets = [discover(run, i) for i in range(3)]
    for asset in assets:
        download(asset, run)
    ledger.save(run, *assets)
    for asset in assets:
        assert ledger.get_asset(asset.id).state == asset.state


def test_discovered_v1_is_read_as_v2_with_its_original_as_the_only_version() -> None:
    v1 = {
        "timestamp": "2021-03-04T05:06:07Z", "originator_topic": "engine.asset:Asset",
        "run_id": "r", "account": "a", "zone": "PrimarySync", "record_name": "REC",
        "master_record_name": "M", "filename": "IMG_1.HEIC", "kind": "live",
        "item_type": "public.heic", "declared_size_bytes": 10,
        "live_video_declared_size_bytes": 4, "captured_at_utc": None, "added_at_utc": None,
        "remote_change_tag": "t1", "remote_checksum": "c1",
    }
    stored = StoredEvent(uuid4(), 1, "Discovered", json.dumps(v1).encode())
    event = MsgspecMapper().to_domain_event(stored)
    assert event.filename_status == "ok" and event.album_ids == ()
    assert [(v.key, v.size_bytes, v.checksum) for v in event.versions] == [
        ("original", 10, "c1"), ("live_video", 4, ""),
    ]


def test_downloaded_v1_is_read_as_v2_without_extra_files() -> None:
    v1 = {
        "timestamp": "2021-03-04T05:06:07Z", "run_id": "r", "local_relpath": "a/b.jpg",
        "size_bytes": 3, "sha256": "0" * 64, "live_video_relpath": None,
        "live_video_size_bytes": None, "live_video_sha256": None,
    }
    event = MsgspecMapper().to_domain_event(
        StoredEvent(uuid4(), 2, "Downloaded", json.dumps(v1).encode())
    )
    assert event.extra_files == () and event.size_bytes == 3


def test_downloaded_v3_positional_row_is_read_as_downloaded_from_icloud() -> None:
    _run, (asset, _) = realistic_assets()
    _created, downloaded = asset.collect_events()
    values = msgspec.msgpack.decode(MsgspecMapper().to_stored_event(downloaded).state)
    assert values[0] == 4 and values[-1] == "downloaded"
    v3 = [3, *values[1:-1]]  # as photoledger wrote it before `provenance`
    stored = StoredEvent(uuid4(), 2, "Downloaded", msgspec.msgpack.encode(v3))
    event = MsgspecMapper().to_domain_event(stored)
    assert event.provenance == "downloaded" and event.sha256 == downloaded.sha256
    adopted = dataclasses.replace(downloaded, provenance="adopted")
    assert MsgspecMapper().to_domain_event(MsgspecMapper().to_stored_event(adopted)) == adopted


# ---------------------------------------------------------------- positional encoding

# The stored field order of each event class's current class_version. Positional rows name
# their fields only through this order: changing it needs a class_version bump, and the old
# order goes on the class as `stored_fields_vN` (see engine.codec).
STORED_FIELDS = {
    "Discovered": "timestamp originator_topic run_id account zone record_name master_record_name "
    "filename filename_status kind item_type declared_size_bytes remote_checksum "
    "live_video_declared_size_bytes live_video_checksum versions captured_at_utc added_at_utc "
    "timezone_offset_s remote_change_tag is_favorite is_hidden album_ids unreadable_resources",
    "RemoteChanged": "timestamp run_id remote_change_tag remote_checksum declared_size_bytes "
    "live_video_declared_size_bytes live_video_checksum versions filename filename_status "
    "item_type captured_at_utc is_favorite is_hidden unreadable_resources",
    "RemoteDeleted": "timestamp run_id observed_via",
    "MetadataChanged": "timestamp run_id title description keywords latitude_microdeg "
    "longitude_microdeg altitude_mm orientation is_screenshot timezone_offset_s asset_subtype",
    "AlbumsChanged": "timestamp run_id album_ids",
    "SidecarWritten": "timestamp run_id sidecar_relpath sha256 album_paths",
    "Downloaded": "timestamp run_id local_relpath size_bytes sha256 live_video_relpath "
    "live_video_size_bytes live_video_sha256 extra_files resource checksum provenance",
    "DownloadFailed": "timestamp run_id error is_retriable",
    "Quarantined": "timestamp run_id reason detail",
    "NasCopied": "timestamp run_id nas_relpath size_bytes nas_id",
    "NasVerified": "timestamp run_id sha256 method files nas_id",
    "NasMismatched": "timestamp run_id expected_sha256 actual_sha256 detail nas_id",
    "PixelStaged": "timestamp run_id outbox_relpath size_bytes method",
    "GoogleVerified": "timestamp run_id device_id size_bytes",
    "Compressed": "timestamp run_id tier codec params_hash size_bytes_before size_bytes_after "
    "sha256_after source local_relpath_after live_video_sha256_after",
    "CompressionSkipped": "timestamp run_id tier reason is_failure",
    "AlbumMoved": "timestamp run_id album_name",
    "AlbumRemovalObserved": "timestamp run_id album_name",
    "DeletionRequested": "timestamp run_id plan_id sha256 nas_verified_at_utc google_device_id "
    "google_verified_at_utc remote_change_tag files",
    "Deleted": "timestamp run_id plan_id recoverable_until_utc is_reconciled",
    "DeletionFailed": "timestamp run_id plan_id error",
    "LocalCopyRemoved": "timestamp run_id local_relpath",
    "Recovered": "timestamp run_id remote_change_tag is_reconciled",
    "RefetchRequested": "timestamp run_id resources reason",
    "DamageAlarmRaised": "timestamp run_id nas_relpath detected_at_utc is_last_copy",
    "AdoptionConfirmed": "timestamp run_id resources",
    "AdoptionDisproved": "timestamp run_id resource local_relpath adopted_sha256 icloud_sha256 "
    "quarantine_relpath",
    "RunStarted": "timestamp originator_topic command host pid config_sha256 version",
    "StageCompleted": "timestamp stage counts_json",
    "SyncTokenAdvanced": "timestamp zone sync_token",
    "AlbumSeen": "timestamp zone album_id name parent_id is_folder",
    "AlbumRemoved": "timestamp zone album_id",
    "DeletePlanned": "timestamp plan_id asset_count plan_sha256 entries",
    "RunFinished": "timestamp exit_code outcome",
}
CURRENT_VERSIONS = {"Discovered": 3, "RemoteChanged": 3, "Downloaded": 4, "DeletePlanned": 2,
                    "Compressed": 2, "CompressionSkipped": 2, "NasCopied": 2, "NasVerified": 2,
                    "NasMismatched": 2, "DeletionRequested": 2, "MetadataChanged": 2}


@pytest.mark.parametrize("event_class", list(ev.TOPICS.values()), ids=lambda c: c.__name__)
def test_stored_field_order_is_pinned_per_class_version(event_class: type[Any]) -> None:
    name = event_class.__name__
    version = getattr(event_class, "class_version", 1)
    assert version == CURRENT_VERSIONS.get(name, 1), (
        f"{name} moved to class_version {version}: add `stored_fields_v"
        f"{CURRENT_VERSIONS.get(name, 1)} = {tuple(STORED_FIELDS[name].split())}` to the class "
        "and update this table"
    )
    stored = tuple(s.name for s in codec_for(event_class).positional.specs)
    assert stored == tuple(STORED_FIELDS[name].split()), "bump class_version to change fields"


def realistic_assets(count: int = 2) -> tuple[SyncRun, list[Asset]]:
    run = new_run()
    assets = [discover(run, i) for i in range(count)]
    for asset in assets:
        download(asset, run)
    return run, assets


def test_hex_values_are_stored_as_raw_bytes_and_read_back_as_text() -> None:
    run, (asset, _) = realistic_assets()
    _created, downloaded = asset.collect_events()
    stored = MsgspecMapper().to_stored_event(downloaded)
    assert bytes.fromhex(downloaded.sha256) in stored.state
    assert downloaded.sha256.encode() not in stored.state
    assert bytes.fromhex(run.id.hex) in stored.state
    _cls, payload = decode_stored_state(stored.topic, stored.state, "id", 2)
    assert payload.sha256 == downloaded.sha256 and isinstance(payload.sha256, str)  # type: ignore[attr-defined]
    assert payload.run_id == run.id.hex  # type: ignore[attr-defined]
    assert payload.timestamp == downloaded.timestamp  # type: ignore[attr-defined]
    assert payload.timestamp.tzinfo is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["AB" * 32, "abc", "", "0x12", "ab cd", "é" * 4, "0" * 63])
def test_text_in_a_hex_field_that_is_not_lower_case_hex_round_trips_exactly(text: str) -> None:
    event = dataclasses.replace(sample_event(ev.NasMismatched), expected_sha256=text)
    event = dataclasses.replace(event, actual_sha256=None, run_id="RUN-" + text)
    back = MsgspecMapper().to_domain_event(MsgspecMapper().to_stored_event(event))
    assert back == event
    assert back.expected_sha256 == text and type(back.expected_sha256) is str


def test_discovered_omits_its_default_topic_and_repeated_facts() -> None:
    checksum = "AQhAB6Vx0iN4f9vXWm3nqJzX2dRk"  # iCloud: the master's name is its checksum
    asset = discover(new_run(), 1, master_record_name=checksum, remote_checksum=checksum)
    (discovered,) = asset.collect_events()
    stored = MsgspecMapper().to_stored_event(discovered)
    assert b"engine.asset" not in stored.state
    assert stored.state.count(discovered.remote_checksum.encode()) == 1
    event_class, payload = decode_stored_state(stored.topic, stored.state, "id", 1)
    assert event_class is ev.Discovered
    assert payload.originator_topic == "engine.asset:Asset"  # type: ignore[attr-defined]
    assert payload.remote_checksum == discovered.master_record_name  # type: ignore[attr-defined]
    assert payload.versions == discovered.versions  # type: ignore[attr-defined]
    assert type(payload.versions) is tuple  # type: ignore[attr-defined]
    assert all(type(v) is ev.VersionFact for v in payload.versions)  # type: ignore[attr-defined]
    assert MsgspecMapper().to_domain_event(stored) == discovered


def test_versions_that_differ_from_the_declared_facts_are_stored_whole() -> None:
    run = new_run()
    versions = (
        ev.VersionFact(key="original", size_bytes=5, checksum="other", file_type="public.heic"),
        ev.VersionFact(key="live_video", size_bytes=7, checksum="lv", file_type="public.mpeg-4"),
        ev.VersionFact(key="live_video", size_bytes=7, checksum="lv", file_type=QUICKTIME),
        ev.VersionFact(key="adjusted", size_bytes=9, checksum="adj", file_type="public.jpeg"),
    )
    asset = discover(
        run, 3, versions=versions, remote_checksum="differs", live_video_checksum="lv",
        live_video_declared_size_bytes=7,
    )
    (discovered,) = asset.collect_events()
    stored = MsgspecMapper().to_stored_event(discovered)
    assert b"other" in stored.state and b"differs" in stored.state and b"mpeg-4" in stored.state
    assert QUICKTIME.encode() not in stored.state  # the declared live video: its key alone
    assert MsgspecMapper().to_domain_event(stored) == discovered


def test_a_created_event_of_another_aggregate_keeps_its_topic() -> None:
    event = dataclasses.replace(sample_event(ev.RunStarted), originator_topic="other.module:Run")
    stored = MsgspecMapper().to_stored_event(event)
    assert b"other.module:Run" in stored.state
    assert MsgspecMapper().to_domain_event(stored) == event


def test_positional_state_is_far_smaller_than_the_json_it_replaces() -> None:
    _run, (asset, _) = realistic_assets()
    for event in asset.collect_events():
        positional = MsgspecMapper().to_stored_event(event).state
        assert len(positional) * 2 < len(legacy_json_state(event)), type(event).__name__


@pytest.mark.parametrize(
    "state",
    [b"\xdc\x00\x02\x02\x01", b"\x93\x02\xc1\x00", b"", b"\x92\x01", b"\x93\x09\x01\x02"],
    ids=["truncated", "reserved-byte", "empty", "old-version-unknown-fields", "newer-version"],
)
def test_damaged_positional_state_is_refused(state: bytes) -> None:
    stored = StoredEvent(uuid4(), 1, "Downloaded", state)
    with pytest.raises(LedgerDamagedError, match="cannot decode event"):
        MsgspecMapper().to_domain_event(stored)


def test_wrong_value_type_in_a_hex_field_is_refused() -> None:
    event = sample_event(ev.NasVerified)
    values = msgspec.msgpack.decode(MsgspecMapper().to_stored_event(event).state)
    values[3] = 42  # sha256
    stored = StoredEvent(uuid4(), 1, "NasVerified", msgspec.msgpack.encode(values))
    with pytest.raises(LedgerDamagedError, match="sha256"):
        MsgspecMapper().to_domain_event(stored)


def test_decode_row_gives_a_plain_dict_for_tools() -> None:
    _run, (asset, _) = realistic_assets()
    discovered, downloaded = asset.collect_events()
    stored = MsgspecMapper().to_stored_event(downloaded)
    row = decode_row(stored.topic, stored.state)
    assert row["event"] == "Downloaded" and row["sha256"] == downloaded.sha256
    assert row["timestamp"] == downloaded.timestamp.isoformat().replace("+00:00", "Z")
    assert json.loads(json.dumps(row))["size_bytes"] == downloaded.size_bytes
    legacy = decode_row("Discovered", legacy_json_state(discovered))
    assert legacy["versions"][0]["key"] == "original"


def test_json_rows_of_an_older_photoledger_still_read_through_the_real_ledger(
    library: Library,
) -> None:
    ledger = library.open_ledger()
    run, (asset, _) = realistic_assets()
    ledger.save(run)
    discovered, downloaded = asset.collect_events()
    ledger.app.recorder.insert_events(
        [
            StoredEvent(e.originator_id, e.originator_version, type(e).__name__, legacy_json_state(e))
            for e in (discovered, downloaded)
        ]
    )
    mixed = ledger.get_asset(asset.id)
    assert mixed.state == asset.state
    mixed.record(ev.NasVerified, run.id.hex, sha256=asset.state.sha256, method="reread",
                 files=archived_hashes(asset.state))
    ledger.save(mixed)  # appended positionally after the JSON rows
    rows = [raw.state[:1] for raw in ledger.iter_all() if raw.originator_id == asset.id.hex]
    assert rows[:2] == [b"{", b"{"] and rows[2] != b"{"
    assert ledger.get_asset(asset.id).state == mixed.state
    projection = library.open_projection()
    try:
        projection.rebuild(ledger)
        (row,) = projection._query("SELECT sha256, nas_status FROM media")
    finally:
        projection.close()
    assert (row["sha256"], row["nas_status"]) == (asset.state.sha256, "verified")


class Tagged(ev.AssetEvent):
    """Version 1 of a test-only event, stored positionally."""

    label: str
    sha256: str


class TaggedV2(ev.AssetEvent):
    """Version 2 renames the label and adds a colour; v1 rows are named by stored_fields_v1."""

    class_version = 2
    stored_fields_v1 = ("timestamp", "run_id", "label", "sha256")
    title: str
    colour: str
    sha256: str

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        state["title"] = state.pop("label")
        state["colour"] = "none"


def test_positional_version_one_rows_are_upcast_through_the_real_ledger(library: Library) -> None:
    ledger = library.open_ledger()
    old = dataclasses.replace(
        sample_event(Tagged), originator_version=1, label="Paris", sha256="ab" * 32
    )
    stored_v1 = MsgspecMapper().to_stored_event(old)
    assert msgspec.msgpack.decode(stored_v1.state)[0] == 1
    ledger.app.recorder.insert_events([stored_v1])

    ev.TOPICS[stored_v1.topic] = TaggedV2  # the class evolved; the stored topic did not
    try:
        (upcast,) = ledger.events_of(old.originator_id)
        raw = next(iter(ledger.iter_all()))
        _cls, payload = decode_stored_state(raw.topic, raw.state, raw.originator_id, 1)
    finally:
        del ev.TOPICS[stored_v1.topic]
    assert isinstance(upcast, TaggedV2)
    assert (upcast.title, upcast.colour, upcast.sha256) == ("Paris", "none", "ab" * 32)
    assert upcast.timestamp == old.timestamp and upcast.run_id == old.run_id
    assert payload.title == "Paris"  # type: ignore[attr-defined]
    current = dataclasses.replace(sample_event(TaggedV2), title="Rome")
    assert MsgspecMapper().to_domain_event(MsgspecMapper().to_stored_event(current)) == current


def test_positional_old_version_without_its_field_list_is_refused(library: Library) -> None:
    old = dataclasses.replace(sample_event(CaptionSet), caption="Paris")
    stored_v1 = MsgspecMapper().to_stored_event(old)
    ev.TOPICS[stored_v1.topic] = CaptionSetV2  # v2 lists no stored_fields_v1
    try:
        with pytest.raises(LedgerDamagedError, match="stored_fields_v1"):
            MsgspecMapper().to_domain_event(stored_v1)
    finally:
        del ev.TOPICS[stored_v1.topic]
