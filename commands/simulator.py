"""`photoledger simulator`: a local iCloud with a generated library, served until Ctrl-C.

Invariants:
- It needs no config file and touches no library (simulator.serve serves HTTP on 127.0.0.1).
- Ctrl-C is the normal way out and exits 0 (the server is stopped first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

from commands.output import console
from simulator.icloud.accounts import TwoFactorMode
from simulator.icloud.server import DEFAULT_URL_TTL_S
from simulator.serve import SimulatorOptions, run_simulator


@click.command("simulator")
@click.option("--assets", type=click.IntRange(min=0), default=100, show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="0 picks a free port.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--content", type=click.Choice(["fast", "real"]), default="fast", show_default=True)
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0, show_default=True)
@click.option("--bandwidth-mbps", type=click.FloatRange(min=0), default=None)
@click.option(
    "--two-factor", type=click.Choice(["none", "device", "sms"]), default="none", show_default=True
)
@click.option("--url-ttl-s", type=click.FloatRange(min=1), default=DEFAULT_URL_TTL_S)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where --content real keeps encoded media (default: a folder in the temp dir).",
)
@click.option(
    "--shared-library", type=click.Choice(["owner", "participant", "none"]), default="owner",
    show_default=True,
    help="The iOS 16+ Shared Library (a SharedSync-<UUID> zone): owned by this account "
    "(listed in the private database), joined as a participant (the shared database, another "
    "owner), or none.",
)
@click.option("--shared-assets", type=click.IntRange(min=0), default=3, show_default=True,
              help="Assets in the Shared Library.")
@click.option("--accounts", type=click.IntRange(1, 9), default=1, show_default=True,
              help="Apple IDs to serve: the 2nd and later (demo2@photoledger.test, ...) have "
              "their own password and library (the next seeds); for an `accounts:` config.")
def command(
    assets: int,
    port: int,
    seed: int,
    content: Literal["fast", "real"],
    latency_ms: float,
    bandwidth_mbps: float | None,
    two_factor: TwoFactorMode,
    url_ttl_s: float,
    cache_dir: Path | None,
    accounts: int,
    shared_library: Literal["owner", "participant", "none"],
    shared_assets: int,
) -> None:
    """Serve a local iCloud (login, Photos, downloads) with a generated library.

    Point photoledger at it with the printed PHOTOLEDGER_ICLOUD_ENDPOINT line.
    """
    options = SimulatorOptions(
        assets,
        port,
        seed,
        content,
        latency_ms,
        bandwidth_mbps,
        two_factor,
        url_ttl_s,
        cache_dir=cache_dir,
        accounts=accounts,
        shared_library=shared_library,
        shared_assets=shared_assets,
    )
    run_simulator(options, lambda line: console.print(line, markup=False, highlight=False))

