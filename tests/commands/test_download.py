"""`download` end to end: the real pyicloud-based port talks HTTP to the iCloud simulator.

A generated library (hostile names, the same name twice, a record without a filename, one
whose filename is not UTF-8, live photos, videos, RAW pairs) is discovered into a real ledger,
then downloaded into a real library folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from commands.context import Settings
from engine import events as ev
from engine.asset import Asset
from engine.crashpoints import CrashPoints
from engine.discover import decide_for_remote
from engine.download.options import DownloadOptions, DownloadSummary
from engine.download.stage import run_download
from engine.icloud.factory import build_port_for
from engine.icloud.retry import RetryPolicy
from engine.ids import IcloudIdentity
from engine.reporting import NullReporter
from engine.services import open_reader, open_writer, utc_now
from simulator.icloud.faults import ContentFault
from simulator.icloud.generator import GeneratorSpec, generate_library
from tests.factories import Library, make_library, new_run
from tests.sim import PASSWORD, USERNAME, start_simulator

ZONE = "PrimarySync"
FAST = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.01)


class Clock:
    """The simulator's clock, which a test can move forward (to expire download URLs)."""

    def __init__(self) -> None:
        import time

        self.shift_s = 0.0
        self._time = time.time

    def __call__(self) -> float:
        return self._time() + self.shift_s


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    database = generate_library(
        GeneratorSpec(assets=24, seed=7, include_malformed=False, shared_assets=0, size_scale=0.02)
    )
    same_name_twice(database)
    clock = Clock()
    library = make_library(tmp_path)
    with start_simulator(database, server_options={"clock": clock}) as server:
        port = build_port_for(
            username=USERNAME,
            session_dir=tmp_path / "session",
            dotenv_path=None,
            endpoint=server.base_url,
            password_prompt=None,
            code_source=None,
            environ={"PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD},
            policy=FAST,
            keyring_lookup=None,
        )
        port.login()
        discover_all(library, port)
        yield {"library": library, "port": port, "db": database, "server": server, "clock": clock}
        port.close()


def same_name_twice(database: Any) -> None:
    """Give two live JPEG assets the same name and capture time: one folder, one name."""
    from simulator.icloud.rows import MediaKind

    state = database.state
    pairs = [
        (a, state.master(a.master_name))
        for a in state.primary().assets.values()
        if not a.is_deleted and not a.is_hidden
    ]
    jpegs = [(a, m) for a, m in pairs if m is not None and m.kind is MediaKind.JPEG_PHOTO]
    (first, first_master), (second, second_master) = jpegs[:2]
    second_master.filename = first_master.filename = "TWIN.JPG"
    second.asset_date_ms = first.asset_date_ms


def discover_all(library: Library, port: Any) -> None:
    ledger = library.open_ledger()
    run = new_run("discover")
    ledger.save(run)
    for page in port.scan_pages(ZONE, workers=1):
        aggregates: list[Asset] = []
        for remote in page.assets:
            asset = None
            for fact in decide_for_remote(None, remote, ()):
                identity = IcloudIdentity(USERNAME, ZONE, fact.record_name)
                if fact.event_class is ev.Discovered:
                    asset = Asset.discover(identity, run.id.hex, **fact.facts)
                elif asset is not None:
                    asset.record(fact.event_class, run.id.hex, **fact.facts)
            if asset is not None:
                aggregates.append(asset)
        ledger.save(*aggregates)
    ledger.close()


def download(library: Library, port: Any, **options: Any) -> DownloadSummary:
    settings = Settings(library.config_path, CrashPoints(), utc_now, False, lambda _m: None)
    with open_writer(library.config, settings, "download") as deps:
        options = {"local_tz": UTC, **options}
        return run_download(deps, port, DownloadOptions(workers=4, **options), NullReporter())


def outcomes(library: Library) -> dict[str, list[Any]]:
    """Asset id -> its download-stage events, from the ledger."""
    ledger = library.open_ledger()
    try:
        found: dict[str, list[Any]] = {}
        for raw in ledger.iter_all():
            if raw.topic in {"Downloaded", "DownloadFailed", "Quarantined", "RemoteChanged"}:
                found.setdefault(raw.originator_id, []).append(raw.topic)
        return found
    finally:
        ledger.close()


def states(library: Library) -> dict[str, Any]:
    projection = library.open_projection()
    ledger = library.open_ledger()
    try:
        projection.catch_up(ledger)
        rows = projection._query("SELECT asset_id FROM media")
        return {r[0]: ledger.get_asset(__import__("uuid").UUID(r[0])).state for r in rows}
    finally:
        projection.close()
        ledger.close()


def worklist_ids(library: Library) -> list[str]:
    from projections.worklists import worklist

    projection = library.open_projection()
    ledger = library.open_ledger()
    try:
        projection.catch_up(ledger)
        return worklist(projection, "download")
    finally:
        projection.close()
        ledger.close()


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".photoledger" not in p.parts]


