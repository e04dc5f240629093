"""Apple's sign-in as pyicloud drives it: idmsa SRP-6a, HSA2 (2FA) codes, trust, setup/accountLogin.

Invariants:
- A login succeeds only through a real SRP-6a proof against the account's verifier; an unknown
  account gets a decoy challenge and fails at signin/complete exactly like a wrong password, so
  the two are indistinguishable to a client.
- signin/complete answers 200 only when no 2FA is needed or a valid trust token was sent;
  otherwise 409 `{"authType": "hsa2"}`. A session token from an untrusted sign-in still logs in
  through accountLogin, but with `hsaTrustedBrowser: false`, as Apple does.
- The HSA2 boot data never offers the trusted-device bridge (`auth/bridge/step` with
  `bridgeInitiateData`): that path opens a websocket to Apple's push servers.
- No success body carries a top-level `error`, `reason`, `errorMessage` or `errorReason` key:
  pyicloud treats any of them as a failure.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from collections.abc import Mapping
from typing import Any

from simulator.icloud.accounts import (
    SRP_ITERATIONS,
    AuthSession,
    SessionRegistry,
    SimAccount,
    derive_srp_verifier,
    make_salt,
    new_srp_verifier,
)
from simulator.icloud.setup_service import SetupService
from simulator.icloud.transport import (
    Reply,
    SimRequest,
    empty_reply,
    html_reply,
    json_reply,
)

AUTH_PREFIX = "/appleauth/auth"
WRONG_PASSWORD = {
    "serviceErrors": [{"code": "-20101", "message": "Your Apple ID or password was incorrect."}]
}
WRONG_CODE = {
    "service_errors": [
        {"code": "-21669", "title": "Incorrect Verification Code", "message": "Incorrect code."}
    ],
    "hasError": True,
}
NOT_SIGNED_IN = {"serviceErrors": [{"code": "-20283", "message": "Your session has expired."}]}


class AppleAuth:
    """The idmsa.apple.com and setup.icloud.com routes for a fixed set of accounts."""

    def __init__(self, accounts: Mapping[str, SimAccount], registry: SessionRegistry) -> None:
        self._accounts = accounts
        self._registry = registry
        self._lock = threading.Lock()
        self._challenges: dict[str, tuple[str, object]] = {}  # c -> (username, srp verifier)
        self.setup = SetupService(accounts, registry)

    def handle_idmsa(self, req: SimRequest) -> Reply:
        route = (req.method, req.path.removesuffix("/"))
        handlers = {
            ("GET", f"{AUTH_PREFIX}/authorize/signin"): self._authorize_page,
            ("POST", f"{AUTH_PREFIX}/signin/init"): self._signin_init,
            ("POST", f"{AUTH_PREFIX}/signin/complete"): self._signin_complete,
            ("GET", AUTH_PREFIX): self._auth_options,
            ("PUT", f"{AUTH_PREFIX}/verify/phone"): self._send_sms,
            ("POST", f"{AUTH_PREFIX}/verify/trusteddevice/securitycode"): self._verify_code,
            ("POST", f"{AUTH_PREFIX}/verify/phone/securitycode"): self._verify_code,
            ("GET", f"{AUTH_PREFIX}/2sv/trust"): self._trust,
        }
        handler = handlers.get(route)
        if handler is None:
            return json_reply(404, {"serviceErrors": [{"code": "-404", "message": "Not found"}]})
        return handler(req)

    def _authorize_page(self, _req: SimRequest) -> Reply:
        return html_reply(200, "<!DOCTYPE html><html><head><title>Sign In</title></head></html>")

    def _signin_init(self, req: SimRequest) -> Reply:
        body = req.json_body()
        if not isinstance(body, dict) or not body.get("a") or not body.get("accountName"):
            return json_reply(400, {"serviceErrors": [{"code": "-400", "message": "Bad request"}]})
        username = str(body["accountName"])
        account = self._accounts.get(username)
        salt = make_salt()
        # An unknown account gets a decoy verifier so it fails later, like a wrong password.
        password = account.password if account else secrets.token_hex(16)
        protocol = account.protocol if account else "s2k"
        verifier_bytes = derive_srp_verifier(password, protocol, salt, SRP_ITERATIONS)
        verifier = new_srp_verifier(username, salt, verifier_bytes, base64.b64decode(body["a"]))
        s, b = verifier.get_challenge()  # type: ignore[attr-defined]
        if s is None or b is None:  # the SRP-6a safety check refused the client's A
            return json_reply(400, {"serviceErrors": [{"code": "-400", "message": "Bad A"}]})
        c = "d-" + secrets.token_hex(24)
        with self._lock:
            self._challenges[c] = (username, verifier)
        return json_reply(
            200,
            {
                "iteration": SRP_ITERATIONS,
                "salt": base64.b64encode(salt).decode(),
                "protocol": protocol,
                "b": base64.b64encode(b).decode(),
                "c": c,
            },
        )

    def _signin_complete(self, req: SimRequest) -> Reply:
        body = req.json_body()
        if not isinstance(body, dict):
            return json_reply(400, {"serviceErrors": [{"code": "-400", "message": "Bad request"}]})
        with self._lock:
            username, verifier = self._challenges.pop(str(body.get("c")), ("", None))
        account = self._accounts.get(username)
        if verifier is None or account is None or not _is_proof_valid(verifier, body):
            return json_reply(401, WRONG_PASSWORD)
        trusted = account.two_factor == "none" or bool(
            set(body.get("trustTokens") or []) & account.trust_tokens
        )
        session = self._registry.start_auth_session(username, is_verified=trusted)
        headers = self._session_headers(session)
        if trusted:
            return json_reply(200, {"authType": "hsa2"}, headers)
        if account.two_factor == "device":
            self._registry.new_code(username)  # what the trusted device now shows
        return json_reply(409, {"authType": "hsa2"}, headers)

    def _session_headers(self, session: AuthSession) -> list[tuple[str, str]]:
        return [
            ("X-Apple-Session-Token", self._registry.issue_session_token(session)),
            ("X-Apple-ID-Session-Id", session.session_id),
            ("scnt", session.scnt),
            ("X-Apple-ID-Account-Country", "USA"),
            ("X-Apple-Auth-Attributes", base64.b64encode(session.session_id.encode()).decode()),
            ("X-Apple-TwoSV-Trust-Eligible", "true"),
        ]

    def _current(self, req: SimRequest) -> tuple[AuthSession, SimAccount] | None:
        session = self._registry.auth_session(req.header("X-Apple-ID-Session-Id"))
        if session is None:
            return None
        return session, self._accounts[session.username]

    def _auth_options(self, req: SimRequest) -> Reply:
        current = self._current(req)
        if current is None:
            return json_reply(401, NOT_SIGNED_IN)
        _, account = current
        options = _auth_options_for(account)
        if "text/html" in (req.header("Accept") or ""):
            boot = json.dumps({"direct": _boot_direct_for(account)})
            page = (
                "<!DOCTYPE html><html><head>"
                f'<script type="application/json" class="boot_args">{boot}</script>'
                "</head><body></body></html>"
            )
            return html_reply(200, page)
        return json_reply(200, options)

    def _send_sms(self, req: SimRequest) -> Reply:
        current = self._current(req)
        if current is None:
            return json_reply(401, NOT_SIGNED_IN)
        _, account = current
        self._registry.new_code(account.username)
        return json_reply(
            200,
            {
                "trustedPhoneNumber": _phone(account),
                "securityCode": {"length": 6, "tooManyCodesSent": False},
                "mode": "sms",
                "type": "verification",
            },
        )

    def _verify_code(self, req: SimRequest) -> Reply:
        current = self._current(req)
        body = req.json_body()
        if current is None or not isinstance(body, dict):
            return json_reply(401, NOT_SIGNED_IN)
        session, account = current
        code = body.get("securityCode", {}).get("code") if isinstance(body, dict) else None
        if not isinstance(code, str) or not self._registry.consume_code(account.username, code):
            return json_reply(400, WRONG_CODE)
        self._registry.mark_verified(session.session_id)
        return empty_reply(204, self._session_headers(session))

    def _trust(self, req: SimRequest) -> Reply:
        current = self._current(req)
        if current is None or not current[0].is_verified:
            return json_reply(401, NOT_SIGNED_IN)
        session, account = current
        trust_token = "HSARMTKNSRVXWFla" + secrets.token_urlsafe(48)
        account.trust_tokens.add(trust_token)
        headers = [*self._session_headers(session), ("X-Apple-TwoSV-Trust-Token", trust_token)]
        return empty_reply(204, headers)


def _is_proof_valid(verifier: object, body: Mapping[str, Any]) -> bool:
    try:
        m1 = base64.b64decode(str(body.get("m1", "")))
    except ValueError:
        return False
    h_amk = verifier.verify_session(m1)  # type: ignore[attr-defined]
    return h_amk is not None


def _phone(account: SimAccount) -> dict[str, Any]:
    return {
        "id": 1,
        "numberWithDialCode": account.phone_number,
        "obfuscatedNumber": account.phone_number,
        "pushMode": "sms",
        "nonFTEU": False,
    }


def _auth_options_for(account: SimAccount) -> dict[str, Any]:
    """The JSON answer to GET /appleauth/auth: how the code is delivered for this account."""
    return {
        "trustedPhoneNumbers": [_phone(account)],
        "trustedPhoneNumber": _phone(account),
        "securityCode": {"length": 6, "tooManyCodesSent": False, "securityCodeLocked": False},
        "mode": "sms" if account.two_factor == "sms" else "push",
        "type": "verification",
        "hasTrustedDevices": account.two_factor == "device",
        "authenticationType": "hsa2",
        "supportsRecovery": True,
    }


def _boot_direct_for(account: SimAccount) -> dict[str, Any]:
    """The `direct` part of the HTML boot_args.

    pyicloud reads the trusted phone only from `twoSV.bridgeInitiateData.phoneNumberVerification`
    in the HTML, so an SMS account carries it there, with a route that is not the bridge.
    """
    if account.two_factor == "sms":
        verification = {
            "trustedPhoneNumber": _phone(account),
            "trustedPhoneNumbers": [_phone(account)],
        }
        return {
            "authInitialRoute": "auth/verify/phone",
            "hasTrustedDevices": False,
            "twoSV": {
                "authFactors": ["sms"],
                "phoneNumberVerification": verification,
                "bridgeInitiateData": {"phoneNumberVerification": verification},
            },
        }
    return {
        "authInitialRoute": "auth/verify/trusteddevice",
        "hasTrustedDevices": True,
        "twoSV": {"authFactors": ["device", "sms"]},
    }
