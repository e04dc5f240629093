"""A stale expected version: the store refuses the batch, the stage re-reads and decides again.

Two Ledger objects on one SQLite file stand for two writers (as two hosts sharing one
PostgreSQL ledger would be: the single-writer lock is per host). The NAS stage's facts are
used because their validity is a plain fact about the asset: they hold while the downloaded
bytes they were checked against are still the asset's.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import events as ev
from engine.asset import MediaState
from engine.errors import LedgerUnavailableError
from engine.ledger import IntegrityError, Ledger
from engine.nas.plan import decide_facts_still_holding
from engine.resources import archived_hashes
from tests.factories import T0, Library, discover, download, make_library, new_run

RUN = new_run("backup-nas")


@pytest.fixture
def library(tmp_path: Path) -> Library:
    return make_library(tmp_path)


@pytest.fixture
def two_writers(library: Library) -> Iterator[tuple[Ledger, Ledger, Any]]:
    ours, theirs = library.open_ledger(), library.open_ledger()
    asset = discover(RUN, 1)
    download(asset, RUN)
    ours.save(RUN, asset)
    yield ours, theirs, asset.id
    ours.close()
    theirs.close()


def nas_verified_on_a_stale_copy(ledger: Ledger, asset_id: Any) -> Any:
    stale = ledger.get_asset(asset_id)
    stale.record(ev.NasVerified, RUN.id.hex, sha256=stale.state.sha256, method="reread",
                 files=archived_hashes(stale.state),
                 timestamp=T0 + timedelta(hours=1))
    return stale


def topics(ledger: Ledger, asset_id: Any) -> list[str]:
    return [type(e).__name__ for e in ledger.events_of(asset_id)]


def test_a_fact_that_still_holds_is_recorded_again_on_the_fresh_asset(two_writers: Any) -> None:
    ours, theirs, asset_id = two_writers
    stale = nas_verified_on_a_stale_copy(ours, asset_id)
    also_stale = nas_verified_on_a_stale_copy(ours, asset_id)
    moved_on = theirs.get_asset(asset_id)
    moved_on.record(ev.GoogleVerified, RUN.id.hex, device_id="PIXEL", size_bytes=1)
    theirs.save(moved_on)

    with pytest.raises(IntegrityError):  # the conflict is real: a plain save is refused
        ours.save(also_stale)
    ours.save_deciding_again([stale], decide_facts_still_holding)

    assert topics(ours, asset_id) == ["Discovered", "Downloaded", "GoogleVerified", "NasVerified"]
    state = ours.get_asset(asset_id).state
    assert state.nas_status == "verified" and state.google_status == "verified"
    assert state.nas_verified_at_utc == T0 + timedelta(hours=1)  # the fact as it was decided


def test_a_fact_about_bytes_since_replaced_is_dropped(two_writers: Any) -> None:
    ours, theirs, asset_id = two_writers
    stale = nas_verified_on_a_stale_copy(ours, asset_id)
    redownloaded = theirs.get_asset(asset_id)
    download(redownloaded, RUN, sha256="ee" * 32)  # new bytes: the NAS copy was of the old ones
    theirs.save(redownloaded)

    ours.save_deciding_again([stale], decide_facts_still_holding)

    assert topics(ours, asset_id) == ["Discovered", "Downloaded", "Downloaded"]
    assert ours.get_asset(asset_id).state.nas_status != "verified"


def test_a_writer_that_keeps_moving_the_asset_on_ends_in_a_clear_error(two_writers: Any) -> None:
    ours, theirs, asset_id = two_writers
    calls = []

    def decide_again_while_they_write(state: MediaState, facts: list[Any]) -> list[Any]:
        calls.append(state.version)
        moved_on = theirs.get_asset(asset_id)
        moved_on.record(ev.GoogleVerified, RUN.id.hex, device_id="PIXEL", size_bytes=1)
        theirs.save(moved_on)  # lands after our re-read: our next try is stale again
        return decide_facts_still_holding(state, facts)

    stale = nas_verified_on_a_stale_copy(ours, asset_id)
    theirs_first = theirs.get_asset(asset_id)
    theirs_first.record(ev.GoogleVerified, RUN.id.hex, device_id="PIXEL", size_bytes=1)
    theirs.save(theirs_first)

    with pytest.raises(LedgerUnavailableError, match="another writer kept changing"):
        ours.save_deciding_again([stale], decide_again_while_they_write, attempts=3)
    assert len(calls) == 3
    assert "NasVerified" not in topics(ours, asset_id)
