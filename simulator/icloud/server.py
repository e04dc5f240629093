"""The simulator's HTTP server: one loopback port standing in for every Apple host.

Invariants:
- Every request names the Apple host it was meant for in `X-Photoledger-Original-Host`; the
  server routes on (that host, path) and answers 400 without it. Only `/_sim/...` control
  routes need no such header.
- HTTP/1.1 keep-alive: every response carries Content-Length, and a connection is closed only
  after a deliberately broken body, so clients reuse connections as they would with Apple.
- Faults are applied in one place, before routing: throttling first (the request never reaches
  a handler), then latency for login and CloudKit calls; for content, an expired URL (410)
  before a refusal (ContentStatusRule), and body faults when the body is written.
- Every answered request (except control routes) lands in `requests` with its kind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from simulator.icloud.accounts import SessionRegistry, SimAccount
from simulator.icloud.auth import AppleAuth
from simulator.icloud.contract import (
    CONTAINER_PATH,
    ContentBlob,
    RealityControls,
    RequestContext,
)
from simulator.icloud.control import handle_control
from simulator.icloud.faults import ContentFault, ContentStatusRule, Faults, ThrottleRule
from simulator.icloud.http_body import is_url_expired, plan_body, stream_body
from simulator.icloud.transport import (
    LoggedRequest,
    Reply,
    RequestLog,
    SimRequest,
    html_reply,
    json_reply,
)

ORIGINAL_HOST_HEADER = "X-Photoledger-Original-Host"
DEFAULT_URL_TTL_S = 3600.0
LOGGER = logging.getLogger(__name__)
THROTTLE_PAGE = "<html><head><title>503 Service Temporarily Unavailable</title></head></html>"


def classify_host(host: str) -> str:
    """The request kind for an Apple host: login, cloudkit, content or other."""
    if host == "idmsa.apple.com" or host.startswith("setup.icloud.com"):
        return "login"
    if "ckdatabasews.icloud.com" in host:
        return "cloudkit"
    if "icloud-content.com" in host:
        return "content"
    return "other"


class SimulatorServer:
    """A threaded HTTP server on 127.0.0.1 serving Apple's login, CloudKit and content hosts."""

    def __init__(
        self,
        accounts: Iterable[SimAccount] = (),
        port: int = 0,
        url_ttl_s: float = DEFAULT_URL_TTL_S,
        faults: Faults | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.accounts: dict[str, SimAccount] = {a.username: a for a in accounts}
        self.sessions = SessionRegistry()
        self.auth = AppleAuth(self.accounts, self.sessions)
        self.faults = faults or Faults()
        self.requests = RequestLog()
        self.url_ttl_s = url_ttl_s
        self.clock = clock
        self._httpd = _HTTPServer(("127.0.0.1", port), _Handler, self)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (keep-alive reuse keeps this low)."""
        return self._httpd.connections_accepted

    def add_account(self, account: SimAccount) -> None:
        self.accounts[account.username] = account

    def pending_code(self, username: str) -> str | None:
        """The 2FA code last sent to (or shown for) this account, if one is outstanding."""
        return self.sessions.pending_code(username)

    def expire_sessions(self, status: int = 421, include_session_tokens: bool = False) -> int:
        """Make CloudKit refuse every current web session with `status` (421 or 450).

        With `include_session_tokens`, the stored session tokens die too, so only a fresh SRP
        login works again.
        """
        return self.sessions.expire_web_sessions(status, include_session_tokens)

    def refuse_content(
        self, record_name: str, resource: str, *, status: int = 404, times: int | None = None
    ) -> ContentStatusRule:
        """Answer `status` to downloads of one resource of a record (an asset or master name;
        a key such as "live_video" or a CloudKit prefix), `times` times or until cleared."""
        for account in list(self.accounts.values()):
            database = account.database
            if not isinstance(database, RealityControls):
                continue
            address = database.content_address(record_name, resource)
            if address is not None:
                owner, prefix = address
                rule = ContentStatusRule(status, times, owner=owner, prefix=prefix)
                self.faults.add_content_status(rule)
                return rule
        raise KeyError(f"no account holds a record {record_name!r}")

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.close_open_connections()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def route(self, req: SimRequest, kind: str) -> Reply:
        """Answer a login or CloudKit request (content is streamed by the handler)."""
        if kind == "login" and req.host == "idmsa.apple.com":
            return self.auth.handle_idmsa(req)
        if kind == "login":
            return self.auth.setup.handle(req)
        if kind == "cloudkit":
            return self._cloudkit(req)
        return json_reply(404, {"serverErrorCode": "NOT_FOUND", "reason": f"no host {req.host}"})

    def _cloudkit(self, req: SimRequest) -> Reply:
        database, _, op = req.path.removeprefix(CONTAINER_PATH).partition("/")
        is_known = req.path.startswith(CONTAINER_PATH) and database in ("private", "shared")
        if req.method != "POST" or not is_known or not op:
            return json_reply(404, {"serverErrorCode": "NOT_FOUND", "reason": "unknown path"})
        found = self.auth.setup.authenticated_account(req)
        if isinstance(found, Reply):
            return found
        account, _ = found
        if account.web_access_denied:
            return json_reply(
                200, {"serverErrorCode": "ACCESS_DENIED", "reason": "private db access disabled"}
            )
        body = req.json_body()
        if not isinstance(body, dict):
            return json_reply(400, {"serverErrorCode": "BAD_REQUEST", "reason": "body not JSON"})
        ctx = RequestContext(now_s=self.clock(), url_ttl_s=self.url_ttl_s, dsid=account.dsid)
        try:
            status, payload = account.database.handle(database, op, body, ctx)
        except Exception:  # the database is under test too: answer as CloudKit would, log it
            LOGGER.exception("photo database failed on %s %s", database, op)
            return json_reply(500, {"serverErrorCode": "INTERNAL_ERROR", "reason": "database"})
        return json_reply(status, payload)

    def find_content(self, token: str) -> ContentBlob | None:
        for account in list(self.accounts.values()):
            blob = account.database.content(token)
            if blob is not None:
                return blob
        return None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], sim: SimulatorServer
    ) -> None:
        self.sim = sim
        self._open: set[Any] = set()
        self._open_lock = threading.Lock()
        self.connections_accepted = 0
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
            self.connections_accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-response is normal here (faults, cancelled downloads).
        LOGGER.debug("%s from %s ended with an error", request, client_address, exc_info=True)

    def close_open_connections(self) -> None:
        """Idle keep-alive connections would otherwise hold their threads after stop()."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    _unlogged: LoggedRequest | None = None  # the request being answered, logged at its status
    timeout = 300  # idle keep-alive connections end on their own

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        LOGGER.debug("%s - " + format, self.address_string(), *args)

    def _serve(self) -> None:
        self._unlogged = None
        sim = self.server.sim
        req = self._read_request()
        if req.path.startswith("/_sim/"):
            self._write(handle_control(sim, req))
            return
        if not req.host:
            self._write(json_reply(400, {"reason": f"missing {ORIGINAL_HOST_HEADER} header"}))
            return
        kind = classify_host(req.host)
        self._unlogged = LoggedRequest(req.host, req.method, req.path, 0, kind)
        self._answer(sim, req, kind)

    def _send_status(self, status: int) -> None:
        """Log the request, then start the response: a client that has read the whole body
        must find its request in the log."""
        pending, self._unlogged = self._unlogged, None
        if pending is not None:
            self.server.sim.requests.record(dataclasses.replace(pending, status=status))
        self.send_response(status)

    def _answer(self, sim: SimulatorServer, req: SimRequest, kind: str) -> int:
        rule = sim.faults.take_throttle(kind, req.path)
        if rule is not None:
            return self._write(_throttle_reply(rule))
        if kind in ("login", "cloudkit") and sim.faults.latency_s > 0:
            time.sleep(sim.faults.latency_s)
        if kind == "content":
            return self._serve_content(sim, req)
        return self._write(sim.route(req, kind))

    def _read_request(self) -> SimRequest:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        original = self.headers.get(ORIGINAL_HOST_HEADER) or ""
        return SimRequest(
            method=self.command,
            host=original.split(":")[0].strip().lower(),
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )

    def _write(self, reply: Reply) -> int:
        self._send_status(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)
        return reply.status

    def _serve_content(self, sim: SimulatorServer, req: SimRequest) -> int:
        segments = req.path.split("/")
        if req.method != "GET" or len(segments) < 3 or segments[1] != "B":
            return self._write(html_reply(404, "<html>Not Found</html>"))
        if is_url_expired(req.query.get("e"), sim.clock()):
            return self._write(html_reply(410, "<html>Gone</html>"))
        token = segments[2]
        refusal = sim.faults.take_content_status(token)
        if refusal is not None:
            return self._write(html_reply(refusal.status, f"<html>{refusal.status}</html>"))
        blob = sim.find_content(token)
        if blob is None:
            return self._write(html_reply(404, "<html>Not Found</html>"))
        plan = plan_body(blob.size_bytes, req.header("Range"))
        if plan.status == 416:
            return self._write(html_reply(416, "", [("Content-Range", plan.content_range() or "")]))
        fault = sim.faults.take_content_fault(token)
        self._send_content_head(plan.status, plan.length_bytes, plan.content_range(), fault)
        self._send_content_body(sim, blob, plan.start, plan.end_exclusive, fault)
        return plan.status

    def _send_content_head(
        self, status: int, length: int, content_range: str | None, fault: ContentFault | None
    ) -> None:
        announced = length + (fault.extra_bytes if fault and fault.mode == "overlong" else 0)
        self._send_status(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(announced))
        self.send_header("Accept-Ranges", "bytes")
        if content_range:
            self.send_header("Content-Range", content_range)
        self.end_headers()

    def _send_content_body(
        self,
        sim: SimulatorServer,
        blob: ContentBlob,
        start: int,
        end_exclusive: int,
        fault: ContentFault | None,
    ) -> None:
        if fault is not None:
            # Every content fault leaves the announced length unmet, so the connection must die.
            self.close_connection = True
            if fault.mode == "drop":
                self.wfile.flush()
                return
            if fault.mode == "cut":
                fraction = min(1.0, max(0.0, fault.fraction))
                end_exclusive = start + int((end_exclusive - start) * fraction)
        try:
            stream_body(
                self.wfile, blob, start, end_exclusive, bytes_per_s=sim.faults.bandwidth_bytes_per_s
            )
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _throttle_reply(rule: ThrottleRule) -> Reply:
    headers = [("Retry-After", str(rule.retry_after_s))] if rule.retry_after_s is not None else []
    if rule.status == 503:
        return html_reply(503, THROTTLE_PAGE, headers)
    return json_reply(
        rule.status, {"serverErrorCode": "THROTTLED", "reason": "Too many requests"}, headers
    )
