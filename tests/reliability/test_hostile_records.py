"""Hostile records from iCloud: names and fields that try to escape, collide or break the parser.

(part B, test 11, end to end.) Hypothesis picks, for a few assets of a simulated library, a
filename (path traversal, absolute, backslashes, NUL, `.`/`..`, 300-byte UTF-8, NFC/NFD and
case variants of one name, reserved Windows names, trailing dots and spaces, any text) and a
damaged field (missing, wrong type, malformed value) on the asset or its master. The real
pyicloud session lists them over HTTP and the command layer's discover and download run.
Every asset must end downloaded to a file under the library root (each path component at most
255 bytes, no two paths equal once case-folded and NFC-normalised) or quarantined with a
reason, the untouched assets must all download, the run must not stop, and the invariants hold.
"""

from __future__ import annotations

import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.icloud.records import typed
from tests.reliability.invariants import assert_invariants
from tests.scenarios.fault_world import World, media_states, open_world

ASSETS = 10
NAMED = ("../../etc/passwd", "/etc/shadow.jpg", "..\\..\\boot.ini", "a\x00b.jpg", ".", "..", "",
         "CON", "con.jpg", "NUL.JPG", "LPT1.heic", "name. ", "trailing.", " .jpg", "a/b/c.jpg",
         "é" * 148 + ".jpg", "\u00e9t\u00e9.jpg", "e\u0301te\u0301.jpg", "IMG_1.JPG",
         "img_1.jpg", "IMG_1.jpg", "\u202egpj.exe", "🌞" * 70 + ".heic", "x" * 300 + ".mov")
FILENAMES = st.one_of(st.sampled_from(NAMED), st.text(max_size=90),
                      st.text(max_size=60).map(lambda t: f"{t}.JPG"))
DAMAGES: tuple[tuple[str, str, Any] | None, ...] = (
    None,
    ("asset", "assetDate", None),
    ("asset", "assetDate", typed("STRING", "yesterday")),
    ("asset", "masterRef", None),
    ("asset", "masterRef", typed("REFERENCE", "not a reference")),
    ("asset", "timeZoneOffset", typed("INT64", "east")),
    ("asset", "isFavorite", {"value": [1]}),
    ("master", "resOriginalRes", None),
    ("master", "resOriginalRes", typed("ASSETID", "nope")),
    ("master", "resOriginalFileType", typed("STRING", 42)),
    ("master", "itemType", None),
    ("master", "filenameEnc", typed("INT64", 5)),
    ("master", "filenameEnc", typed("ENCRYPTED_BYTES", "%%% not base64")),
)
HOSTILE = st.lists(st.tuples(FILENAMES, st.sampled_from(DAMAGES)), min_size=1, max_size=5)


def make_hostile(world: World, picks: list[tuple[str, tuple[str, str, Any] | None]]) -> set[str]:
    """Rename and damage the first live assets; returns the record names left untouched."""
    state = world.state
    live = sorted(a.record_name for a in state.primary().assets.values() if not a.is_deleted)
    for index, name in enumerate(live[len(picks):]):  # the generator's own specials, made plain
        master = state.master(state.asset(name).master_name)
        assert master is not None
        master.filename, master.filename_wire = f"PLAIN_{index:04d}.JPG", None
    for name, (filename, damage) in zip(live, picks, strict=False):
        asset = state.asset(name)
        master = state.master(asset.master_name)
        assert master is not None
        master.filename, master.filename_wire = filename, None
        if damage is not None:
            kind, field, value = damage
            state.override_fields(name if kind == "asset" else master.record_name, {field: value})
    return set(live[len(picks):])


def assert_landed_or_quarantined(world: World, untouched: set[str]) -> None:
    root = world.root.resolve()
    seen: dict[str, str] = {}
    for name, state in media_states(world).items():
        if state.sha256 is None:
            assert state.quarantine_reason, f"{name}: neither downloaded nor quarantined"
            assert name not in untouched, f"{name} was not hostile and did not download"
            continue
        for relpath in filter(None, (state.local_relpath, state.live_video_relpath)):
            path = (world.root / relpath).resolve()
            assert path.is_relative_to(root) and path.is_file(), relpath
            assert all(len(part.encode()) <= 255 for part in Path(relpath).parts), relpath
            assert "\x00" not in relpath
            key = unicodedata.normalize("NFC", relpath).casefold()
            assert seen.setdefault(key, name) == name, f"{relpath} collides with {seen[key]}"


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(picks=HOSTILE)
def test_hostile_records_land_under_the_root_or_are_quarantined(
    picks: list[tuple[str, tuple[str, str, Any] | None]],
) -> None:
    with tempfile.TemporaryDirectory() as folder, \
            open_world(Path(folder), assets=ASSETS, seed=3) as world:
        untouched = make_hostile(world, picks)
        world.discover()
        world.download()
        world.download()  # a second pass: what failed for the hostile ones must not loop
        assert_landed_or_quarantined(world, untouched)
        assert_invariants(world.library, Path(folder) / "scratch")
