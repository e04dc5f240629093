"""backup-nas and verify nas on real files, a real ledger and the real CLI in subprocesses.

Most tests build downloaded assets directly as ledger facts (with files of matching sha256);
one end-to-end test runs discover and download against the iCloud simulator first.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from commands.context import Settings
from engine import events as ev
from engine.asset import MediaState
from engine.config import load_config
from engine.crashpoints import CrashPoints
from engine.errors import ExitCode
from engine.library_init import run_init
from engine.nas.access import NAS_MARKER_NAME, TEMP_SUFFIX, read_nas_id
from engine.nas.plan import is_nas_copy_current
from engine.nas.run import NasOptions, NasSummary
from engine.nas.stage import run_backup_nas, run_verify_nas
from engine.reporting import NullReporter
from engine.services import open_writer, utc_now
from tests.factories import REPO_ROOT, Library, discover, make_library, new_run
from tests.reliability.invariants import (
    assert_projection_matches_replay,
    assert_versions_contiguous,
    events_by_type,
    ledger_digests,
)
from tests.unit.test_nas_files import flip_byte_keep_stat

# The commands are registered in commands/__init__.py by the lead; until then (and harmlessly
# after), the subprocess entry point adds them itself.
_ENTRY = (
    "from commands import cli, main, backup_nas, verify; "
    "cli.add_command(backup_nas.command); cli.add_command(verify.command); main()"
)


@dataclass
class NasLibrary:
    library: Library
    nas_root: Path
    asset_ids: list[str]

    @property
    def library_root(self) -> Path:
        return self.library.config.library_root


def nas_cli(
    args: list[str], config_path: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real `photoledger` entry point in a subprocess, with the NAS commands present."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", _ENTRY, "--config", str(config_path), "--no-progress", *args],
        capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO_ROOT,
    )


def with_nas(library: Library, nas_root: Path) -> Library:
    """Set nas.root in the config and run init again (which writes the marker)."""
    text = library.config_path.read_text()
    assert text.count("  root: null") == 1
    library.config_path.write_text(text.replace("  root: null", f"  root: {json.dumps(str(nas_root))}"))
    run_init(library.config_path, CrashPoints())
    return Library(library.config_path, load_config(library.config_path))


def content_for(index: int, size_bytes: int) -> bytes:
    seed = hashlib.sha256(f"asset {index}".encode()).digest()
    return (seed * (size_bytes // len(seed) + 1))[:size_bytes]


# Where each archival resource of a test asset lives, beside the original `<stem>.HEIC`.
RESOURCE_SUFFIXES = {
    "live_video": "_HEVC.MOV", "alternative": ".DNG", "adjusted": "_EDITED.JPG",
    "adjusted_video": "_EDITED.MOV",
}


def make_nas_library(
    tmp_path: Path, count: int, *, size_bytes: int = 20_000, live_every: int = 0,
    nas_root: Path | None = None, resources: tuple[tuple[str, ...], ...] = (),
) -> NasLibrary:
    """`count` downloaded assets (files in the library, one Downloaded per resource, as the
    download stage records them) and a marked NAS. Every `live_every`-th asset has a live
    video; asset i also has the resources `resources[i % len(resources)]` ("alternative",
    "adjusted", ...)."""
    nas_root = nas_root or tmp_path / "nas"
    nas_root.mkdir(exist_ok=True)
    library = with_nas(make_library(tmp_path), nas_root)
    root = library.config.library_root
    run = new_run("factory")
    assets = []
    for i in range(count):
        keys = [*(["live_video"] if live_every and i % live_every == 0 else []),
                *(resources[i % len(resources)] if resources else ())]
        relpath = f"2024/05/{i % 3 + 1:02d}/IMG_{i % 10000:04d}.HEIC"
        files = {"original": (relpath, content_for(i, size_bytes + i))}
        for n, key in enumerate(keys, start=1):
            size = size_bytes // 2 if key == "live_video" else size_bytes + 7 * n
            files[key] = (relpath.replace(".HEIC", RESOURCE_SUFFIXES[key]),
                          content_for(10_000 * n + i, size))
        asset = discover(run, i, declared_size_bytes=len(files["original"][1]), versions=tuple(
            ev.VersionFact(key=k, size_bytes=len(data), checksum="", file_type="public.data")
            for k, (_r, data) in files.items()
        ), kind="live" if "live_video" in keys else "photo")
        for key, (path, data) in files.items():
            write(root / path, data)
            asset.record(ev.Downloaded, run.id.hex, resource=key, local_relpath=path,
                         size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        assets.append(asset)
    ledger = library.open_ledger()
    try:
        ledger.save(run, *assets)
    finally:
        ledger.close()
    return NasLibrary(library, nas_root, [a.id.hex for a in assets])


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def settings_for(library: Library, clock: Callable[[], datetime] = utc_now) -> Settings:
    return Settings(library.config_path, CrashPoints(), clock, False, lambda _m: None)


def backup(nl: NasLibrary, clock: Callable[[], datetime] = utc_now, **options: object) -> NasSummary:
    with open_writer(nl.library.config, settings_for(nl.library, clock), "backup-nas") as deps:
        return run_backup_nas(deps, NasOptions(**options), NullReporter())  # type: ignore[arg-type]


def verify(nl: NasLibrary, clock: Callable[[], datetime] = utc_now, **options: object) -> NasSummary:
    with open_writer(nl.library.config, settings_for(nl.library, clock), "verify nas") as deps:
        return run_verify_nas(deps, NasOptions(**options), NullReporter())  # type: ignore[arg-type]


def media(nl: NasLibrary) -> dict[str, dict[str, object]]:
    """The media rows, caught up with the ledger (facts may have been saved directly)."""
    projection, ledger = nl.library.open_projection(), nl.library.open_ledger()
    try:
        projection.catch_up(ledger)
        rows = projection._query("SELECT * FROM media")
    finally:
        projection.close()
        ledger.close()
    return {row["asset_id"]: dict(row) for row in rows}


def events(nl: NasLibrary) -> dict[str, dict[str, int]]:
    ledger = nl.library.open_ledger()
    try:
        assert_versions_contiguous(ledger)
        return {topic: dict(counter) for topic, counter in events_by_type(ledger).items()}
    finally:
        ledger.close()


def nas_facts(nl: NasLibrary, asset_id: str) -> list[object]:
    from uuid import UUID

    ledger = nl.library.open_ledger()
    try:
        return [e for e in ledger.events_of(UUID(asset_id)) if type(e).__name__.startswith("Nas")]
    finally:
        ledger.close()


def assert_nas_holds_the_originals(nl: NasLibrary) -> None:
    """Every downloaded resource is on the NAS with its recorded sha256, and the last
    NasVerified of each verified asset lists exactly those hashes; no temp file anywhere."""
    for state in all_states(nl).values():
        for resource in state.resources_downloaded:
            data = (nl.nas_root / resource.relpath).read_bytes()
            assert hashlib.sha256(data).hexdigest() == resource.sha256, resource.relpath
        sidecar = {("sidecar", state.sidecar_sha256)} if state.sidecar_sha256 else set()
        if state.sidecar_relpath and state.nas_status == "verified":  # the XMP goes along
            data = (nl.nas_root / state.sidecar_relpath).read_bytes()
            assert hashlib.sha256(data).hexdigest() == state.sidecar_sha256
        if state.nas_status == "verified":
            assert {(h.key, h.sha256) for h in state.nas_files} == {
                (r.key, r.sha256) for r in state.resources_downloaded} | sidecar
    temps = [p for p in nl.nas_root.rglob("*") if p.name.endswith(TEMP_SUFFIX)]
    assert temps == []


def all_states(nl: NasLibrary) -> dict[str, MediaState]:
    """Every asset's state, folded from the ledger."""
    from uuid import UUID

    ledger = nl.library.open_ledger()
    try:
        return {aid: ledger.get_asset(UUID(aid)).state for aid in media(nl)}
    finally:
        ledger.close()


