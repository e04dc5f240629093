"""XMP sidecars: every fact round-trips through the real exiftool, hostile text stays intact
and well-formed, rendering is deterministic, and a failed write keeps the old sidecar.

exiftool starts slowly, so each test writes all its sidecars first and reads them with one
exiftool run (`-n` gives numbers instead of "48 deg 51' ..." text), given the config that
declares photoledger's own tags (without it exiftool reads a record name "1/2" as 0.5).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.sidecar import (
    EXIFTOOL_CONFIG,
    SidecarFacts,
    clean_album_paths,
    clean_keywords,
    gps_coordinate,
    hierarchical_subject,
    render_xmp,
    sidecar_name,
    write_sidecar,
    xml_text,
    xmp_date,
)
from engine.tempfiles import is_temp_name, remove_temp_files

REPO = Path(__file__).resolve().parents[2]
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
DC = "{http://purl.org/dc/elements/1.1/}"
LR = "{http://ns.adobe.com/lightroom/1.0/}"
PL = "{https://photoledger.invalid/ns/1.0/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
TAKEN = datetime(2021, 6, 5, 12, 3, 22, tzinfo=UTC)
HOSTILE = {
    "emoji": "family 👨‍👩‍👧‍👦 on the 🏖️ 🇫🇷",
    "rtl": "שלום עולם — مرحبا بالعالم \u200f(RTL)\u200e \u202eevil\u202c",
    "combining": "Z̤̈a̧l̃g̊o̥ e\u0301\u0327 a\u030a",
    "nfd": unicodedata.normalize("NFD", "Café crème à Noël, Åsa, Ñandú"),
    "xml": "<b>Tom & Jerry</b> say \"hi\" & 'bye' ]]> <![CDATA[x]]> &amp; &#0;",
    "lines": "line one\nline two\r\nline three\rend\twith tab  ",
    "controls": "bell\x07 null\x00 esc\x1b ff\x0c vt\x0b \ufffe\uffff lone\ud800 end",
    "long": ("Ten kilobytes of caption. " * 400)[:10_240],
}


def full_facts(**overrides: Any) -> SidecarFacts:
    facts: dict[str, Any] = {
        "asset_id": "6f1d3c5e-0a8b-5b0e-9f5e-2c1a7d9e4b21",
        "record_name": "AaBbCc1234+/=",
        "captured_at_utc": TAKEN,
        "timezone_offset_s": 7200,
        "title": "Eiffel tower",
        "description": "Evening walk by the Seine",
        "keywords": ("paris", "tower", "Holiday"),
        "latitude_deg": -33.856784,
        "longitude_deg": -70.641543,
        "altitude_m": 542.25,
        "orientation": 6,
        "is_favorite": True,
        "is_hidden": True,
        "is_screenshot": True,
        "album_paths": ("Trips/2021/Paris", "Family", "Trips/2021/Best of"),
    }
    return SidecarFacts(**(facts | overrides))


@pytest.fixture(scope="module")
def exiftool_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exiftool") / "photoledger.config"
    path.write_text(EXIFTOOL_CONFIG)
    return path


def exiftool_read(config: Path, paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Tags of every file, one exiftool run; numbers keep their text (1.50 stays "1.50")."""
    done = subprocess.run(
        ["exiftool", "-config", str(config), "-json", "-G1", "-struct", "-n", *map(str, paths)],
        capture_output=True,
        check=True,
    )
    rows = json.loads(done.stdout, parse_float=JsonNumber, parse_int=JsonNumber)
    return {Path(row["SourceFile"]).name: row for row in rows}


class JsonNumber(str):
    """The text of a value exiftool printed as a bare JSON number."""


def as_list(value: Any) -> list[Any]:
    """exiftool prints a one-item bag as a plain value."""
    return value if isinstance(value, list) else [value]


