"""The download fault matrix, end to end: discover, then download, against the simulator.

The real pyicloud-based port talks HTTP to the simulator, which injects one fault per test (on
the wire, or as a lie in the photo database). Each test checks the ledger facts of the affected
asset(s), the files on disk, and that a rerun without the fault converges.

Invariants every test relies on (see fault_world.py for the helpers):
- A final file exists in the library only if a Downloaded fact names it, and it holds exactly
  the bytes whose sha256 that fact recorded.
- A part file survives a run only where engine/download keeps one on purpose: a retriable
  failure after bytes were streamed (the next run resumes it, or drops it when it is too long).
- A server's Retry-After is honoured (the stage takes at least that long); the backoff between
  other retries is milliseconds (fast policy), so the whole matrix stays quick.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.download.fetch import CHUNK_BYTES, MAX_RESUMES, MAX_URL_REFRESHES
from engine.download.filing import DownloadStoppedError
from engine.icloud.port import ThrottledError
from simulator.icloud.faults import ContentFault, ThrottleRule
from simulator.icloud.server import DEFAULT_URL_TTL_S
from tests.scenarios.fault_world import (
    TINY_SCALE,
    World,
    assert_all_downloaded_once,
    assert_converged,
    assert_files_match_the_ledger,
    content_histories,
    content_statuses,
    files_on_disk,
    master_of,
    media_states,
    open_world,
    original_token,
    part_files,
    parts_of,
    pick_target,
    served_sha256,
    sessions_expire_after_first,
    stage_events,
    topics,
    waiting_for_download,
)

SIGNIN_INIT = "/appleauth/auth/signin/init"
LARGE_SCALE = 0.02  # originals up to ~1 MB: a cut can fall after the first 64 KiB read


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with open_world(tmp_path) as opened:
        yield opened


@pytest.fixture
def discovered(world: World) -> World:
    """A world whose library has been discovered without faults."""
    world.discover()
    assert len(waiting_for_download(world)) > 30
    return world


def test_latency_on_every_api_call_still_downloads_everything(world: World) -> None:
    world.server.faults.set_latency(0.05)
    summary = world.discover()
    assert summary.elapsed_s >= 0.05 * (summary.cloudkit_calls + summary.login_calls)
    world.download()
    assert_all_downloaded_once(world)
    assert_converged(world)


def test_bandwidth_limit_per_connection_slows_downloads_but_keeps_them_whole(
    discovered: World,
) -> None:
    world = discovered
    largest = master_of(world, pick_target(world)).size_of("resOriginal") or 0
    world.server.faults.set_bandwidth(200_000)
    summary = world.download()
    assert summary.elapsed_s >= 0.9 * largest / 200_000  # the limit was in force
    assert {e.status for e in world.server.requests.entries() if e.kind == "content"} == {200}
    assert_all_downloaded_once(world)
    assert_converged(world)


@pytest.mark.parametrize("stage", ["discover", "download"])
def test_cloudkit_503_with_retry_after_is_waited_out_and_retried(world: World, stage: str) -> None:
    rule = ThrottleRule(status=503, times=1, kind="cloudkit", retry_after_s=1)
    if stage == "download":
        world.discover()
    world.server.faults.add_throttle(rule)
    started = time.monotonic()
    if stage == "discover":
        world.discover()
    world.download()
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    assert world.server.requests.count(kind="cloudkit", status=503) == 1
    assert_all_downloaded_once(world)
    assert_converged(world)


def test_content_429_with_retry_after_is_transient(discovered: World) -> None:
    world = discovered
    rule = ThrottleRule(status=429, times=2, kind="content", retry_after_s=1)
    world.server.faults.add_throttle(rule)
    summary = world.download()
    assert summary.elapsed_s >= 1.0
    assert (summary.failed, summary.quarantined) == (0, 0)
    assert world.server.requests.count(kind="content", status=429) == 2
    assert_all_downloaded_once(world)
    assert_converged(world)


def test_content_503_forever_stops_the_run_and_leaves_nothing_on_disk(
    discovered: World,
) -> None:
    world = discovered
    waiting = waiting_for_download(world)
    world.server.faults.add_throttle(ThrottleRule(status=503, times=None, kind="content"))
    with pytest.raises(DownloadStoppedError, match="throttling"):  # systemic: exit 11
        world.download(workers=2)
    failed = {n: stage_events(world, n) for n in waiting if stage_events(world, n)}
    assert 1 <= len(failed) <= 2 * 2 + 2  # the first one, and at most the files in flight
    for events in failed.values():
        (failure,) = events
        assert type(failure).__name__ == "DownloadFailed"
        assert failure.is_retriable and failure.error.startswith("throttled")
    assert files_on_disk(world) == set()  # no final file, and no part: no body ever began
    assert waiting_for_download(world) == waiting  # still to do
    assert_converged(world)


@pytest.mark.parametrize(
    ("size_scale", "fraction", "statuses"),
    [
        (LARGE_SCALE, 0.25, [200, 206]),
        (LARGE_SCALE, 0.9, [200, 206]),
        # Less than one 64 KiB read arrived: the read that broke is lost, nothing to resume.
        (TINY_SCALE, 0.5, [200, 200]),
    ],
)
def test_a_body_cut_part_way_is_resumed_with_range(
    tmp_path: Path, size_scale: float, fraction: float, statuses: list[int]
) -> None:
    with open_world(tmp_path, size_scale=size_scale) as world:
        world.discover()
        target = pick_target(world)
        token = original_token(world, target)
        size = master_of(world, target).size_of("resOriginal") or 0
        assert (int(size * fraction) > CHUNK_BYTES) == (statuses[1] == 206)
        world.server.faults.add_content_fault(
            ContentFault(mode="cut", times=1, fraction=fraction, token=token)
        )
        world.download()
        assert content_statuses(world, token) == statuses  # 206: only the rest was asked for
        (downloaded,) = stage_events(world, target)
        assert downloaded.sha256 == served_sha256(world, target)
        assert_all_downloaded_once(world)
        assert_converged(world)


def test_a_connection_closed_before_any_body_is_retried_from_zero(discovered: World) -> None:
    world = discovered
    target = pick_target(world)
    token = original_token(world, target)
    world.server.faults.add_content_fault(ContentFault(mode="drop", times=1, token=token))
    world.download()
    assert content_statuses(world, token) == [200, 200]  # nothing to resume: a fresh request
    assert_all_downloaded_once(world)
    assert_converged(world)


def test_a_connection_always_closed_before_any_body_fails_retriably(discovered: World) -> None:
    world = discovered
    target = pick_target(world)
    token = original_token(world, target)
    world.server.faults.add_content_fault(ContentFault(mode="drop", times=None, token=token))
    world.download()
    assert content_statuses(world, token) == [200] * (1 + MAX_RESUMES)
    (failed,) = stage_events(world, target)
    assert type(failed).__name__ == "DownloadFailed" and failed.is_retriable
    assert failed.error.startswith("cut_body")
    assert media_states(world)[target].local_relpath is None
    # The part is opened before the first byte arrives, so an empty one stays behind; the
    # next run drops it (nothing to resume) and starts from zero.
    assert [p.stat().st_size for p in parts_of(world, target)] == [0]
    assert_files_match_the_ledger(world)
    assert_converged(world)


def test_a_content_length_larger_than_the_body_fails_without_a_final_file(
    discovered: World,
) -> None:
    world = discovered
    target = pick_target(world)
    token = original_token(world, target)
    declared = master_of(world, target).size_of("resOriginal") or 0
    assert CHUNK_BYTES < declared < 2 * CHUNK_BYTES  # one whole 64 KiB read, then the tail
    world.server.faults.add_content_fault(ContentFault(mode="overlong", times=None, token=token))
    world.download()
    # Each try reads whole 64 KiB chunks until the server closes short of what it announced;
    # the broken read is lost, so the part holds the first chunk and every retry resumes there.
    assert content_statuses(world, token) == [200] + [206] * MAX_RESUMES
    (failed,) = stage_events(world, target)
    assert type(failed).__name__ == "DownloadFailed" and failed.is_retriable
    assert failed.error.startswith("cut_body")
    assert media_states(world)[target].local_relpath is None
    assert [p.stat().st_size for p in parts_of(world, target)] == [CHUNK_BYTES]  # for resuming
    assert_files_match_the_ledger(world)
    assert_converged(world)
    assert content_statuses(world, token)[-1] == 206  # the next run resumed the kept part


@pytest.mark.parametrize("delta_bytes", [17, -17])
def test_a_served_size_other_than_declared_is_quarantined_until_icloud_changes(
    discovered: World, delta_bytes: int
) -> None:
    world = discovered
    target = pick_target(world)
    world.state.set_served_size_delta(target, delta_bytes)
    summary = world.download()
    assert summary.quarantined == 1
    (quarantined,) = stage_events(world, target)
    assert type(quarantined).__name__ == "Quarantined"
    assert quarantined.reason == "served_size_mismatch"
    assert parts_of(world, target) == []
    assert media_states(world)[target].local_relpath is None
    assert_files_match_the_ledger(world)

    world.state.set_served_size_delta(target, 0)
    again = world.download()  # the lie is gone, but nothing says so: quarantine holds
    assert (again.downloaded, again.quarantined, again.failed) == (0, 0, 0)
    assert topics(stage_events(world, target)) == ["Quarantined"]

    world.state.edit_asset(target)  # a new remote version lifts the quarantine
    assert_converged(world)
    history = topics(stage_events(world, target))
    assert history[:2] == ["Quarantined", "RemoteChanged"] and set(history[2:]) == {"Downloaded"}


def test_a_checksum_change_during_download_is_never_filed_under_the_listed_version(
    discovered: World,
) -> None:
    world = discovered
    target = pick_target(world)
    listed_sha256 = served_sha256(world, target)
    listed_checksum = media_states(world)[target].remote_checksum
    world.state.arm_checksum_change(target)

    summary = world.download()

    assert (summary.failed, summary.remote_changed) == (1, 1)
    assert topics(stage_events(world, target)) == ["RemoteChanged", "DownloadFailed"]
    changed, failed = stage_events(world, target)
    assert changed.remote_checksum != listed_checksum
    assert failed.is_retriable and "changed the file while it downloaded" in failed.error
    state = media_states(world)[target]
    assert (state.local_relpath, state.downloaded_checksum) == (None, None)
    assert_files_match_the_ledger(world)  # the bytes taken back: no unrecorded file remains
    assert target in waiting_for_download(world)

    again = world.download()
    assert (again.downloaded, again.failed, again.remote_changed) == (1, 0, 0)
    assert topics(stage_events(world, target)) == ["RemoteChanged", "DownloadFailed", "Downloaded"]
    state = media_states(world)[target]
    assert state.downloaded_checksum == changed.remote_checksum
    downloaded = stage_events(world, target)[-1]
    assert downloaded.sha256 == served_sha256(world, target) != listed_sha256
    assert_converged(world)


def test_a_confirmed_download_costs_one_lookup_per_batch_not_per_asset(
    discovered: World,
) -> None:
    world = discovered
    waiting = len(waiting_for_download(world))
    mark = len(world.server.requests.entries())
    summary = world.download()
    assert summary.downloaded == waiting
    lookups = [e for e in world.server.requests.entries()[mark:] if "records/lookup" in e.path]
    assert 2 <= len(lookups) <= 4  # the batch before downloading and the one confirming it


def test_an_expired_url_gets_a_fresh_one_and_the_file_downloads(discovered: World) -> None:
    world = discovered
    world.server.url_ttl_s = 2.0  # the batch lookup's URLs die while earlier files stream
    world.server.faults.set_bandwidth(250_000)
    mark = len(world.server.requests.entries())
    summary = world.download(workers=1)
    assert (summary.failed, summary.quarantined) == (0, 0)
    histories = content_histories(world, since=mark)
    refreshed = [h for h in histories.values() if h[0] == 410]
    assert refreshed  # some URLs did expire
    assert all(h == [410, 200] for h in refreshed)  # one fresh URL each, and it worked
    assert all(h in ([200], [410, 200]) for h in histories.values())
    assert_all_downloaded_once(world)
    world.server.url_ttl_s = DEFAULT_URL_TTL_S
    assert_converged(world)


def test_urls_that_are_always_expired_fail_retriably_and_leave_nothing(discovered: World) -> None:
    world = discovered
    waiting = waiting_for_download(world)
    world.server.url_ttl_s = -60.0  # every URL is born expired, the fresh ones too
    summary = world.download(limit=6)
    assert (summary.downloaded, summary.failed) == (0, 6)
    histories = content_histories(world)
    assert len(histories) >= 6
    assert all(h == [410] * (1 + MAX_URL_REFRESHES) for h in histories.values())
    assert waiting_for_download(world) == waiting  # a retriable failure stays on the list
    failures = {n: stage_events(world, n) for n in waiting}
    assert sum(1 for events in failures.values() if events) == 6
    for events in failures.values():
        assert all(e.is_retriable and e.error.startswith("url_expired") for e in events)
    assert part_files(world) == []
    assert_files_match_the_ledger(world)
    world.server.url_ttl_s = DEFAULT_URL_TTL_S
    assert_converged(world)


@pytest.mark.parametrize(("status", "include_session_tokens"), [(421, False), (450, True)])
def test_a_session_expiring_mid_discovery_is_renewed_once(
    world: World, status: int, include_session_tokens: bool
) -> None:
    world.server.faults.set_latency(0.02)  # the next call is still on its way when it expires
    with sessions_expire_after_first(
        world, "cloudkit", status=status, include_session_tokens=include_session_tokens
    ) as expired:
        summary = world.discover()
    assert expired and expired[0] >= 1
    log = world.server.requests.entries()
    refused = next(i for i, e in enumerate(log) if e.kind == "cloudkit" and e.status == status)
    after = log[refused + 1 :]
    assert any(e.kind == "login" for e in after)
    assert any(e.path == SIGNIN_INIT for e in after) == include_session_tokens  # SRP again
    assert sum(1 for e in log if e.kind == "cloudkit" and e.status == status) == 1
    assert summary.listed == sum(
        1 for a in world.state.primary().assets.values() if not a.is_deleted
    )
    world.server.faults.clear()
    world.download()
    assert_all_downloaded_once(world)
    assert_converged(world)


def test_a_session_expiring_during_a_long_download_is_renewed_at_the_url_refresh(
    discovered: World,
) -> None:
    world = discovered
    world.server.url_ttl_s = 2.0
    world.server.faults.set_bandwidth(250_000)
    with sessions_expire_after_first(world, "content", status=421) as expired:
        summary = world.download(workers=1)
    assert expired and expired[0] >= 1
    assert (summary.failed, summary.quarantined) == (0, 0)
    assert world.server.requests.count(kind="cloudkit", status=421) == 1
    assert_all_downloaded_once(world)
    world.server.url_ttl_s = DEFAULT_URL_TTL_S
    assert_converged(world)


@pytest.mark.parametrize("status", [503, 429])
def test_a_throttled_sign_in_is_retried_then_succeeds(world: World, status: int) -> None:
    world.server.faults.throttle_signin(times=2, status=status)
    world.discover()
    signins = [e.status for e in world.server.requests.entries() if e.path == SIGNIN_INIT]
    assert signins == [status, status, 200]
    world.download()
    assert_all_downloaded_once(world)
    assert_converged(world)


def test_a_sign_in_throttled_past_every_retry_records_nothing(world: World) -> None:
    world.server.faults.add_throttle(ThrottleRule(503, None, "login", SIGNIN_INIT))
    with pytest.raises(ThrottledError):
        world.discover()
    assert world.server.requests.count(path_prefix=SIGNIN_INIT, status=503) == 3
    assert media_states(world) == {}
    assert_converged(world)
