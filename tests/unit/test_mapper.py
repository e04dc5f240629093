"""The msgspec mapper: typed round trips, compact stored state, class_version upcasting."""

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
from engine.errors import LedgerDamagedError
from engine.mapper import MsgspecMapper
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
    state = json.loads(stored.state)
    assert stored.topic == event_class.__name__
    assert "originator_id" not in state and "originator_version" not in state
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


def test_upcaster_reads_version_one_events_through_the_real_ledger(library: Library) -> None:
    ledger = library.open_ledger()
    mapper = MsgspecMapper()
    old = sample_event(CaptionSet)
    old = dataclasses.replace(old, originator_version=1, caption="Paris 2019")
    stored_v1 = mapper.to_stored_event(old)
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
    assert json.loads(stored.state)["class_version"] == 2


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
