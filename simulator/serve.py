"""A local iCloud with a generated library, built from plain options and served over HTTP.

The building blocks of `photoledger simulator` and `photoledger demo`.

Invariants:
- It needs no config file and touches no library: it only serves HTTP on 127.0.0.1.
- Ctrl-C is the normal way out of `run_simulator` and returns 0 (the server is stopped first).
- Everything a client needs (endpoint, username, password, how to get a 2FA code) is emitted
  before the first request can arrive.
- `accounts` > 1 serves more Apple IDs (demo2@..., demo3@...), each with its own password
  and its own library generated from the next seed (so no record, asset or file is shared).
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from simulator.icloud.accounts import SimAccount, TwoFactorMode
from simulator.icloud.contract import PhotoDatabase
from simulator.icloud.faults import Faults, FaultSettings
from simulator.icloud.server import DEFAULT_URL_TTL_S, SimulatorServer

DEFAULT_USERNAME = "demo@photoledger.test"
DEFAULT_PASSWORD = "photoledger-simulator"


@dataclass(frozen=True)
class SimulatorOptions:
    assets: int = 100
    port: int = 0
    seed: int = 1
    content: Literal["fast", "real"] = "fast"
    latency_ms: float = 0.0
    bandwidth_mbps: float | None = None
    two_factor: TwoFactorMode = "none"
    url_ttl_s: float = DEFAULT_URL_TTL_S
    username: str = DEFAULT_USERNAME
    password: str = DEFAULT_PASSWORD
    cache_dir: Path | None = None  # where --content real keeps its encoded media
    accounts: int = 1  # Apple IDs served; the 2nd and later: extra_account_options
    shared_library: Literal["owner", "participant", "none"] = "owner"
    shared_assets: int = 3


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "photoledger-simulator-cache"


def generate_database(options: SimulatorOptions) -> PhotoDatabase:
    from simulator.icloud.generator import GeneratorSpec, generate_library

    cache_dir = (options.cache_dir or default_cache_dir()) if options.content == "real" else None
    spec = GeneratorSpec(
        assets=options.assets, seed=options.seed, content=options.content, cache_dir=cache_dir,
        shared_library=options.shared_library, shared_assets=options.shared_assets,
    )
    database: PhotoDatabase = generate_library(spec)
    return database


def build_server(options: SimulatorOptions, database: PhotoDatabase) -> SimulatorServer:
    account = SimAccount(
        options.username, options.password, database, two_factor=options.two_factor
    )
    bandwidth = options.bandwidth_mbps * 1_000_000 / 8 if options.bandwidth_mbps else None
    faults = Faults(
        FaultSettings(latency_s=options.latency_ms / 1000, bandwidth_bytes_per_s=bandwidth)
    )
    return SimulatorServer([account], options.port, options.url_ttl_s, faults)


def describe(server: SimulatorServer, options: SimulatorOptions) -> list[str]:
    lines = [
        f"iCloud simulator on {server.base_url} ({options.assets} assets, seed {options.seed}; "
        f"Shared Library: {_shared_line(options)})",
        f"username: {options.username}",
        f"password: {options.password}",
        f"PHOTOLEDGER_ICLOUD_ENDPOINT={server.base_url}",
    ]
    if options.two_factor != "none":
        lines.append(
            f"2FA ({options.two_factor}): the code is at "
            f"{server.base_url}/_sim/code?username={options.username}"
        )
    lines.append("Ctrl-C stops it.")
    return lines


def _shared_line(options: SimulatorOptions) -> str:
    if options.shared_library == "none":
        return "none"
    where = "joined, shared database" if options.shared_library == "participant" else "owned"
    return f"{options.shared_assets} assets, {where}"


def run_simulator(
    options: SimulatorOptions,
    emit: Callable[[str], None],
    stop: threading.Event | None = None,
    database_factory: Callable[[SimulatorOptions], PhotoDatabase] = generate_database,
) -> int:
    """Serve until `stop` is set or Ctrl-C; returns the exit code (0)."""
    server = build_server(options, database_factory(options))
    extras = extra_account_options(options)
    for extra in extras:
        server.add_account(SimAccount(extra.username, extra.password, database_factory(extra),
                                      two_factor=extra.two_factor))
    stop = stop or threading.Event()
    with server:
        for line in describe(server, options):
            emit(line)
        for extra in extras:
            emit(f"also: username {extra.username}, password {extra.password} "
                 f"({extra.assets} assets, seed {extra.seed})")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            emit("stopping")
    return 0


def extra_account_options(options: SimulatorOptions) -> list[SimulatorOptions]:
    """The options of the 2nd and later accounts: own username, password and seed."""
    local, _, domain = DEFAULT_USERNAME.partition("@")
    return [dataclasses.replace(options, username=f"{local}{n}@{domain}",
                                password=f"{DEFAULT_PASSWORD}-{n}", seed=options.seed + n - 1,
                                accounts=1)
            for n in range(2, options.accounts + 1)]