def test_backup_nas_copies_and_verifies_each_asset_once(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 7, live_every=3)

    summary = backup(nl)

    assert (summary.copied, summary.adopted, summary.mismatched, summary.failed) == (7, 0, 0, 0)
    counts = events(nl)
    assert counts["NasCopied"] == dict.fromkeys(nl.asset_ids, 1)
    assert counts["NasVerified"] == dict.fromkeys(nl.asset_ids, 1)
    assert_nas_holds_the_originals(nl)
    assert all(r["nas_status"] == "verified" for r in media(nl).values())
    assert (nl.nas_root / "2024/05/01/IMG_0000_HEVC.MOV").is_file()  # the live video too
    again = backup(nl)  # the work list is empty now
    assert (again.copied, again.adopted) == (0, 0)
    assert events(nl)["NasVerified"] == dict.fromkeys(nl.asset_ids, 1)
    ledger = nl.library.open_ledger()
    try:
        (tmp_path / "scratch").mkdir()
        assert_projection_matches_replay(nl.library, ledger, tmp_path / "scratch")
    finally:
        ledger.close()


def test_backup_nas_copies_every_resource_of_raw_jpeg_and_edited_assets(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 2, live_every=2,
                          resources=(("alternative",), ("adjusted", "adjusted_video")))

    summary = backup(nl)

    assert (summary.copied, summary.mismatched, summary.failed) == (2, 0, 0)
    raw_jpeg, edited = (nas_facts(nl, aid)[-1] for aid in nl.asset_ids)
    assert [h.key for h in raw_jpeg.files] == ["original", "live_video", "alternative"]  # type: ignore[attr-defined]
    assert [h.key for h in edited.files] == ["original", "adjusted", "adjusted_video"]  # type: ignore[attr-defined]
    assert (nl.nas_root / "2024/05/01/IMG_0000.DNG").is_file()
    assert (nl.nas_root / "2024/05/02/IMG_0001_EDITED.MOV").is_file()
    assert_nas_holds_the_originals(nl)  # each hash listed is the resource's downloaded sha256
    assert {str(r["nas_status"]) for r in media(nl).values()} == {"verified"}
    assert backup(nl).copied == 0  # nothing is left on the work list


