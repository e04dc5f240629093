"""Notifications: e-mail through a real SMTP server on loopback (plain + AUTH, STARTTLS with
its own certificate), the script's environment, and failures that never raise."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from engine.notify import (
    SMTP_PASSWORD_ENV,
    EmailSettings,
    Notification,
    Notifier,
    NotifySettings,
    script_environment,
)

PLAN = Notification("deletion-plan-waiting", "plan p1 with 3 assets waits",
                    {"plan_id": "p1", "assets": "3"})


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.logins: list[tuple[str, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: ARG002
        self.messages.append(envelope)
        return "250 OK"

    def authenticate(self, *args: Any) -> AuthResult:
        auth_data = args[-1]  # aiosmtpd calls (server, session, envelope, mechanism, data)
        assert isinstance(auth_data, LoginPassword)
        login = (auth_data.login.decode(), auth_data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == ("family", "s3cret"), handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_plain() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=inbox.authenticate,
                            auth_require_tls=False, auth_exclude_mechanism=["LOGIN"])
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def settings(port: int, **email: Any) -> NotifySettings:
    base: dict[str, Any] = {"smtp_host": "127.0.0.1", "smtp_port": port, "starttls": False,
                            "sender": "photoledger@home.lan", "recipients": ("me@home.lan",),
                            "timeout_s": 10.0}
    return NotifySettings(email=EmailSettings(**(base | email)))


def test_email_with_login_reaches_the_server(smtp_plain: tuple[Inbox, int]) -> None:
    inbox, port = smtp_plain
    notifier = Notifier(settings(port, username="family"), {SMTP_PASSWORD_ENV: "s3cret"})
    assert notifier.send(PLAN) == []
    assert inbox.logins == [("family", "s3cret")]
    [envelope] = inbox.messages
    assert envelope.rcpt_tos == ["me@home.lan"]
    body = envelope.content.decode()
    assert "deletion-plan-waiting" in body and "plan_id: p1" in body


def test_wrong_smtp_password_is_a_problem_not_an_error(smtp_plain: tuple[Inbox, int]) -> None:
    inbox, port = smtp_plain
    problems = Notifier(settings(port, username="family"), {SMTP_PASSWORD_ENV: "nope"}).send(PLAN)
    assert len(problems) == 1 and "SMTPAuthenticationError" in problems[0]
    assert inbox.messages == []


def test_starttls_with_the_servers_own_certificate(certificate: tuple[Path, Path]) -> None:
    import ssl

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True)
    controller.start()
    try:
        trusted = Notifier(settings(port, starttls=True, ca_file=str(cert)), {})
        assert trusted.send(PLAN) == []
        untrusted = Notifier(settings(port, starttls=True), {})
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.send(PLAN)[0]
        refused = Notifier(settings(port, starttls=False), {})  # server requires STARTTLS
        assert refused.send(PLAN)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1


def test_unreachable_server_and_broken_script_never_raise(tmp_path: Path) -> None:
    script = tmp_path / "fail.sh"
    script.write_text("#!/bin/sh\necho 'no mail today' >&2\nexit 3\n")
    script.chmod(0o755)
    notify = NotifySettings(script=str(script), email=settings(free_port()).email)
    problems = Notifier(notify, dict(os.environ)).send(PLAN)
    assert len(problems) == 2
    assert "exited 3: no mail today" in problems[0] and "failed" in problems[1]
    missing = NotifySettings(script=str(tmp_path / "nope.sh"))
    assert "cannot run" in Notifier(missing, {}).send(PLAN)[0]


def test_disabled_event_sends_nothing_and_script_gets_details(tmp_path: Path) -> None:
    out = tmp_path / "env.txt"
    script = tmp_path / "env.sh"
    script.write_text(f"#!/bin/sh\nenv > {out}\n")
    script.chmod(0o755)
    notifier = Notifier(NotifySettings(script=str(script)), {"PATH": os.environ["PATH"]})
    assert notifier.send(Notification("run-completed", "done")) == []  # not enabled by default
    assert not out.exists()
    assert notifier.send(PLAN) == []
    env = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    assert env["PHOTOLEDGER_EVENT"] == "deletion-plan-waiting"
    assert env["PHOTOLEDGER_DETAIL_PLAN_ID"] == "p1" and env["PHOTOLEDGER_DETAIL_ASSETS"] == "3"
    assert script_environment(PLAN)["PHOTOLEDGER_SUMMARY"] == PLAN.summary