def same_text(expected: str, got: Any) -> bool:
    """Compare a text with what exiftool's JSON printed. Two quirks of that output format
    (not of the sidecar, which `exiftool -X` shows intact): a text that reads as a boolean
    ("TRUE") is printed as the literal true, and a number followed by one line feed ("7\n")
    is printed as the bare number 7 (Perl's `$` also matches before a final newline)."""
    if isinstance(got, bool):
        return expected.lower() == str(got).lower()
    if isinstance(got, JsonNumber):
        return expected in {got, got + "\n"}
    return bool(expected == got)


def write_all(folder: Path, facts: list[SidecarFacts]) -> list[Path]:
    paths = []
    for index, one in enumerate(facts):
        path = folder / sidecar_name(f"IMG_{index:04d}.JPG")
        write_sidecar(path, render_xmp(one))
        paths.append(path)
    return paths


# -- names and values --------------------------------------------------------------------


def test_sidecar_name_is_icloudpds() -> None:
    assert sidecar_name("2021/06/05/IMG_0001.JPG") == "2021/06/05/IMG_0001.JPG.xmp"
    assert sidecar_name("IMG_0001_HEVC.MOV") == "IMG_0001_HEVC.MOV.xmp"
    for bad in ("", "2021/06/"):
        with pytest.raises(ValueError):
            sidecar_name(bad)


def test_dates_carry_their_zone() -> None:
    assert xmp_date(TAKEN, 7200) == "2021-06-05T14:03:22+02:00"
    assert xmp_date(TAKEN, -(9 * 3600 + 1800)) == "2021-06-05T02:33:22-09:30"
    assert xmp_date(TAKEN, 0) == "2021-06-05T12:03:22+00:00"
    assert xmp_date(TAKEN, None) == "2021-06-05T12:03:22Z"
    # an aware non-UTC instant is the same instant
    paris = TAKEN.astimezone(timezone(timedelta(hours=2)))
    assert xmp_date(paris, 7200) == "2021-06-05T14:03:22+02:00"
    assert xmp_date(TAKEN.replace(microsecond=123000), 0).endswith("22.123+00:00")
    assert xmp_date(TAKEN.replace(microsecond=5), 0).endswith("22.000005+00:00")
    # Paris' 1911 mean time (+00:09:21) rounds to +00:09 and the wall clock follows
    assert xmp_date(TAKEN, 561) == "2021-06-05T12:12:22+00:09"
    assert xmp_date(datetime(812, 1, 1, tzinfo=UTC), 0) == "0812-01-01T00:00:00+00:00"


def test_gps_coordinates_never_print_sixty_minutes() -> None:
    assert gps_coordinate(48.85837, "N", "S") == "48,51.502200N"
    assert gps_coordinate(-2.294481, "E", "W") == "2,17.668860W"
    assert gps_coordinate(0.0, "N", "S") == "0,00.000000N"
    assert gps_coordinate(179.999999999999, "E", "W") == "180,00.000000E"
    assert gps_coordinate(-90.0, "N", "S") == "90,00.000000S"


def test_albums_are_cleaned_and_made_hierarchical() -> None:
    paths = ("/Trips//2021/Paris/", "Trips/2021/Paris", "", "//", "Music/AC|DC")
    assert clean_album_paths(paths) == ["Music/AC|DC", "Trips/2021/Paris"]
    assert hierarchical_subject("Trips/2021/Paris") == "Trips|2021|Paris"
    assert hierarchical_subject("Music/AC|DC") == "Music|AC\u00a6DC"
    assert clean_keywords(("b", "a", "b", "", "\x00")) == ["a", "b", "\ufffd"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"asset_id": ""}, "asset id"),
        ({"captured_at_utc": datetime(2021, 6, 5)}, "timezone-aware"),
        ({"timezone_offset_s": 19 * 3600}, "18 h"),
        ({"orientation": 9}, "orientation"),
        ({"orientation": 0}, "orientation"),
        ({"longitude_deg": None}, "together"),
        ({"latitude_deg": 91.0}, "WGS84"),
        ({"longitude_deg": float("nan")}, "WGS84"),
        ({"altitude_m": float("inf")}, "altitude"),
        ({"keywords": ["a"]}, "tuple"),
    ],
)
def test_impossible_facts_are_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        full_facts(**overrides)


