"""One zone's change log and the sync tokens that point into it.

Invariants:
- Every change appends one entry; entry i has sequence number i + 1, so a token's position is
  an index, and the log can be resumed from any token in O(changes since).
- A record is reported once per `changes_since` walk, at its latest change; earlier entries for
  the same record are skipped (CloudKit reports the current state, not the history).
- A token is opaque base64 naming the zone, the log's epoch and a sequence number. A token of
  another zone or epoch, one ahead of the log, or one older than the compaction horizon is
  rejected (`parse_token` returns None) so the caller can answer Apple's error.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

_TOKEN_PREFIX = "PLSK1"


@dataclass(frozen=True)
class ChangeWalk:
    keys: list[tuple[str, str]]  # (recordType, recordName), oldest change first
    next_seq: int
    is_more_coming: bool


@dataclass
class ChangeLog:
    zone_name: str
    epoch: str
    seq: int = 0
    horizon_seq: int = 0  # tokens older than this were compacted away
    entries: list[tuple[str, str]] = field(default_factory=list)
    latest: dict[tuple[str, str], int] = field(default_factory=dict)

    def record(self, record_type: str, record_name: str) -> int:
        key = (record_type, record_name)
        self.entries.append(key)
        self.seq += 1
        self.latest[key] = self.seq
        return self.seq

    def token_for(self, seq: int | None = None) -> str:
        at = self.seq if seq is None else seq
        raw = f"{_TOKEN_PREFIX}|{self.zone_name}|{self.epoch}|{at}".encode()
        return base64.b64encode(raw).decode("ascii")

    def parse_token(self, token: str) -> int | None:
        try:
            parts = base64.b64decode(token.encode("ascii"), validate=True).decode().split("|")
            prefix, zone, epoch, seq_text = parts
            seq = int(seq_text)
        except ValueError:
            return None
        if (prefix, zone, epoch) != (_TOKEN_PREFIX, self.zone_name, self.epoch):
            return None
        if seq < self.horizon_seq or seq > self.seq:
            return None
        return seq

    def compact(self) -> None:
        """Forget the history so far: every token handed out before now becomes too old."""
        self.horizon_seq = self.seq
        self.epoch = f"{self.epoch.split('.')[0]}.{self.seq}"

    def changes_since(self, since_seq: int, limit: int) -> ChangeWalk:
        keys: list[tuple[str, str]] = []
        last_seq = since_seq
        for index in range(since_seq, self.seq):
            key = self.entries[index]
            if self.latest[key] != index + 1:
                continue
            keys.append(key)
            last_seq = index + 1
            if len(keys) >= limit:
                return ChangeWalk(keys, last_seq, last_seq < self.seq)
        return ChangeWalk(keys, self.seq, False)
