"""The Apprise channel of notifications: one URL per service (ntfy, Telegram, Pushover, Gotify,
mailto, json:// ...), the same events and texts as the script and the e-mail.

Invariants:
- Apprise is an optional dependency (`photoledger[apprise]`), imported only when a URL is
  configured; without it a configured URL is a config error at load time.
- A URL holds its service's token: no message shows one in full. A URL Apprise rejects is named
  by its position and scheme only; a delivered-or-failed one by Apprise's privacy form, without
  its query.
- Sending never raises: each URL that fails is one problem line.
"""

from __future__ import annotations

import logging
import re
from typing import Any

INSTALL_HINT = "install the apprise extra: pip install 'photoledger[apprise]'"

_FAILURE_EVENTS = frozenset({"run-failed", "assets-failed", "backup-damaged"})


def scheme_of(url: str) -> str:
    """`tgram://…` for any URL: the scheme alone, never the token after it."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://…" if sep and scheme.isalnum() else "(not a URL)"


def apprise_problem(url: str) -> str | None:
    """Why Apprise cannot use `url` (no secret in the text), or None when it can."""
    try:
        import apprise
    except ImportError:
        return f"Apprise is not installed ({INSTALL_HINT})"
    if not apprise.Apprise().add(url):
        return f"Apprise does not accept this {scheme_of(url)} URL (unknown service or bad form)"
    return None


def send_apprise(urls: tuple[str, ...], event: str, title: str, body: str) -> list[str]:
    """Deliver one notification to every URL; one problem line per URL that fails."""
    try:
        import apprise
    except ImportError:
        return [f"notify.apprise_urls: Apprise is not installed ({INSTALL_HINT})"]
    kind = apprise.NotifyType.FAILURE if event in _FAILURE_EVENTS else apprise.NotifyType.WARNING
    if event == "run-completed":
        kind = apprise.NotifyType.SUCCESS
    problems: list[str] = []
    for index, url in enumerate(urls):
        problem = _send_one(apprise, url, title, body, kind)
        if problem:
            problems.append(f"notify via Apprise URL {index + 1} ({problem}")
    return problems


def _send_one(apprise: Any, url: str, title: str, body: str, kind: Any) -> str | None:
    sender = apprise.Apprise()
    if not sender.add(url):
        return f"{scheme_of(url)}) is not a URL Apprise accepts"
    shown = str(sender[0].url(privacy=True)).split("?", 1)[0]
    try:
        with apprise.LogCapture(level=logging.WARNING) as log:
            delivered = sender.notify(title=title, body=body, notify_type=kind)
            reasons = [line for line in log.getvalue().splitlines() if line.strip()]
    except Exception as exc:  # a plugin bug must not fail the run
        return f"{shown}) failed: {type(exc).__name__}"
    if delivered:
        return None
    reason = reasons[-1].split(" - ", 2)[-1] if reasons else "not delivered"
    return f"{shown}) failed: {hide_url_parts(reason, url)[:200]}"


def hide_url_parts(text: str, url: str) -> str:
    """`text` without any longer piece of `url` (a token, a key, a chat id) in it."""
    for part in sorted(re.split(r"[/:@?&=#,]+", url), key=len, reverse=True):
        if len(part) >= 6:
            text = text.replace(part, "…")
    return text
