"""`photoledger list libraries|albums`: what iCloud holds now, asked live (icloudpd's
--list-libraries and --list-albums).

Invariants:
- Read-only and ledger-free: no lock, no run, nothing recorded; only iCloud is asked (through
  engine.library_listing), so it works before the first discover and shows iCloud's present.
  `photoledger albums` is the ledger's view instead (what discover recorded, offline).
- Tables go to stdout (JSON with --json); a wrong --library is one error line, exit 3.
"""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.table import Table
from rich.text import Text

from commands.context import Settings
from commands.options import library_option, with_library_flag
from commands.output import console, print_json
from engine.library_listing import list_albums, list_libraries
from engine.services import open_icloud


@click.group("list")
def command() -> None:
    """Ask iCloud (live) which libraries and albums it holds, with their asset counts."""


@command.command("libraries")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def libraries_command(settings: Settings, as_json: bool) -> None:
    """The personal library and every Shared Library (iOS 16+), with ids and asset counts.

    A name or an id shown here is what `icloud.library` and `--library` take ("all" takes
    every one). A Shared Library you joined lists as "joined" (it lives in the shared
    database). Counts leave out hidden and recently deleted assets, as Photos does.
    """
    config = settings.load_config()
    with open_icloud(config) as port:
        rows = list_libraries(port)
    if as_json:
        print_json({"libraries": [asdict(r) for r in rows]})
        return
    table = Table("name", "id", "whose", "assets", title="iCloud Photos libraries")
    table.columns[1].min_width = max((len(r.zone) for r in rows), default=2)
    for row in rows:
        whose = "joined" if row.database == "shared" else "yours"
        table.add_row(Text(row.name), Text(row.zone), whose, str(row.assets))
    console.print(table)


@command.command("albums")
@library_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def albums_command(settings: Settings, libraries: tuple[str, ...], as_json: bool) -> None:
    """Smart folders, user albums and folders of the library, with asset counts, from iCloud.

    Unlike `photoledger albums` (what the last discover recorded, read offline from the
    ledger), this asks iCloud now, as icloudpd's --list-albums does. Paths join folder names
    with "/". A Shared Library has no user albums: only its Library and Favorites are listed.
    The library is `icloud.library` unless --library names others.
    """
    config = with_library_flag(settings.load_config(), libraries)
    with open_icloud(config) as port:
        rows = list_albums(config, port)
    if as_json:
        print_json({"albums": [asdict(r) for r in rows]})
        return
    table = Table("library", "path", "kind", "assets", title="iCloud albums (live)")
    for row in rows:
        count = "-" if row.assets is None else str(row.assets)
        table.add_row(Text(row.library_name), Text(row.path), row.kind, count)
    console.print(table)