# -- the round trip through exiftool -------------------------------------------------------


@pytest.fixture(scope="module")
def read_back(
    tmp_path_factory: pytest.TempPathFactory, exiftool_config: Path
) -> dict[str, dict[str, Any]]:
    """Three sidecars read by one exiftool run: everything set (south-west, 3 albums, one nested twice),
    a plain north-east asset below sea level, and identity alone."""
    southwest = full_facts()
    northeast = full_facts(
        latitude_deg=48.858370,
        longitude_deg=2.294481,
        altitude_m=-12.5,
        orientation=1,
        is_favorite=False,
        is_hidden=False,
        is_screenshot=False,
        timezone_offset_s=None,
        captured_at_utc=TAKEN.replace(microsecond=250000),
        album_paths=(),
        keywords=("x",),
    )
    bare = SidecarFacts(asset_id="only-id", record_name="only-record")
    folder = tmp_path_factory.mktemp("read-back")
    return exiftool_read(exiftool_config, write_all(folder, [southwest, northeast, bare]))


def test_every_field_round_trips_through_exiftool(read_back: dict[str, dict[str, Any]]) -> None:
    sw = read_back["IMG_0000.JPG.xmp"]
    for key in ("XMP-exif:DateTimeOriginal", "XMP-xmp:CreateDate", "XMP-photoshop:DateCreated"):
        assert sw[key] == "2021:06:05 14:03:22+02:00"
    assert sw["XMP-dc:Title"] == "Eiffel tower"
    assert sw["XMP-dc:Description"] == "Evening walk by the Seine"
    assert sw["XMP-dc:Subject"] == ["Holiday", "paris", "tower"]  # keywords only, sorted
    assert float(sw["XMP-exif:GPSLatitude"]) == pytest.approx(-33.856784, abs=1e-6)
    assert float(sw["XMP-exif:GPSLongitude"]) == pytest.approx(-70.641543, abs=1e-6)
    assert float(sw["XMP-exif:GPSAltitude"]) == pytest.approx(542.25, abs=1e-3)
    assert sw["XMP-exif:GPSAltitudeRef"] == "0"
    assert sw["XMP-tiff:Orientation"] == "6"
    assert sw["XMP-xmp:Rating"] == "5"
    assert sw["XMP-photoledger:IsFavorite"] is True
    assert sw["XMP-photoledger:IsHidden"] is True
    assert sw["XMP-photoledger:IsScreenshot"] is True
    assert sw["XMP-iptcExt:DigitalSourceType"].endswith("/digitalsourcetype/screenCapture")
    assert "XMP-tiff:Make" not in sw
    assert sw["XMP-lr:HierarchicalSubject"] == ["Family", "Trips|2021|Best of", "Trips|2021|Paris"]
    assert sw["XMP-photoledger:Albums"] == ["Family", "Trips/2021/Best of", "Trips/2021/Paris"]
    assert sw["XMP-photoledger:AssetId"] == "6f1d3c5e-0a8b-5b0e-9f5e-2c1a7d9e4b21"
    assert sw["XMP-photoledger:RecordName"] == "AaBbCc1234+/="
    assert sw["XMP-x:XMPToolkit"] == "photoledger"


def test_north_east_below_sea_level_without_zone_or_favourite(
    read_back: dict[str, dict[str, Any]],
) -> None:
    ne = read_back["IMG_0001.JPG.xmp"]
    assert ne["XMP-exif:DateTimeOriginal"] == "2021:06:05 12:03:22.250Z"
    assert float(ne["XMP-exif:GPSLatitude"]) == pytest.approx(48.858370, abs=1e-6)
    assert float(ne["XMP-exif:GPSLongitude"]) == pytest.approx(2.294481, abs=1e-6)
    assert float(ne["Composite:GPSAltitude"]) == pytest.approx(-12.5, abs=1e-3)
    assert ne["XMP-exif:GPSAltitudeRef"] == "1"
    assert as_list(ne["XMP-dc:Subject"]) == ["x"]
    assert ne["XMP-photoledger:IsHidden"] is False
    assert ne["XMP-photoledger:IsScreenshot"] is False
    assert "XMP-xmp:Rating" not in ne  # not a favourite: no rating at all
    assert "XMP-iptcExt:DigitalSourceType" not in ne
    assert "XMP-lr:HierarchicalSubject" not in ne


