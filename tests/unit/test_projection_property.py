"""Property: the media projection built incrementally, in any batch split, equals a full
rebuild row for row, and equals each aggregate's own state (one fold, three paths)."""

from __future__ import annotations

import dataclasses
import tempfile
import typing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import events as ev
from engine.asset import Asset
from projections.media import MediaProjection, state_to_row
from tests.factories import discover, make_library, new_run

_SKIP = {"originator_id", "originator_version", "timestamp", "originator_topic", "run_id"}
_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_BY_TYPE: dict[Any, st.SearchStrategy[Any]] = {
    str: _TEXT,
    int: st.integers(min_value=0, max_value=2**40),
    bool: st.booleans(),
    datetime: st.datetimes(
        min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
}
FOLLOW_UP_EVENTS = [cls for cls in ev.ASSET_EVENT_CLASSES if cls is not ev.Discovered]


def _strategy_for(hint: Any) -> st.SearchStrategy[Any]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:  # tuple[X, ...]
        return st.lists(_strategy_for(args[0]), max_size=3).map(tuple)
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        inner = typing.get_type_hints(hint)
        return st.builds(hint, **{n: _strategy_for(inner[n]) for n in hint.__struct_fields__})
    if args:  # X | None
        return st.none() | st.one_of(*(_BY_TYPE[a] for a in args if a is not type(None)))
    return _BY_TYPE[hint]


def facts_for(event_class: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    hints = typing.get_type_hints(event_class)
    fields = [f.name for f in dataclasses.fields(event_class) if f.name not in _SKIP]
    return st.fixed_dictionaries({name: _strategy_for(hints[name]) for name in fields})


operation = st.tuples(
    st.integers(min_value=0, max_value=4),  # which asset
    st.sampled_from(FOLLOW_UP_EVENTS).flatmap(lambda cls: st.tuples(st.just(cls), facts_for(cls))),
    st.booleans(),  # save after this operation?
    st.booleans(),  # catch the projection up after this operation?
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    asset_count=st.integers(min_value=1, max_value=5), operations=st.lists(operation, max_size=40)
)
def test_rebuild_equals_incremental_equals_aggregates(
    asset_count: int, operations: list[tuple[int, tuple[type[Any], dict[str, Any]], bool, bool]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        library = make_library(Path(tmp))
        ledger = library.open_ledger()
        incremental = library.open_projection()
        run = new_run()
        assets: list[Asset] = [discover(run, i) for i in range(asset_count)]
        ledger.save(run, *assets)
        for index, (event_class, facts), save_now, catch_up_now in operations:
            assets[index % asset_count].record(event_class, run.id.hex, **facts)
            if save_now:
                ledger.save(*assets)
            if catch_up_now:
                incremental.catch_up(ledger)
        ledger.save(*assets)
        incremental.catch_up(ledger)

        rebuilt = MediaProjection(Path(tmp) / "rebuilt.db", incremental.crash)
        rebuilt.rebuild(ledger)
        from_aggregates = sorted(
            state_to_row(a.id.hex, ledger.get_asset(a.id).state) for a in assets
        )
        assert incremental.rows() == rebuilt.rows() == from_aggregates
        assert incremental.position() == rebuilt.position() == ledger.max_position()
        for projection in (incremental, rebuilt):
            projection.close()
        ledger.close()
