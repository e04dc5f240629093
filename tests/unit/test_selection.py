"""The selection as pure decisions: dates, kinds, hidden modes, albums, smart albums,
`until_found`, config validation and precedence, and the gate's `not-selected` block."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest

from engine import events as ev
from engine.albums import KnownAlbum
from engine.asset import MediaState
from engine.cleanup.gate import decide_album_move, decide_deletable
from engine.cleanup.plan import plan_deletion
from engine.config import load_config
from engine.download.selected import until_found
from engine.errors import ConfigError, UnknownAlbumError
from engine.icloud.record_metadata import asset_subtype
from engine.selection import (
    EVERYTHING,
    PANORAMA,
    SLOMO,
    TIMELAPSE,
    Selection,
    SelectionSettings,
    build_selection,
    kind_reason,
    merged_settings,
    parse_when,
)
from engine.selection_scope import SelectionScope, resolve_albums, with_selection_flags
from tests.factories import discover, download, new_run
from tests.unit.test_cleanup_gate import NAS_ID, NOW, ready_asset, settings

PARIS = timezone(timedelta(hours=2))
T = datetime(2024, 5, 10, 12, 0, tzinfo=UTC)


def state(**fields: object) -> MediaState:
    base: dict[str, object] = {"kind": "photo", "captured_at_utc": T, "record_name": "R"}
    return MediaState(**{**base, **fields})  # type: ignore[arg-type]


def test_dates_read_as_icloudpd_does() -> None:
    now = datetime(2024, 6, 1, 9, 30, tzinfo=UTC)
    assert parse_when("30d", now, PARIS) == now - timedelta(days=30)
    assert parse_when(" 0D ", now, PARIS) == now
    # A date alone is midnight local time; a datetime without an offset is local time.
    assert parse_when("2024-05-01", now, PARIS) == datetime(2024, 4, 30, 22, 0, tzinfo=UTC)
    assert parse_when("2024-05-01T08:00", now, PARIS) == datetime(2024, 5, 1, 6, tzinfo=UTC)
    assert parse_when("2024-05-01T08:00+00:00", now, PARIS) == datetime(2024, 5, 1, 8,
                                                                        tzinfo=UTC)
    assert parse_when(date(2024, 5, 1), now, UTC) == datetime(2024, 5, 1, tzinfo=UTC)  # YAML
    for bad in ("yesterday", "2024-13-01", "-3d", "", 12):
        with pytest.raises(ValueError, match="is not a date"):
            parse_when(bad, now, UTC)


def test_kinds_hidden_and_the_date_window() -> None:
    sel = Selection(skip_videos=True)
    assert kind_reason(state(kind="video"), sel) == "a video (skip_videos)"
    assert kind_reason(state(kind="live"), sel) is None
    assert kind_reason(state(kind="live"), Selection(skip_photos=True)) == "a photo (skip_photos)"
    assert kind_reason(state(kind="video"), Selection(skip_photos=True)) is None
    # hidden: skip leaves it out, unless the Hidden smart album is asked for by name
    hidden = state(is_hidden=True)
    assert kind_reason(hidden, Selection()) == "hidden (selection.hidden is skip)"
    assert kind_reason(hidden, Selection(hidden="separate")) is None
    assert kind_reason(hidden, Selection(hidden="include")) is None
    assert kind_reason(hidden, Selection(albums=("hidden",))) is None
    window = Selection(created_from=T - timedelta(days=1), created_until=T + timedelta(days=1))
    assert kind_reason(state(), window) is None
    assert "before" in (kind_reason(state(captured_at_utc=T - timedelta(days=2)), window) or "")
    assert "after" in (kind_reason(state(captured_at_utc=T + timedelta(days=2)), window) or "")
    globs = Selection(filename_exclude=("screenshot*", "*.PNG"))
    assert kind_reason(state(filename="Screenshot 2024.jpg"), globs) == (
        "named Screenshot 2024.jpg (filename_exclude screenshot*)")
    assert kind_reason(state(filename="img_1.png"), globs) is not None
    assert kind_reason(state(filename="IMG_1.HEIC"), globs) is None
    undated = state(captured_at_utc=None, added_at_utc=T)  # added date stands in
    assert kind_reason(undated, window) is None
    assert kind_reason(state(captured_at_utc=None), window) == (
        "no capture date to compare with the date window")


def test_albums_and_smart_albums_resolve_or_fail_with_the_known_names() -> None:
    albums = {
        "F": KnownAlbum(album_id="F", name="Trips", parent_id=None, is_folder=True),
        "P": KnownAlbum(album_id="P", name="Paris", parent_id="F", is_folder=False),
        "K": KnownAlbum(album_id="K", name="Kids", parent_id=None, is_folder=False),
        "X": KnownAlbum(album_id="X", name="Old", parent_id=None, is_folder=False,
                        is_removed=True),
    }
    chosen = resolve_albums(Selection(albums=("Trips/Paris", "favorites", "Panoramas"),
                                      exclude_albums=("Kids", "Videos")), albums)
    assert chosen.album_ids == {"P"} and chosen.smart == ("Favorites", "Panoramas")
    assert chosen.excluded_ids == {"K"} and chosen.excluded_smart == ("Videos",)
    assert chosen.reason(state(album_ids=("P",))) is None
    assert chosen.reason(state(is_favorite=True)) is None
    assert chosen.reason(state(asset_subtype=PANORAMA)) is None
    assert chosen.reason(state(album_ids=("P", "K"))) == "in an excluded album (exclude_albums)"
    assert chosen.reason(state(kind="video", is_favorite=True)) == (
        "in an excluded album (exclude_albums)")
    assert chosen.reason(state()) == "in none of the albums asked for (albums)"
    assert resolve_albums(Selection(albums=("Paris",)), albums).album_ids == {"P"}
    smart = resolve_albums(Selection(albums=("Slo-mo", "time-lapse", "Live", "Screenshots")),
                           albums)
    assert smart.reason(state(asset_subtype=SLOMO)) is None
    assert smart.reason(state(asset_subtype=TIMELAPSE)) is None
    assert smart.reason(state(kind="live")) is None
    assert smart.reason(state(is_screenshot=True)) is None
    assert smart.reason(state(asset_subtype=PANORAMA)) is not None
    for missing in ("Old", "Trips", "Nowhere"):  # removed, a folder, unknown
        with pytest.raises(UnknownAlbumError) as caught:
            resolve_albums(Selection(exclude_albums=(missing,)), albums)
        message = str(caught.value)
        assert "\n" not in message and f"unknown album {missing!r}" in message
        assert "--exclude-album" in message and "albums: Kids, Trips/Paris;" in message
        assert "smart albums: Favorites, Videos" in message
    with pytest.raises(UnknownAlbumError, match="none known yet"):
        resolve_albums(Selection(albums=("Kids",)), {})


def test_recent_is_checked_by_record_name_after_the_other_rules() -> None:
    scope = SelectionScope(Selection(recent=2, skip_videos=True),
                           recent_record_names=frozenset({"A", "B"}))
    assert scope.reason(state(record_name="A")) is None
    assert scope.reason(state(record_name="C")) == "not among the newest 2 (recent)"
    assert scope.reason(state(record_name="A", kind="video")) == "a video (skip_videos)"


def test_until_found_stops_after_a_streak_of_assets_already_there() -> None:
    newest_first = ["n1", "d1", "n2", "d2", "d3", "n3", "d4", "d5", "d6", "n4"]
    wanted = {"n1", "n2", "n3", "n4"}
    assert until_found(newest_first, wanted, 2) == {"n1", "n2"}
    assert until_found(newest_first, wanted, 3) == {"n1", "n2", "n3"}
    assert until_found(newest_first, wanted, 4) == wanted
    assert until_found([], wanted, 1) == set()


GOOD = """\
library:
  root: ./library
