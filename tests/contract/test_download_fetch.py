"""The fetcher against a real HTTP server (loopback) through the product's content client.

The server is a small `http.server` with Range support whose paths misbehave on purpose:
cut bodies, Content-Length larger than the body, short complete bodies, 410, 503, Range ignored.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from engine.download.fetch import FileJob, NameRegistry, fetch_file, finalize_file
from engine.download.plan import OK
from engine.icloud.content import ContentClient
from engine.icloud.port import CallCounts, ContentResponse
from engine.icloud.redirect import CallCounter
from engine.icloud.retry import RetryPolicy

DATA = os.urandom(300_000)
SHA = hashlib.sha256(DATA).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits: dict[str, int] = {}

    def log_message(self, *_args: object) -> None:
        return

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        count = Handler.hits[path] = Handler.hits.get(path, 0) + 1
        start = _range_start(self.headers.get("Range"))
        if path == "/gone":
            self._status_only(410)
        elif path == "/busy":
            self._status_only(503)
        elif path.startswith("/status-"):
            self._status_only(int(path.removeprefix("/status-")))
        elif path == "/short":
            self._send(DATA[:-1000], 0, len(DATA) - 1000)
        elif path == "/liar-length":
            self._send(DATA, start, len(DATA), cut_at=len(DATA) // 2, lie=True)
        elif path == "/always-cut":
            self._send(DATA, start, len(DATA), cut_at=start + 70_000)
        elif path == "/cut-once":
            self._send(DATA, start, len(DATA), cut_at=100_000 if count == 1 else None)
        elif path == "/no-range":
            self._send(DATA, 0, len(DATA))
        else:
            self._send(DATA, start, len(DATA))

    def _status_only(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(
        self, data: bytes, start: int, total: int, cut_at: int | None = None, lie: bool = False
    ) -> None:
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cut_at is not None:
            self.wfile.write(data[start:cut_at] if not lie else body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


def _range_start(header: str | None) -> int:
    if not header or not header.startswith("bytes="):
        return 0
    return int(header[len("bytes=") :].split("-")[0])


class ContentPort:
    """The part of the port the fetcher uses, backed by the product's ContentClient."""

    def __init__(self) -> None:
        self.calls = CallCounts()
        policy = RetryPolicy(max_attempts=2, base_delay_s=0.01, max_delay_s=0.01)
        self.client = ContentClient(endpoint=None, counter=CallCounter(self.calls), policy=policy)

    def open_content(
        self, url: str, *, start_byte: int = 0
    ) -> AbstractContextManager[ContentResponse]:
        return self.client.open(url, start_byte=start_byte)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def port() -> Iterator[ContentPort]:
    Handler.hits.clear()
    content_port = ContentPort()
    yield content_port
    content_port.client.close()


def job(tmp_path: Path, url: str, declared: int = len(DATA)) -> FileJob:
    return FileJob(
        key="original",
        url=url,
        root=tmp_path,
        relfolder="2024/05/17",
        candidates=("IMG_1.JPG", "IMG_1-300000.JPG"),
        part_name=".IMG_1.JPG.aaaaaaaa.bbbbbbbb.part",
        declared_size_bytes=declared,
        mtime_s=1_700_000_000.0,
    )


def fetch(port: ContentPort, file_job: FileJob, refresh: str | None = None):  # type: ignore[no-untyped-def]
    file_job.folder.mkdir(parents=True, exist_ok=True)
    seen: list[int] = []
    verdict, result = fetch_file(
        port,
        file_job,
        refresh_url=lambda: refresh,
        on_bytes=seen.append,  # type: ignore[arg-type]
    )
    return verdict, result, sum(seen)


def test_whole_file_is_hashed_and_put_in_place(
    tmp_path: Path, port: ContentPort, server: str
) -> None:
    file_job = job(tmp_path, f"{server}/ok")
    verdict, result, streamed = fetch(port, file_job)
    assert verdict == OK
    assert (result.size_bytes, result.sha256, streamed) == (len(DATA), SHA, len(DATA))
    registry = NameRegistry({})
    relpath = finalize_file(
        file_job, owner="a1", size_bytes=result.size_bytes, sha256=result.sha256, registry=registry
    )
    assert relpath == "2024/05/17/IMG_1.JPG"
    final = tmp_path / relpath
    assert final.read_bytes() == DATA
    assert final.stat().st_mtime == 1_700_000_000.0
    assert not (file_job.folder / file_job.part_name).exists()


def test_a_cut_body_is_resumed_with_range_and_hashed_over_both_parts(
    tmp_path: Path, port: ContentPort, server: str
) -> None:
    verdict, result, _ = fetch(port, job(tmp_path, f"{server}/cut-once"))
    assert verdict == OK
    assert result.sha256 == SHA
    assert result.status == "complete"
    assert 0 < len(DATA) - result.body_bytes <= 100_000  # the second request was a Range
    assert Handler.hits["/cut-once"] == 2


