"""`photoledger demo`: the main job end to end against the built-in iCloud simulator.

Invariant: the demo (simulator.demo) writes nothing outside its folder and contacts no real
Apple host; every stage runs as the real `photoledger` CLI in a subprocess.
"""

from __future__ import annotations

from pathlib import Path

import click

from commands.context import Settings
from commands.output import console
from simulator.demo import DemoOptions, run_demo


@click.command("demo")
@click.option("--dir", "folder", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo"), show_default=True, help="Where the demo library goes.")
@click.option("--assets", type=click.IntRange(1, 500), default=30, show_default=True,
              help="How many assets the simulated iCloud holds.")
@click.pass_obj
def command(settings: Settings, folder: Path, assets: int) -> None:
    """Run the pipeline against the built-in iCloud simulator and real backups, then status.

    discover, download, backup-nas (into DIR/nas), backup-google (through two real Syncthing
    instances on loopback, one standing for the Pixel), compress, album-move, delete plan and
    delete execute run as real subprocesses; status then shows the iCloud space freed.
    The simulator holds real JPEG, HEIC, live-photo, RAW+JPEG and video files (with hostile
    names, duplicates and an undecodable record among them); nothing real is contacted.
    """
    code = run_demo(DemoOptions(folder=folder, assets=assets), settings.crash,
                    lambda line: console.print(line, markup=False))
    if code != 0:
        raise SystemExit(code)
