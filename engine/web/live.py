"""Live progress of the writer that runs now (`run`, `watch`, any stage), and its Cancel button.

Invariants:
- Everything shown comes from the progress board's snapshot file (engine.progress_board) as
  engine.run_control reads it: no ledger, no lock, nothing written. A snapshot whose pid no
  longer holds the library's lock reads as not running.
- GET /progress/events is a server-sent event stream (session required, else 401): one
  `progress` event at once, then one each time what is shown changes (checked every
  POLL_S), a comment line every KEEPALIVE_S, and the stream ends after STREAM_S (the browser
  reconnects by itself), so a server stopping never waits long for it.
- Cancel is two steps: GET /progress/cancel?run=ID asks for confirmation, its POST (CSRF
  checked first: 403 and nothing happens) sends SIGTERM through engine.run_control, only to
  the pid that holds this library's lock for that same run. The page then says
  "cancelling…" until the run has recorded its outcome, and then shows it.
- Bytes are in binary units (KiB, MiB), rates per second, times left in words.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from engine.errors import ExitCode
from engine.reporting import PHASE_VERBS
from engine.run_control import (
    CANCELLABLE,
    ELSEWHERE,
    FINISHED,
    RUNNING,
    STOPPED,
    WAITING,
    Live,
    read_live,
    request_cancel,
)
from engine.units import human_bytes

if TYPE_CHECKING:
    from engine.web.app import WebUI

POLL_S = 0.5
KEEPALIVE_S = 15.0
STREAM_S = 120.0


def duration_words(seconds: float | None) -> str:
    """75 -> '1 min 15 s'; None -> '-'."""
    if seconds is None:
        return "-"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def _of(done: int, total: int | None, size: bool) -> str:
    shown = human_bytes if size else str
    if total is None and done == 0:
        return "-"
    if total is None:
        return f"{shown(done)} (total not known yet)"
    if size:  # "1.5 MiB of 17.3 MiB"
        return f"{human_bytes(done)} of {human_bytes(total)}"
    return f"{done} of {total}"


def live_words(live: Live, cancelling: str = "") -> dict[str, Any]:
    """What the panel shows, in words (the SSE event's data and the page's first render).
    `cancelling`: the run id a Cancel was sent to from this page."""
    snap = live.snapshot
    is_cancelling = snap is not None and snap.run_id == cancelling and live.state == RUNNING
    words: dict[str, Any] = {"state": live.state, "headline": _headline(live, cancelling),
                             "active": live.state in CANCELLABLE and not is_cancelling,
                             "moving": live.state in (RUNNING, ELSEWHERE), "run_id": "",
                             "pid": 0}
    if snap is None:
        return words
    pace = live.pace
    percent = None
    if snap.bytes_total:
        percent = min(100, round(100 * snap.bytes_done / snap.bytes_total))
    elif snap.assets_total:
        percent = min(100, round(100 * snap.assets_done / snap.assets_total))
    rate = "-"
    if pace is not None and pace.rate_per_s is not None:
        rate = (f"{human_bytes(int(pace.rate_per_s))}/s" if pace.is_bytes
                else f"{pace.rate_per_s:.1f} files/s")
    words.update(
        run_id=snap.run_id, pid=snap.pid, command=snap.command,
        phase=PHASE_VERBS.get(snap.phase, snap.phase) or "starting",
        files=_of(snap.assets_done, snap.assets_total, size=False),
        bytes=_of(snap.bytes_done, snap.bytes_total, size=True),
        rate=rate, eta=duration_words(None if is_cancelling or pace is None
                                      else pace.seconds_left),
        percent=percent, problems=snap.problems, last=snap.last_asset, note=snap.note,
        updated=snap.updated_at, outcome=snap.outcome, exit_code=snap.exit_code)
    return words


def _headline(live: Live, cancelling: str) -> str:
    snap = live.snapshot
    if snap is None:
        return "Nothing is running: no command has reported progress yet."
    who = f"{snap.command} (pid {snap.pid})"
    ended = (f"ended at {_time(snap.finished_at)}: {snap.outcome} "
             f"(exit {snap.exit_code}{_meaning(snap.exit_code)})")
    since = _time(snap.started_at)
    if live.state == RUNNING and cancelling == snap.run_id:
        return f"Cancelling {who}… files already in flight are finished first."
    return {
        RUNNING: f"{who} is running since {since}.",
        ELSEWHERE: (f"{snap.command} is running since {since} in a process this server "
                    f"cannot see (pid {snap.pid} on {snap.host}: another container?), so it "
                    "cannot be cancelled from here."),
        WAITING: f"watch (pid {snap.pid}) waits for its next cycle; the last cycle {ended}.",
        FINISHED: f"Nothing is running. {snap.command} {ended}.",
        STOPPED: (f"Nothing is running: {who} stopped without recording its end (killed?). "
                  "`photoledger status` shows what was kept."),
    }[live.state]


def _meaning(code: int | None) -> str:
    if code == ExitCode.INTERRUPTED:
        return ", stopped as asked; everything recorded so far is kept"
    return ""


def _time(iso: str | None) -> str:
    return "-" if iso is None else iso.replace("T", " ").replace("+00:00", " UTC")


def routes(web: WebUI) -> list[Route]:
    pages = LivePages(web)
    # The panel's first state on any page that includes it (the dashboard), without JavaScript.
    web.templates.env.globals["live_now"] = lambda: live_words(pages.live())
    return [
        Route("/progress", pages.page, methods=["GET"]),
        Route("/progress/events", pages.events, methods=["GET"]),
        Route("/progress/cancel", pages.cancel, methods=["GET", "POST"]),
    ]


class LivePages:
    """The live page, its event stream and Cancel."""

    def __init__(self, web: WebUI) -> None:
        self.web = web

    def live(self) -> Live:
        return read_live(self.web.config.state_dir, self.web.runtime.clock())

    def page(self, request: Request) -> Response:
        found = self.web.current_session(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        cancelling = request.query_params.get("cancelling", "")
        return self.web.render(request, "live.html", csrf=found[1].csrf, cancelling=cancelling,
                               live=live_words(self.live(), cancelling))

    def events(self, request: Request) -> Response:
        if self.web.current_session(request) is None:
            return PlainTextResponse("sign in first", status_code=401)
        cancelling = request.query_params.get("cancelling", "")
        response = StreamingResponse(self._stream(request, cancelling),
                                     media_type="text/event-stream")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Accel-Buffering"] = "no"
        return response

    async def _stream(self, request: Request, cancelling: str) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        started = last_sent = loop.time()
        last = ""
        yield "retry: 2000\n\n"
        while loop.time() - started < STREAM_S and not await request.is_disconnected():
            data = json.dumps(live_words(self.live(), cancelling), sort_keys=True)
            if data != last:
                last, last_sent = data, loop.time()
                yield f"event: progress\ndata: {data}\n\n"
            elif loop.time() - last_sent >= KEEPALIVE_S:
                last_sent = loop.time()
                yield ": still here\n\n"
            await asyncio.sleep(POLL_S)

    async def cancel(self, request: Request) -> Response:
        if request.method == "GET":
            found = self.web.current_session(request)
            if found is None:
                return RedirectResponse("/login", status_code=303)
            live = live_words(self.live())
            return self.web.render(request, "live_cancel.html", csrf=found[1].csrf, live=live,
                                   asked=request.query_params.get("run", ""))
        checked = await self.web.checked_form(request)
        if isinstance(checked, Response):
            return checked
        _session, form = checked
        run_id = form.get("run", "")
        refusal = request_cancel(self.web.config.state_dir, run_id, self.web.runtime.clock())
        if refusal is not None:
            return self.web.render(request, "error.html", 409, message=refusal)
        return RedirectResponse(f"/progress?cancelling={run_id}", status_code=303)
