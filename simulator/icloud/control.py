"""`/_sim/...`: control routes for a client in another process (a benchmark, a proxy addon).

Invariants:
- These routes are the simulator's own, not Apple's: they need no original-host header and are
  not written to the request log, so they never disturb what a test counts.
- They only read or change what the Python API of `SimulatorServer` reads or changes.

Routes: GET/POST /_sim/faults (JSON as `Faults.to_json`; POST replaces the fields it names, and
`{"clear": true}` resets everything), POST /_sim/expire_sessions `{"status": 421|450,
"include_session_tokens": bool}`, GET /_sim/code?username=..., GET /_sim/requests,
GET /_sim/clock and POST /_sim/clock `{"advance_days": 31, "advance_s": 0}` (moves every
account's simulated library clock forward and purges what has been in Recently Deleted for more
than 30 days; both answer `{"accounts": {username: {"now_ms", "offset_s", "purged"}}}`).
`SimControlClient` calls the clock routes from Python. Routes that aim realities at records
(refused downloads, damaged fields, content twins) are in control_realities.py.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import requests

from simulator.icloud.control_realities import REALITY_ROUTES
from simulator.icloud.library import PhotoLibraryState
from simulator.icloud.retention import DAY_MS
from simulator.icloud.transport import Reply, SimRequest, json_reply

if TYPE_CHECKING:
    from simulator.icloud.server import SimulatorServer


def handle_control(sim: SimulatorServer, req: SimRequest) -> Reply:
    handler = _ROUTES.get((req.method, req.path.removesuffix("/")))
    if handler is None:
        return json_reply(404, {"problem": f"no control route {req.method} {req.path}"})
    body = req.json_body()
    return handler(sim, req, body if isinstance(body, dict) else {})


def _get_faults(sim: SimulatorServer, _req: SimRequest, _payload: dict[str, Any]) -> Reply:
    return json_reply(200, sim.faults.to_json())


def _set_faults(sim: SimulatorServer, _req: SimRequest, payload: dict[str, Any]) -> Reply:
    if payload.get("clear"):
        sim.faults.clear()
    try:
        sim.faults.apply_json({k: v for k, v in payload.items() if k != "clear"})
    except (TypeError, ValueError) as exc:
        return json_reply(400, {"problem": str(exc)})
    return json_reply(200, sim.faults.to_json())


def _expire(sim: SimulatorServer, _req: SimRequest, payload: dict[str, Any]) -> Reply:
    status = int(payload.get("status", 421))
    expired = sim.expire_sessions(status, bool(payload.get("include_session_tokens")))
    return json_reply(200, {"expired": expired})


def _code(sim: SimulatorServer, req: SimRequest, _payload: dict[str, Any]) -> Reply:
    return json_reply(200, {"code": sim.pending_code(req.query.get("username", ""))})


def _requests(sim: SimulatorServer, _req: SimRequest, _payload: dict[str, Any]) -> Reply:
    entries = sim.requests.entries()
    by_kind = dict(Counter(e.kind for e in entries))
    return json_reply(200, {"total": len(entries), "by_kind": by_kind})


_ROUTES: dict[tuple[str, str], Callable[[SimulatorServer, SimRequest, dict[str, Any]], Reply]] = {
    ("GET", "/_sim/faults"): _get_faults,
    ("POST", "/_sim/faults"): _set_faults,
    ("POST", "/_sim/expire_sessions"): _expire,
    ("GET", "/_sim/code"): _code,
    ("GET", "/_sim/requests"): _requests,
    ("GET", "/_sim/clock"): lambda sim, _req, _payload: _get_clock(sim),
    ("POST", "/_sim/clock"): lambda sim, _req, payload: _post_clock(sim, payload),
    **REALITY_ROUTES,
}


def advance_clock(sim: SimulatorServer, seconds: float) -> dict[str, Any]:
    """Move every account's simulated library clock forward by `seconds`.

    Returns `{"accounts": {username: {"now_ms", "offset_s", "purged"}}}`, `purged` naming the
    assets that left Recently Deleted for good.
    """
    return {
        "accounts": {
            username: _clock_entry(state, state.advance_clock(seconds))
            for username, state in _libraries(sim)
        }
    }


def _libraries(sim: SimulatorServer) -> list[tuple[str, PhotoLibraryState]]:
    found = []
    for username, account in list(sim.accounts.items()):
        state = getattr(account.database, "state", None)
        if isinstance(state, PhotoLibraryState):  # a stand-in database has no library clock
            found.append((username, state))
    return found


def _clock_entry(state: PhotoLibraryState, purged: list[str]) -> dict[str, Any]:
    return {
        "now_ms": state.clock.now_ms(),
        "offset_s": state.clock.offset_ms / 1000,
        "purged": purged,
    }


def _get_clock(sim: SimulatorServer) -> Reply:
    accounts = {username: _clock_entry(state, []) for username, state in _libraries(sim)}
    return json_reply(200, {"accounts": accounts})


def _post_clock(sim: SimulatorServer, payload: dict[str, Any]) -> Reply:
    days, seconds = payload.get("advance_days", 0), payload.get("advance_s", 0)
    numbers = [v for v in (days, seconds) if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != 2 or not all(math.isfinite(v) and v >= 0 for v in numbers):
        return json_reply(400, {"problem": "advance_days and advance_s must be numbers >= 0"})
    return json_reply(200, advance_clock(sim, days * DAY_MS / 1000 + seconds))


class SimControlClient:
    """The simulator's `/_sim/clock` routes, for a test or a tool in another process."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s
        self._session = requests.Session()
        self._session.trust_env = False  # loopback: never through a proxy from the environment

    def clock(self) -> dict[str, Any]:
        """Each account's simulated now, without moving it."""
        url = f"{self._base_url}/_sim/clock"
        return self._answer(self._session.get(url, timeout=self._timeout_s))

    def advance_clock(self, *, days: float = 0, seconds: float = 0) -> dict[str, Any]:
        """Move simulated time forward; the answer names the assets purged per account."""
        body = {"advance_days": days, "advance_s": seconds}
        url = f"{self._base_url}/_sim/clock"
        return self._answer(self._session.post(url, json=body, timeout=self._timeout_s))

    def close(self) -> None:
        self._session.close()

    @staticmethod
    def _answer(response: requests.Response) -> dict[str, Any]:
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer
