"""`photoledger albums`: every iCloud album and folder the ledger knows, with asset counts.

Invariants:
- Read-only: the projection is caught up, nothing is recorded or sent to iCloud.
- What is shown is what `discover` recorded (AlbumSeen, AlbumRemoved, the assets' albums):
  run `discover` first for iCloud's latest. Removed albums are left out.
- Counts are of assets still in iCloud; a folder counts each asset of the albums below it once.
"""

from __future__ import annotations

from dataclasses import asdict

import click
from rich.table import Table
from rich.text import Text

from commands.context import Settings
from commands.output import console, print_json
from engine.services import open_reader
from projections.albums import album_listing


@click.command("albums")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def command(settings: Settings, as_json: bool) -> None:
    """List iCloud's albums and folders with their folder paths and asset counts.

    Paths join folder names with "/" (a "/" inside a name shows as U+2215). These are the paths
    written into each photo's XMP sidecar (lr:hierarchicalSubject, photoledger:Albums).
    This is the ledger's view, read offline (what the last `discover` recorded); `photoledger
    list albums` asks iCloud now instead, with smart folders and iCloud's own counts.
    """
    with open_reader(settings.load_config(), settings) as services:
        listing = album_listing(services.projection)
    if as_json:
        print_json({"albums": [asdict(a) for a in listing]})
        return
    if not listing:
        console.print("no albums recorded (run `photoledger discover`)")
        return
    table = Table("path", "kind", "assets", "album id", title="iCloud albums")
    for album in listing:
        kind = "folder" if album.is_folder else "album"
        table.add_row(Text(album.path), kind, str(album.asset_count), album.album_id)
    console.print(table)
