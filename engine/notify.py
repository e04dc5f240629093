"""Notifications about what the user must act on: a script, an e-mail and/or Apprise per event.

Invariants:
- Sending never raises: every channel failure (script missing, non-zero exit, timeout, SMTP
  refused, TLS or login failure) becomes one problem line the caller shows as a warning, so a
  failing notification never fails a run. A problem line never shows a known secret (***).
- The script gets everything in its environment: PHOTOLEDGER_EVENT (the event name),
  PHOTOLEDGER_SUMMARY (one line) and PHOTOLEDGER_DETAIL_<NAME> for each detail, on top of
  engine.child_env's scrubbed environment: no photoledger secret reaches it.
- Secrets stay out of the config: the SMTP password comes from PHOTOLEDGER_SMTP_PASSWORD (or
  the file PHOTOLEDGER_SMTP_PASSWORD_FILE names) in the environment handed in; Apprise URLs
  from `notify.apprise_urls` and/or PHOTOLEDGER_APPRISE_URLS(_FILE), whitespace-separated.
- Every channel gets the same texts: the title `photoledger: <event>: <summary>`, the body the
  summary and one `name: value` line per detail.
- Network and processes are passed in (`connect`, `run_process`), so tests can count calls;
  the defaults are smtplib and subprocess against real servers and programs.
"""

from __future__ import annotations

import re
import smtplib
import ssl
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Literal

import msgspec

from engine.child_env import child_environment
from engine.errors import ConfigError
from engine.notify_apprise import send_apprise
from engine.secrets import APPRISE_URLS, SMTP_PASSWORD, mask, read_secret

NotifyEvent = Literal[
    "2fa-needed", "run-failed", "quarantined", "deletion-plan-waiting", "run-completed",
    "assets-failed", "backup-damaged", "trust-expiring",
]
SMTP_PASSWORD_ENV = SMTP_PASSWORD


class EmailSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    smtp_host: str | None = None  # None: no e-mail
    smtp_port: int = 587
    starttls: bool = True
    username: str | None = None
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    ca_file: str | None = None  # trusted besides the system's CAs (a self-signed server)
    timeout_s: float = 30.0


class NotifySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    events: tuple[NotifyEvent, ...] = (
        "2fa-needed", "run-failed", "quarantined", "deletion-plan-waiting", "assets-failed",
        "backup-damaged", "trust-expiring",
    )
    script: str | None = None
    script_timeout_s: float = 30.0
    email: EmailSettings = EmailSettings()
    apprise_urls: tuple[str, ...] = ()  # Apprise service URLs (ntfy://, tgram://, mailto:// ...)


@dataclass(frozen=True)
class Notification:
    """One thing to tell the user: an event name, a one-line summary and named details."""

    event: NotifyEvent
    summary: str
    details: Mapping[str, str] = field(default_factory=dict)


Connect = Callable[[str, int, float], smtplib.SMTP]
RunProcess = Callable[..., subprocess.CompletedProcess[bytes]]


def _smtp_connect(host: str, port: int, timeout_s: float) -> smtplib.SMTP:
    return smtplib.SMTP(host, port, timeout=timeout_s)


@dataclass
class Notifier:
    """Sends notifications through the configured channels; collects problems, never raises."""

    settings: NotifySettings
    environ: Mapping[str, str]
    connect: Connect = _smtp_connect
    run_process: RunProcess = subprocess.run
    problems: list[str] = field(default_factory=list)

    def send(self, notification: Notification) -> list[str]:
        """Deliver one notification if its event is enabled; returns this call's problems."""
        if notification.event not in self.settings.events:
            return []
        found: list[str] = []
        if self.settings.script:
            found += self._run_script(self.settings.script, notification)
        if self.settings.email.smtp_host:
            found += self._send_email(self.settings.email, notification)
        found += self._send_apprise(notification)
        found = [mask(line) for line in found]  # a script or server may echo a secret back
        self.problems += found
        return found

    def _run_script(self, script: str, n: Notification) -> list[str]:
        env = child_environment(script_environment(n), environ=self.environ)
        try:
            result = self.run_process(
                [script], env=env, capture_output=True, timeout=self.settings.script_timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return [f"notify script {script} timed out after {self.settings.script_timeout_s} s"]
        except OSError as exc:
            return [f"notify script {script} cannot run: {exc.strerror or exc}"]
        if result.returncode != 0:
            tail = result.stderr.decode(errors="replace").strip().splitlines()[-1:]
            return [f"notify script {script} exited {result.returncode}"
                    + (f": {tail[0]}" if tail else "")]
        return []

    def _send_email(self, email: EmailSettings, n: Notification) -> list[str]:
        if not email.recipients or not email.sender:
            return ["notify.email needs sender and recipients to send e-mail"]
        assert email.smtp_host is not None
        try:
            with self.connect(email.smtp_host, email.smtp_port, email.timeout_s) as smtp:
                smtp.ehlo()
                if email.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=email.ca_file))
                    smtp.ehlo()
                if email.username:
                    smtp.login(email.username, read_secret(SMTP_PASSWORD, self.environ) or "")
                smtp.send_message(email_message(email, n))
        except ConfigError as exc:
            return [f"notify e-mail: {exc}"]
        except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
            return [f"notify e-mail via {email.smtp_host}:{email.smtp_port} failed: "
                    f"{type(exc).__name__}: {exc}"]
        return []


    def _send_apprise(self, n: Notification) -> list[str]:
        try:
            urls = apprise_urls(self.settings, self.environ)
        except ConfigError as exc:
            return [f"notify via Apprise: {exc}"]
        if not urls:
            return []
        return send_apprise(urls, n.event, title_of(n), body_of(n))


def apprise_urls(settings: NotifySettings, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The configured Apprise URLs, then those of PHOTOLEDGER_APPRISE_URLS(_FILE)."""
    from_env = read_secret(APPRISE_URLS, environ) or ""
    return (*settings.apprise_urls, *from_env.split())


def title_of(n: Notification) -> str:
    """The one-line title every channel shows."""
    return f"photoledger: {n.event}: {n.summary}"[:200]


def body_of(n: Notification) -> str:
    """The summary, then one `name: value` line per detail."""
    lines = [n.summary, "", *(f"{k}: {v}" for k, v in n.details.items())]
    return "\n".join(lines) + "\n"


def script_environment(n: Notification) -> dict[str, str]:
    """The variables a notify script receives for `n`."""
    env = {"PHOTOLEDGER_EVENT": n.event, "PHOTOLEDGER_SUMMARY": n.summary}
    for name, value in n.details.items():
        env[f"PHOTOLEDGER_DETAIL_{re.sub(r'[^A-Z0-9]+', '_', name.upper())}"] = value
    return env


def email_message(email: EmailSettings, n: Notification) -> EmailMessage:
    """The e-mail for `n`: the summary as subject, details one per line."""
    message = EmailMessage()
    message["Subject"] = title_of(n)
    message["From"] = email.sender or ""
    message["To"] = ", ".join(email.recipients)
    message.set_content(body_of(n))
    return message
