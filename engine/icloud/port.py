"""The port through which stages use iCloud, and the errors it raises.

Invariants:
- Every method either returns Apple's answer or raises one of the IcloudError subclasses below;
  transient failures (429/503, dropped connections, 421/450 session expiry) are retried inside
  the adapter with bounded, jittered exponential backoff that honours Retry-After.
- `calls` counts CloudKit calls (records/query, changes/zone, ...) separately from login calls,
  so "no change costs at most 2 calls" can be reported and tested.
- `recover_asset` answers what it found instead of raising for the four ordinary cases
  (RecoverOutcome.kind); only a refusal that is none of them raises RecordRefusedError.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Literal, Protocol

import msgspec

from engine.errors import ExitCode, PhotoledgerError
from engine.icloud.model import ChangePage, RemoteAlbum, ScanPage
from engine.icloud.zones import RemoteLibrary


class IcloudError(PhotoledgerError):
    """iCloud refused or could not be reached."""

    exit_code = ExitCode.ICLOUD_UNAVAILABLE


class AuthenticationError(IcloudError):
    """Wrong password, 2FA needed but no code, or the session cannot be renewed."""

    exit_code = ExitCode.AUTH_FAILED


class TwoFactorRequiredError(AuthenticationError):
    """A 2FA code is needed and none was given (run `photoledger login`)."""


class WebAccessDeniedError(AuthenticationError):
    """Advanced Data Protection is on, or "Access iCloud Data on the Web" is off."""


class ThrottledError(IcloudError):
    """Apple keeps answering 503/429 after every retry."""


class LibraryIndexingError(IcloudError):
    """The Photos library has not finished indexing on Apple's side."""


class SyncTokenExpiredError(IcloudError):
    """`changes/zone` rejected the stored sync token: a full scan must reconcile."""


class UrlExpiredError(IcloudError):
    """A download URL answered 410 Gone: ask for a fresh record."""


class ContentError(IcloudError):
    """A download failed in a way a retry may fix (connection dropped, 5xx after retries)."""


class ResourceUnavailableError(ContentError):
    """iCloud refused this one file (HTTP 4xx: 400, 401, 403, 404, ...): a per-file failure,
    never a reason to stop the run; `status` is the HTTP status."""

    def __init__(self, message: str, status: int = 0) -> None:  # unpicklable if required
        super().__init__(message)
        self.status = status


class ChangeTagConflictError(IcloudError):
    """Apple refused a write with CONFLICT: the record changed since its tag was read."""


class RecordRefusedError(IcloudError):
    """Apple refused a write to one record (not found, not allowed, bad request)."""


RecoverKind = Literal["recovered", "not-deleted", "gone", "conflict"]
"""recovered: it was in Recently Deleted and is back in the Library now. not-deleted: it was
already in the Library; nothing was written. gone: iCloud no longer holds it (purged after its 30
days, expunged, or never there); it cannot come back from iCloud. conflict: it changed between
the lookup and the write (CONFLICT); nothing changed, asking again may succeed."""


class RecoverOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What `IcloudPort.recover_asset` found and did for one asset."""

    kind: RecoverKind
    record_name: str
    change_tag: str | None = None  # recovered: the new tag; not-deleted/conflict: the tag read
    detail: str = ""  # Apple's reason, when it refused


class CallCounts(msgspec.Struct, kw_only=True):
    """How many HTTP calls of each kind the adapter made."""

    login: int = 0
    cloudkit: int = 0
    content: int = 0
    retries: int = 0


class ContentResponse(Protocol):
    """An open download: headers known, body not yet read."""

    status: int  # 200, or 206 when a Range was honoured
    content_length: int | None  # of this response's body
    total_size_bytes: int | None  # from Content-Range when partial, else content_length

    def iter_chunks(self, chunk_bytes: int) -> Iterator[bytes]: ...


class IcloudPort(Protocol):
    """What the discover, download, album-move and delete stages need from iCloud."""

    calls: CallCounts

    def login(self) -> None: ...
    def zone_sync_token(self, zone: str) -> str: ...
    def list_libraries(self) -> list[RemoteLibrary]: ...
    def count_assets(self, zone: str) -> int: ...
    def count_index(self, zone: str, index_id: str) -> int: ...
    def scan_pages(self, zone: str, *, workers: int) -> Iterator[ScanPage]: ...
    def changes_since(self, zone: str, sync_token: str) -> Iterator[ChangePage]: ...
    def lookup_assets(self, zone: str, record_names: list[str]) -> ScanPage: ...
    def list_albums(self, zone: str) -> list[RemoteAlbum]: ...
    def album_member_ids(self, zone: str, album: RemoteAlbum) -> Iterator[str]: ...
    def album_relations_present(
        self, zone: str, album: RemoteAlbum, record_names: list[str]
    ) -> set[str]: ...
    def open_content(
        self, url: str, *, start_byte: int = 0
    ) -> AbstractContextManager[ContentResponse]: ...
    def find_or_create_album(self, zone: str, name: str) -> RemoteAlbum: ...
    def add_to_album(
        self, zone: str, album: RemoteAlbum, record_names: list[str]
    ) -> dict[str, str]: ...
    def soft_delete(self, zone: str, record_name: str, change_tag: str) -> None: ...
    def recover_asset(self, zone: str, record_name: str) -> RecoverOutcome: ...
