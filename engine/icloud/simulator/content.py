"""Serving content bodies: URL expiry, Range planning and paced streaming.

Invariants:
- A downloadURL carries its expiry as `e=<epoch seconds>`; a URL without a readable expiry is
  treated as expired, as Apple's signed URLs are useless without one.
- `plan_body` follows RFC 9110 for a single `bytes=` range: 200 for no (or an unparsable)
  Range header, 206 with a Content-Range for a satisfiable one, 416 otherwise.
- `stream_body` writes exactly the planned bytes, in chunks, optionally paced to a bandwidth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import BinaryIO

from engine.icloud.simulator.contract import ContentBlob

STREAM_CHUNK_BYTES = 65536


def is_url_expired(expiry_s: str | None, now_s: float) -> bool:
    try:
        return now_s > float(expiry_s) if expiry_s is not None else True
    except ValueError:
        return True


@dataclass(frozen=True)
class BodyPlan:
    status: int
    start: int
    end_exclusive: int
    total_bytes: int

    @property
    def length_bytes(self) -> int:
        return max(0, self.end_exclusive - self.start)

    def content_range(self) -> str | None:
        if self.status == 206:
            return f"bytes {self.start}-{self.end_exclusive - 1}/{self.total_bytes}"
        if self.status == 416:
            return f"bytes */{self.total_bytes}"
        return None


def plan_body(size_bytes: int, range_header: str | None) -> BodyPlan:  # noqa: PLR0911
    full = BodyPlan(200, 0, size_bytes, size_bytes)
    if not range_header or not range_header.strip().startswith("bytes="):
        return full
    spec = range_header.strip()[len("bytes=") :]
    if "," in spec or "-" not in spec:
        return full
    first, _, last = spec.partition("-")
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                return BodyPlan(416, 0, 0, size_bytes)
            return BodyPlan(206, max(0, size_bytes - suffix), size_bytes, size_bytes)
        start = int(first)
        end_exclusive = size_bytes if last == "" else min(int(last) + 1, size_bytes)
    except ValueError:
        return full
    if start >= size_bytes or end_exclusive <= start:
        return BodyPlan(416, 0, 0, size_bytes)
    return BodyPlan(206, start, end_exclusive, size_bytes)


def stream_body(
    out: BinaryIO,
    blob: ContentBlob,
    start: int,
    end_exclusive: int,
    bandwidth_bytes_per_s: float | None,
) -> None:
    position = start
    began_s = time.monotonic()
    while position < end_exclusive:
        chunk = blob.read_range(position, min(position + STREAM_CHUNK_BYTES, end_exclusive))
        if not chunk:
            break
        out.write(chunk)
        position += len(chunk)
        if bandwidth_bytes_per_s:
            due_s = (position - start) / bandwidth_bytes_per_s
            lag_s = due_s - (time.monotonic() - began_s)
            if lag_s > 0:
                time.sleep(lag_s)
    out.flush()
