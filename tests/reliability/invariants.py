"""Invariants every reliability test checks on a library after a crash, a refusal or a rerun.

`assert_invariants` checks all of these on a library (and its NAS, when it has one):
- no final file without its event: every file under the library root (outside the state
  folder) is named by some event of some asset, and every file on the NAS is the NAS copy of
  a downloaded archival resource (original, live video, RAW/JPEG twin, edits);
- no event without its file: every file the ledger says the library holds now (downloaded,
  then compressed, minus what LocalCopyRemoved removed) exists and hashes to the recorded
  sha256, and every resource the last NAS verification re-read hashes on the NAS to its
  downloaded sha256;
- no temp or partial file left: no photoledger temp name under the library, the NAS or any
  other root given, and nothing but the ledger, the projection and the locks in the state
  folder;
- each aggregate's versions run 1, 2, 3 ... in position order, with no gap or repeat;
- the media projection equals a fresh replay of the ledger, and tracks the ledger's head;
  the run tables equal those of a projection rebuilt from scratch;
- no deletion the gate would refuse: every Deleted rests on a DeletionRequested at which the
  deletion gate passed on the facts known then, with a stored, intact plan listing the asset
  (engine.cleanup.audit, the same check `photoledger audit` makes);
- no asset deleted while any resource its record listed lacked a download, or a NAS re-read
  to the downloaded sha256, at its deletion request.

`assert_library_consistent` adds, for the ledger-only writer tests: every intended asset is in
the ledger exactly once (one Discovered, one Downloaded), and nothing else is.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from engine import events as ev
from engine.asset import MediaState, fold_fact
from engine.cleanup.audit import StoredPlan, decide_deletion_stories
from engine.config import ConfigFile
from engine.crashpoints import CrashPoints
from engine.ledger import Ledger
from engine.nas.access import NAS_MARKER_NAME
from engine.resources import ARCHIVE_KEYS, SIDECAR, downloaded, listed_resources
from engine.tempfiles import STATE_FOLDER, find_temp_files
from projections.media import MediaProjection, replay_rows
from tests.factories import Library

STATE_FILES = frozenset(
    {
        "ledger.db", "ledger.db-wal", "ledger.db-shm",
        "media.db", "media.db-wal", "media.db-shm",
        "writer.lock", "watch.lock",  # kept empty when free: removing a flock file races
        "progress.json",  # the last writer's progress board (engine.progress_board)
    }
)


def file_digest(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when it does not exist."""
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def ledger_digests(library: Library) -> dict[str, str | None]:
    """Digests of the ledger file and its WAL: equal before and after = nothing recorded changed.

    A missing WAL counts as an empty one: SQLite leaves an empty `-wal` (and `-shm`) behind
    when the last connection to close was read-only, which records nothing.
    """
    path = library.ledger_path
    wal = path.with_name("ledger.db-wal")
    empty = hashlib.sha256(b"").hexdigest()
    return {"ledger.db": file_digest(path), "ledger.db-wal": file_digest(wal) or empty}


def events_by_type(ledger: Ledger) -> dict[str, Counter[str]]:
    """For each event topic, how many times each aggregate (hex id) has it."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for raw in ledger.iter_all():
        counts[raw.topic][raw.originator_id] += 1
    return counts


def assert_versions_contiguous(ledger: Ledger) -> None:
    versions: dict[str, list[int]] = defaultdict(list)
    for raw in ledger.iter_all():
        versions[raw.originator_id].append(raw.originator_version)
    broken = {
        aggregate: seen
        for aggregate, seen in versions.items()
        if seen != list(range(1, len(seen) + 1))
    }
    assert not broken, f"aggregates with non-contiguous versions: {broken}"


def assert_projection_matches_replay(library: Library, ledger: Ledger, scratch: Path) -> None:
    projection = library.open_projection()
    try:
        assert projection.position() == ledger.max_position(), "projection lags the ledger head"
        assert projection.rows() == replay_rows(ledger, projection.position())
        runs = projection._con.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
    finally:
        projection.close()
    fresh = MediaProjection(scratch / "fresh-media.db", CrashPoints())
    try:
        fresh.rebuild(ledger)
        assert runs == fresh._con.execute("SELECT * FROM runs ORDER BY run_id").fetchall()
    finally:
        fresh.close()


def assert_no_stray_files(library: Library) -> None:
    names = {p.name for p in library.config.state_dir.iterdir()}
    assert names <= STATE_FILES, f"left in the state folder: {sorted(names - STATE_FILES)}"


def assert_library_consistent(library: Library, expected_assets: set[str], scratch: Path) -> None:
    """Every invariant in this module's docstring; `expected_assets` are hex aggregate ids."""
    scratch.mkdir(exist_ok=True)
    ledger = library.open_ledger()
    try:
        counts = events_by_type(ledger)
        for topic in ("Discovered", "Downloaded"):
            assert set(counts[topic]) == expected_assets, f"{topic}: wrong set of assets"
            duplicated = {a: n for a, n in counts[topic].items() if n != 1}
            assert not duplicated, f"{topic} recorded more than once: {duplicated}"
        assert_versions_contiguous(ledger)
        assert_projection_matches_replay(library, ledger, scratch)
    finally:
        ledger.close()
    assert_no_stray_files(library)
    media_ids = _media_ids(library)
    assert media_ids == expected_assets