icloud:
  username: jdoe@example.com
  session_dir: ./session
"""


def load(tmp_path: Path, selection: str) -> SelectionSettings:
    path = tmp_path / "photoledger.yaml"
    path.write_text(GOOD + "selection:\n" + selection)
    return load_config(path).settings.selection


def test_config_keys_and_their_bad_values(tmp_path: Path) -> None:
    got = load(tmp_path, "  skip_created_before: 2024-01-01\n  skip_created_after: 30d\n"
                         "  albums: [Family, Favorites]\n  hidden: separate\n  recent: 5\n")
    assert got.skip_created_before == date(2024, 1, 1) and got.skip_created_after == "30d"
    assert got.albums == ("Family", "Favorites") and got.hidden == "separate"
    bad = {
        "  skip_videos: true\n  skip_photos: true\n": "line 8: selection.skip_photos: cannot",
        "  recent: 0\n": "selection.recent: must be at least 1",
        "  until_found: -1\n": "selection.until_found: must be at least 1",
        "  skip_created_after: last week\n": "selection.skip_created_after: 'last week' is not",
        "  hidden: show\n": "selection.hidden: 'show' is not one of skip, separate, include",
        "  live_photo_size: medium\n": "selection.live_photo_size: 'medium' is not one of orig",
        "  albums: ['']\n": "selection.albums: a name must not be empty",
        "  filename_exclude: [' ']\n": "selection.filename_exclude: a name must not be empty",
        "  skip_vidoes: true\n": "selection.skip_vidoes: unknown key",
    }
    for text, expected in bad.items():
        with pytest.raises(ConfigError) as caught:
            load(tmp_path, text)
        assert expected in str(caught.value) and "\n" not in str(caught.value), text


def test_a_flag_overrides_its_key_and_only_its_key(tmp_path: Path) -> None:
    path = tmp_path / "photoledger.yaml"
    path.write_text(GOOD + "selection:\n  skip_videos: true\n  albums: [Family]\n  recent: 9\n")
    config = load_config(path)
    flags = {"skip_videos": False, "skip_photos": None, "albums": (), "recent": 3,
             "hidden": "include"}
    merged = with_selection_flags(config, flags).settings.selection
    assert (merged.skip_videos, merged.albums, merged.recent, merged.hidden) == (
        False, ("Family",), 3, "include")
    assert config.settings.selection.recent == 9  # the loaded config is left as it was
    with pytest.raises(ConfigError, match=r"selection\.skip_photos .*cannot be combined"):
        with_selection_flags(config, {"skip_photos": True})
    assert merged_settings(SelectionSettings(), {}) == SelectionSettings()


def test_build_resolves_nd_against_now() -> None:
    now = datetime(2024, 6, 1, tzinfo=UTC)
    sel = build_selection(SelectionSettings(skip_created_before="10d"), now, UTC)
    assert sel.created_from == now - timedelta(days=10) and sel.created_until is None
    assert build_selection(SelectionSettings(hidden="include"), now, UTC) == EVERYTHING


def test_the_gate_says_not_selected_and_a_plan_never_holds_such_an_asset() -> None:
    good, video = ready_asset(101), ready_asset(102)
    video_state = msgspec.structs.replace(video.state, kind="video")
    scope = SelectionScope(Selection(skip_videos=True))
    assert decide_deletable(good.state, NOW, settings(keep_recent_days=0), NAS_ID,
                            scope).is_deletable
    verdict = decide_deletable(video_state, NOW, settings(keep_recent_days=0), NAS_ID, scope)
    assert not verdict.is_deletable and verdict.evidence is None
    assert [b.code for b in verdict.blocks] == ["not-selected"]
    assert "a video (skip_videos)" in verdict.blocks[0].detail
    moved = decide_album_move(video_state, NOW, settings(keep_recent_days=0), scope)
    assert [b.code for b in moved] == ["not-selected"]
    plan = plan_deletion("p", [("a" * 32, good.state), ("b" * 32, video_state)], NOW,
                         settings(keep_recent_days=0), NAS_ID, selection=scope)
    assert [e.asset_id for e in plan.entries] == ["a" * 32]
    assert [(b.asset_id, b.blocks[0].code) for b in plan.blocked] == [("b" * 32, "not-selected")]
    # A hidden asset under the default (skip) is never deleted, whatever else it has.
    hidden = msgspec.structs.replace(good.state, is_hidden=True)
    default = SelectionScope(Selection())
    assert [b.code for b in decide_deletable(hidden, NOW, settings(keep_recent_days=0), NAS_ID,
                                             default).blocks] == ["not-selected"]


def test_metadata_v1_is_read_with_the_screenshot_subtype() -> None:
    state_v1 = {"is_screenshot": True}
    ev.MetadataChanged.upcast_v1_v2(state_v1)
    assert state_v1["asset_subtype"] == 3
    plain = {"is_screenshot": False}
    ev.MetadataChanged.upcast_v1_v2(plain)
    assert plain["asset_subtype"] is None


def test_asset_subtype_is_kept_only_when_it_names_a_smart_album() -> None:
    def record(value: object) -> dict[str, object]:
        return {"fields": {"assetSubtypeV2": {"type": "INT64", "value": value}}}

    assert [asset_subtype(record(v)) for v in (1, 2, 3, 101, 102, 0, 7)] == [
        1, None, 3, 101, 102, None, None]
    assert asset_subtype({"fields": {}}) is None


def test_learning_the_subtype_alone_does_not_outdate_the_sidecar() -> None:
    run = new_run()
    asset = discover(run, 7)
    download(asset, run)
    facts = {"title": None, "description": None, "keywords": (), "latitude_microdeg": None,
             "longitude_microdeg": None, "altitude_mm": None, "orientation": None,
             "is_screenshot": False, "timezone_offset_s": asset.state.timezone_offset_s}
    asset.record(ev.MetadataChanged, run.id.hex, **facts, asset_subtype=PANORAMA)
    assert asset.state.asset_subtype == PANORAMA and not asset.state.is_sidecar_stale
    asset.record(ev.MetadataChanged, run.id.hex, **{**facts, "title": "Beach"},
                 asset_subtype=PANORAMA)
    assert asset.state.is_sidecar_stale and asset.state.title == "Beach"
