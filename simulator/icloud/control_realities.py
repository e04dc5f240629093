"""`/_sim/...` routes that aim realities at records: refused downloads, damaged fields, twins.

Invariants:
- Like every control route, these are not Apple's and never land in the request log.
- They only call what Python tests call: `SimulatorServer.refuse_content`, `Faults`, and the
  `RealityControls` of each account's database (contract.py); an account whose database does
  not offer them is skipped, and a record no account holds answers 404.

Routes (JSON bodies; every answer is JSON):
- POST /_sim/content_status `{"record_name": "<asset or master>", "resource": "live_video",
  "status": 404, "times": null}` or `{"token": "<download token>", "status": 403, "times": 2}`:
  answer that status to the matching downloads (`times` null: until /_sim/faults is cleared).
- POST /_sim/corrupt_field `{"record_name": ..., "field": "resOriginalAltRes",
  "how": "bad_value_key"}` (kinds in malformed.py): answers the record that carries the field.
- POST /_sim/content_twin `{"record_name": "<asset>", "declared_delta_bytes": 4096}`: a new
  asset serving that asset's content with its original declared that much bigger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from simulator.icloud.contract import RealityControls
from simulator.icloud.faults import ContentStatusRule
from simulator.icloud.transport import Reply, SimRequest, json_reply

if TYPE_CHECKING:
    from simulator.icloud.server import SimulatorServer

Route = Callable[["SimulatorServer", SimRequest, dict[str, Any]], Reply]


def _databases(sim: SimulatorServer) -> Iterator[RealityControls]:
    for account in list(sim.accounts.values()):
        if isinstance(account.database, RealityControls):
            yield account.database


def _times(payload: dict[str, Any]) -> int | None:
    times = payload.get("times")
    if times is None:
        return None
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError("times must be null or a whole number >= 1")
    return times


def _content_status(sim: SimulatorServer, _req: SimRequest, payload: dict[str, Any]) -> Reply:
    try:
        status, times = int(payload.get("status", 404)), _times(payload)
        if isinstance(payload.get("token"), str):
            rule = ContentStatusRule(status, times, token=payload["token"])
            sim.faults.add_content_status(rule)
        else:
            record, resource = str(payload["record_name"]), str(payload["resource"])
            rule = sim.refuse_content(record, resource, status=status, times=times)
    except KeyError as exc:
        return json_reply(404, {"problem": f"not found: {exc}"})
    except (TypeError, ValueError) as exc:
        return json_reply(400, {"problem": str(exc)})
    return json_reply(200, {"rule": asdict(rule)})


def _corrupt_field(sim: SimulatorServer, _req: SimRequest, payload: dict[str, Any]) -> Reply:
    try:
        args = (str(payload["record_name"]), str(payload["field"]), str(payload["how"]))
        for database in _databases(sim):
            target = database.corrupt_field(*args)
            if target is not None:
                return json_reply(200, {"record_name": target})
    except KeyError as exc:
        return json_reply(400, {"problem": f"missing {exc}"})
    except ValueError as exc:
        return json_reply(400, {"problem": str(exc)})
    return json_reply(404, {"problem": f"no record {payload['record_name']!r}"})


def _content_twin(sim: SimulatorServer, _req: SimRequest, payload: dict[str, Any]) -> Reply:
    delta = payload.get("declared_delta_bytes", 4096)
    if isinstance(delta, bool) or not isinstance(delta, int):
        return json_reply(400, {"problem": "declared_delta_bytes must be a whole number"})
    name = str(payload.get("record_name", ""))
    for database in _databases(sim):
        twin = database.add_content_twin(name, delta)
        if twin is not None:
            return json_reply(200, {"record_name": twin})
    return json_reply(404, {"problem": f"no asset {name!r}"})


REALITY_ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/_sim/content_status"): _content_status,
    ("POST", "/_sim/corrupt_field"): _corrupt_field,
    ("POST", "/_sim/content_twin"): _content_twin,
}