def test_backup_nas_picks_up_a_resource_downloaded_after_the_asset_was_verified(
    tmp_path: Path,
) -> None:
    nl = make_nas_library(tmp_path, 2)
    backup(nl)
    edit = content_for(777, 5000)  # the user edited the photo; download fetched the render
    write(nl.library_root / "2024/05/01/IMG_0000_EDITED.JPG", edit)
    add_fact(nl, nl.asset_ids[0], ev.Downloaded, resource="adjusted",
             local_relpath="2024/05/01/IMG_0000_EDITED.JPG", size_bytes=len(edit),
             sha256=hashlib.sha256(edit).hexdigest())
    assert media(nl)[nl.asset_ids[0]]["nas_status"] == "incomplete"

    summary = backup(nl)

    assert (summary.copied, summary.adopted) == (1, 0)
    fact = nas_facts(nl, nl.asset_ids[0])[-1]
    assert [h.key for h in fact.files] == ["original", "adjusted"]  # type: ignore[attr-defined]
    assert_nas_holds_the_originals(nl)
    assert media(nl)[nl.asset_ids[0]]["nas_status"] == "verified"


def add_fact(nl: NasLibrary, asset_id: str, event: type, **fields: object) -> None:
    """Append one fact to an asset, as the stage that records it would."""
    from uuid import UUID

    ledger, run = nl.library.open_ledger(), new_run("test")
    try:
        asset = ledger.get_asset(UUID(asset_id))
        asset.record(event, run.id.hex, **fields)
        ledger.save(run, asset)
    finally:
        ledger.close()