def test_identity_alone_writes_nothing_else(read_back: dict[str, dict[str, Any]]) -> None:
    empty = read_back["IMG_0002.JPG.xmp"]
    written = {key for key in empty if key.startswith("XMP-")}
    assert written == {
        "XMP-x:XMPToolkit",
        "XMP-photoledger:AssetId",
        "XMP-photoledger:RecordName",
        "XMP-photoledger:IsFavorite",
        "XMP-photoledger:IsHidden",
        "XMP-photoledger:IsScreenshot",
    }


def test_hostile_captions_round_trip(tmp_path: Path, exiftool_config: Path) -> None:
    facts = [
        full_facts(
            title=text,
            description=text[::-1],
            keywords=(text, "plain"),
            album_paths=(f"Trips/{text}",),
        )
        for text in HOSTILE.values()
    ]
    tags = exiftool_read(exiftool_config, write_all(tmp_path, facts))
    for index, text in enumerate(HOSTILE.values()):
        row = tags[f"IMG_{index:04d}.JPG.xmp"]
        assert row["XMP-dc:Title"] == xml_text(text)
        assert row["XMP-dc:Description"] == xml_text(text[::-1])
        assert row["XMP-dc:Subject"] == sorted([xml_text(text), "plain"])
        album = clean_album_paths((f"Trips/{text}",))
        assert as_list(row["XMP-photoledger:Albums"]) == album
        assert as_list(row["XMP-lr:HierarchicalSubject"]) == [hierarchical_subject(album[0])]
    by_name = dict(zip(HOSTILE, range(len(HOSTILE)), strict=True))
    nfd = tags[f"IMG_{by_name['nfd']:04d}.JPG.xmp"]["XMP-dc:Title"]
    assert nfd == HOSTILE["nfd"] and nfd != unicodedata.normalize("NFC", nfd)
    assert tags[f"IMG_{by_name['lines']:04d}.JPG.xmp"]["XMP-dc:Title"] == HOSTILE["lines"]
    assert len(tags[f"IMG_{by_name['long']:04d}.JPG.xmp"]["XMP-dc:Title"]) == 10_240


def test_forbidden_characters_become_replacement_characters() -> None:
    data = render_xmp(full_facts(title=HOSTILE["controls"], keywords=("\x01",)))
    data.decode("utf-8")  # a lone surrogate would not even encode
    title = ET.fromstring(data).find(f".//{DC}title/{RDF}Alt/{RDF}li")
    assert title is not None
    assert (
        title.text
        == "bell\ufffd null\ufffd esc\ufffd ff\ufffd vt\ufffd \ufffd\ufffd lone\ufffd end"
    )
    assert title.get(XML_LANG) == "x-default"
    assert b"]]>" not in render_xmp(full_facts(title="a ]]> b"))


# -- determinism ---------------------------------------------------------------------------


