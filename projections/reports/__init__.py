"""Reports: named SQL files run against the DuckDB reports file (see `store`).

Invariants:
- Each report is one `<name>.sql` file in this package; the file holds one or more sections,
  each introduced by a line `-- section: <name>` and made of one SELECT. Nothing else in the
  code base writes report SQL, so a report can be read, changed and reviewed in one place.
- A report's JSON shape is `{"report", "schema_version", "ledger_position", "sections"}` with
  every section a list of rows keyed by column name; columns only ever get added.
- Queries only read; a section may use the named parameter `$now` (UTC, naive).
- Column names are the stable keys (JSON, CSV headers); people read `label(column)` (tables,
  charts). A byte count is a column whose name says `bytes` or a running `_total` of bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb

SCHEMA_VERSION = 1
REPORT_NAMES = ("savings", "backlog", "failures")
_SECTION = re.compile(r"^--\s*section:\s*([a-z_]+)\s*$", re.M)


@dataclass(frozen=True)
class Section:
    """One query's result: column names and rows in order."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts with JSON-friendly values."""
        return [dict(zip(self.columns, map(plain, row), strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Report:
    """A named report: its sections in file order."""

    name: str
    ledger_position: int
    sections: dict[str, Section] = field(default_factory=dict)
    as_of_utc: datetime | None = None  # the `now` the report was run with

    def as_json(self) -> dict[str, Any]:
        """The stable JSON document for scripts."""
        return {
            "report": self.name,
            "schema_version": SCHEMA_VERSION,
            "ledger_position": self.ledger_position,
            "sections": {name: s.records() for name, s in self.sections.items()},
        }

    def only(self, section: str) -> Report:
        """The report with one section (KeyError naming the sections it has)."""
        if section not in self.sections:
            raise KeyError(f"report {self.name} has no section {section!r} "
                           f"(it has {', '.join(self.sections)})")
        return Report(self.name, self.ledger_position, {section: self.sections[section]},
                      self.as_of_utc)


def csv_rows(section: Section) -> list[list[Any]]:
    """One section as a CSV table: its column names, then its rows (None as "")."""
    return [list(section.columns), *(
        ["" if record[c] is None else record[c] for c in section.columns]
        for record in section.records()
    )]


_LABELS = {
    "asset_id": "asset", "record_name": "iCloud record", "filename": "file",
    "local_relpath": "library path", "quarantine_reason": "quarantined for",
    "missing_resources": "missing resources", "last_error_at_utc": "last error at (UTC)",
    "waiting_bytes": "size waiting", "oldest_captured_at_utc": "oldest capture (UTC)",
    "oldest_filename": "oldest file", "size_bytes": "size", "compressed_assets": "compressed",
    "bytes_before": "size before", "bytes_after": "size after",
    "compression_saved_bytes": "saved by compression", "deleted_from_icloud":
    "deleted from iCloud", "icloud_freed_bytes": "freed in iCloud",
    "recoverable_assets": "in Recently Deleted", "recoverable_bytes":
    "size in Recently Deleted", "recoverable_until_utc": "Recently Deleted until (UTC)",
    "freed_for_good_bytes": "freed for good", "local_bytes": "in the library",
    "nas_bytes": "on the NAS", "outbox_staged_bytes": "staged for the Pixel",
    "icloud_bytes": "in iCloud now", "saved_bytes": "saved", "year": "capture year",
    "compression_saved_total": "saved by compression (running total)",
    "icloud_freed_total": "freed in iCloud (running total)",
}


def label(column: str) -> str:
    """The header people read for `column`."""
    if column in _LABELS:
        return _LABELS[column]
    text = column.replace("_", " ")
    return text[:-4] + " (UTC)" if text.endswith(" utc") else text


def is_bytes(column: str) -> bool:
    """The column holds a byte count (shown human-readable)."""
    return "bytes" in column or column.endswith("_total")


def plain(value: Any) -> Any:
    """A DuckDB value as JSON-friendly data (ISO text for times, int for whole decimals)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def load_sections(name: str) -> dict[str, str]:
    """The sections of report `name` (section name -> SQL), in file order."""
    if name not in REPORT_NAMES:
        raise KeyError(f"no report named {name!r}")
    text = resources.files(__package__).joinpath(f"{name}.sql").read_text("utf-8")
    parts = _SECTION.split(text)
    return {parts[i]: parts[i + 1].strip().rstrip(";") for i in range(1, len(parts), 2)}


def run_report_file(path: Path, name: str, now: datetime) -> Report:
    """Open the reports file read-only and run report `name` on it."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return run_report(con, name, now)
    finally:
        con.close()


def run_report(con: duckdb.DuckDBPyConnection, name: str, now: datetime) -> Report:
    """Run every section of report `name` on an open reports database."""
    position = con.execute("SELECT projection_position FROM report_meta").fetchone()
    report = Report(name, int(position[0]) if position else 0, as_of_utc=now)
    params = {"now": now.replace(tzinfo=None)}
    for section, sql in load_sections(name).items():
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        cursor = con.execute(sql, used)
        columns = tuple(d[0] for d in cursor.description or ())
        report.sections[section] = Section(columns, cursor.fetchall())
    return report
