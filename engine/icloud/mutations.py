"""`records/modify` bodies for album-move and delete, shaped as pyicloud's Photos sends them.

Invariants:
- Pure functions of their arguments: no I/O, no state.
- An album member is a CPLContainerRelation named `<assetId>-IN-<albumId>` (pyicloud's
  `PhotoAlbum.add_photo`), so adding the same asset twice names the same record: Apple answers
  EXISTS, which means "already in the album", never a second copy.
- A delete is the soft delete pyicloud's `PhotoAsset.delete()` sends: an `update` of the CPLAsset
  setting isDeleted=1 with the record's current recordChangeTag. A stale tag is refused by
  Apple with CONFLICT, so a photo that changed after it was checked is never deleted.
- A recover is the same update with isDeleted=0 (what "Recover" in Recently Deleted writes;
  pyicloud has no helper for it), guarded by the tag just read, so it cannot undo a change made
  since.
- Nothing here expunges (isExpunged) or removes from Recently Deleted: the user keeps 30 days.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from engine.icloud.queries import zone_id

RELATION_TYPE = "CPLContainerRelation"
ALBUM_POSITION = 1024  # pyicloud's position for a newly added member
ALREADY_THERE = "EXISTS"


def relation_name(asset_record_name: str, album_record_name: str) -> str:
    """The CPLContainerRelation record name of an asset in an album."""
    return f"{asset_record_name}-IN-{album_record_name}"


def add_to_album_body(zone: str, album_record_name: str, record_names: list[str]) -> dict[str, Any]:
    """Create one relation per asset; not atomic, so one refused asset costs only itself."""
    operations = [
        {
            "operationType": "create",
            "record": {
                "recordName": relation_name(name, album_record_name),
                "recordType": RELATION_TYPE,
                "fields": {
                    "itemId": {"type": "STRING", "value": name},
                    "position": {"type": "INT64", "value": ALBUM_POSITION},
                    "containerId": {"type": "STRING", "value": album_record_name},
                },
            },
        }
        for name in record_names
    ]
    return {"atomic": False, "zoneID": zone_id(zone), "operations": operations}


def create_album_body(zone: str, name: str, position: int) -> tuple[str, dict[str, Any]]:
    """A new user album (CPLAlbum) named `name`: (its record name, the body)."""
    record_name = uuid.uuid4().hex.upper()
    encoded = base64.b64encode(name.encode("utf-8")).decode("ascii")
    fields = {
        "albumNameEnc": {"type": "ENCRYPTED_BYTES", "value": encoded},
        "albumType": {"type": "INT64", "value": 0},
        "isDeleted": {"type": "INT64", "value": 0},
        "isExpunged": {"type": "INT64", "value": 0},
        "position": {"type": "INT64", "value": position},
        "sortType": {"type": "INT64", "value": 1},
        "sortAscending": {"type": "INT64", "value": 1},
    }
    operation = {
        "operationType": "create",
        "record": {"recordName": record_name, "recordType": "CPLAlbum", "fields": fields},
    }
    return record_name, {"atomic": True, "zoneID": zone_id(zone), "operations": [operation]}


def soft_delete_body(zone: str, record_name: str, change_tag: str) -> dict[str, Any]:
    """isDeleted=1 on the CPLAsset, guarded by its current change tag."""
    return _is_deleted_body(zone, record_name, change_tag, 1)


def recover_body(zone: str, record_name: str, change_tag: str) -> dict[str, Any]:
    """isDeleted=0 on a CPLAsset in Recently Deleted, guarded by its current change tag."""
    return _is_deleted_body(zone, record_name, change_tag, 0)


def _is_deleted_body(zone: str, record_name: str, change_tag: str, value: int) -> dict[str, Any]:
    operation = {
        "operationType": "update",
        "record": {
            "recordName": record_name,
            "recordType": "CPLAsset",
            "recordChangeTag": change_tag,
            "fields": {"isDeleted": {"type": "INT64", "value": value}},
        },
    }
    return {
        "atomic": True,
        "zoneID": zone_id(zone),
        "operations": [operation],
        "desiredKeys": ["isDeleted"],
    }


def saved_change_tag(answer: dict[str, Any], record_name: str) -> str | None:
    """The recordChangeTag Apple gave `record_name` in a records/modify answer, if it sent one."""
    records = answer.get("records")
    for record in records if isinstance(records, list) else []:
        if isinstance(record, dict) and record.get("recordName") == record_name:
            tag = record.get("recordChangeTag")
            return tag if isinstance(tag, str) and tag else None
    return None


def record_errors(answer: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """recordName -> (serverErrorCode, reason) for every record the answer refused."""
    errors: dict[str, tuple[str, str]] = {}
    records = answer.get("records")
    for record in records if isinstance(records, list) else []:
        if isinstance(record, dict) and "serverErrorCode" in record:
            reason = " ".join(str(record.get("reason") or "").split())[:160]
            errors[str(record.get("recordName", ""))] = (str(record["serverErrorCode"]), reason)
    return errors