def test_every_asset_once_hostile_names_inside_root_and_rerun_does_nothing(
    world: dict[str, Any],
) -> None:
    library, port = world["library"], world["port"]
    root = library.config.library_root
    work = set(worklist_ids(library))
    before = outcomes(library)
    summary = download(library, port, sizes=("original", "medium"))
    after = outcomes(library)
    all_states = states(library)
    added = {a: after[a][len(before.get(a, [])) :] for a in after}
    assert {a for a, new in added.items() if new} == work  # every waiting asset, no other
    for a in work:  # each resource exactly once, and at most one problem per asset
        held = all_states[a].resources_downloaded
        assert added[a].count("Downloaded") == len(held)
        assert len({r.key for r in held}) == len(held)
        assert len(added[a]) - len(held) - added[a].count("SidecarWritten") <= 1
    assert summary.downloaded + summary.quarantined + summary.failed + summary.partial == len(
        work
    )
    assert summary.failed == 0 and summary.partial == 0

    downloaded = {a: s for a, s in all_states.items() if s.sha256 is not None}
    relpaths = []
    for state in downloaded.values():
        paths = [(r.relpath, r.sha256) for r in state.resources_downloaded]
        assert state.sidecar_relpath == f"{state.local_relpath}.xmp"  # every one has its XMP
        paths.append((state.sidecar_relpath, state.sidecar_sha256 or ""))
        for relpath, sha256 in paths:
            if relpath is None:
                continue
            relpaths.append(relpath.casefold())
            target = root / relpath
            assert target.resolve().is_relative_to(root.resolve())
            assert hashlib.sha256(target.read_bytes()).hexdigest() == sha256
    assert len(relpaths) == len(set(relpaths))  # no two files share a path
    on_disk = files_under(root)
    assert len(on_disk) == len(relpaths)
    assert not [p for p in on_disk if p.name.endswith(".part")]  # no temp files left
    for path in on_disk:
        assert path.resolve().is_relative_to(root.resolve())
        assert all(len(part.encode()) <= 255 for part in path.relative_to(root).parts)

    twins = sorted(
        (s for s in downloaded.values() if s.filename == "TWIN.JPG"), key=lambda s: s.local_relpath
    )
    assert len(twins) == 2
    folder = twins[0].local_relpath.rsplit("/", 1)[0]
    assert {t.local_relpath for t in twins} == {
        f"{folder}/TWIN.JPG",
        f"{folder}/TWIN-{next(t for t in twins if t.local_relpath != f'{folder}/TWIN.JPG').declared_size_bytes}.JPG",
    }
    live = [s for s in downloaded.values() if s.kind == "live"]
    assert live and all(
        s.live_video_relpath and s.live_video_relpath.endswith("_HEVC.MOV") for s in live
    )
    undecodable = [s for s in all_states.values() if s.filename_status == "undecodable"]
    assert undecodable and all(  # named from the record, as icloudpd does, and kept
        s.quarantine_reason is None and s.sha256 is not None for s in undecodable
    )

    again = download(library, port)
    assert (again.downloaded, again.failed, again.quarantined) == (0, 0, 0)
    assert sorted(files_under(root)) == sorted(on_disk)


def _asset_named(world: dict[str, Any], predicate: Any) -> Any:
    state = world["db"].state
    for zone in state.zones.values():
        for asset in zone.assets.values():
            master = state.master(asset.master_name)
            if master is not None and predicate(asset, master):
                return asset, master
    raise AssertionError("no such asset in the generated library")


def test_a_lying_size_is_quarantined_and_leaves_no_file(world: dict[str, Any]) -> None:
    library, port = world["library"], world["port"]
    asset, _master = _asset_named(
        world, lambda a, m: m.filename == "IMG_0001.JPG" and not a.is_deleted
    )
    world["db"].state.set_served_size_delta(asset.record_name, 17)
    download(library, port)
    lied = next(s for s in states(library).values() if s.record_name == asset.record_name)
    assert lied.quarantine_reason == "served_size_mismatch"
    assert lied.local_relpath is None
    root = library.config.library_root
    assert not [p for p in files_under(root) if p.name.endswith(".part")]
    assert len(files_under(root)) == sum(  # each downloaded resource, and one XMP sidecar
        len(s.resources_downloaded) + (s.sidecar_relpath is not None)
        for s in states(library).values()
    )


