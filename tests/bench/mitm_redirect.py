"""mitmproxy addon: send every proxied request to the local iCloud simulator over plain HTTP.

Loaded by `mitmdump -s tests/bench/mitm_redirect.py`; the simulator's port comes from the
environment variable PHOTOLEDGER_BENCH_SIM_PORT, read once at load time.

Invariants:
- Every request, whatever host the client asked for, leaves the proxy as
  http://127.0.0.1:<port><same path>?<same query>, so clients that know nothing of the simulator
  (icloudpd, or photoledger without its own redirect) reach it unchanged otherwise.
- The host the client meant is kept in `X-Photoledger-Original-Host`, which is what the simulator
  routes on; it is the host of the client's URL (from CONNECT/SNI), not the rewritten one.
- The client still sees its TLS connection to the Apple host, so cookies and URLs on its side
  stay Apple's.
"""

from __future__ import annotations

import os

from mitmproxy import http

PORT_ENV = "PHOTOLEDGER_BENCH_SIM_PORT"
ORIGINAL_HOST_HEADER = "X-Photoledger-Original-Host"


class RedirectToSimulator:
    """Rewrites each request's target to the simulator; the original host rides in a header."""

    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, flow: http.HTTPFlow) -> None:
        original_host = flow.request.pretty_host
        flow.request.headers[ORIGINAL_HOST_HEADER] = original_host
        flow.request.scheme = "http"
        flow.request.host = "127.0.0.1"
        flow.request.port = self.port


def _port_from_env() -> int:
    value = os.environ.get(PORT_ENV, "")
    if not value.isdigit():
        raise RuntimeError(f"{PORT_ENV} must hold the simulator's port, got {value!r}")
    return int(value)


addons = [RedirectToSimulator(_port_from_env())]
