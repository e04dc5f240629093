"""XMP sidecars: the metadata iCloud holds about an asset, written down beside each copy.

After an asset is deleted from iCloud its caption, keywords, favourite flag, albums and place
exist nowhere else, so a sidecar `<media>.xmp` (icloudpd's name, e.g. `IMG_0001.JPG.xmp`) is
written beside the library copy and the NAS copy. Originals are never touched.

Invariants:
- `render_xmp` is pure and deterministic: the same facts give the same bytes. Bags (keywords,
  albums) are de-duplicated and sorted; there is no timestamp, host or version in the packet.
  A sidecar's sha256 can therefore be evidence (DESIGN §5 (b)) and a re-render is a no-op.
- The packet is well-formed XML 1.0 in UTF-8 whatever the text: ElementTree escapes `&<>`, a
  carriage return is written as `&#13;` (a raw one would be read back as a line feed), and
  every character XML 1.0 cannot carry (C0 controls other than tab, LF and CR, lone
  surrogates, U+FFFE, U+FFFF) is replaced by U+FFFD. Replacing rather than removing keeps the
  reader aware that something was there and never glues two words together. Text is not
  Unicode-normalised: NFD stays NFD. Empty text is left out, as None is.
- Mapping (see SidecarFacts): the capture instant in its own zone goes to exif:DateTimeOriginal,
  xmp:CreateDate and photoshop:DateCreated; without a zone offset it is written in UTC (`Z`).
  A favourite gets xmp:Rating 5; other assets get no Rating. Unlike icloudpd, a hidden asset
  does not get -1 ("rejected"), because other tools offer to delete rejected photos; hidden,
  favourite and screenshot are written as explicit True/False in the photoledger namespace.
  A screenshot is marked with IPTC's standard Iptc4xmpExt:DigitalSourceType `screenCapture`
  URI, not icloudpd's tiff:Make=Screenshot, which tools that merge sidecars would take for the
  camera maker. Keywords go to dc:subject only; albums go to lr:hierarchicalSubject
  ("Trips|2021|Paris") and, verbatim, to photoledger:Albums. Album names never enter
  dc:subject, so a keyword and an album of the same name stay distinguishable.
- `write_sidecar` writes through engine.placement (tag "sidecar"): a hidden temp file in the
  same folder (a name engine.tempfiles removes after a crash, and never a photo's name, since
  photo names never start with a dot), fsync, rename, fsync the folder. A failure leaves the
  previous sidecar intact and no temp file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

from engine.placement import place_bytes

SIDECAR_SUFFIX = ".xmp"
PHOTOLEDGER_NS = "https://photoledger.invalid/ns/1.0/"
SCREEN_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/screenCapture"
FAVORITE_RATING = 5
MAX_OFFSET_S = 18 * 3600  # ISO 8601 / XMP zone designators stop at +-18:00
GPS_MINUTE_DIGITS = 6  # 1e-6 arc minute is under 2 cm: far below the 1e-6 degree we promise
ALTITUDE_DENOMINATOR = 1000  # millimetres

NAMESPACES = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "exif": "http://ns.adobe.com/exif/1.0/",
    "tiff": "http://ns.adobe.com/tiff/1.0/",
    "photoshop": "http://ns.adobe.com/photoshop/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "Iptc4xmpExt": "http://iptc.org/std/Iptc4xmpExt/2008-02-29/",
    "photoledger": PHOTOLEDGER_NS,
}
# exiftool guesses a type for a tag it does not know ("1/2" reads back as 0.5, "0/0" as
# "undef"); this config declares photoledger's tags. Save it and run `exiftool -config FILE`.
EXIFTOOL_CONFIG = f"""\
%Image::ExifTool::UserDefined = (
    'Image::ExifTool::XMP::Main' => {{
        photoledger => {{ SubDirectory => {{
            TagTable => 'Image::ExifTool::UserDefined::photoledger' }} }},
    }},
);
%Image::ExifTool::UserDefined::photoledger = (
    GROUPS => {{ 0 => 'XMP', 1 => 'XMP-photoledger', 2 => 'Image' }},
    NAMESPACE => {{ 'photoledger' => '{PHOTOLEDGER_NS}' }},
    WRITABLE => 'string',
    AssetId => {{ }},
    RecordName => {{ }},
    IsFavorite => {{ Writable => 'boolean' }},
    IsHidden => {{ Writable => 'boolean' }},
    IsScreenshot => {{ Writable => 'boolean' }},
    Albums => {{ List => 'Bag' }},
);
1;
"""
_DESCRIPTION_NAMESPACES = [prefix for prefix in NAMESPACES if prefix not in {"x", "rdf"}]
_PACKET_HEAD = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
_PACKET_TAIL = '\n<?xpacket end="w"?>\n'
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, slots=True, kw_only=True)
class SidecarFacts:
    """What a sidecar records about one asset, as iCloud states it (text is kept raw here;
    the renderer makes it XML-safe). Invalid numbers raise ValueError on construction."""

    asset_id: str  # photoledger's aggregate id -> photoledger:AssetId
    record_name: str  # iCloud CPLAsset record name -> photoledger:RecordName
    captured_at_utc: datetime | None = None  # aware; the capture instant
    timezone_offset_s: int | None = None  # seconds east of UTC where it was taken
    title: str | None = None  # -> dc:title
    description: str | None = None  # -> dc:description
    keywords: tuple[str, ...] = ()  # -> dc:subject
    latitude_deg: float | None = None  # WGS84, north positive
    longitude_deg: float | None = None  # WGS84, east positive
    altitude_m: float | None = None  # metres above sea level (negative below)
    orientation: int | None = None  # EXIF orientation code 1..8 -> tiff:Orientation
    is_favorite: bool = False
    is_hidden: bool = False
    is_screenshot: bool = False
    album_paths: tuple[str, ...] = ()  # "Trips/2021/Paris": folders then album

    def __post_init__(self) -> None:
        if not self.asset_id or not self.record_name:
            raise ValueError("a sidecar needs the asset id and the record name")
        if self.captured_at_utc is not None and self.captured_at_utc.utcoffset() is None:
            raise ValueError("captured_at_utc must be timezone-aware")
        offset = self.timezone_offset_s
        if offset is not None and abs(offset) > MAX_OFFSET_S:
            raise ValueError(f"timezone_offset_s {offset} is beyond +-18 h")
        if self.orientation is not None and not 1 <= self.orientation <= 8:
            raise ValueError(f"orientation {self.orientation} is not an EXIF code 1..8")
        _check_position(self.latitude_deg, self.longitude_deg, self.altitude_m)
        for name in ("keywords", "album_paths"):
            if not isinstance(getattr(self, name), tuple):
                raise ValueError(f"{name} must be a tuple of str")


def _check_position(lat: float | None, lon: float | None, alt: float | None) -> None:
    if (lat is None) != (lon is None):
        raise ValueError("latitude and longitude come together or not at all")
    if lat is not None and lon is not None and not (abs(lat) <= 90 and abs(lon) <= 180):
        raise ValueError(f"({lat}, {lon}) is not a WGS84 position")
    if alt is not None and not math.isfinite(alt):
        raise ValueError(f"altitude {alt} is not a finite number of metres")


def sidecar_name(media_relpath: str) -> str:
    """The sidecar's relative path for a media file's: `2021/06/05/IMG_0001.JPG.xmp`."""
    if not media_relpath or media_relpath.endswith("/"):
        raise ValueError(f"{media_relpath!r} is not a file's relative path")
    return media_relpath + SIDECAR_SUFFIX


def write_sidecar(
    path: Path, data: bytes, before_replace: Callable[[], None] | None = None
) -> str:
    """Write a rendered sidecar atomically and durably; returns the sha256 hex of `data`."""
    return place_bytes(path, data, tag="sidecar", before_rename=before_replace).sha256


def xml_text(text: str) -> str:
    """`text` with every character XML 1.0 cannot carry replaced by U+FFFD."""
    return _XML_FORBIDDEN.sub("\ufffd", text)


def render_xmp(facts: SidecarFacts) -> bytes:
    """The complete XMP packet for `facts`, UTF-8 encoded; same facts, same bytes."""
    meta = ET.Element("x:xmpmeta", {"xmlns:x": NAMESPACES["x"], "x:xmptk": "photoledger"})
    rdf = ET.SubElement(meta, "rdf:RDF", {"xmlns:rdf": NAMESPACES["rdf"]})
    about = {"rdf:about": ""}
    about |= {f"xmlns:{prefix}": NAMESPACES[prefix] for prefix in _DESCRIPTION_NAMESPACES}
    description = ET.SubElement(rdf, "rdf:Description", about)
    _add_identity_and_flags(description, facts)
    _add_capture_date(description, facts)
    _add_texts(description, facts)
    _add_position(description, facts)
    _add_albums(description, facts.album_paths)
    ET.indent(meta, space=" ")
    body = ET.tostring(meta, encoding="unicode")
    # Every CR left in the body comes from a text value (ElementTree already writes CR in
    # attributes as &#13;, and indentation uses LF only); a raw CR would read back as LF.
    body = body.replace("\r", "&#13;")
    return (_PACKET_HEAD + body + _PACKET_TAIL).encode("utf-8")


def _simple(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, name).text = value


def _bag(parent: ET.Element, name: str, items: list[str]) -> None:
    if not items:
        return
    bag = ET.SubElement(ET.SubElement(parent, name), "rdf:Bag")
    for item in items:
        ET.SubElement(bag, "rdf:li").text = item


def _lang_alt(parent: ET.Element, name: str, text: str | None) -> None:
    clean = xml_text(text or "")
    if not clean:
        return
    alt = ET.SubElement(ET.SubElement(parent, name), "rdf:Alt")
    ET.SubElement(alt, "rdf:li", {"xml:lang": "x-default"}).text = clean


def _flag(value: bool) -> str:
    return "True" if value else "False"  # XMP Boolean spelling


def _add_identity_and_flags(parent: ET.Element, facts: SidecarFacts) -> None:
    _simple(parent, "photoledger:AssetId", xml_text(facts.asset_id))
    _simple(parent, "photoledger:RecordName", xml_text(facts.record_name))
    _simple(parent, "photoledger:IsFavorite", _flag(facts.is_favorite))
    _simple(parent, "photoledger:IsHidden", _flag(facts.is_hidden))
    _simple(parent, "photoledger:IsScreenshot", _flag(facts.is_screenshot))
    if facts.is_favorite:
        _simple(parent, "xmp:Rating", str(FAVORITE_RATING))
    if facts.is_screenshot:
        _simple(parent, "Iptc4xmpExt:DigitalSourceType", SCREEN_CAPTURE)
    if facts.orientation is not None:
        _simple(parent, "tiff:Orientation", str(facts.orientation))


def _add_capture_date(parent: ET.Element, facts: SidecarFacts) -> None:
    if facts.captured_at_utc is None:
        return
    stamp = xmp_date(facts.captured_at_utc, facts.timezone_offset_s)
    for name in ("exif:DateTimeOriginal", "xmp:CreateDate", "photoshop:DateCreated"):
        _simple(parent, name, stamp)


def xmp_date(instant: datetime, offset_s: int | None) -> str:
    """`instant` as local time with its zone, e.g. 2021-06-05T14:03:22+02:00. An offset that
    is not whole minutes is rounded to the minute (XMP cannot say seconds) and the wall clock
    follows it, so the instant stays exact; no offset gives UTC with `Z`."""
    utc = instant.astimezone(UTC).replace(tzinfo=None)
    if offset_s is None:
        local, zone = utc, "Z"
    else:
        minutes = round(offset_s / 60)
        local = utc + timedelta(minutes=minutes)
        hours, rest = divmod(abs(minutes), 60)
        zone = f"{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d}"
    if not local.microsecond:
        spec = "seconds"
    else:
        spec = "milliseconds" if local.microsecond % 1000 == 0 else "microseconds"
    return local.isoformat(timespec=spec) + zone


def _add_texts(parent: ET.Element, facts: SidecarFacts) -> None:
    _lang_alt(parent, "dc:title", facts.title)
    _lang_alt(parent, "dc:description", facts.description)
    _bag(parent, "dc:subject", clean_keywords(facts.keywords))


def clean_keywords(keywords: tuple[str, ...]) -> list[str]:
    """The dc:subject bag: XML-safe, without empty entries or duplicates, sorted."""
    return sorted({clean for keyword in keywords if (clean := xml_text(keyword))})


def _add_position(parent: ET.Element, facts: SidecarFacts) -> None:
    if facts.latitude_deg is not None and facts.longitude_deg is not None:
        _simple(parent, "exif:GPSLatitude", gps_coordinate(facts.latitude_deg, "N", "S"))
        _simple(parent, "exif:GPSLongitude", gps_coordinate(facts.longitude_deg, "E", "W"))
    if facts.altitude_m is not None:
        millimetres = round(abs(facts.altitude_m) * ALTITUDE_DENOMINATOR)
        _simple(parent, "exif:GPSAltitude", f"{millimetres}/{ALTITUDE_DENOMINATOR}")
        _simple(parent, "exif:GPSAltitudeRef", "1" if facts.altitude_m < 0 else "0")


def gps_coordinate(value_deg: float, positive: str, negative: str) -> str:
    """XMP's GPSCoordinate form `DDD,MM.mmmmmmR`, e.g. 48,51.502200N. Whole micro-minutes
    are counted in integers so a rounding carry can never print 60 minutes."""
    unit = 10**GPS_MINUTE_DIGITS
    micro_minutes = round(abs(value_deg) * 60 * unit)
    degrees, rest = divmod(micro_minutes, 60 * unit)
    minutes, fraction = divmod(rest, unit)
    ref = negative if value_deg < 0 else positive
    return f"{degrees},{minutes:02d}.{fraction:0{GPS_MINUTE_DIGITS}d}{ref}"


def _add_albums(parent: ET.Element, album_paths: tuple[str, ...]) -> None:
    paths = clean_album_paths(album_paths)
    _bag(parent, "lr:hierarchicalSubject", sorted({hierarchical_subject(p) for p in paths}))
    _bag(parent, "photoledger:Albums", paths)


def clean_album_paths(album_paths: tuple[str, ...]) -> list[str]:
    """Album paths XML-safe, with empty components dropped ("/a//b/" is "a/b"), sorted."""
    cleaned = set()
    for path in album_paths:
        parts = [part for part in xml_text(path).split("/") if part]
        if parts:
            cleaned.add("/".join(parts))
    return sorted(cleaned)


def hierarchical_subject(album_path: str) -> str:
    """Lightroom's form of an album path: "Trips/2021/Paris" -> "Trips|2021|Paris". A `|`
    inside a name would split it (Lightroom has no escape), so it becomes U+00A6 here; the
    verbatim path stays in photoledger:Albums."""
    return "|".join(part.replace("|", "\u00a6") for part in album_path.split("/"))
