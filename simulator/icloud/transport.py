"""Plain values of the simulator's HTTP layer: a parsed request, a reply, the request log.

Invariants:
- A `SimRequest` is fully read before any handler sees it (body included), so a handler never
  touches the socket; only server.py writes to the wire.
- A `Reply` always knows its whole body; streamed content bodies are written by server.py
  directly and never become a `Reply`.
- The request log is append-only between resets and safe to read from any thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SimRequest:
    """One HTTP request, as the Apple host it was meant for would see it."""

    method: str
    host: str  # the original Apple hostname, without port
    path: str
    query: Mapping[str, str]  # first value of each query parameter
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def cookies(self) -> dict[str, str]:
        """Cookie name -> value; values stay as sent (Apple quotes some, e.g. the web token)."""
        found: dict[str, str] = {}
        for part in (self.header("cookie") or "").split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name:
                found[name] = value
        return found

    def json_body(self) -> Any:
        """The body parsed as JSON; None when empty or unparsable (Apple answers 400 then)."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Reply:
    """A complete response: status, extra headers (repeatable, e.g. Set-Cookie) and body."""

    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=UTF-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


def json_reply(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, json.dumps(payload).encode(), headers=list(headers or []))


def html_reply(status: int, html: str, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, html.encode(), "text/html;charset=UTF-8", list(headers or []))


def empty_reply(status: int, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, b"", "text/plain", list(headers or []))


@dataclass(frozen=True)
class LoggedRequest:
    host: str
    method: str
    path: str
    status: int
    kind: str  # "login" | "cloudkit" | "content"


class RequestLog:
    """What the server answered, in order; tests count and reset it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LoggedRequest] = []

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._entries)

    def count(
        self,
        kind: str | None = None,
        path_prefix: str | None = None,
        status: int | None = None,
    ) -> int:
        return sum(
            1
            for e in self.entries()
            if (kind is None or e.kind == kind)
            and (path_prefix is None or e.path.startswith(path_prefix))
            and (status is None or e.status == status)
        )

    def reset(self) -> None:
        with self._lock:
            self._entries.clear()