def test_a_part_left_by_an_earlier_run_is_resumed(
    tmp_path: Path, port: ContentPort, server: str
) -> None:
    file_job = job(tmp_path, f"{server}/ok")
    file_job.folder.mkdir(parents=True)
    (file_job.folder / file_job.part_name).write_bytes(DATA[:120_000])
    verdict, result, streamed = fetch(port, file_job)
    assert verdict == OK
    assert result.sha256 == SHA
    assert streamed == len(DATA) - 120_000


def test_a_server_ignoring_range_restarts_the_part(
    tmp_path: Path, port: ContentPort, server: str
) -> None:
    file_job = job(tmp_path, f"{server}/no-range")
    file_job.folder.mkdir(parents=True)
    (file_job.folder / file_job.part_name).write_bytes(b"x" * 1000)  # garbage prefix
    verdict, result, _ = fetch(port, file_job)
    assert verdict == OK
    assert result.sha256 == SHA
    assert (file_job.folder / file_job.part_name).read_bytes() == DATA


def test_a_body_cut_every_time_fails_retriably_and_keeps_the_part(
    tmp_path: Path, port: ContentPort, server: str
) -> None:
    file_job = job(tmp_path, f"{server}/always-cut")
    verdict, result, _ = fetch(port, file_job)
    assert verdict.outcome == "failed" and verdict.reason == "cut_body" and verdict.is_retriable
    part = file_job.folder / file_job.part_name
    assert part.stat().st_size == result.size_bytes > 0  # resumable next run
    assert Handler.hits["/always-cut"] == 4  # the first try and three resumes
    assert not (file_job.folder / "IMG_1.JPG").exists()


def test_content_length_larger_than_the_body_fails(
    tmp_path: Path, port: ContentPort, server: str
) -> None:
    verdict, _, _ = fetch(port, job(tmp_path, f"{server}/liar-length"))
    assert verdict.outcome == "failed"
    assert verdict.reason == "cut_body"


def test_a_complete_body_of_another_size_is_quarantined(
    tmp_path: Path, port: ContentPort, server: str
) -> None:
    verdict, result, _ = fetch(port, job(tmp_path, f"{server}/short"))
    assert verdict.outcome == "quarantined"
    assert verdict.reason == "served_size_mismatch"
    assert result.size_bytes == len(DATA) - 1000


def test_an_expired_url_is_refreshed_and_the_part_resumed(
    tmp_path: Path, port: ContentPort, server: str
) -> None:
    verdict, result, _ = fetch(port, job(tmp_path, f"{server}/gone"), refresh=f"{server}/ok")
    assert verdict == OK
    assert result.sha256 == SHA
    assert Handler.hits["/gone"] == 1


def test_an_expired_url_without_a_fresh_one_fails(
    tmp_path: Path, port: ContentPort, server: str
) -> None:
    verdict, _, _ = fetch(port, job(tmp_path, f"{server}/gone"), refresh=None)
    assert verdict.outcome == "failed"
    assert verdict.reason == "url_expired"


def test_503_after_retries_fails_retriably(tmp_path: Path, port: ContentPort, server: str) -> None:
    verdict, _, _ = fetch(port, job(tmp_path, f"{server}/busy"))
    assert verdict.outcome == "failed"
    assert verdict.is_retriable
    assert Handler.hits["/busy"] == 2


def test_finalize_never_replaces_a_different_file_and_adopts_identical_bytes(
    tmp_path: Path, port: ContentPort, server: str
) -> None:
    file_job = job(tmp_path, f"{server}/ok")
    _, result, _ = fetch(port, file_job)
    (file_job.folder / "IMG_1.JPG").write_bytes(b"someone else's photo")
    registry = NameRegistry({})
    relpath = finalize_file(
        file_job, owner="a1", size_bytes=result.size_bytes, sha256=result.sha256, registry=registry
    )
    assert relpath == "2024/05/17/IMG_1-300000.JPG"
    assert (file_job.folder / "IMG_1.JPG").read_bytes() == b"someone else's photo"
    # The same bytes again (a rerun after a crash before the fact was saved): adopted in place.
    again = job(tmp_path, f"{server}/ok")
    _, result, _ = fetch(port, again)
    assert (
        finalize_file(
            again, owner="a1", size_bytes=result.size_bytes, sha256=result.sha256, registry=registry
        )
        == relpath
    )
    # A name held by another asset in the ledger is skipped even when free on disk.
    other = job(tmp_path / "other", f"{server}/ok")
    _, result, _ = fetch(port, other)
    held = NameRegistry({"2024/05/17/img_1.jpg": "b2"})
    assert (
        finalize_file(
            other, owner="a1", size_bytes=result.size_bytes, sha256=result.sha256, registry=held
        )
        == "2024/05/17/IMG_1-300000.JPG"
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_refused_file_fails_that_file_only_without_retries(
    tmp_path: Path, port: ContentPort, server: str, status: int
) -> None:
    file_job = job(tmp_path, f"{server}/status-{status}")
    verdict, result, streamed = fetch(port, file_job)
    assert verdict.outcome == "failed"
    assert f"HTTP {status}" in result.detail
    assert streamed == 0
    assert Handler.hits[f"/status-{status}"] == 1  # a refusal is not retried on the spot
    assert not (file_job.folder / "IMG_1.JPG").exists()
