"""When a sidecar is due, and what it says: the fold's staleness and the pure decisions."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

from engine import events as ev
from engine.asset import Asset, MediaState
from engine.sidecar import render_xmp
from engine.sidecar_run import decide_sidecar_due, sidecar_facts
from tests.factories import T0, discover, download, new_run, remote_change

METADATA = {
    "title": "Sunset", "description": None, "keywords": ("a",), "latitude_microdeg": 48_858_370,
    "longitude_microdeg": 2_294_481, "altitude_mm": 35_000, "orientation": None,
    "is_screenshot": False, "timezone_offset_s": 7200,
}


def written(asset: Asset, run_id: str, paths: tuple[str, ...] = ()) -> None:
    relpath = f"{asset.state.local_relpath}.xmp"
    asset.record(ev.SidecarWritten, run_id, sidecar_relpath=relpath, sha256="ab" * 32,
                 album_paths=paths)


def test_own_facts_make_a_written_sidecar_stale_albums_do_not() -> None:
    run = new_run()
    asset = discover(run, 1, is_favorite=False)
    download(asset, run)
    written(asset, run.id.hex)
    assert not asset.state.is_sidecar_stale
    asset.record(ev.AlbumsChanged, run.id.hex, album_ids=("AL1",))
    assert not asset.state.is_sidecar_stale  # the run compares album paths instead
    remote_change(asset, run, remote_change_tag="t2")  # an edit: the sidecar says nothing of it
    assert not asset.state.is_sidecar_stale
    remote_change(asset, run, remote_change_tag="t3", is_favorite=True)
    assert asset.state.is_sidecar_stale
    written(asset, run.id.hex)
    remote_change(asset, run, remote_change_tag="t4", captured_at_utc=T0 - timedelta(days=1))
    assert asset.state.is_sidecar_stale
    written(asset, run.id.hex)
    asset.record(ev.MetadataChanged, run.id.hex, **METADATA)
    assert asset.state.is_sidecar_stale and asset.state.title == "Sunset"
    assert asset.state.timezone_offset_s == 7200 and asset.state.keywords == ("a",)
    written(asset, run.id.hex, ("Trips/Paris",))
    assert not asset.state.is_sidecar_stale
    assert asset.state.sidecar_album_paths == ("Trips/Paris",)


@pytest.mark.parametrize(("relpath", "stale", "paths", "due"), [
    ("a/IMG.JPG.xmp", False, ("X",), False),
    (None, False, ("X",), True),  # never written
    ("a/OLD.JPG.xmp", False, ("X",), True),  # the local copy has another name now
    ("a/IMG.JPG.xmp", True, ("X",), True),  # its own facts changed
    ("a/IMG.JPG.xmp", False, ("Y",), True),  # an album renamed, moved, joined or left
])
def test_when_a_sidecar_is_due(relpath: str | None, stale: bool, paths: tuple[str, ...],
                               due: bool) -> None:
    assert decide_sidecar_due("a/IMG.JPG", relpath, stale, ("X",), paths) is due


def test_the_sidecar_states_the_ledgers_facts() -> None:
    state = MediaState(
        record_name="REC", captured_at_utc=T0, timezone_offset_s=-18000, title="t",
        description="d", keywords=("k",), latitude_microdeg=-33_856_784,
        longitude_microdeg=151_215_297, altitude_mm=-12_500, orientation=6, is_favorite=True,
        is_hidden=True, is_screenshot=True,
    )
    facts = sidecar_facts("ab" * 16, state, ("Trips/Sydney",))
    assert (facts.latitude_deg, facts.longitude_deg, facts.altitude_m) == (
        -33.856784, 151.215297, -12.5)
    assert (facts.timezone_offset_s, facts.orientation, facts.album_paths) == (
        -18000, 6, ("Trips/Sydney",))
    assert (facts.is_favorite, facts.is_hidden, facts.is_screenshot) == (True, True, True)


def test_facts_a_sidecar_cannot_carry_are_left_out_never_raised() -> None:
    damaged = MediaState(
        record_name="", timezone_offset_s=99 * 3600, latitude_microdeg=95_000_000,
        longitude_microdeg=1, altitude_mm=5, orientation=12,
    )
    facts = sidecar_facts("ab" * 16, damaged, ())
    assert facts.record_name == "ab" * 16
    assert facts.timezone_offset_s is None and facts.orientation is None
    assert facts.latitude_deg is facts.longitude_deg is facts.altitude_m is None
    half = msgspec.structs.replace(damaged, latitude_microdeg=None, longitude_microdeg=1)
    assert sidecar_facts("ab" * 16, half, ()).longitude_deg is None
    assert render_xmp(facts)  # renders
