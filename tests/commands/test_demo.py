"""`photoledger demo` as a user runs it: the simulator, real Syncthing, real files, twice."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import REPO_ROOT

ASSETS = 6


def run_demo(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from commands import main; main()", "--no-progress",
         "demo", "--dir", str(folder), "--assets", str(ASSETS)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600, check=False,
    )


def digests(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every media file under root (state and markers left out)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }


@pytest.mark.slow  # real media are encoded once, then two Syncthing processes start twice
def test_demo_backs_up_every_download_to_the_nas_and_the_pixel_and_reruns_idle(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "demo"
    first = run_demo(folder)
    assert first.returncode == 0, first.stderr[-3000:] + first.stdout[-3000:]

    resources = downloaded_resources(folder / "library" / ".photoledger" / "ledger.db")
    originals = [sha for key, sha in resources if key == "original"]
    assert originals, "the demo downloaded nothing"
    nas = digests(folder / "nas")
    sidecars = {p: sha for p, sha in nas.items() if p.endswith(".xmp")}  # beside each original
    assert len(sidecars) == len(originals)
    assert set(nas.values()) - set(sidecars.values()) == {sha for _key, sha in resources}
    pixel = digests(folder / "syncthing" / "pixel-dcim")
    to_google = {sha for key, sha in resources if key in ("original", "live_video")}
    assert set(pixel.values()) == to_google  # originals and live videos; RAW twins, edits not
    assert pixel.items() <= nas.items()  # at the same paths
    library = digests(folder / "library")
    assert set(library) == set(nas)  # compressed in place, under the same names
    assert {p: library[p] for p in sidecars} == sidecars  # the NAS holds the current XMP
    assert sum(library[p] != nas[p] for p in nas) > 0  # compress changed some local copies
    totals = re.search(
        r"(\d+) downloaded .*?, (\d+) NAS-verified, (\d+) on the Pixel, (\d+) compressed "
        r".*?, (\d+) deleted from iCloud by photoledger",
        first.stdout,
    )
    assert totals is not None, first.stdout[-3000:]
    assert int(totals[1]) == int(totals[2]) == int(totals[3]) == len(originals)
    assert int(totals[5]) > 0

    second = run_demo(folder)
    assert second.returncode == 0, second.stderr[-3000:]
    for idle in ("downloaded 0 assets", "copied 0 (0 B)", "staged 0 ", "compressed 0 ",
                 "0 assets would be deleted"):
        assert idle in second.stdout, idle
    assert "$ photoledger delete execute" not in second.stdout  # nothing left to delete
    assert digests(folder / "library") == library


def downloaded_resources(ledger_db: Path) -> list[tuple[str, str]]:
    """(resource, sha256) of every Downloaded fact, read from the ledger file."""
    from engine.mapper import decode_row

    con = sqlite3.connect(ledger_db)
    try:
        rows = con.execute("SELECT topic, state FROM stored_events").fetchall()
    finally:
        con.close()
    facts = [decode_row(topic, bytes(state)) for topic, state in rows]
    return [(f["resource"], f["sha256"]) for f in facts if f["event"] == "Downloaded"]
