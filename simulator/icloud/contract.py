"""The seam between the simulator's HTTP transport and its photo database.

Invariants:
- The server owns transport concerns: auth, sessions, latency, bandwidth, 503/429, cut bodies,
  URL expiry (410). The database owns records, ranks, sync tokens, albums and content bytes,
  including content faults that are facts about a record (served size or checksum differing
  from what the listing said).
- Everything here is thread-safe: the server handles requests concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

CONTENT_HOST = "cvws.icloud-content.com"
CKDATABASE_HOST = "p42-ckdatabasews.icloud.com"
CONTAINER_PATH = "/database/1/com.apple.photos.cloud/production/"
"""CloudKit calls are POST https://<CKDATABASE_HOST><CONTAINER_PATH><database>/<op>?..."""


@dataclass(frozen=True)
class RequestContext:
    """What a database handler may need to know about the request being served."""

    now_s: float  # the server's clock (time.time() unless a test drives it)
    url_ttl_s: float  # downloadURLs expire this many seconds after they are handed out
    dsid: str


class ContentBlob(Protocol):
    """The bytes behind one downloadURL token."""

    @property
    def size_bytes(self) -> int: ...  # what the server will actually serve

    def read_range(self, start: int, end_exclusive: int) -> bytes: ...


class PhotoDatabase(Protocol):
    """The CloudKit Photos container of one account."""

    def handle(
        self, database: str, op: str, body: dict[str, Any], ctx: RequestContext
    ) -> tuple[int, dict[str, Any]]:
        """Serve `<database>/<op>` ("private"/"shared"; "records/query", "zones/list", ...)."""
        ...

    def content(self, token: str) -> ContentBlob | None:
        """The bytes for a downloadURL token (the path segment after /B/), if it exists."""
        ...

    def is_indexing_finished(self) -> bool: ...


@runtime_checkable
class RealityControls(Protocol):
    """What a database may offer so tests and the control routes can aim realities at records.

    Optional: the server checks for it (a test's small database need not implement it).
    """

    def content_address(self, record_name: str, resource: str) -> tuple[str, str] | None:
        """(token owner, prefix) of a record's resource; None when the record is unknown."""
        ...

    def corrupt_field(self, record_name: str, field: str, how: str) -> str | None:
        """Damage a field from now on; the record carrying it, or None when unknown."""
        ...

    def add_content_twin(self, asset_name: str, declared_delta_bytes: int) -> str | None:
        """A new asset serving this one's content under another declared size, or None."""
        ...
