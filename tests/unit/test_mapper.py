"""The msgspec mapper: typed round trips, compact stored state, class_version upcasting."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import StoredEvent

from engine import events as ev
from engine.errors import LedgerDamagedError
from engine.mapper import MsgspecMapper
from tests.factories import Library, discover, download, new_run

SAMPLE = {str: "x", int: 7, bool: True, datetime: datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)}


def sample_event(event_class: type[Any]) -> Any:
    import typing

    hints = typing.get_type_hints(event_class)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(event_class):
        hint = hints[field.name]
        base = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
        values[field.name] = SAMPLE.get(base, "x")
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
