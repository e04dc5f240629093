"""The deletion pages: the recorded plans, one plan with thumbnails and evidence, a new plan,
and Execute behind a confirmation.

Invariants:
- Every route needs a session (without one: a redirect to /login); every POST checks the
  session's CSRF token first (engine.web.app.WebUI.checked_form): a missing or wrong one is
  403 and nothing is planned or deleted.
- Pages only read (engine.web.deletion_read, never the writer lock). Making a plan and
  executing one are the CLI's own actions (engine.web.deletion_run): they take the writer lock
  as `delete plan` / `delete execute` do, and refuse, changing nothing, while another command
  holds it.
- "Check only" on the confirmation form is `delete execute --dry-run`: every check, nothing
  deleted or recorded.
- Execute needs the confirmation form: `confirm=yes` and the sha256 of the plan the person
  was shown; anything else is a 400 and nothing is deleted. `force` is offered only when the
  plan is over the mass-delete limits, which is what the CLI's `--force` overrides.
- The dashboard's "deletion plan waiting" alarm is added here (`waiting_plan_alarms`, one of
  WebUI.alarm_sources): the newest plan made and not executed, linking to its page.
- Thumbnails come from engine.thumbnails (the local copy, cached in the state folder); an id
  that is not an asset of the ledger is a 404, an unreadable copy a placeholder image.
"""

from __future__ import annotations

import re
from functools import partial
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.errors import PhotoledgerError
from engine.services import Services, open_reader
from engine.thumbnails import thumbnail_for
from engine.units import human_bytes
from engine.web.dashboard import Alarm
from engine.web.deletion_read import read_plan, read_plan_list, read_waiting_plan
from engine.web.deletion_run import ActionError, execute_plan, make_plan, outcome_rows

if TYPE_CHECKING:  # engine.web.app imports this module to register its routes
    from engine.web.app import WebUI

HEX_ID = re.compile(r"[0-9a-f]{32}")


def routes(web: WebUI) -> list[Route]:
    """The deletion pages' routes."""
    pages = DeletionPages(web)
    web.alarm_sources.append(waiting_plan_alarms)
    return [
        Route("/deletion", pages.plans, methods=["GET"]),
        Route("/deletion/plan", pages.new_plan, methods=["POST"]),
        Route("/deletion/plans/{plan_id}", pages.plan, methods=["GET"]),
        Route("/deletion/plans/{plan_id}/confirm", pages.confirm, methods=["GET"]),
        Route("/deletion/plans/{plan_id}/execute", pages.execute, methods=["POST"]),
        Route("/deletion/thumbnails/{asset_id}", pages.thumbnail, methods=["GET"]),
    ]


def waiting_plan_alarms(services: Services) -> list[Alarm]:
    """The dashboard's "deletion plan waiting" alarm, linking to the plan."""
    waiting = read_waiting_plan(services)
    return [] if waiting is None else [Alarm(waiting.text, False, waiting.link)]


class DeletionPages:
    """The handlers, sharing the WebUI's library, sessions and templates."""

    def __init__(self, web: WebUI) -> None:
        self.web = web

    def plans(self, request: Request) -> Response:
        found = self.web.current_session(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        try:
            plans = read_plan_list(self.web.config, self.web.runtime)
        except PhotoledgerError as exc:
            return self._refused(request, exc, 503)
        return self.web.render(request, "deletion_plans.html", csrf=found[1].csrf, plans=plans)

    async def new_plan(self, request: Request) -> Response:
        checked = await self.web.checked_form(request)
        if isinstance(checked, Response):
            return checked
        made = await run_in_threadpool(make_plan, self.web.config, self.web.runtime)
        if isinstance(made, ActionError):
            return self.web.render(request, "deletion_refused.html",
                                   409 if made.is_locked else 503, error=made,
                                   action="No plan was made", csrf=checked[0].csrf)
        return RedirectResponse(f"/deletion/plans/{made.plan_id}", status_code=303)

    def plan(self, request: Request) -> Response:
        return self._plan_page(request, "deletion_plan.html")

    def confirm(self, request: Request) -> Response:
        return self._plan_page(request, "deletion_confirm.html")

    def _plan_page(self, request: Request, template: str) -> Response:
        found = self.web.current_session(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        plan_id = str(request.path_params["plan_id"])
        try:
            view = read_plan(self.web.config, self.web.runtime, plan_id) if HEX_ID.fullmatch(
                plan_id) else None
        except PhotoledgerError as exc:
            return self._refused(request, exc, 409)
        if view is None:
            return self.web.render(request, "error.html", 404,
                                   message=f"There is no deletion plan {plan_id[:40]}.")
        return self.web.render(request, template, csrf=found[1].csrf, view=view)

    async def execute(self, request: Request) -> Response:
        checked = await self.web.checked_form(request)
        if isinstance(checked, Response):
            return checked
        session, form = checked
        plan_id = str(request.path_params["plan_id"])
        if not HEX_ID.fullmatch(plan_id):
            return self.web.render(request, "error.html", 404,
                                   message=f"There is no deletion plan {plan_id[:40]}.")
        try:
            view = await run_in_threadpool(read_plan, self.web.config, self.web.runtime, plan_id)
        except PhotoledgerError as exc:
            return self._refused(request, exc, 409)
        if view is None or form.get("confirm") != "yes" or (
                form.get("plan_sha256") != view.plan_sha256):
            return self.web.render(request, "error.html", 400, message=(
                "Not executed: the confirmation did not name this plan. Open the plan, press "
                "Execute and confirm again."))
        force = bool(view.needs_force) and form.get("force") == "yes"
        result = await run_in_threadpool(partial(
            execute_plan, self.web.config, self.web.runtime, plan_id, force=force,
            dry_run=form.get("dry_run") == "yes"))
        status = 409 if result.error is not None and result.error.is_locked else 200
        summary = result.summary
        return self.web.render(
            request, "deletion_result.html", status, result=result, plan_id=plan_id,
            csrf=session.csrf,
            rows=outcome_rows(summary), freed=human_bytes(summary.freed_bytes if summary else 0),
            reread=human_bytes(summary.nas_reread_bytes if summary else 0))

    def thumbnail(self, request: Request) -> Response:
        if self.web.current_session(request) is None:
            return RedirectResponse("/login", status_code=303)
        asset_id = str(request.path_params["asset_id"])
        if not HEX_ID.fullmatch(asset_id):
            return Response("no such asset", 404, media_type="text/plain")
        config = self.web.config
        with open_reader(config, self.web.runtime, catch_up=False) as services:
            state = services.projection.states_of({asset_id}).get(asset_id)
        if state is None:
            return Response("no such asset", 404, media_type="text/plain")
        thumb = thumbnail_for(state, config.library_root, config.state_dir,
                              ffmpeg=config.settings.compression.ffmpeg)
        headers = {"Cache-Control": "no-store" if thumb.is_placeholder else "private, max-age=600",
                   "X-Content-Type-Options": "nosniff"}
        return Response(thumb.data, 200, media_type=thumb.media_type, headers=headers)

    def _refused(self, request: Request, exc: PhotoledgerError, status: int) -> Response:
        return self.web.render(request, "error.html", status,
                               message=f"{exc} (exit code {int(exc.exit_code)})")
