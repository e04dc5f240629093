"""Reports: named SQL files run against the DuckDB reports file (see `store`).

Invariants:
- Each report is one `<name>.sql` file in this package; the file holds one or more sections,
  each introduced by a line `-- section: <name>` and made of one SELECT. Nothing else in the
  code base writes report SQL, so a report can be read, changed and reviewed in one place.
- A report's JSON shape is `{"report", "schema_version", "ledger_position", "sections"}` with
  every section a list of rows keyed by column name; columns only ever get added.
- Queries only read; a section may use the named parameter `$now` (UTC, naive).
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

    def as_json(self) -> dict[str, Any]:
        """The stable JSON document for scripts."""
        return {
            "report": self.name,
            "schema_version": SCHEMA_VERSION,
            "ledger_position": self.ledger_position,
            "sections": {name: s.records() for name, s in self.sections.items()},
        }

    def csv_rows(self) -> list[list[Any]]:
        """Every section in one table: a header `section` + the union of columns in order,
        then one row per record with its section's name first (None as "")."""
        columns: list[str] = []
        for section in self.sections.values():
            columns += [c for c in section.columns if c not in columns]
        rows: list[list[Any]] = [["section", *columns]]
        for name, section in self.sections.items():
            for record in section.records():
                rows.append([name, *("" if record.get(c) is None else record[c] for c in columns)])
        return rows


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
    report = Report(name, int(position[0]) if position else 0)
    params = {"now": now.replace(tzinfo=None)}
    for section, sql in load_sections(name).items():
        used = {k: v for k, v in params.items() if f"${k}" in sql}
        cursor = con.execute(sql, used)
        columns = tuple(d[0] for d in cursor.description or ())
        report.sections[section] = Section(columns, cursor.fetchall())
    return report
