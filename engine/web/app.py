"""The Starlette app: /login, / (the dashboard), /logout.

Invariants:
- Every page but /login needs a live session cookie (engine.web.auth.Sessions); without one
  a page redirects to /login.
- Every form carries a CSRF token and every POST checks it first: a missing or wrong one is
  403 and nothing happens. Before a session exists, the login form's token is a random value
  also set in a SameSite=Strict cookie (double submit).
- A wrong access token is a 401 page and no session. The session cookie is random,
  HttpOnly, SameSite=Strict, and Secure when served over TLS.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from engine.config import Config
from engine.services import Runtime
from engine.web import assets, deletion, live, signin
from engine.web.auth import SESSION_HOURS, Session, Sessions, TokenStore, same_secret
from engine.web.dashboard import AlarmSource, read_dashboard

SESSION_COOKIE = "photoledger_session"
LOGIN_CSRF_COOKIE = "photoledger_login_csrf"
TEMPLATES = Path(__file__).parent / "templates"
MAX_FORM_BYTES = 16 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (the first value of each); anything else, or a body over
    MAX_FORM_BYTES, reads as an empty form (so its CSRF check fails)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
            "application/x-www-form-urlencoded"):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def build_app(config: Config, runtime: Runtime, token_store: TokenStore, *,
              secure_cookies: bool = False) -> Starlette:
    """The web UI for one library; `secure_cookies` when served over TLS."""
    web = WebUI(config, runtime, token_store, secure_cookies)
    return Starlette(routes=[
        Route("/login", web.login, methods=["GET", "POST"]),
        Route("/", web.dashboard, methods=["GET"]),
        Route("/logout", web.logout, methods=["POST"]),
        *page_routes(web),
    ])


def page_routes(web: WebUI) -> list[Route]:
    """Every feature page's routes; each page module owns its handlers and shares `web`'s
    sessions, CSRF check and templates."""
    return [
        *deletion.routes(web),
        *assets.routes(web),
        *live.routes(web),
        *signin.routes(web),
    ]


class WebUI:
    """The pages' handlers, sharing the library, the token store and the sessions."""

    def __init__(self, config: Config, runtime: Runtime, token_store: TokenStore,
                 secure_cookies: bool) -> None:
        self.config = config
        self.runtime = runtime
        self.token_store = token_store
        self.secure_cookies = secure_cookies
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        self.sessions = Sessions(token_store)
        # Page modules add the dashboard's extra alarms here from their routes(web).
        self.alarm_sources: list[AlarmSource] = []

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._login_form(request, 200, None)
        form = await read_form(request)
        if not same_secret(request.cookies.get(LOGIN_CSRF_COOKIE, ""), form.get("csrf")):
            return self.render(request, "error.html", 403,
                              message="The form expired: reload the page.")
        token = form.get("token", "").strip()
        if not token or not self.token_store.verify(token):
            return self._login_form(
                request, 401, "That access token is not the one this server made.")
        session_id, _ = self.sessions.start(self.runtime.clock())
        response = RedirectResponse("/", status_code=303)
        self._set_cookie(response, SESSION_COOKIE, session_id, SESSION_HOURS * 3600)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    def dashboard(self, request: Request) -> Response:
        found = self.current_session(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        return self.render(request, "dashboard.html", csrf=found[1].csrf,
                           board=read_dashboard(self.config, self.runtime, self.alarm_sources))

    async def logout(self, request: Request) -> Response:
        checked = await self.checked_form(request)
        if isinstance(checked, Response):
            return checked
        self.sessions.end(request.cookies[SESSION_COOKIE])  # the session checked_form found
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    def _login_form(self, request: Request, status: int, message: str | None) -> Response:
        csrf = secrets.token_urlsafe(32)
        response = self.render(request, "login.html", status, csrf=csrf, message=message)
        self._set_cookie(response, LOGIN_CSRF_COOKIE, csrf, 600)
        return response

    def _set_cookie(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="strict",
                            secure=self.secure_cookies, path="/")

    async def checked_form(self, request: Request) -> tuple[Session, dict[str, str]] | Response:
        """The session and the posted form when both are good; else the response to send
        (to /login without a session, 403 when the form's CSRF token is missing or wrong)."""
        found = self.current_session(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        form = await read_form(request)
        if not same_secret(found[1].csrf, form.get("csrf")):
            return self.render(request, "error.html", 403,
                               message="Refused: the form's check failed.")
        return found[1], form

    def current_session(self, request: Request) -> tuple[str, Session] | None:
        session_id = request.cookies.get(SESSION_COOKIE)
        session = self.sessions.find(session_id, self.runtime.clock())
        return (session_id, session) if session_id and session else None

    def render(self, request: Request, name: str, status: int = 200,
               **context: object) -> Response:
        response = self.templates.TemplateResponse(request, name, context, status_code=status)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        return response