def test_a_cut_body_fails_then_the_next_run_resumes(world: dict[str, Any]) -> None:
    library, port, server = world["library"], world["port"], world["server"]
    server.faults.add_content_fault(ContentFault(mode="cut", times=None, fraction=0.5))
    first = download(library, port, limit=2)
    assert first.failed == 2 and first.downloaded == 0
    root = library.config.library_root
    parts = list(root.rglob("*.part"))
    assert parts  # kept for resuming
    assert not [p for p in files_under(root) if not p.name.endswith(".part")]
    failed = [s for s in states(library).values() if s.download_failures]
    assert len(failed) == 2
    assert all("cut_body" in s.last_error for s in failed)
    server.faults.clear()
    second = download(library, port, limit=2)
    assert second.downloaded == 2
    assert not list(root.rglob("*.part"))


def test_an_expired_url_is_refreshed_and_an_edit_is_recorded_first(world: dict[str, Any]) -> None:
    library, port, clock = world["library"], world["port"], world["clock"]
    asset, _master = _asset_named(
        world, lambda a, m: m.filename == "IMG_0001.JPG" and not a.is_deleted
    )
    world["db"].state.edit_asset(asset.record_name)

    class ExpireAfterLookup:
        def __init__(self) -> None:
            self.calls = port.calls

        def __getattr__(self, name: str) -> Any:
            return getattr(port, name)

        def lookup_assets(self, zone: str, names: list[str]) -> Any:
            page = port.lookup_assets(zone, names)
            if clock.shift_s == 0:
                clock.shift_s = 100_000.0  # every URL just handed out is now expired
            return page

    before = port.calls.cloudkit
    summary = download(library, ExpireAfterLookup())
    assert summary.failed == 0
    assert summary.remote_changed == 1
    assert port.calls.cloudkit > before + 1  # the batch lookup plus refreshes
    edited = next(s for s in states(library).values() if s.record_name == asset.record_name)
    assert edited.sha256 is not None
    assert edited.downloaded_change_tag == edited.remote_change_tag
    events = outcomes(library)[edited_id(edited, library)]
    assert events[0] == "RemoteChanged" and set(events[1:]) == {"Downloaded"}
    assert len(events) == 1 + len(edited.resources_downloaded)  # each resource once


def edited_id(state: Any, library: Library) -> str:
    from engine.ids import asset_id_for

    return asset_id_for(IcloudIdentity(USERNAME, ZONE, state.record_name)).hex


def test_dry_run_plans_the_same_paths_and_writes_nothing(world: dict[str, Any]) -> None:
    from engine.download.stage import plan_download

    library, port = world["library"], world["port"]
    settings = Settings(library.config_path, CrashPoints(), utc_now, False, lambda _m: None)
    with open_reader(library.config, settings) as deps:
        planned = plan_download(deps, DownloadOptions(dry_run=True, local_tz=UTC))
    root = library.config.library_root
    assert planned.planned_relpaths and not files_under(root)
    assert set(outcomes(library)) <= {a for a, s in states(library).items() if s.quarantine_reason}
    download(library, port)
    written = {p.relative_to(root).as_posix() for p in files_under(root)}
    sidecars = {p for p in written if p.endswith(".xmp")}  # written after the files, not planned
    assert written - sidecars == set(planned.planned_relpaths)
    assert sidecars == {f"{s.local_relpath}.xmp" for s in states(library).values()
                        if s.local_relpath is not None}


def test_the_plain_name_goes_to_the_first_twin_in_work_list_order_even_when_it_finishes_last(
    world: dict[str, Any],
) -> None:
    """Which of two same-named assets gets `TWIN.JPG` must not depend on download timing."""
    import time

    library, port = world["library"], world["port"]
    twins = sorted(
        (s.captured_at_utc, asset_id)
        for asset_id, s in states(library).items()
        if s.filename == "TWIN.JPG"
    )
    assert len(twins) == 2
    first_record = states(library)[twins[0][1]].record_name
    slow_urls: set[str] = set()

    class FirstTwinIsSlow:
        def __init__(self) -> None:
            self.calls = port.calls

        def __getattr__(self, name: str) -> Any:
            return getattr(port, name)

        def lookup_assets(self, zone: str, names: list[str]) -> Any:
            page = port.lookup_assets(zone, names)
            for remote in page.assets:
                if remote.record_name == first_record:
                    slow_urls.update(v.download_url for v in remote.versions if v.download_url)
            return page

        def open_content(self, url: str, *, start_byte: int = 0) -> Any:
            if url in slow_urls:
                time.sleep(0.5)  # every other download finishes first
            return port.open_content(url, start_byte=start_byte)

    summary = download(library, FirstTwinIsSlow())
    assert summary.failed == 0 and slow_urls
    after = states(library)
    assert after[twins[0][1]].local_relpath.endswith("/TWIN.JPG")
    assert not after[twins[1][1]].local_relpath.endswith("/TWIN.JPG")
