"""Serve a generated library from its own process, so a measured client never shares its memory.

Usage: python -m tests.scenarios.serve_library --assets N [--size-scale S] [--seed K]

Invariants:
- The first line on stdout is `port <number>`, printed only once the server accepts requests;
  nothing else is printed on stdout.
- The account is tests.sim's USERNAME / PASSWORD, without 2FA.
- The server runs until stdin closes (the parent exited or closed the pipe) or SIGTERM, then
  stops cleanly; it never outlives a parent that has gone.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from simulator.icloud.accounts import SimAccount
from simulator.icloud.generator import GeneratorSpec, generate_library
from simulator.icloud.server import SimulatorServer
from tests.sim import PASSWORD, USERNAME


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", type=int, required=True)
    parser.add_argument("--size-scale", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def serve(assets: int, size_scale: float, seed: int) -> None:
    spec = GeneratorSpec(
        assets=assets, seed=seed, include_malformed=False, shared_assets=0, size_scale=size_scale
    )
    account = SimAccount(USERNAME, PASSWORD, generate_library(spec))
    stop = threading.Event()

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    with SimulatorServer([account]) as server:
        sys.stdout.write(f"port {server.port}\n")
        sys.stdout.flush()
        stop.wait()


if __name__ == "__main__":
    options = parse_args(sys.argv[1:])
    serve(options.assets, options.size_scale, options.seed)