def test_same_facts_same_bytes() -> None:
    one = render_xmp(full_facts())
    assert one == render_xmp(full_facts())
    shuffled = full_facts(
        keywords=("tower", "Holiday", "paris", "tower"),
        album_paths=("Family", "Trips/2021/Best of", "Trips/2021/Paris/"),
    )
    assert render_xmp(shuffled) == one
    assert one.startswith(b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n')
    assert one.endswith(b'<?xpacket end="w"?>\n')


def test_bytes_do_not_depend_on_the_process() -> None:
    """Set order changes with PYTHONHASHSEED; the sorted bags must not."""
    code = (
        "import hashlib, sys; from tests.unit.test_xmp_sidecar import full_facts;"
        "from engine.sidecar import render_xmp;"
        "print(hashlib.sha256(render_xmp(full_facts())).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env=os.environ | {"PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert digests == {hashlib.sha256(render_xmp(full_facts())).hexdigest()}


# -- properties ----------------------------------------------------------------------------

text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
texts = st.lists(text, max_size=4).map(tuple)
texts_facts = st.builds(
    SidecarFacts,
    asset_id=st.just("asset"),
    record_name=text.filter(bool),
    title=st.none() | text,
    description=st.none() | text,
    keywords=texts,
    album_paths=texts,
    captured_at_utc=st.none()
    | st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    timezone_offset_s=st.none() | st.integers(-14 * 3600, 14 * 3600),
)


def parsed_values(data: bytes) -> dict[str, Any]:
    """What a standard XML parser (expat) reads back from a packet."""
    root = ET.fromstring(data)

    def items(path: str) -> list[str | None]:
        return [li.text for li in root.findall(f".//{path}/{RDF}Bag/{RDF}li")]

    def alt(path: str) -> str | None:
        li = root.find(f".//{path}/{RDF}Alt/{RDF}li")
        return None if li is None else li.text

    record = root.find(f".//{PL}RecordName")
    return {
        "title": alt(f"{DC}title"),
        "description": alt(f"{DC}description"),
        "keywords": items(f"{DC}subject"),
        "albums": items(f"{PL}Albums"),
        "hierarchical": items(f"{LR}hierarchicalSubject"),
        "record": None if record is None else record.text,
    }


def expected_values(facts: SidecarFacts) -> dict[str, Any]:
    albums = clean_album_paths(facts.album_paths)
    return {
        "title": xml_text(facts.title or "") or None,
        "description": xml_text(facts.description or "") or None,
        "keywords": clean_keywords(facts.keywords),
        "albums": albums,
        "hierarchical": sorted({hierarchical_subject(path) for path in albums}),
        "record": xml_text(facts.record_name),
    }


@settings(max_examples=300, deadline=None)
@given(texts_facts)
def test_any_text_gives_a_well_formed_packet_that_reads_back(facts: SidecarFacts) -> None:
    data = render_xmp(facts)
    assert data == render_xmp(facts)
    assert parsed_values(data) == expected_values(facts)


def exiftool_mismatches(facts: SidecarFacts, row: dict[str, Any]) -> list[Any]:
    """Every text field exiftool read differently from what the sidecar should say."""
    want, found = expected_values(facts), []
    for field, key in (
        ("title", "XMP-dc:Title"),
        ("description", "XMP-dc:Description"),
        ("record", "XMP-photoledger:RecordName"),
    ):
        if (key in row) != (want[field] is not None) or (
            key in row and not same_text(want[field], row[key])
        ):
            found.append((field, want[field], row.get(key)))
    for field, key in (
        ("keywords", "XMP-dc:Subject"),
        ("albums", "XMP-photoledger:Albums"),
        ("hierarchical", "XMP-lr:HierarchicalSubject"),
    ):
        got = as_list(row.get(key, []))
        if len(got) != len(want[field]) or not all(map(same_text, want[field], got)):
            found.append((field, want[field], got))
    if facts.captured_at_utc is not None:
        stamp = xmp_date(facts.captured_at_utc, facts.timezone_offset_s)
        if row.get("XMP-xmp:CreateDate") != stamp.replace("-", ":", 2).replace("T", " "):
            found.append(("date", stamp, row.get("XMP-xmp:CreateDate")))
    return found


# No shrinking: every shrink step would run exiftool again (minutes); the failure message
# lists every mismatching field of the batch instead.
@settings(
    max_examples=4,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(st.lists(texts_facts, min_size=25, max_size=25))
def test_any_text_round_trips_through_exiftool(
    tmp_path: Path, exiftool_config: Path, batch: list[SidecarFacts]
) -> None:
    folder = tmp_path / f"batch-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    tags = exiftool_read(exiftool_config, write_all(folder, batch))
    mismatches = [
        (index, exiftool_mismatches(facts, tags[f"IMG_{index:04d}.JPG.xmp"]))
        for index, facts in enumerate(batch)
    ]
    assert [m for m in mismatches if m[1]] == []


def test_the_exiftool_config_declares_every_photoledger_tag() -> None:
    data = render_xmp(full_facts())
    tags = {e.tag.removeprefix(PL) for e in ET.fromstring(data).iter() if e.tag.startswith(PL)}
    assert tags == {"AssetId", "RecordName", "IsFavorite", "IsHidden", "IsScreenshot", "Albums"}
    assert all(f"    {tag} => {{" in EXIFTOOL_CONFIG for tag in tags)


# -- writing -------------------------------------------------------------------------------


def test_write_returns_the_sha256_and_replaces_the_old_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.JPG.xmp"
    old = render_xmp(full_facts(title="old"))
    assert write_sidecar(path, old) == hashlib.sha256(path.read_bytes()).hexdigest()
    new = render_xmp(full_facts(title="new"))
    assert write_sidecar(path, new) == hashlib.sha256(new).hexdigest()
    assert path.read_bytes() == new
    assert path.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001.JPG.xmp"]


@pytest.fixture
def old_sidecar(tmp_path: Path) -> Iterator[tuple[Path, bytes]]:
    folder = tmp_path / "2021" / "06"
    folder.mkdir(parents=True)
    (folder / "IMG_0001.JPG").write_bytes(b"original")
    path = folder / "IMG_0001.JPG.xmp"
    old = render_xmp(full_facts(title="before"))
    write_sidecar(path, old)
    yield path, old
    assert path.read_bytes() == old, "the old sidecar must survive a failed write"
    assert sorted(p.name for p in folder.iterdir()) == ["IMG_0001.JPG", "IMG_0001.JPG.xmp"]


def test_failed_rename_leaves_old_sidecar_and_no_temp(
    old_sidecar: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = old_sidecar
    tried: list[str] = []

    def failing_replace(source: Any, target: Any) -> None:
        tried.append(Path(source).name)
        raise OSError(errno.EIO, "injected rename failure")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="injected"):
        write_sidecar(path, render_xmp(full_facts(title="after")))
    # the temp it used is one the crash cleanup recognises, and never a photo's name
    (temp,) = tried
    assert is_temp_name(temp) and temp.startswith(".IMG_0001.JPG.xmp.")


def test_failed_fsync_leaves_old_sidecar_and_no_temp(
    old_sidecar: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(errno.ENOSPC, "injected: no space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="no space"):
        write_sidecar(old_sidecar[0], render_xmp(full_facts(title="after")))


def test_read_only_folder_leaves_old_sidecar(old_sidecar: tuple[Path, bytes]) -> None:
    path, _ = old_sidecar
    folder = path.parent
    if os.geteuid() != 0:
        folder.chmod(0o555)
        undo = ["chmod", "755", str(folder)]
    else:  # root ignores permission bits: make the folder a read-only bind mount
        mounted = subprocess.run(
            ["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True
        )
        if mounted.returncode != 0:
            pytest.skip("cannot bind-mount read-only here")
        undo = ["umount", str(folder)]
    try:
        with pytest.raises(OSError):
            write_sidecar(path, render_xmp(full_facts(title="after")))
    finally:
        subprocess.run(undo, check=True)


def test_full_disk_leaves_old_sidecar(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        path = disk / "IMG_0001.JPG.xmp"
        old = render_xmp(full_facts(title="before"))
        write_sidecar(path, old)
        with pytest.raises(OSError) as failure:
            write_sidecar(path, render_xmp(full_facts(title="x" * 200_000)))
        assert failure.value.errno == errno.ENOSPC
        assert path.read_bytes() == old
        assert [p.name for p in disk.iterdir()] == ["IMG_0001.JPG.xmp"]
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_killed_writers_temp_is_cleaned_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.JPG.xmp"
    (tmp_path / "IMG_0001.JPG").write_bytes(b"original")
    write_sidecar(path, render_xmp(full_facts()))
    # the name older versions gave their temp (mkstemp's random part in the middle)
    (tmp_path / ".IMG_0001.JPG.xmp.k3j_x9q2.tmp").write_bytes(b"<?xpacket half")
    assert remove_temp_files([tmp_path]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["IMG_0001.JPG", "IMG_0001.JPG.xmp"]
