"""Streaming downloads of Apple's signed content URLs.

Invariants:
- Downloads use their own requests.Session (with the redirect/counting adapter and no cookies:
  content URLs are signed), so they never rewrite pyicloud's session files.
- Every GET has a connect and a read timeout: a stalled socket ends as ContentError, never a hang.
- `start_byte > 0` sends `Range: bytes=N-`; the caller reads `status` (206 honoured, 200 not).
- 410 is UrlExpiredError (ask for a fresh record); 429/503/5xx and dropped connections before
  the body starts are retried with bounded backoff; a body cut short is ContentError.
- Any other 4xx (400, 401, 403, 404, ...) is ResourceUnavailableError, a ContentError: Apple
  refused this one file (removed or re-processed since it was listed, or its signed URL
  refused), which costs that file only, never the run. 416 keeps its own message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from engine.icloud.port import (
    ContentError,
    IcloudError,
    ResourceUnavailableError,
    ThrottledError,
    UrlExpiredError,
)
from engine.icloud.redirect import CallCounter, mount_on
from engine.icloud.retry import (
    RetryPolicy,
    TransientError,
    execute_with_retry,
    parse_retry_after_s,
)

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_THROTTLE_STATUSES = {429, 503}


@dataclass(frozen=True)
class ContentTimeouts:
    connect_s: float = 10.0
    read_s: float = 60.0  # the longest silence tolerated mid-body


class HttpContentResponse:
    """An open download (implements the port's ContentResponse)."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self.status = response.status_code
        self.content_length = _int_or_none(response.headers.get("Content-Length"))
        self.total_size_bytes = decide_total_size(
            self.status, response.headers.get("Content-Range"), self.content_length
        )

    def iter_chunks(self, chunk_bytes: int) -> Iterator[bytes]:
        try:
            for chunk in self._response.iter_content(chunk_size=chunk_bytes):
                if chunk:
                    yield chunk
        except requests.RequestException as exc:
            raise ContentError(f"download interrupted: {type(exc).__name__}") from exc


def decide_total_size(
    status: int, content_range: str | None, content_length: int | None
) -> int | None:
    """The whole file's size: from Content-Range on a 206, else the body's length."""
    if status == 206 and content_range:
        found = _CONTENT_RANGE.search(content_range)
        if found and found.group(3) != "*":
            return int(found.group(3))
        return None
    return content_length


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class ContentClient:
    """Opens downloads with retries; one requests.Session shared by the download workers."""

    def __init__(
        self,
        *,
        endpoint: str | None,
        counter: CallCounter,
        policy: RetryPolicy,
        timeouts: ContentTimeouts = ContentTimeouts(),
    ) -> None:
        self._session = requests.Session()
        mount_on(self._session, endpoint=endpoint, counter=counter)
        self._counter = counter
        self._policy = policy
        self._timeouts = timeouts

    @contextmanager
    def open(self, url: str, *, start_byte: int = 0) -> Iterator[HttpContentResponse]:
        response = self._open_with_retry(url, start_byte)
        try:
            yield HttpContentResponse(response)
        finally:
            response.close()

    def close(self) -> None:
        self._session.close()

    def _open_with_retry(self, url: str, start_byte: int) -> requests.Response:
        try:
            return execute_with_retry(
                self._policy,
                lambda: self._open_once(url, start_byte),
                on_retry=lambda _e, _d: self._counter.add("retries"),
            )
        except TransientError as exc:
            if exc.kind == "throttled":
                raise ThrottledError(
                    f"iCloud kept throttling downloads ({exc}); run again later"
                ) from exc
            raise ContentError(f"download failed after every retry ({exc})") from exc

    def _open_once(self, url: str, start_byte: int) -> requests.Response:
        headers = {"Range": f"bytes={start_byte}-"} if start_byte > 0 else {}
        try:
            response = self._session.get(
                url,
                headers=headers,
                stream=True,
                timeout=(self._timeouts.connect_s, self._timeouts.read_s),
            )
        except requests.RequestException as exc:
            raise TransientError(type(exc).__name__, kind="network") from exc
        status = response.status_code
        if status in (200, 206):
            return response
        response.close()
        if status == 410:
            raise UrlExpiredError("the download URL expired (HTTP 410): fetch a fresh record")
        retry_after = parse_retry_after_s(response.headers.get("Retry-After"))
        if status in _THROTTLE_STATUSES:
            raise TransientError(f"HTTP {status}", kind="throttled", retry_after_s=retry_after)
        if status >= 500:
            raise TransientError(f"HTTP {status}", kind="unavailable", retry_after_s=retry_after)
        if status == 416:
            raise ContentError(f"the server refused byte range {start_byte}- (HTTP 416)")
        raise content_status_error(status)


def content_status_error(status: int) -> IcloudError:
    """The error for a content GET answered with an unexpected status (not 2xx/410/416/429/5xx)."""
    if 400 <= status < 500:
        why = _REFUSED_WHY.get(status, "refused")
        return ResourceUnavailableError(
            f"iCloud answered HTTP {status} for this file ({why})", status
        )
    return IcloudError(f"iCloud answered HTTP {status} to a download")


_REFUSED_WHY = {
    404: "removed or re-processed since it was listed?",
    403: "its signed URL was refused",
    401: "its signed URL was refused",
    400: "the request was refused as malformed",
}
