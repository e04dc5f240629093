"""Selection flags of `download` against the simulator: the exact files written, each pass's
`--dry-run` equal to what the pass then writes, hidden modes, smart albums, and bad values.

One simulator world per test; the expected assets are computed from the simulator's own rows
(kind, date, favourite, subtype, album relations, hidden), never from the ledger under test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from commands import main
from engine.download.selected import until_found
from simulator.icloud.rows import AssetRow, Subtype, is_live_asset, is_video_master
from tests.scenarios.fault_world import World, files_on_disk, media_states, open_world
from tests.sim import PASSWORD

Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path, assets=40) as opened:
        yield opened


@pytest.fixture
def cli(world: World, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("PHOTOLEDGER_ICLOUD_ENDPOINT", world.server.base_url)
    monkeypatch.setenv("PHOTOLEDGER_ICLOUD_PASSWORD", PASSWORD)
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("TZ", "UTC")

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as ended:
            main(["--config", str(world.library.config_path), "--no-progress", *args])
        out = capsys.readouterr()
        return int(ended.value.code or 0), out.out, out.err

    return run


def visible(world: World) -> list[AssetRow]:
    """The library's assets in iCloud (hidden ones too), newest asset date first."""
    rows = [a for a in world.state.primary().assets.values() if not a.is_deleted]
    return sorted(rows, key=lambda a: (a.asset_date_ms, a.record_name), reverse=True)


def is_video(world: World, asset: AssetRow) -> bool:
    master = world.state.master(asset.master_name)
    return master is not None and is_video_master(master)


def in_album(world: World, asset: AssetRow, name: str) -> bool:
    zone = world.state.primary()
    ids = {a.record_name for a in zone.albums.values() if a.name == name}
    return any(r.container_id in ids and r.item_id == asset.record_name
               for r in zone.relations.values())


def planned(stdout: str) -> set[str]:
    return {line.removeprefix("would download ") for line in stdout.splitlines()
            if line.startswith("would download ")}


def downloaded(world: World) -> set[str]:
    return {name for name, s in media_states(world).items() if s.sha256 is not None}


def media_files(world: World) -> set[str]:
    return {p for p in files_on_disk(world) if not p.endswith(".xmp")}


def pass_matches_its_dry_run(world: World, cli: Cli, *flags: str) -> set[str]:
    """Dry run, then the run: the files written are exactly those listed; returns them."""
    code, stdout, stderr = cli("download", "--dry-run", *flags)
    assert code == 0, stderr
    listed = planned(stdout)
    before = media_files(world)
    code, _, stderr = cli("download", *flags)
    assert code == 0, stderr
    assert media_files(world) - before == listed
    return listed


def test_filters_download_exactly_their_assets(world: World, cli: Cli) -> None:
    rows = visible(world)
    hidden = [a for a in rows if not is_video(world, a)][3]
    world.state.set_hidden(hidden.record_name, True)
    assert cli("discover")[0] == 0

    # --skip-videos --recent 2: the newest two that are neither videos nor hidden.
    files = pass_matches_its_dry_run(world, cli, "--skip-videos", "--recent", "2")
    photos = [a for a in rows if not is_video(world, a) and not a.is_hidden]
    want = {a.record_name for a in photos[:2]}
    assert downloaded(world) == want and len(files) >= 2
    assert hidden.record_name not in want | downloaded(world)

    # --recent with a window: the newest three created at or before the 12th newest.
    shown = [a for a in rows if not a.is_hidden]
    cut = datetime.fromtimestamp(shown[11].asset_date_ms / 1000, UTC).isoformat()
    pass_matches_its_dry_run(world, cli, "--recent", "3", "--skip-created-after", cut)
    older = {a.record_name for a in shown[11:14]}
    assert downloaded(world) == want | older

    # --until-found 3: newest first, stop after three in a row already downloaded (the three
    # above): the gap between them and the newest two is filled, nothing older.
    order = [a.record_name for a in shown]
    expected = until_found(order, {n for n in order if n not in downloaded(world)}, 3)
    assert expected == set(order[:11]) - want
    pass_matches_its_dry_run(world, cli, "--until-found", "3")
    assert downloaded(world) == want | older | expected
    want = downloaded(world)

    # Albums and smart albums, minus an excluded album (nothing asked twice is fetched twice).
    before = downloaded(world)
    pass_matches_its_dry_run(world, cli, "--album", "Family", "--album", "favorites",
                             "--album", "Slo-mo", "--exclude-album", "Trips/Paris")
    chosen = {
        a.record_name for a in rows
        if not a.is_hidden and not in_album(world, a, "Paris")
        and (in_album(world, a, "Family") or a.is_favorite or a.subtype is Subtype.SLOMO)
    }
    assert downloaded(world) - before == chosen - before and chosen - before
    assert before == want

    # A date window (UTC here): inside it, everything not hidden.
    start, end = datetime(2015, 1, 1, tzinfo=UTC), datetime(2020, 12, 31, 23, 59, tzinfo=UTC)
    before = downloaded(world)
    pass_matches_its_dry_run(world, cli, "--skip-created-before", "2015-01-01",
                             "--skip-created-after", "2020-12-31T23:59")
    window = {
        a.record_name for a in rows if not a.is_hidden
        and start <= datetime.fromtimestamp(a.asset_date_ms / 1000, UTC) <= end
    }
    assert downloaded(world) - before == window - before and window - before

    # Live: skip the videos of live photos; the stills come, their MOVs do not.
    lives = {a.record_name for a in rows if not a.is_hidden and is_live_asset(
        a, world.state.master(a.master_name))}  # type: ignore[arg-type]
    before = downloaded(world)
    files = pass_matches_its_dry_run(world, cli, "--album", "Live", "--skip-live-photos")
    states = media_states(world)
    new_lives = lives - before
    assert new_lives and all(states[n].sha256 for n in lives)
    assert all(states[n].live_video_relpath is None for n in new_lives)
    assert not any(f.endswith(".MOV") for f in files)

    # File name globs (kei's --filename-exclude), any case: only the dry run here.
    rest = planned(cli("download", "--dry-run")[1])
    some = planned(cli("download", "--dry-run", "--filename-exclude", "img_00*")[1])
    assert some != rest and some == {
        f for f in rest if not f.rsplit("/", 1)[-1].upper().startswith("IMG_00")}

    # The rest by default: everything but the hidden asset, the skipped live videos too.
    files = pass_matches_its_dry_run(world, cli)
    assert downloaded(world) == {a.record_name for a in rows} - {hidden.record_name}
    states = media_states(world)
    assert all(states[n].live_video_relpath for n in new_lives)
    assert len([f for f in files if f.endswith(".MOV")]) >= len(new_lives)
    code, stdout, _ = cli("download", "--dry-run")
    assert code == 0 and planned(stdout) == set()

    # hidden: include would put it in the date folders; separate puts it under Hidden/.
    included = planned(cli("download", "--dry-run", "--hidden", "include")[1])
    assert included and not any(f.startswith("Hidden/") for f in included)
    files = pass_matches_its_dry_run(world, cli, "--hidden", "separate", "--album", "Hidden")
    assert files == {f"Hidden/{f}" for f in included}
    assert all(re.match(r"Hidden/\d{4}/\d\d/\d\d/", f) for f in files)
    assert hidden.record_name in downloaded(world)


