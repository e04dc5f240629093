"""`photoledger init`: write a commented config and create the library's empty ledger.

Invariant: the use case (engine.library_init) never overwrites a config without --force, never
replaces an existing ledger, and marks the NAS folder only when it exists; this module only
turns options into its call and its result into lines. With an `accounts:` list, every
account's library is initialised (or the one --account names), each named in its lines.
"""

from __future__ import annotations

import click

from commands.context import Settings
from commands.output import console
from engine.library_init import InitResult, init_library, run_init
from engine.nas.access import NAS_MARKER_NAME, short_id


@click.command("init")
@click.option("--library-root", help="Folder for the local working copy (created if missing).")
@click.option("--username", help="Your Apple ID (e-mail).")
@click.option("--session-dir", help="Where the iCloud login session is kept [default: ./session].")
@click.option("--nas-root", help="The NAS folder for the archive copy (can be set later).")
@click.option("--force", is_flag=True, help="Replace an existing config file.")
@click.pass_obj
def command(
    settings: Settings,
    library_root: str | None,
    username: str | None,
    session_dir: str | None,
    nas_root: str | None,
    force: bool,
) -> None:
    """Write a commented config file and create the library's empty ledger.

    With --library-root and --username, writes the config (--config, default
    ./photoledger.yaml) with every setting explained. With an existing config, creates the
    state folder and ledger it names (every account's, with an `accounts:` list). Safe to run
    twice: nothing recorded is ever replaced.
    """
    if library_root is None and username is None and settings.config_path.exists():
        configs = settings.load_accounts()
        if configs[0].account is not None:
            for config in configs:
                console.print(f"account {config.account}:", markup=False)
                _print_result(init_library(config, settings.crash, clock=settings.clock),
                              f"photoledger --account {config.account} status")
            return
    result = run_init(
        settings.config_path,
        settings.crash,
        library_root=library_root,
        username=username,
        session_dir=session_dir,
        nas_root=nas_root,
        is_forced=force,
    )
    _print_result(result)


def _print_result(result: InitResult, status: str = "photoledger status") -> None:
    if result.is_config_written:
        console.print(f"wrote {result.config_path} (read it: every setting is explained)")
    state = "created" if result.is_ledger_created else "already there"
    console.print(f"library {result.library_root}: ledger {result.ledger_location} {state}")
    if result.nas_marker == "folder missing":
        console.print(
            f"NAS folder {result.nas_root} does not exist: mount the share (or create the "
            "folder) and run `photoledger init` again to mark it"
        )
    elif result.nas_root is not None:
        console.print(
            f"NAS {result.nas_root}: marker {NAS_MARKER_NAME} {result.nas_marker} "
            f"(NAS id {short_id(result.nas_id)})"
        )
    console.print(f"next: `{status}`", markup=False)
