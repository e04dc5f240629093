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
from typing import Any, Protocol

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