def test_bad_selection_values_are_one_line_each(world: World, cli: Cli) -> None:
    assert cli("discover")[0] == 0
    cases = {
        ("--skip-videos", "--skip-photos"): (2, "--skip-videos and --skip-photos cannot"),
        ("--recent", "0"): (2, "Invalid value for '--recent'"),
        ("--until-found", "x"): (2, "Invalid value for '--until-found'"),
        ("--skip-created-before", "last week"): (2, "'last week' is not a date"),
        ("--hidden", "show"): (2, "Invalid value for '--hidden'"),
        ("--live-photo-size", "medium"): (2, "Invalid value for '--live-photo-size'"),
        ("--album", "Nowhere"): (3, "unknown album 'Nowhere' (selection.albums or --album); "
                                    "albums: Best of 2019, Family, Trips/2021/Lisbon"),
        ("--exclude-album", "Trips"): (3, "unknown album 'Trips' (selection.exclude_albums or "
                                          "--exclude-album)"),
    }
    for args, (code, text) in cases.items():
        got, stdout, stderr = cli("download", "--dry-run", *args)
        lines = stderr.strip().splitlines()
        assert got == code and len(lines) == 1 and not stdout, (args, stderr)
        assert lines[0].startswith("photoledger: error: ") and text in lines[0], lines[0]
    assert "smart albums: Favorites, Videos, Live" in cli("download", "--album", "x")[2]
    assert downloaded(world) == set()  # none of these downloaded anything


def test_keys_with_flags_over_them_in_run_watch_and_download(world: World, cli: Cli) -> None:
    path = world.library.config_path
    text = path.read_text()
    assert "  skip_videos: false\n" in text and "  exclude_albums: []\n" in text
    path.write_text(text.replace("  skip_videos: false\n", "  skip_videos: true\n")
                    .replace("  exclude_albums: []\n", "  exclude_albums: [Family]\n"))
    rows = [a for a in visible(world) if not a.is_hidden]
    videos = {a.record_name for a in rows if is_video(world, a)}
    family = {a.record_name for a in rows if in_album(world, a, "Family")}
    paris = {a.record_name for a in rows if in_album(world, a, "Paris")}
    everything = {a.record_name for a in rows}
    assert videos and family and paris and paris - family

    # run: the config's keys.
    code, stdout, stderr = cli("run", "--json")
    assert code in (0, 15), stderr
    assert downloaded(world) == everything - videos - family

    # watch: a flag overrides its key only (videos back in; Paris excluded instead of Family).
    code, _, stderr = cli("watch", "--cycles", "1", "--interval", "0", "--no-skip-videos",
                          "--exclude-album", "Trips/Paris")
    assert code in (0, 15), stderr
    after_run = everything - videos - family
    assert downloaded(world) == (everything - paris) | (after_run & paris)

    # download: the keys again; what waits outside the selection is said, not fetched.
    code, stdout, _ = cli("download", "--dry-run")
    assert code == 0 and planned(stdout) == set() and "0 files would be downloaded" in stdout
    waiting = everything - downloaded(world)
    assert waiting and waiting <= paris
    assert f"{len(waiting)} assets waiting for a download are outside" in stdout
    for command in ("download", "run", "watch"):
        code, stdout, _ = cli(command, "--help")
        assert code == 0 and all(flag in stdout for flag in (
            "--skip-videos", "--skip-photos", "--skip-live-photos", "--live-photo-size",
            "--recent", "--until-found", "--skip-created-before", "--skip-created-after",
            "--album", "--exclude-album", "--filename-exclude", "--hidden"))
