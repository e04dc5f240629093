"""`/_sim/...`: control routes for a client in another process (a benchmark, a proxy addon).

Invariants:
- These routes are the simulator's own, not Apple's: they need no original-host header and are
  not written to the request log, so they never disturb what a test counts.
- They only read or change what the Python API of `SimulatorServer` reads or changes.

Routes: GET/POST /_sim/faults (JSON as `Faults.to_json`; POST replaces the fields it names, and
`{"clear": true}` resets everything), POST /_sim/expire_sessions `{"status": 421|450,
"include_session_tokens": bool}`, GET /_sim/code?username=..., GET /_sim/requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.icloud.simulator.transport import Reply, SimRequest, json_reply

if TYPE_CHECKING:
    from engine.icloud.simulator.server import SimulatorServer


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
}