def _media_ids(library: Library) -> set[str]:
    con = sqlite3.connect(f"file:{library.config.state_dir / 'media.db'}?mode=ro", uri=True)
    try:
        return {
            row[0]
            for row in con.execute("SELECT asset_id FROM media WHERE sha256 IS NOT NULL")
        }
    finally:
        con.close()


# ------------------------------------------------------------------ files, temps, deletions


@dataclass
class FileFacts:
    """What the ledger says about files: what must exist now, and what may exist at all."""

    local_now: dict[str, str] = field(default_factory=dict)  # relpath -> sha256, library
    local_named: set[str] = field(default_factory=set)  # every relpath any event named
    nas_now: dict[str, str] = field(default_factory=dict)  # relpath -> sha256, NAS-verified
    downloaded_named: set[str] = field(default_factory=set)  # resources and sidecars: NAS


def asset_ids(ledger: Ledger) -> list[UUID]:
    """Every asset aggregate (one Discovered each), in ledger order."""
    return [UUID(raw.originator_id) for raw in ledger.iter_all() if raw.topic == "Discovered"]


def collect_file_facts(ledger: Ledger) -> FileFacts:
    """Fold each asset's events into the files it has in the library and on the NAS."""
    facts = FileFacts()
    for aggregate in asset_ids(ledger):
        files: dict[str, str] = {}
        main: str | None = None
        live: str | None = None
        for event in ledger.events_of(aggregate):
            if isinstance(event, ev.Downloaded):
                main, live = _take_download(event, files, main, live, facts)
            elif isinstance(event, ev.Compressed) and main is not None:
                files.pop(main, None)
                main = event.local_relpath_after or main
                files[main] = event.sha256_after
                if live is not None and event.live_video_sha256_after is not None:
                    files[live] = event.live_video_sha256_after
                facts.local_named.add(main)
            elif isinstance(event, ev.LocalCopyRemoved):
                for relpath in (main, live):
                    files.pop(relpath or "", None)
            elif isinstance(event, ev.AdoptionDisproved):  # moved aside, kept as it was
                files.pop(event.local_relpath, None)
                if event.quarantine_relpath:
                    files[event.quarantine_relpath] = event.adopted_sha256
                    facts.local_named.add(event.quarantine_relpath)
            elif isinstance(event, ev.SidecarWritten):  # the XMP beside the original
                files[event.sidecar_relpath] = event.sha256
                facts.local_named.add(event.sidecar_relpath)
        facts.local_now |= files
        state = ledger.get_asset(aggregate).state
        if state.nas_status in ("verified", "incomplete") and state.sha256:
            assert state.nas_verified_sha256 == state.sha256, f"{aggregate}: NAS verified other bytes"
            by_key = {r.key: r for r in state.resources_downloaded}
            for held in state.nas_files:
                if held.key == SIDECAR and state.sidecar_relpath:  # the XMP the NAS holds
                    facts.nas_now[state.sidecar_relpath] = held.sha256
                    facts.downloaded_named.add(state.sidecar_relpath)
                    continue
                got = by_key.get(held.key)
                assert got is not None and got.sha256 == held.sha256, f"{aggregate}: {held.key}"
                facts.nas_now[got.relpath] = got.sha256
    return facts


def _take_download(
    event: ev.Downloaded, files: dict[str, str], main: str | None, live: str | None,
    facts: FileFacts,
) -> tuple[str | None, str | None]:
    """One Downloaded: a v3 fact names one resource; a v2 one the original with its siblings."""
    if event.resource == "original":
        main = event.local_relpath
        if event.live_video_relpath is not None and event.live_video_sha256 is not None:
            live = event.live_video_relpath
            files[live] = event.live_video_sha256
        files |= {f.relpath: f.sha256 for f in event.extra_files}
    elif event.resource == "live_video":
        live = event.local_relpath
    files[event.local_relpath] = event.sha256
    facts.local_named |= set(files)
    if event.resource in ARCHIVE_KEYS:  # the NAS holds every archival resource, nothing else
        facts.downloaded_named.add(event.local_relpath)
        facts.downloaded_named |= {live} if live else set()
    return main, live


def assert_each_resource_downloaded_once(ledger: Ledger, aggregates: set[str]) -> None:
    """Each asset has one Downloaded per resource its record lists, and no other."""
    for aggregate in sorted(aggregates):
        events = ledger.events_of(UUID(aggregate))
        got = Counter(e.resource for e in events if isinstance(e, ev.Downloaded))
        listed = listed_resources(ledger.get_asset(UUID(aggregate)).state)
        assert got == Counter(dict.fromkeys(listed, 1)), f"{aggregate}: {dict(got)}"


def assert_deleted_assets_were_whole_on_the_nas(ledger: Ledger) -> None:
    """No asset was deleted while a resource its record listed lacked a download, or a NAS
    re-read to the downloaded sha256 (replayed to the moment of its deletion request)."""
    deleted = {raw.originator_id for raw in ledger.iter_all() if raw.topic == "Deleted"}
    for aggregate in sorted(deleted):
        state = MediaState()
        for event in ledger.events_of(UUID(aggregate)):
            if isinstance(event, ev.DeletionRequested):
                break
            fold_fact(state, type(event), event, event.originator_version)
        listed = listed_resources(state)
        for key in listed:
            got = downloaded(state, key)
            assert got is not None, f"{aggregate}: deleted without its {key}"
            assert any(h.key == key and h.sha256 == got.sha256 for h in state.nas_files), (
                f"{aggregate}: deleted while its {key} had no verified NAS copy"
            )


def files_under(root: Path, *, skip: frozenset[str] = frozenset()) -> dict[str, Path]:
    """Relative path -> path of every file under `root`, outside the folders and names in skip."""
    found: dict[str, Path] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not (set(rel.parts) & skip):
            found[rel.as_posix()] = path
    return found


def assert_files_match_events(root: Path, now: dict[str, str], named: set[str],
                              where: str) -> None:
    """Every file in `root` is named by an event; every file in `now` exists with its hash."""
    on_disk = files_under(root, skip=frozenset({STATE_FOLDER, NAS_MARKER_NAME}))
    unnamed = sorted(set(on_disk) - named)
    assert not unnamed, f"{where}: files without an event: {unnamed[:10]}"
    missing = sorted(set(now) - set(on_disk))
    assert not missing, f"{where}: events without a file: {missing[:10]}"
    wrong = sorted(r for r, sha in now.items() if file_digest(on_disk[r]) != sha)
    assert not wrong, f"{where}: files whose bytes differ from their event: {wrong[:10]}"


def assert_no_temp_files(*roots: Path | None) -> None:
    """No photoledger temp or partial file under any of the roots."""
    left = find_temp_files(r for r in roots if r is not None)
    assert not left, f"temp files left behind: {[str(p) for p in left[:10]]}"


def stored_plans(ledger: Ledger) -> dict[str, StoredPlan]:
    """Every DeletePlanned in the ledger, by plan id."""
    runs = {raw.originator_id for raw in ledger.iter_all() if raw.topic == "DeletePlanned"}
    plans: dict[str, StoredPlan] = {}
    for run in sorted(runs):
        for event in ledger.events_of(UUID(run)):
            if isinstance(event, ev.DeletePlanned):
                plans[event.plan_id] = StoredPlan(event.plan_id, event.plan_sha256,
                                                  tuple(event.entries))
    return plans


def assert_no_refused_deletion(ledger: Ledger, settings: ConfigFile) -> int:
    """Every Deleted passed the gate at its request; returns how many assets were deleted."""
    deleted = {raw.originator_id for raw in ledger.iter_all() if raw.topic == "Deleted"}
    plans = stored_plans(ledger) if deleted else {}
    for aggregate in sorted(deleted):
        stories, strays = decide_deletion_stories(ledger.events_of(UUID(aggregate)), plans,
                                                  settings)
        problems = [p for story in stories for p in story.problems] + strays
        assert not problems, f"deleted {aggregate} without the gate's consent: {problems}"
        assert any(s.outcome == "Deleted" for s in stories), f"{aggregate}: Deleted, no request"
    return len(deleted)


def assert_invariants(library: Library, scratch: Path, *, nas_root: Path | None = None,
                      other_roots: tuple[Path, ...] = ()) -> FileFacts:
    """Every invariant in this module's docstring, on a library whose files are real."""
    scratch.mkdir(exist_ok=True)
    ledger = library.open_ledger()
    try:
        assert_versions_contiguous(ledger)
        assert_projection_matches_replay(library, ledger, scratch)
        facts = collect_file_facts(ledger)
        assert_no_refused_deletion(ledger, library.config.settings)
        assert_deleted_assets_were_whole_on_the_nas(ledger)
    finally:
        ledger.close()
    assert_no_stray_files(library)
    root = library.config.library_root
    assert_no_temp_files(root, nas_root, *other_roots)
    assert_files_match_events(root, facts.local_now, facts.local_named, "library")
    if nas_root is not None:
        assert_files_match_events(nas_root, facts.nas_now, facts.downloaded_named, "NAS")
    return facts
