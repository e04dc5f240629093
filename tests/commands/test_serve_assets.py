"""The asset pages of `photoledger serve` over real HTTP: search by file name, capture day and
album, and one asset's page (history in words, copies with their verification, albums).

- A name matches any part of the file name, case-insensitive, and LIKE wildcards are literal;
  a day is where the photo was taken (its own offset), a day alone is that day, with `until`
  a range; an album matches any part of its path (its folder's name too); criteria combine.
- A malformed day is a 400 page naming the field; an unknown or malformed id a 404 page.
- The history says every fact in words: no Python repr (no `datetime.`, `VersionFact(`,
  `True`, `None`), sizes in binary units with the exact byte count, album ids by name.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from engine import events as ev
from tests.commands.test_serve import Server, serving, sign_in
from tests.factories import Library, discover, download, new_run

ALBUM = "ALBUM-HOLIDAYS"


def seed_assets(library: Library) -> None:
    """Six assets beside the fixture's IMG_0000..IMG_0003: IMG_0010..IMG_0013 taken on
    2024-06-01..04, 'IMG_%00.JPG' (a wildcard in its name), 'a<NUL>b.jpg' (no date); IMG_0010 and IMG_0011 in the
    album 'Holidays 2024' of the folder 'Trips'; IMG_0010 downloaded, verified on the NAS and on the Pixel."""
    ledger = library.open_ledger()
    run = new_run("discover")
    run.record(ev.AlbumSeen, zone="PrimarySync", album_id="FOLDER-TRIPS", name="Trips",
               parent_id=None, is_folder=True)
    run.record(ev.AlbumSeen, zone="PrimarySync", album_id=ALBUM, name="Holidays 2024",
               parent_id="FOLDER-TRIPS", is_folder=False)
    assets = [discover(run, 10 + i, album_ids=(ALBUM,) if i < 2 else (),
                       captured_at_utc=datetime(2024, 6, 1 + i, 10, tzinfo=UTC))
              for i in range(4)]
    assets.append(discover(run, 14, filename="IMG_%00.JPG",
                           captured_at_utc=datetime(2023, 1, 1, 23, 30, tzinfo=UTC)))
    assets.append(discover(run, 15, filename="a\x00b.jpg", captured_at_utc=None))
    first = assets[0]
    download(first, run)
    sha = first.state.sha256
    first.record(ev.NasCopied, run.id.hex, nas_relpath="2024/05/17/IMG_0010.HEIC",
                 size_bytes=1_000_000, nas_id="nas-1")
    first.record(ev.NasVerified, run.id.hex, sha256=sha, method="reread-fadvise-dontneed",
                 files=(ev.ResourceHash(key="original", sha256=sha),), nas_id="nas-1")
    first.record(ev.GoogleVerified, run.id.hex, device_id="PIXEL-7", size_bytes=1_000_000)
    ledger.save(run, *assets)
    ledger.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path) as running:
        seed_assets(running.library)
        yield running


def found_names(session: requests.Session, server: Server, **params: str) -> list[str]:
    page = session.get(f"{server.url}/assets", params=params)
    assert page.status_code == 200, page.text
    return re.findall(r'<a href="/assets/[0-9a-f]{32}">([^<]+)</a>', page.text)


def test_search_by_name_day_and_album(server: Server) -> None:
    session, _ = sign_in(server, server.token)
    assert session.get(f"{server.url}/assets").status_code == 200  # the form alone
    assert found_names(session, server, name="img_0012") == ["IMG_0012.HEIC"]
    assert found_names(session, server, name="IMG_001") == [
        "IMG_0010.HEIC", "IMG_0011.HEIC", "IMG_0012.HEIC", "IMG_0013.HEIC"]
    assert found_names(session, server, name="%") == ["IMG_%00.JPG"]  # literal, not a wildcard
    assert found_names(session, server, name="nothing-like-it") == []
    assert found_names(session, server, name="a") == ["a\\x00b.jpg"]  # never a raw NUL
    # 2023-01-01 23:30 UTC is 2023-01-02 01:30 where it was taken (UTC+2)
    assert found_names(session, server, day="2023-01-02") == ["IMG_%00.JPG"]
    assert found_names(session, server, day="2023-01-01") == []
    assert found_names(session, server, day="2024-06-02", until="2024-06-03") == [
        "IMG_0011.HEIC", "IMG_0012.HEIC"]
    assert found_names(session, server, day="2024-06-03") == ["IMG_0012.HEIC"]
    assert found_names(session, server, album="holidays") == ["IMG_0010.HEIC", "IMG_0011.HEIC"]
    assert found_names(session, server, album="holidays", name="0011") == ["IMG_0011.HEIC"]
    assert found_names(session, server, album="TRIPS/holi") == [
        "IMG_0010.HEIC", "IMG_0011.HEIC"]  # by its path: the folder's name finds it too
    assert found_names(session, server, album="Lisbon") == []
    bad = session.get(f"{server.url}/assets", params={"day": "2024-13-01"})
    assert bad.status_code == 400
    assert "day: &#39;2024-13-01&#39; is not a day" in bad.text
    backwards = session.get(f"{server.url}/assets", params={"day": "2024-05-17",
                                                            "until": "2024-05-01"})
    assert backwards.status_code == 400 and "is before" in backwards.text


def test_an_asset_page_tells_history_copies_and_albums_in_words(server: Server) -> None:
    session, _ = sign_in(server, server.token)
    listing = session.get(f"{server.url}/assets", params={"album": "Holidays", "name": "0010"})
    link = re.search(r'href="(/assets/[0-9a-f]{32})"', listing.text)
    assert link is not None
    page = session.get(f"{server.url}{link.group(1)}")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.text))
    for words in ("Seen in iCloud for the first time", "Downloaded to the library",
                  "Copied to the NAS", "Verified on the NAS", "On the Pixel",
                  "976.6 KiB (1,000,000 bytes)", "Trips/Holidays 2024", "UTC+02:00",
                  "favourite no", "discover run"):
        assert words in text, words
    for repr_ in ("datetime.", "VersionFact(", "ResourceHash(", "True", "None", "(\'"):
        assert repr_ not in text, repr_
    copies = page.text[page.text.index('id="copies"'):page.text.index("<h2>Albums")]
    assert copies.count('class="good"') == 4  # iCloud, library, NAS, Pixel
    assert "hashed to the downloaded sha256" in copies
    assert "holds the exact file since" in copies
    # the newest fact first
    history = page.text[page.text.index('id="history"'):]
    assert history.index("On the Pixel") < history.index("Seen in iCloud")


def test_unknown_and_malformed_asset_ids_are_404(server: Server) -> None:
    session, _ = sign_in(server, server.token)
    assert session.get(f"{server.url}/assets/{uuid.uuid4().hex}").status_code == 404
    assert session.get(f"{server.url}/assets/not-an-id").status_code == 404
    assert requests.get(f"{server.url}/assets/{uuid.uuid4().hex}",
                        allow_redirects=False).status_code == 303
