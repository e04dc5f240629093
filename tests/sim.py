"""Test helpers: start the iCloud simulator and point the real pyicloud at it over HTTP.

`LocalRedirectAdapter` is the smallest equivalent of the product's redirect: every request for
an Apple host goes to the simulator with the same path and query, the Apple host in
`X-Photoledger-Original-Host`, and the response keeps the Apple URL, so cookies and pyicloud's
own URL handling see Apple's hosts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from pyicloud import PyiCloudService
from requests.adapters import HTTPAdapter
from requests.models import PreparedRequest, Response

from simulator.icloud.accounts import SimAccount
from simulator.icloud.contract import PhotoDatabase
from simulator.icloud.server import ORIGINAL_HOST_HEADER, SimulatorServer

if TYPE_CHECKING:
    from engine.icloud.adapter import PyicloudPort

USERNAME = "jdoe@example.com"
PASSWORD = "correct horse battery staple"


class LocalRedirectAdapter(HTTPAdapter):
    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._target = urlsplit(base_url)

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:  # type: ignore[override]
        # Proxies were chosen for the Apple URL; loopback is reached directly. A test must never
        # hang on a stalled socket, and pyicloud's login calls set no timeout.
        kwargs["proxies"] = {}
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = (5, 60)
        original_url = request.url or ""
        parts = urlsplit(original_url)
        local = request.copy()
        local.url = urlunsplit(
            (self._target.scheme, self._target.netloc, parts.path, parts.query, "")
        )
        local.headers[ORIGINAL_HOST_HEADER] = parts.hostname or ""
        response = super().send(local, **kwargs)
        response.url = original_url
        response.request = request
        return response


def connect_pyicloud(
    server: SimulatorServer,
    username: str = USERNAME,
    password: str = PASSWORD,
    cookie_dir: Path | str = "",
    **kwargs: Any,
) -> PyiCloudService:
    """Log the real pyicloud in to the simulator (2FA may still be required afterwards)."""
    api = PyiCloudService(
        username, password, cookie_directory=str(cookie_dir), authenticate=False, **kwargs
    )
    api.session.mount("https://", LocalRedirectAdapter(server.base_url))
    api.authenticate()
    return api


@contextmanager
def start_simulator(
    database: PhotoDatabase,
    username: str = USERNAME,
    password: str = PASSWORD,
    **account_options: Any,
) -> Iterator[SimulatorServer]:
    """A running simulator with one account; server options go in `server_options`."""
    server_options = account_options.pop("server_options", {})
    account = SimAccount(username, password, database, **account_options)
    with SimulatorServer([account], **server_options) as server:
        yield server


class BytesBlob:
    """Content held in memory (test data is small)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    @property
    def size_bytes(self) -> int:
        return len(self._data)

    def read_range(self, start: int, end_exclusive: int) -> bytes:
        return self._data[start:end_exclusive]


class ZeroBlob:
    """A large body that costs no memory: zero bytes generated per range."""

    def __init__(self, size_bytes: int) -> None:
        self._size_bytes = size_bytes

    @property
    def size_bytes(self) -> int:
        return self._size_bytes

    def read_range(self, start: int, end_exclusive: int) -> bytes:
        return bytes(max(0, min(end_exclusive, self._size_bytes) - start))


class TinyPhotoDatabase:
    """Just enough CloudKit for transport tests: an indexing-state record, a zone, some blobs.

    Every call is recorded in `calls` as (database, op) so tests can see what reached it.
    """

    def __init__(self, blobs: dict[str, Any] | None = None) -> None:
        self.blobs: dict[str, Any] = dict(blobs or {})
        self.calls: list[tuple[str, str]] = []

    def handle(
        self, database: str, op: str, _body: dict[str, Any], _ctx: Any
    ) -> tuple[int, dict[str, Any]]:
        self.calls.append((database, op))
        if op == "zones/list":
            zone = {"zoneName": "PrimarySync", "zoneType": "REGULAR_CUSTOM_ZONE"}
            return 200, {"zones": [{"zoneID": zone, "syncToken": "AQ1"}]}
        record = {
            "recordName": "_indexing",
            "recordType": "CheckIndexingState",
            "fields": {"state": {"value": "FINISHED", "type": "STRING"}},
            "recordChangeTag": "1",
        }
        return 200, {"records": [record], "syncToken": "AQ1"}

    def content(self, token: str) -> Any:
        return self.blobs.get(token)

    def is_indexing_finished(self) -> bool:
        return True


def product_port(server: SimulatorServer, session_dir: Path) -> PyicloudPort:
    """The product's own iCloud port (real pyicloud login, its parser, its content client),
    logged in to the simulator with fast retries."""
    from engine.icloud.factory import build_port_for
    from engine.icloud.retry import RetryPolicy

    policy = RetryPolicy(
        max_attempts=3, base_delay_s=0.001, max_delay_s=0.01, sleep=lambda _s: None
    )
    return build_port_for(
        username=USERNAME,
        session_dir=session_dir,
        dotenv_path=None,
        endpoint=server.base_url,
        password_prompt=None,
        code_source=None,
        environ={"PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD},
        policy=policy,
        keyring_lookup=None,
    )


def read_content(port: PyicloudPort, url: str) -> bytes:
    """Every byte a download URL serves, through the product's content client."""
    with port.open_content(url) as response:
        return b"".join(response.iter_chunks(1 << 16))
