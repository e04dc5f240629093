"""Transport faults the simulator injects: latency, bandwidth, throttling, broken content bodies,
and content requests refused with an HTTP status.

Invariants:
- Faults are about the wire only. Lies about a record (a size or checksum that differs from the
  listing) belong to the photo database, never here.
- Every counted fault (`times`) is consumed atomically under one lock, so N concurrent requests
  matching a rule with times=2 see exactly two faults; a rule whose count reaches zero is removed.
  `times=None` means "until cleared" (the default for refusals: a file that 404s keeps 404ing).
- A refusal (ContentStatusRule) matches a token exactly, or the (owner, prefix) a token names
  whatever its revision, so it keeps hitting a resource across fresh URLs and re-listings.
- The same settings can be read and replaced as JSON (`to_json` / `apply_json`), which is what
  `POST /_sim/faults` uses for clients in another process.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from simulator.icloud.blobs import parse_content_token

ContentFaultMode = Literal["cut", "drop", "overlong"]


@dataclass
class ThrottleRule:
    """Answer `status` (503 with an HTML body, or 429) to matching requests."""

    status: int = 503
    times: int | None = 1
    kind: str | None = None  # "login" | "cloudkit" | "content"; None matches all
    path_prefix: str | None = None
    retry_after_s: int | None = None

    def matches(self, kind: str, path: str) -> bool:
        return (self.kind is None or self.kind == kind) and (
            self.path_prefix is None or path.startswith(self.path_prefix)
        )


@dataclass
class ContentFault:
    """Break a content body.

    cut: full Content-Length, then close after `fraction` of the bytes.
    drop: headers, then close before any body byte.
    overlong: announce `extra_bytes` more than the body, send the body, close.
    """

    mode: ContentFaultMode = "cut"
    times: int | None = 1
    fraction: float = 0.5
    extra_bytes: int = 1024
    token: str | None = None  # only this downloadURL token; None matches all

    def matches(self, token: str) -> bool:
        return self.token is None or self.token == token


@dataclass
class ContentStatusRule:
    """Answer `status` (404, 403, 400, 401, ...) instead of the bytes of matching downloads.

    Matches `token` exactly when given; otherwise every token naming `owner` (a master, or an
    asset for its edits) and `prefix` (e.g. "resOriginalVidCompl"), either of which may be None.
    """

    status: int = 404
    times: int | None = None
    token: str | None = None
    owner: str | None = None
    prefix: str | None = None

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"a refusal needs a 4xx or 5xx status, not {self.status}")

    def matches(self, token: str) -> bool:
        if self.token is not None:
            return self.token == token
        parsed = parse_content_token(token)
        if parsed is None:
            return False
        owner, prefix, _ = parsed
        return (self.owner is None or self.owner == owner) and (
            self.prefix is None or self.prefix == prefix
        )


@dataclass
class FaultSettings:
    latency_s: float = 0.0  # added to every login and CloudKit call
    bandwidth_bytes_per_s: float | None = None  # per connection, content bodies only
    throttles: list[ThrottleRule] = field(default_factory=list)
    content: list[ContentFault] = field(default_factory=list)
    statuses: list[ContentStatusRule] = field(default_factory=list)


class Faults:
    """The current fault settings of one server; safe to change while it serves."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self._lock = threading.Lock()
        self._settings = settings or FaultSettings()

    @property
    def latency_s(self) -> float:
        with self._lock:
            return self._settings.latency_s

    @property
    def bandwidth_bytes_per_s(self) -> float | None:
        with self._lock:
            return self._settings.bandwidth_bytes_per_s

    def set_latency(self, seconds: float) -> None:
        with self._lock:
            self._settings.latency_s = max(0.0, seconds)

    def set_bandwidth(self, bytes_per_s: float | None) -> None:
        with self._lock:
            self._settings.bandwidth_bytes_per_s = bytes_per_s if bytes_per_s else None

    def add_throttle(self, rule: ThrottleRule) -> None:
        with self._lock:
            self._settings.throttles.append(rule)

    def throttle_signin(self, times: int = 1, status: int = 503) -> None:
        """Apple's usual throttling: refuse signin/init `times` times."""
        self.add_throttle(ThrottleRule(status, times, "login", "/appleauth/auth/signin/init", None))

    def add_content_fault(self, fault: ContentFault) -> None:
        with self._lock:
            self._settings.content.append(fault)

    def add_content_status(self, rule: ContentStatusRule) -> None:
        with self._lock:
            self._settings.statuses.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._settings = FaultSettings()

    def take_throttle(self, kind: str, path: str) -> ThrottleRule | None:
        """The first matching throttle rule, one use of it consumed."""
        with self._lock:
            rules = self._settings.throttles
            for rule in rules:
                if rule.matches(kind, path):
                    _consume(rules, rule)
                    return rule
        return None

    def take_content_fault(self, token: str) -> ContentFault | None:
        with self._lock:
            faults = self._settings.content
            for fault in faults:
                if fault.matches(token):
                    _consume(faults, fault)
                    return fault
        return None

    def take_content_status(self, token: str) -> ContentStatusRule | None:
        """The first refusal matching this download token, one use of it consumed."""
        with self._lock:
            rules = self._settings.statuses
            for rule in rules:
                if rule.matches(token):
                    _consume(rules, rule)
                    return rule
        return None

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return asdict(self._settings)

    def apply_json(self, payload: dict[str, Any]) -> None:
        """Replace the fields present in `payload` (same shape as `to_json`); rules are replaced."""
        parsed = FaultSettings(
            latency_s=float(payload.get("latency_s", 0.0)),
            bandwidth_bytes_per_s=payload.get("bandwidth_bytes_per_s"),
            throttles=[ThrottleRule(**r) for r in payload.get("throttles", [])],
            content=[ContentFault(**c) for c in payload.get("content", [])],
            statuses=[ContentStatusRule(**r) for r in payload.get("statuses", [])],
        )
        if parsed.content and any(
            c.mode not in ("cut", "drop", "overlong") for c in parsed.content
        ):
            raise ValueError("content fault mode must be cut, drop or overlong")
        with self._lock:
            current = self._settings
            self._settings = FaultSettings(
                latency_s=parsed.latency_s if "latency_s" in payload else current.latency_s,
                bandwidth_bytes_per_s=parsed.bandwidth_bytes_per_s
                if "bandwidth_bytes_per_s" in payload
                else current.bandwidth_bytes_per_s,
                throttles=parsed.throttles if "throttles" in payload else current.throttles,
                content=parsed.content if "content" in payload else current.content,
                statuses=parsed.statuses if "statuses" in payload else current.statuses,
            )


def _consume(rules: list[Any], rule: Any) -> None:
    if rule.times is None:
        return
    rule.times -= 1
    if rule.times <= 0:
        rules.remove(rule)