def test_verify_nas_names_a_damaged_alternative_and_backup_nas_repairs_it(
    tmp_path: Path,
) -> None:
    nl = make_nas_library(tmp_path, 2, resources=(("alternative",),))
    assert nas_cli(["backup-nas"], nl.library.config_path).returncode == 0
    flip_byte_keep_stat(nl.nas_root / "2024/05/02/IMG_0001.DNG", offset=321)

    checked = nas_cli(["verify", "nas"], nl.library.config_path)

    assert checked.returncode == ExitCode.NAS_MISMATCHED, checked.stderr  # until repaired
    assert "re-verified 1, mismatched 1" in checked.stdout
    assert "alternative 2024/05/02/IMG_0001.DNG" in checked.stdout
    fact = nas_facts(nl, nl.asset_ids[1])[-1]
    assert type(fact).__name__ == "NasMismatched"
    assert "alternative 2024/05/02/IMG_0001.DNG: expected sha256" in fact.detail  # type: ignore[attr-defined]

    fixed = nas_cli(["backup-nas"], nl.library.config_path)

    assert fixed.returncode == 0 and "copied 1" in fixed.stdout, fixed.stdout + fixed.stderr
    assert_nas_holds_the_originals(nl)
    assert [h.key for h in nas_facts(nl, nl.asset_ids[1])[-1].files] == [  # type: ignore[attr-defined]
        "original", "alternative"]


def test_backup_nas_adopts_a_right_copy_already_there(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 2)
    row = media(nl)[nl.asset_ids[0]]
    write(nl.nas_root / str(row["local_relpath"]),
          (nl.library_root / str(row["local_relpath"])).read_bytes())

    summary = backup(nl)

    assert (summary.copied, summary.adopted) == (1, 1)
    facts = nas_facts(nl, nl.asset_ids[0])
    assert [type(f).__name__ for f in facts] == ["NasVerified"]
    assert facts[0].method == "adopted-existing"  # type: ignore[attr-defined]
    copied = nas_facts(nl, nl.asset_ids[1])
    assert [type(f).__name__ for f in copied] == ["NasCopied", "NasVerified"]
    assert copied[1].method == "reread-fadvise-dontneed"  # type: ignore[attr-defined]


def test_verify_nas_catches_a_flipped_byte_and_backup_replaces_the_copy(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 3)
    assert nas_cli(["backup-nas"], nl.library.config_path).returncode == 0
    row = media(nl)[nl.asset_ids[1]]
    flip_byte_keep_stat(nl.nas_root / str(row["local_relpath"]), offset=1234)

    result = nas_cli(["verify", "nas"], nl.library.config_path)

    assert result.returncode == ExitCode.NAS_MISMATCHED, result.stderr
    assert "`photoledger backup-nas` repairs it" in result.stderr
    assert "re-verified 2, mismatched 1" in result.stdout
    assert str(row["local_relpath"]) in result.stdout
    after = media(nl)[nl.asset_ids[1]]
    assert after["nas_status"] == "mismatched" and after["nas_verified_at_utc"] is None
    mismatch = nas_facts(nl, nl.asset_ids[1])[-1]
    assert type(mismatch).__name__ == "NasMismatched"
    assert mismatch.expected_sha256 == row["sha256"]  # type: ignore[attr-defined]
    assert mismatch.actual_sha256 not in (None, row["sha256"])  # type: ignore[attr-defined]

    fixed = nas_cli(["backup-nas"], nl.library.config_path)  # the copy is on the work list again

    assert fixed.returncode == 0 and "copied 1" in fixed.stdout, fixed.stdout + fixed.stderr
    assert_nas_holds_the_originals(nl)
    assert nas_cli(["verify", "nas"], nl.library.config_path).stdout.startswith(
        "re-verified 3, mismatched 0"
    )


