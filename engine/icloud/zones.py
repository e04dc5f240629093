"""Which CloudKit database answers for a Photos library (zone), and the account's libraries.

Invariants:
- The libraries are the zones `zones/list` names in the private database (PrimarySync, and the
  `SharedSync-<UUID>` Shared Library of its owner) and in the shared database (a Shared Library
  joined as a participant, owned by another user), as icloudpd's --list-libraries reads them.
- PrimarySync is always the private database: using it costs no `zones/list`. Any other zone
  is looked up once per port (two `zones/list` calls) and remembered.
- A request for a zone of the shared database names the zone's owner (zoneID.ownerRecordName),
  as CloudKit requires there; requests to the private database are sent untouched.
- A zone no database lists goes to the private database, whose ZONE_NOT_FOUND answer (or the
  caller's own check against `libraries()`) makes it a configuration error.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal, Protocol

PRIMARY_ZONE = "PrimarySync"
SHARED_LIBRARY_PREFIX = "SharedSync-"
Database = Literal["private", "shared"]


class CloudKitPoster(Protocol):
    def post(self, op: str, body: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RemoteLibrary:
    """One Photos library of the account: its zone id, database, owner and sync token."""

    zone: str
    database: Database
    owner: str = ""
    sync_token: str = ""

    @property
    def is_shared_library(self) -> bool:
        return self.zone.startswith(SHARED_LIBRARY_PREFIX)


def parse_zones(data: dict[str, Any], database: Database) -> list[RemoteLibrary]:
    """The live zones of one `zones/list` answer (deleted ones and junk left out)."""
    found: list[RemoteLibrary] = []
    for entry in data.get("zones") or []:
        zone_id = entry.get("zoneID") if isinstance(entry, dict) else None
        if not isinstance(zone_id, dict) or entry.get("deleted") is True:
            continue
        name = zone_id.get("zoneName")
        if not isinstance(name, str) or not name:
            continue
        token = entry.get("syncToken")
        found.append(RemoteLibrary(
            zone=name, database=database, owner=str(zone_id.get("ownerRecordName") or ""),
            sync_token=token if isinstance(token, str) else "",
        ))
    return found


def with_owner(body: dict[str, Any], owner: str) -> dict[str, Any]:
    """The body with every zoneID it holds (its own, batch items', zone requests') naming
    `owner`; the caller's body is not changed."""

    def named(zone_id: Any) -> Any:
        return {**zone_id, "ownerRecordName": owner} if isinstance(zone_id, dict) else zone_id

    out = dict(body)
    if "zoneID" in out:
        out["zoneID"] = named(out["zoneID"])
    for key in ("batch", "zones"):
        items = out.get(key)
        if isinstance(items, list):
            out[key] = [
                {**i, "zoneID": named(i.get("zoneID"))} if isinstance(i, dict) and "zoneID" in i
                else i
                for i in items
            ]
    return out


class ZoneRouter:
    """Sends each CloudKit call to the database that holds its zone."""

    def __init__(self, private: CloudKitPoster, shared: CloudKitPoster) -> None:
        self._clients: dict[Database, CloudKitPoster] = {"private": private, "shared": shared}
        self._known: dict[str, RemoteLibrary] | None = None
        self._lock = threading.Lock()

    def list_zones(self, database: Database) -> list[RemoteLibrary]:
        return parse_zones(self._clients[database].post("zones/list", {}), database)

    def libraries(self) -> list[RemoteLibrary]:
        """Every library of the account, fresh from both databases (and remembered)."""
        listed = self.list_zones("private")
        private_names = {lib.zone for lib in listed}
        listed += [s for s in self.list_zones("shared") if s.zone not in private_names]
        with self._lock:
            self._known = {lib.zone: lib for lib in listed}
        return listed

    def post(self, zone: str, op: str, body: dict[str, Any]) -> dict[str, Any]:
        library = self._library_of(zone)
        if library is None or library.database == "private":
            return self._clients["private"].post(op, body)
        return self._clients["shared"].post(op, with_owner(body, library.owner))

    def _library_of(self, zone: str) -> RemoteLibrary | None:
        if zone == PRIMARY_ZONE:
            return None
        with self._lock:
            known = self._known
        if known is None:
            self.libraries()
            with self._lock:
                known = self._known or {}
        return known.get(zone)
