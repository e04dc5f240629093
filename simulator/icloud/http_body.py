"""Serving downloadURL bytes: expiry, Range requests and a paced, chunked body.

Invariants:
- A body is never built in memory: it is read from the blob and written in chunks of at most
  `CHUNK_BYTES`, so a multi-hundred-MB original costs one chunk of memory per connection.
- Range answers follow RFC 9110 for a single range: `bytes=N-`, `bytes=N-M` and `bytes=-N`
  give 206 with `Content-Range`; a range starting past the end gives 416 with `bytes */size`;
  anything else (several ranges, garbage) is ignored and the whole body is served with 200.
- Pacing is per connection: the body never goes out faster than the configured bytes per second,
  measured from the first body byte.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from simulator.icloud.contract import ContentBlob

CHUNK_BYTES = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class BodyPlan:
    status: int  # 200, 206 or 416
    start: int
    end_exclusive: int
    total_bytes: int

    @property
    def length_bytes(self) -> int:
        return self.end_exclusive - self.start

    def content_range(self) -> str | None:
        if self.status == 206:
            return f"bytes {self.start}-{self.end_exclusive - 1}/{self.total_bytes}"
        if self.status == 416:
            return f"bytes */{self.total_bytes}"
        return None


def is_url_expired(expiry_param: str | None, now_s: float) -> bool:
    """True when the URL's `e` (epoch seconds) is in the past; a URL without one never expires."""
    if not expiry_param:
        return False
    try:
        return now_s > float(expiry_param)
    except ValueError:
        return True  # a mangled signature is as good as an expired one


def plan_body(total_bytes: int, range_header: str | None) -> BodyPlan:
    whole = BodyPlan(200, 0, total_bytes, total_bytes)
    match = _RANGE.match((range_header or "").strip())
    if match is None:
        return whole
    first, last = match.groups()
    if not first and not last:
        return whole
    if not first:  # suffix range: the last N bytes
        suffix = int(last)
        if suffix == 0:
            return BodyPlan(416, 0, 0, total_bytes)
        return BodyPlan(206, max(0, total_bytes - suffix), total_bytes, total_bytes)
    start = int(first)
    end_exclusive = min(total_bytes, int(last) + 1) if last else total_bytes
    if start >= total_bytes or end_exclusive <= start:
        return BodyPlan(416, 0, 0, total_bytes)
    return BodyPlan(206, start, end_exclusive, total_bytes)


class Writable(Protocol):
    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> None: ...


def stream_body(
    out: Writable,
    blob: ContentBlob,
    start: int,
    end_exclusive: int,
    *,
    bytes_per_s: float | None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write blob[start:end_exclusive] to `out`, paced; returns the bytes written."""
    chunk = CHUNK_BYTES
    if bytes_per_s:
        # Small chunks keep the pace smooth at low rates (about 20 writes a second).
        chunk = max(1024, min(CHUNK_BYTES, int(bytes_per_s / 20)))
    began = time.monotonic()
    sent = 0
    position = start
    while position < end_exclusive:
        data = blob.read_range(position, min(end_exclusive, position + chunk))
        if not data:
            break
        out.write(data)
        position += len(data)
        sent += len(data)
        if bytes_per_s:
            ahead_s = sent / bytes_per_s - (time.monotonic() - began)
            if ahead_s > 0:
                sleep(ahead_s)
    out.flush()
    return sent
