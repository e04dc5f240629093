"""`backup-google` against two real syncthing processes (server and stand-in Pixel) on loopback.

Assets are downloaded facts with real files (tests/syncthing_pair.py); one test goes through
the iCloud simulator end to end. The Pixel's folder is read to prove byte-identical copies.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest

from commands.context import Settings
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode
from engine.google.route import google_route
from engine.google.run import GoogleOptions, GoogleSummary, run_backup_google, run_google_resend
from engine.google.syncthing import SyncthingUnavailableError, SyncthingUnsafeError
from engine.services import open_writer, utc_now
from tests.commands.test_backup_nas import with_nas
from tests.factories import Library, make_library
from tests.reliability.invariants import events_by_type
from tests.syncthing_pair import (
    SyncthingPair,
    add_downloaded_assets,
    run_photoledger,
    running_syncthing_pair,
    syncthing_pair_in,
    wire_library,
)

WAIT = GoogleOptions(wait_s=20, poll_s=1)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[SyncthingPair]:
    with syncthing_pair_in(tmp_path) as running:
        yield running


@pytest.fixture
def wired(tmp_path: Path, pair: SyncthingPair) -> Library:
    return wire_library(make_library(tmp_path), pair)


def backup(library: Library, options: GoogleOptions = WAIT, clock: object = utc_now,
           environ: dict[str, str] | None = None, resend: tuple[str, ...] = ()) -> GoogleSummary:
    settings = Settings(library.config_path, CrashPoints(), clock, False, lambda _m: None)  # type: ignore[arg-type]
    route = google_route(library.config, environ if environ is not None else os.environ)
    with open_writer(library.config, settings, "backup-google") as deps:
        if resend:
            return run_google_resend(deps, route, resend, options)
        return run_backup_google(deps, route, options)


def topic_counts(library: Library) -> dict[str, Counter[str]]:
    ledger = library.open_ledger()
    try:
        return events_by_type(ledger)
    finally:
        ledger.close()


def pixel_files(pair: SyncthingPair) -> dict[str, str]:
    """Relative path -> sha256 of every file the Pixel holds (Syncthing's own files aside)."""
    return {
        p.relative_to(pair.pixel_folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in pair.pixel_folder.rglob("*")
        if p.is_file() and not p.name.startswith(".st") and ".syncthing." not in p.name
    }


def library_files(library: Library) -> dict[str, str]:
    root = library.config.library_root
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and ".photoledger" not in p.parts
    }


def staged_relpaths(library: Library) -> set[str]:
    """The library paths of every downloaded original and live video (what goes to Google)."""
    projection = library.open_projection()
    try:
        rows = projection._query("SELECT local_relpath, live_video_relpath FROM media")
    finally:
        projection.close()
    return {path for row in rows for path in row if path is not None}


def google_rows(library: Library) -> dict[str, tuple[str | None, str | None]]:
    projection = library.open_projection()
    try:
        rows = projection._query(
            "SELECT asset_id, google_status, google_device_id FROM media WHERE sha256 IS NOT NULL"
        )
    finally:
        projection.close()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_happy_path_stages_originals_and_live_videos_and_verifies_them(
    wired: Library, pair: SyncthingPair
) -> None:
    assets = add_downloaded_assets(wired, 6, live_every=3)

    summary = backup(wired)

    assert (summary.staged, summary.verified, summary.failed) == (6, 6, 0)
    assert summary.hardlinked == 6 and summary.is_pixel_connected
    assert pixel_files(pair) == library_files(wired)  # originals and both MOVs, byte-identical
    assert len(pixel_files(pair)) == 8
    for asset in assets:
        original = wired.config.library_root / asset.state.local_relpath  # type: ignore[operator]
        assert (pair.outbox / asset.state.local_relpath).samefile(original)  # type: ignore[operator]
    counts = topic_counts(wired)
    assert set(counts["PixelStaged"].values()) == {1} and len(counts["PixelStaged"]) == 6
    assert set(counts["GoogleVerified"].values()) == {1} and len(counts["GoogleVerified"]) == 6
    assert set(google_rows(wired).values()) == {("verified", pair.pixel.device_id)}

    again = backup(wired)

    assert (again.staged, again.verified) == (0, 0)
    assert topic_counts(wired)["PixelStaged"] == counts["PixelStaged"]


def test_pixel_disconnected_leaves_assets_staged_then_a_rerun_verifies_without_restaging(
    wired: Library, pair: SyncthingPair
) -> None:
    add_downloaded_assets(wired, 3)
    pair.stop_pixel()

    started = time.monotonic()
    summary = backup(wired)

    assert time.monotonic() - started < 10  # an offline Pixel does not hold the run for wait_s
    assert (summary.staged, summary.verified, summary.unknown) == (3, 0, 3)
    assert not summary.is_pixel_connected
    assert set(google_rows(wired).values()) == {("staged", None)}
    assert pixel_files(pair) == {}

    pair.start_pixel()
    summary = backup(wired)

    assert (summary.staged, summary.verified, summary.unknown) == (0, 3, 0)
    counts = topic_counts(wired)
    assert set(counts["PixelStaged"].values()) == {1}  # not staged a second time
    assert len(counts["GoogleVerified"]) == 3
    assert pixel_files(pair) == library_files(wired)


def test_pixel_freeing_a_file_after_verification_keeps_the_asset_verified_and_resends_nothing(
    wired: Library, pair: SyncthingPair
) -> None:
    assets = add_downloaded_assets(wired, 2)
    assert backup(wired).verified == 2
    freed = assets[0].state.local_relpath
    assert freed is not None
    (pair.pixel_folder / freed).unlink()  # Google Photos "Free up space" on the phone
    pair.pixel.rest(f"/rest/db/scan?folder={pair.folder_id}", "POST")
    pair.server.wait_until(lambda: _pixel_lacks(pair, freed), "see the Pixel free the file")

    summary = backup(wired)

    assert (summary.staged, summary.verified) == (0, 0)
    counts = topic_counts(wired)
    assert sum(counts["PixelStaged"].values()) == 2 and sum(counts["GoogleVerified"].values()) == 2
    assert set(google_rows(wired).values()) == {("verified", pair.pixel.device_id)}
    time.sleep(1.5)  # longer than the watcher delay: a re-send would have landed by now
    assert freed not in pixel_files(pair)


def free_on_the_pixel(pair: SyncthingPair, *relpaths: str) -> None:
    """Delete files in the Pixel's folder as Google Photos "Free up space" does; wait until the
    server sees the Pixel no longer has them."""
    for relpath in relpaths:
        (pair.pixel_folder / relpath).unlink()
    pair.pixel.rest(f"/rest/db/scan?folder={pair.folder_id}", "POST")
    for relpath in relpaths:
        pair.server.wait_until(lambda r=relpath: _pixel_lacks(pair, r),  # type: ignore[misc]
                               "see the Pixel free the file")


def pixel_staged_methods(library: Library, asset_id: str) -> list[str]:
    ledger = library.open_ledger()
    try:
        events = ledger.events_of(UUID(asset_id))
    finally:
        ledger.close()
    return [e.method for e in events if type(e).__name__ == "PixelStaged"]


def test_resend_after_the_pixel_freed_a_live_photo_puts_the_exact_bytes_back_and_verifies_again(
    wired: Library, pair: SyncthingPair
) -> None:
    assets = add_downloaded_assets(wired, 2, live_every=2)  # asset 0: a photo and its video
    assert backup(wired).verified == 2
    photo, video = assets[0].state.local_relpath, assets[0].state.live_video_relpath
    assert photo is not None and video is not None
    library_photo = wired.config.library_root / photo
    library_mtime = library_photo.stat().st_mtime_ns
    free_on_the_pixel(pair, photo, video)
    # The Pixel keeps its deletion (a receive-only local change) while nothing new is sent.
    assert photo not in pixel_files(pair) and video not in pixel_files(pair)

    done = run_photoledger(["--no-progress", "backup-google", "--wait-s", "20",
                            "--resend", photo], wired.config_path)  # named by its local path

    assert done.returncode == 0, done.stderr
    assert "re-sent 1, staged 0" in done.stdout and "verified on the Pixel 1" in done.stdout
    assert f"resent: {photo} (from library)" in done.stderr
    # Syncthing 1.19's receive-only folder pulls the newer version over its local deletion:
    # no "Revert local changes" is needed on the phone.
    assert pixel_files(pair) == library_files(wired)
    counts = topic_counts(wired)
    assert counts["PixelStaged"][assets[0].id.hex] == 2
    assert counts["GoogleVerified"][assets[0].id.hex] == 2
    assert counts["PixelStaged"][assets[1].id.hex] == 1  # not named: not re-sent
    assert set(google_rows(wired).values()) == {("verified", pair.pixel.device_id)}
    outbox_photo = pair.outbox / photo
    assert not outbox_photo.samefile(library_photo)  # a fresh copy, not the old hardlink
    assert outbox_photo.stat().st_mtime_ns > library_mtime
    assert library_photo.stat().st_mtime_ns == library_mtime  # the library file is untouched


def test_rewriting_the_same_bytes_with_the_old_time_is_no_new_version_for_syncthing(
    wired: Library, pair: SyncthingPair
) -> None:
    """Why a resend bumps the time: Syncthing 1.19 keeps the Pixel's deletion otherwise, until
    someone taps "Revert local changes" on the phone (REST /rest/db/revert on the Pixel)."""
    assets = add_downloaded_assets(wired, 1)
    assert backup(wired).verified == 1
    relpath = assets[0].state.local_relpath
    assert relpath is not None
    free_on_the_pixel(pair, relpath)
    file_url = f"/rest/db/file?folder={pair.folder_id}&file={relpath}"
    version_before = pair.server.rest(file_url)["global"]["version"]  # type: ignore[index]
    outbox_copy = pair.outbox / relpath
    old_mtime_ns = outbox_copy.stat().st_mtime_ns
    outbox_copy.unlink()
    outbox_copy.write_bytes((wired.config.library_root / relpath).read_bytes())
    os.utime(outbox_copy, ns=(old_mtime_ns, old_mtime_ns))

    pair.server.rest(f"/rest/db/scan?folder={pair.folder_id}&sub={relpath}", "POST")

    assert pair.server.rest(file_url)["global"]["version"] == version_before  # type: ignore[index]
    time.sleep(1.5)  # longer than the watcher delay: a pull would have landed by now
    assert relpath not in pixel_files(pair) and _pixel_lacks(pair, relpath)
    pair.pixel.rest(f"/rest/db/revert?folder={pair.folder_id}", "POST")
    pair.server.wait_until(lambda: pixel_files(pair).get(relpath) == assets[0].state.sha256,
                           "see the Pixel revert")


def test_resend_reads_the_nas_copy_when_compression_replaced_the_library_copy(
    tmp_path: Path, pair: SyncthingPair
) -> None:
    (tmp_path / "nas").mkdir()
    library = wire_library(with_nas(make_library(tmp_path), tmp_path / "nas"), pair)
    assets = add_downloaded_assets(library, 2)
    for asset in assets:  # what backup-nas leaves: the same bytes at the same relative path
        relpath = asset.state.local_relpath
        assert relpath is not None
        (tmp_path / "nas" / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library.config.library_root / relpath, tmp_path / "nas" / relpath)
    assert backup(library).verified == 2
    relpath = assets[0].state.local_relpath
    assert relpath is not None
    # Compression re-encodes the library copy in place; the outbox hardlink shares its inode,
    # so write a new file (as the compressor's rename does) to keep the outbox copy intact.
    compressed = library.config.library_root / relpath
    compressed.unlink()
    compressed.write_bytes(b"a smaller re-encoded photo")
    free_on_the_pixel(pair, relpath)

    dry = run_photoledger(["backup-google", "--dry-run", "--resend", assets[0].id.hex],
                          library.config_path)

    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [f"would resend {relpath} from the NAS copy",
                                       "1 files would be re-sent"]

    summary = backup(library, resend=(assets[0].id.hex,))

    assert (summary.resent, summary.verified, summary.failed) == (1, 1, 0)
    assert pixel_files(pair)[relpath] == assets[0].state.sha256  # the downloaded bytes
    assert pixel_staged_methods(library, assets[0].id.hex) == ["hardlink", "copy-from-nas"]
    assert topic_counts(library)["GoogleVerified"][assets[0].id.hex] == 2


def test_resend_refuses_an_asset_no_copy_of_which_has_the_bytes_and_records_nothing(
    wired: Library, pair: SyncthingPair
) -> None:
    assets = add_downloaded_assets(wired, 2)
    assert backup(wired).verified == 2
    relpath = assets[1].state.local_relpath
    assert relpath is not None
    changed = wired.config.library_root / relpath
    changed.unlink()
    changed.write_bytes(b"edited since the download")
    before = topic_counts(wired)
    outbox_before = (pair.outbox / relpath).stat().st_mtime_ns

    result = run_photoledger(
        ["backup-google", "--resend", assets[0].id.hex, "--resend", relpath], wired.config_path
    )

    assert result.returncode == ExitCode.NOT_FOUND
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("photoledger: error:")
    assert f"cannot resend asset {assets[1].id.hex} ({relpath})" in result.stderr
    assert "no NAS is configured" in result.stderr and "nothing was re-sent" in result.stderr
    assert assets[0].id.hex not in result.stderr  # the other named asset was fine
    after = topic_counts(wired)
    assert after["PixelStaged"] == before["PixelStaged"]
    assert after["GoogleVerified"] == before["GoogleVerified"]
    assert (pair.outbox / relpath).stat().st_mtime_ns == outbox_before
    assert set(google_rows(wired).values()) == {("verified", pair.pixel.device_id)}


def _pixel_lacks(pair: SyncthingPair, relpath: str) -> bool:
    answer = pair.server.rest(f"/rest/db/file?folder={pair.folder_id}&file={relpath}")
    if not isinstance(answer, dict):
        return False
    return all(a["id"] != pair.pixel.device_id for a in answer.get("availability") or [])


def test_library_copy_that_changed_since_download_is_not_staged(
    wired: Library, pair: SyncthingPair
) -> None:
    assets = add_downloaded_assets(wired, 2)
    changed = wired.config.library_root / assets[1].state.local_relpath  # type: ignore[operator]
    changed.write_bytes(b"not the original any more")

    summary = backup(wired)

    assert (summary.staged, summary.verified, summary.failed) == (1, 1, 1)
    assert not (pair.outbox / assets[1].state.local_relpath).exists()  # type: ignore[operator]
    assert assets[1].id.hex not in topic_counts(wired)["PixelStaged"]
    assert not [p for p in pair.outbox.rglob("*") if ".syncthing." in p.name]


def test_dangerous_setup_refuses_before_staging(wired: Library, pair: SyncthingPair) -> None:
    add_downloaded_assets(wired, 2)
    pair.server.rest(f"/rest/config/folders/{pair.folder_id}", "PATCH", {"type": "sendreceive"})

    with pytest.raises(SyncthingUnsafeError, match="not send-only"):
        backup(wired)

    assert [p for p in pair.outbox.rglob("*") if p.is_file() and p.name != ".stfolder"] == []
    assert "PixelStaged" not in topic_counts(wired)


def test_wrong_api_key_is_syncthing_unavailable(tmp_path: Path, pair: SyncthingPair) -> None:
    library = wire_library(make_library(tmp_path), pair, syncthing_config=None)
    add_downloaded_assets(library, 1)

    with pytest.raises(SyncthingUnavailableError, match="refused the API key"):
        backup(library, environ={"PHOTOLEDGER_SYNCTHING_API_KEY": "wrong"})

    assert "PixelStaged" not in topic_counts(library)


def test_outbox_copy_removed_only_after_the_grace_period(tmp_path: Path, pair: SyncthingPair) -> None:
    library = wire_library(make_library(tmp_path), pair, remove_outbox_copy_after_days=2)
    assets = add_downloaded_assets(library, 2)
    assert backup(library).outbox_copies_removed == 0
    outbox_copy = pair.outbox / assets[0].state.local_relpath  # type: ignore[operator]
    assert outbox_copy.exists()

    assert backup(library, clock=lambda: utc_now() + timedelta(days=1)).outbox_copies_removed == 0
    later = backup(library, clock=lambda: utc_now() + timedelta(days=3))

    assert later.outbox_copies_removed == 2 and not outbox_copy.exists()
    assert (library.config.library_root / assets[0].state.local_relpath).exists()  # type: ignore[operator]
    assert set(google_rows(library).values()) == {("verified", pair.pixel.device_id)}


def test_copies_when_the_outbox_is_on_another_file_system(tmp_path: Path) -> None:
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system to stage across")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as other, \
            running_syncthing_pair(Path(other)) as pair:
        library = wire_library(make_library(tmp_path), pair)
        add_downloaded_assets(library, 2, live_every=2)

        summary = backup(library)

        assert (summary.copied, summary.hardlinked, summary.verified) == (2, 0, 2)
        assert pixel_files(pair) == library_files(library)
        for relpath in library_files(library):
            source = (library.config.library_root / relpath).stat()
            assert (pair.outbox / relpath).stat().st_mtime_ns == source.st_mtime_ns


def test_cli_dry_run_changes_nothing_and_the_run_prints_a_summary(
    wired: Library, pair: SyncthingPair
) -> None:
    add_downloaded_assets(wired, 2, live_every=2)
    before = wired.ledger_path.read_bytes()

    dry = run_photoledger(["--no-progress", "backup-google", "--dry-run"], wired.config_path)

    assert dry.returncode == 0, dry.stderr
    assert set(dry.stdout.splitlines()[:3]) == {
        "would stage 2024/05/17/IMG_0000.HEIC", "would stage 2024/05/17/IMG_0000_HEVC.MOV",
        "would stage 2024/05/17/IMG_0001.HEIC",
    }
    assert "3 files would be staged or confirmed" in dry.stdout
    assert wired.ledger_path.read_bytes() == before
    assert pixel_files(pair) == {}

    done = run_photoledger(["--no-progress", "backup-google", "--wait-s", "20"], wired.config_path)

    assert done.returncode == 0, done.stderr
    assert "staged 2 (hardlink 2, copy 0), verified on the Pixel 2" in done.stdout
    assert "staged: 2024/05/17/IMG_0001.HEIC (hardlink)" in done.stderr


def test_cli_unreachable_syncthing_is_one_line_exit_13(tmp_path: Path, pair: SyncthingPair) -> None:
    library = wire_library(make_library(tmp_path), pair, syncthing_url="http://127.0.0.1:9")
    add_downloaded_assets(library, 1)

    result = run_photoledger(["backup-google"], library.config_path)

    assert result.returncode == ExitCode.SYNCTHING_UNAVAILABLE
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("photoledger: error:")
    assert "not answering" in result.stderr and "photoledger doctor" in result.stderr


def test_cli_help_names_the_options() -> None:
    result = run_photoledger(["backup-google", "--help"])
    assert result.returncode == 0
    for option in ("--wait-s", "--dry-run", "--limit", "--json", "--resend"):
        assert option in result.stdout


def test_end_to_end_from_the_icloud_simulator_to_the_pixel(
    tmp_path: Path, pair: SyncthingPair
) -> None:
    from simulator.icloud.generator import GeneratorSpec, generate_library
    from tests.reliability.test_icloud_crash import icloud_library
    from tests.sim import PASSWORD, start_simulator

    library = wire_library(icloud_library(tmp_path), pair)
    spec = GeneratorSpec(assets=12, seed=3, include_malformed=False, size_scale=0.002)
    with start_simulator(generate_library(spec)) as server:
        env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url,
               "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
        for args in (["discover"], ["download"], ["backup-google", "--wait-s", "30"]):
            result = run_photoledger(["--no-progress", *args], library.config_path, env=env)
            assert result.returncode == 0, (args, result.stderr)
    rows = google_rows(library)
    assert rows and set(rows.values()) == {("verified", pair.pixel.device_id)}
    staged = staged_relpaths(library)  # originals and live videos; RAW twins, edits stay
    assert pixel_files(pair) == {p: d for p, d in library_files(library).items() if p in staged}
    assert set(library_files(library)) > staged  # the mix holds resources Google does not get


def test_an_asset_compressed_before_staging_is_staged_from_the_nas_original(
    tmp_path: Path, pair: SyncthingPair
) -> None:
    """compression.require: [nas] lets compress run before backup-google; the Pixel must still
    get the downloaded bytes, read from the NAS, for a re-encoded and for a renamed still."""
    (tmp_path / "nas").mkdir()
    library = wire_library(with_nas(make_library(tmp_path), tmp_path / "nas"), pair)
    assets = add_downloaded_assets(library, 3)
    root = library.config.library_root
    for asset in assets:  # what backup-nas leaves: the same bytes at the same relative path
        relpath = asset.state.local_relpath
        assert relpath is not None
        (tmp_path / "nas" / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / relpath, tmp_path / "nas" / relpath)
    reencoded, renamed = (root / str(a.state.local_relpath) for a in assets[:2])
    reencoded.unlink()
    reencoded.write_bytes(b"a smaller re-encoded photo")
    renamed.rename(renamed.with_suffix(".AVIF"))  # a format change moved the still

    summary = backup(library)

    assert (summary.staged, summary.verified, summary.failed) == (3, 3, 0)
    on_pixel = pixel_files(pair)
    for asset in assets:
        assert on_pixel[str(asset.state.local_relpath)] == asset.state.sha256
    methods = {a.id.hex: pixel_staged_methods(library, a.id.hex) for a in assets}
    assert methods[assets[0].id.hex] == methods[assets[1].id.hex] == ["copy-from-nas"]
    assert methods[assets[2].id.hex] == ["hardlink"]
    assert reencoded.read_bytes() == b"a smaller re-encoded photo"  # the library copy untouched
