"""Answer Apple's 2FA prompt from a browser: the code for the waiting sign-in, a new code, and
the password when none is stored.

Invariants:
- The same engine entries as the CLI: a code goes to engine.icloud.login_flow.submit_code (as
  `login --submit-code`), a new code comes from request_code (as `login --request-code`),
  and "save to keyring" is credentials.store_password after that sign-in (as
  `login --save-password`). No ledger, no lock, no events.
- A password typed here is used for that one sign-in only (it reaches request_code as the
  account's password variable in the mapping passed down, never os.environ), written nowhere
  unless the person ticks "save to keyring". It is never shown back. The form asks for it
  only when engine.icloud.credentials finds none (environment, secret file, .env, keyring).
- Every POST is CSRF-checked first (403, nothing sent to Apple). A wrong code says so and
  the sign-in still waits; success says until when Apple trusts the session (estimated).
- One sign-in action at a time in this server (a lock); Apple's calls run off the event loop.
- The dashboard shows an alarm linking here while a code is awaited.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from engine.config import Config
from engine.errors import PhotoledgerError
from engine.icloud.credentials import find_password, keyring_password, store_password
from engine.icloud.login_flow import request_code, submit_code
from engine.icloud.port import AuthenticationError
from engine.icloud.twofa_state import (
    TwoFactorCodeRequestedError,
    read_state,
    state_path,
    trust_expires_at,
    waiting_since,
)
from engine.secrets import remember
from engine.services import Services
from engine.web.dashboard import Alarm

if TYPE_CHECKING:
    from engine.web.app import WebUI

CODE = re.compile(r"^\d{6}$")
DELIVERY = {"sms": "sent by SMS to your trusted phone",
            "trusted_device": "shown on your trusted Apple device"}


@dataclass(frozen=True)
class SignInState:
    username: str
    waiting_since: datetime | None
    delivery: str
    trusted_until: datetime | None
    has_password: bool


def read_sign_in(config: Config, now: datetime) -> SignInState:
    """What the page shows: the wait, how the code comes, the trust, a stored password."""
    icloud = config.settings.icloud
    state = read_state(state_path(config.state_dir), icloud.username)
    password = find_password(icloud.username, environ=os.environ,
                             dotenv_path=config.path.parent / ".env",
                             keyring_lookup=keyring_password,
                             variables=config.password_variables)
    return SignInState(
        username=icloud.username,
        waiting_since=waiting_since(state, now, icloud.twofa_retry_after_hours),
        delivery=DELIVERY.get(state.method, "sent by Apple"),
        trusted_until=trust_expires_at(state),
        has_password=bool(password),
    )


def trust_words(config: Config) -> str:
    state = read_state(state_path(config.state_dir), config.settings.icloud.username)
    until = trust_expires_at(state)
    if until is None:
        return "Signed in to iCloud."
    return f"Signed in: iCloud trusts this session until about {until:%Y-%m-%d} (estimated)."


def routes(web: WebUI) -> list[Route]:
    pages = SignInPages(web)
    web.alarm_sources.append(pages.alarm)
    return [
        Route("/signin", pages.page, methods=["GET"]),
        Route("/signin/code", pages.code, methods=["POST"]),
        Route("/signin/request", pages.request_new, methods=["POST"]),
    ]


class SignInPages:
    """The sign-in page and its two actions."""

    def __init__(self, web: WebUI) -> None:
        self.web = web
        self.busy = asyncio.Lock()

    def alarm(self, services: Services) -> list[Alarm]:
        state = read_state(state_path(services.config.state_dir),
                           services.config.settings.icloud.username)
        icloud = services.config.settings.icloud
        if waiting_since(state, services.clock(), icloud.twofa_retry_after_hours) is None:
            return []
        return [Alarm("Apple waits for a 2FA code: enter it here.", False, link="/signin")]

    async def show(self, request: Request, csrf: str, status: int = 200, *,
                   message: str = "", done: str = "") -> Response:
        state = await run_in_threadpool(read_sign_in, self.web.config, self.web.runtime.clock())
        return self.web.render(request, "signin.html", status, csrf=csrf, state=state,
                               message=message, done=done)

    async def page(self, request: Request) -> Response:
        found = self.web.current_session(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        return await self.show(request, found[1].csrf)

    async def code(self, request: Request) -> Response:
        checked = await self.web.checked_form(request)
        if isinstance(checked, Response):
            return checked
        session, form = checked
        code = "".join(form.get("code", "").split())
        if not CODE.match(code):
            return await self.show(request, session.csrf, 400,
                                   message="The code is the 6 digits Apple shows: try again.")
        config, now = self.web.config, self.web.runtime.clock()
        async with self.busy:
            try:
                await run_in_threadpool(submit_code, config, code, environ=os.environ, now=now)
            except TwoFactorCodeRequestedError:  # a wrong code: the sign-in still waits
                return await self.show(request, session.csrf, 400, message=(
                    "Apple did not accept that code. Check it and try again (the sign-in "
                    "still waits); a code sent long ago may have expired: ask for a new one."))
            except PhotoledgerError as exc:
                return await self.show(request, session.csrf, 409, message=str(exc))
        return await self.show(request, session.csrf, done=trust_words(config))

    async def request_new(self, request: Request) -> Response:
        checked = await self.web.checked_form(request)
        if isinstance(checked, Response):
            return checked
        session, form = checked
        password = form.get("password", "")
        remember(password or None)
        config = self.web.config
        state = await run_in_threadpool(read_sign_in, config, self.web.runtime.clock())
        if not password and not state.has_password:
            return await self.show(request, session.csrf, 400, message=(
                "No password is stored for this account: type it to sign in."))
        variable = config.password_variables[0]  # this account's own
        environ = {**os.environ, variable: password} if password else dict(os.environ)
        async with self.busy:
            try:
                report = await run_in_threadpool(request_code, config, environ=environ,
                                                 now=self.web.runtime.clock())
                if password and form.get("save") == "yes":
                    await run_in_threadpool(store_password, state.username, password)
            except AuthenticationError as exc:
                return await self.show(request, session.csrf, 401,
                                       message=_refusal_words(exc, bool(password)))
            except PhotoledgerError as exc:
                return await self.show(request, session.csrf, 409, message=str(exc))
        saved = " The password is kept in the OS keyring." if password and form.get(
            "save") == "yes" else ""
        if report.code_requested:
            return await self.show(request, session.csrf, done=(
                f"Apple was asked for a new code: enter it below.{saved}"))
        return await self.show(request, session.csrf, done=trust_words(config) + saved)


def _refusal_words(exc: AuthenticationError, was_typed: bool) -> str:
    """The sign-in's refusal; a password typed on the page is named as such, not the
    environment variable the CLI's message names."""
    if was_typed and "wrong password" in str(exc):
        return "iCloud refused that password: check it and try again."
    return str(exc)