def test_verify_nas_live_video_mismatch_says_which_file(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 1, live_every=1)
    backup(nl)
    (nl.nas_root / "2024/05/01/IMG_0000_HEVC.MOV").write_bytes(b"not the video")

    summary = verify(nl)

    assert summary.mismatched == 1
    fact = nas_facts(nl, nl.asset_ids[0])[-1]
    assert type(fact).__name__ == "NasMismatched"
    assert "live_video 2024/05/01/IMG_0000_HEVC.MOV" in fact.detail  # type: ignore[attr-defined]


def test_verify_nas_missing_copy_is_recorded_while_the_marker_is_there(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 2)
    backup(nl)
    (nl.nas_root / str(media(nl)[nl.asset_ids[0]]["local_relpath"])).unlink()

    summary = verify(nl)

    assert (summary.reverified, summary.mismatched) == (1, 1)
    assert "missing on the NAS" in nas_facts(nl, nl.asset_ids[0])[-1].detail  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", [["backup-nas"], ["verify", "nas"]])
@pytest.mark.parametrize("how", ["marker removed", "empty mount point", "folder gone"])
def test_nas_unavailable_exits_12_and_records_nothing(
    tmp_path: Path, command: list[str], how: str
) -> None:
    nl = make_nas_library(tmp_path, 3)
    backup(nl)
    if how == "marker removed":
        (nl.nas_root / NAS_MARKER_NAME).unlink()
    else:  # an unmounted share: the mount point is empty (or not even there)
        os.rename(nl.nas_root, tmp_path / "elsewhere")
        if how == "empty mount point":
            nl.nas_root.mkdir()
    before = ledger_digests(nl.library)

    result = nas_cli(command, nl.library.config_path)

    assert result.returncode == ExitCode.NAS_UNAVAILABLE, result.stderr
    assert result.stderr.count("\n") == 1 and NAS_MARKER_NAME in result.stderr
    assert ledger_digests(nl.library) == before
    assert all(r["nas_status"] == "verified" for r in media(nl).values())


