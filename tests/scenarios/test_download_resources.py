"""Every resource of an asset, and one bad file never stops the others (end to end).

The real pyicloud-based port talks HTTP to the simulator, whose generated library holds RAW+JPEG
pairs in both orientations, edited photos, live photos and videos (resJPEGFull/resVidFull on
the asset record). Faults are refusals of single resources (404, 403), a record deleted between
listing and download, and a refusal of every download (the breaker).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import resources as res
from engine.download.filing import DownloadStoppedError
from engine.errors import ExitCode
from tests.factories import run_cli
from tests.scenarios.fault_world import (
    World,
    assert_converged,
    media_states,
    open_world,
    stage_events,
    topics,
    waiting_for_download,
)
from tests.sim import PASSWORD


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        opened.discover()
        yield opened


def with_resource(world: World, key: str, kind: str | None = None) -> str:
    """The record name of a discovered asset that lists `key` (and is of `kind`)."""
    for name, state in sorted(media_states(world).items()):
        listed = res.listed_resources(state)
        if key in listed and (kind is None or state.kind == kind) and not state.is_remote_deleted:
            return name
    raise AssertionError(f"the generated library has no asset with {key}")


def test_every_listed_resource_of_the_realistic_mix_is_downloaded_with_its_hash(
    world: World,
) -> None:
    summary = world.download()
    assert (summary.failed, summary.partial) == (0, 0)
    states = media_states(world)
    seen_keys: set[str] = set()
    for name, state in states.items():
        if state.quarantine_reason is not None or state.is_remote_deleted:
            continue
        assert state.missing_resources == (), name
        for got in state.resources_downloaded:
            data = (world.root / got.relpath).read_bytes()
            assert hashlib.sha256(data).hexdigest() == got.sha256
            assert len(data) == got.size_bytes
            seen_keys.add(got.key)
    assert set(res.ARCHIVE_KEYS) <= seen_keys  # RAW twins, edits and edited videos included
    raws = [s for s in states.values() if res.ALTERNATIVE in res.listed_resources(s)]
    originals_raw = {s.item_type for s in raws}
    assert len(originals_raw) >= 2  # the RAW as original in one pair, the JPEG in another


def test_one_asset_answering_404_fails_alone_and_the_run_finishes(world: World) -> None:
    target = with_resource(world, "original", kind="photo")
    world.server.refuse_content(target, "original", status=404)
    summary = world.download()
    assert (summary.failed, summary.partial) == (1, 0)
    (failure,) = stage_events(world, target)
    assert type(failure).__name__ == "DownloadFailed" and failure.is_retriable
    assert "404" in failure.error and failure.error.startswith("http_error")
    assert waiting_for_download(world) == {target}  # retried next run; nothing else waits
    world.server.faults.clear()
    assert_converged(world)


def test_a_live_video_that_404s_leaves_the_still_filed_and_only_the_video_is_fetched_again(
    world: World,
) -> None:
    target = with_resource(world, "live_video", kind="live")
    world.server.refuse_content(target, "live_video", status=404)
    summary = world.download()
    assert summary.partial == 1
    state = media_states(world)[target]
    assert state.sha256 is not None and (world.root / str(state.local_relpath)).is_file()
    assert state.missing_resources == ("live_video",)
    assert not list(world.root.rglob("*.part"))  # the still is not left hidden
    assert topics(stage_events(world, target))[-1] == "DownloadFailed"
    world.server.faults.clear()
    world.download()
    events = stage_events(world, target)
    downloads = [e.resource for e in events if type(e).__name__ == "Downloaded"]
    assert sorted(downloads) == sorted(k for k in res.listed_resources(state))
    assert downloads.count("original") == 1  # the still was not fetched twice
    assert media_states(world)[target].missing_resources == ()


def test_an_edit_that_403s_leaves_the_asset_partial_and_undeletable(world: World) -> None:
    target = with_resource(world, "adjusted")
    world.server.refuse_content(target, "adjusted", status=403)
    world.download()
    state = media_states(world)[target]
    assert state.missing_resources == ("adjusted",)
    assert "403" in (state.last_error or "")


def test_an_asset_deleted_before_its_download_is_recorded_as_deleted_elsewhere(
    world: World,
) -> None:
    target = with_resource(world, "original", kind="photo")
    asset = next(a for z in world.state.zones.values() for n, a in z.assets.items()
                 if n == target)
    world.state.set_deleted(asset, True)
    world.download()
    state = media_states(world)[target]
    assert state.is_remote_deleted and state.last_event == "RemoteDeleted"
    assert stage_events(world, target) == []  # no failure to retry: it is gone


def test_every_download_refused_trips_the_breaker_after_n_assets(world: World) -> None:
    text = world.library.config_path.read_text()
    world.library.config_path.write_text(
        text.replace("max_consecutive_failures: 50", "max_consecutive_failures: 3")
    )
    for name in media_states(world):
        for key in res.ARCHIVE_KEYS:
            try:
                world.server.refuse_content(name, key, status=404)
            except KeyError:
                continue
    with pytest.raises(DownloadStoppedError, match="3 assets in a row"):
        world.download(workers=1)
    failed = [n for n in media_states(world) if "DownloadFailed" in topics(stage_events(world, n))]
    assert len(failed) == 3  # the failures before the stop are recorded


def test_the_cli_exits_16_with_a_404_and_says_what_failed(world: World) -> None:
    target = with_resource(world, "original", kind="photo")
    world.server.refuse_content(target, "original", status=404)
    env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": world.server.base_url,
           "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
    result = run_cli(["--no-progress", "download", "--json"], world.library.config_path,
                     env=env, timeout=300)
    assert result.returncode == ExitCode.ASSETS_FAILED, result.stderr
    summary = json.loads(result.stdout)
    assert summary["failed"] == 1 and summary["downloaded"] >= 10
    assert "report failures" in result.stderr
    again = run_cli(["--no-progress", "download"], world.library.config_path, env=env,
                    timeout=300)
    assert again.returncode == ExitCode.ASSETS_FAILED  # still refused: never a silent 0
    world.server.faults.clear()
    last = run_cli(["--no-progress", "download"], world.library.config_path, env=env,
                   timeout=300)
    assert last.returncode == ExitCode.OK, last.stderr