def test_backup_nas_without_nas_root_is_a_config_error(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    result = nas_cli(["backup-nas"], library.config_path)
    assert result.returncode == ExitCode.CONFIG and "nas.root" in result.stderr


def test_backup_nas_dry_run_lists_and_changes_nothing(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 2, live_every=1)
    before = ledger_digests(nl.library)

    result = nas_cli(["backup-nas", "--dry-run"], nl.library.config_path)

    assert result.returncode == 0, result.stderr
    assert "would copy or adopt 2024/05/01/IMG_0000_HEVC.MOV" in result.stdout
    assert "4 files would be copied or adopted" in result.stdout
    assert ledger_digests(nl.library) == before
    assert sorted(p.name for p in nl.nas_root.iterdir()) == [NAS_MARKER_NAME]


def test_verify_nas_goes_least_recently_verified_first_and_resumes(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 5)
    t0 = utc_now()
    backup(nl, clock=lambda: t0)
    order = [aid for aid, _ in sorted(media(nl).items())]
    # Re-verify two at a time with the clock moving: every copy is visited once before any twice.
    visited: list[set[str]] = []
    for step in range(1, 4):
        before = {aid: r["nas_verified_at_utc"] for aid, r in media(nl).items()}
        verify(nl, clock=lambda step=step: t0 + timedelta(hours=step), limit=2)
        after = media(nl)
        visited.append({aid for aid in after if after[aid]["nas_verified_at_utc"] != before[aid]})
    assert visited == [set(order[0:2]), set(order[2:4]), {order[4], order[0]}]


def test_verify_nas_max_duration_stops_and_the_next_run_resumes(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 4)
    backup(nl)
    stopped = verify(nl, max_duration_s=1e-9)
    assert stopped.not_reached == 4 and stopped.reverified == 0
    whole = verify(nl, max_duration_s=600)
    assert (whole.not_reached, whole.reverified) == (0, 4)


def test_nas_copy_older_than_max_verify_age_stops_counting_until_reread(tmp_path: Path) -> None:
    nl = make_nas_library(tmp_path, 3)
    t0 = utc_now()
    backup(nl, clock=lambda: t0)
    max_age = timedelta(days=nl.library.config.settings.nas.max_verify_age_days)
    later = t0 + max_age + timedelta(hours=1)
    nas = read_nas_id(nl.nas_root)
    assert all(is_nas_copy_current(s, t0, max_age, nas) for s in states(nl).values())
    assert not any(is_nas_copy_current(s, later, max_age, nas) for s in states(nl).values())
    partial = verify(nl, clock=lambda: later, limit=1)
    assert partial.outdated_after_run == 2
    assert sum(is_nas_copy_current(s, later, max_age, nas) for s in states(nl).values()) == 1
    assert verify(nl, clock=lambda: later).outdated_after_run == 0


def states(nl: NasLibrary) -> dict[str, object]:
    projection = nl.library.open_projection()
    try:
        return projection.states_of(set(nl.asset_ids))  # type: ignore[return-value]
    finally:
        projection.close()


def test_backup_nas_and_verify_nas_explain_themselves() -> None:
    for args in (["backup-nas", "--help"], ["verify", "--help"], ["verify", "nas", "--help"]):
        result = subprocess.run([sys.executable, "-c", _ENTRY, *args], capture_output=True,
                                text=True, cwd=REPO_ROOT, timeout=60)
        assert result.returncode == 0, result.stderr
        assert len(result.stdout.split("\n\n")[1].strip()) > 30
    assert "--max-duration" in result.stdout


def test_init_writes_the_nas_marker_only_into_an_existing_folder(tmp_path: Path) -> None:
    config = tmp_path / "pl.yaml"
    missing = run_init(config, CrashPoints(), library_root=str(tmp_path / "lib"),
                       username="a@b.c", nas_root=str(tmp_path / "nas"))
    assert missing.nas_marker == "folder missing" and not (tmp_path / "nas").exists()
    (tmp_path / "nas").mkdir()
    assert run_init(config, CrashPoints()).nas_marker == "written"
    assert (tmp_path / "nas" / NAS_MARKER_NAME).is_file()
    assert run_init(config, CrashPoints()).nas_marker == "already there"


def test_backup_nas_after_a_real_download_from_the_simulator(tmp_path: Path) -> None:
    from simulator.icloud.generator import GeneratorSpec, generate_library
    from tests.sim import PASSWORD, USERNAME, start_simulator

    nas_root = tmp_path / "nas"
    nas_root.mkdir()
    library = make_library(tmp_path)
    library.config_path.write_text(library.config_path.read_text().replace(
        "jdoe@example.com", USERNAME))
    library = with_nas(library, nas_root)
    spec = GeneratorSpec(assets=30, seed=11, include_malformed=False, size_scale=0.002)
    with start_simulator(generate_library(spec)) as server:
        env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": server.base_url,
               "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
        for args in (["discover"], ["download", "--workers", "4"]):
            done = nas_cli(args, library.config_path, env=env, timeout=300)
            assert done.returncode == 0, done.stderr
    nl = NasLibrary(library, nas_root, [])
    nl.asset_ids = [aid for aid, row in media(nl).items() if row["sha256"] is not None]
    assert len(nl.asset_ids) >= 25

    copied = nas_cli(["backup-nas"], library.config_path)

    assert copied.returncode == 0, copied.stderr
    assert f"copied {len(nl.asset_ids)} " in copied.stdout
    assert_nas_holds_the_originals(nl)
    assert events(nl)["NasVerified"] == dict.fromkeys(nl.asset_ids, 1)
    lives = [r for r in media(nl).values() if r["live_video_relpath"] is not None]
    assert lives, "the generated library should hold live photos"
    reverified = nas_cli(["verify", "nas", "--max-duration", "10m"], library.config_path)
    assert reverified.stdout.startswith(f"re-verified {len(nl.asset_ids)}, mismatched 0")
