"""setup.icloud.com: accountLogin, validate and the Photos web-access (PCS) checks.

Invariants:
- accountLogin trades a session token from idmsa for a web token, set as the
  `X-APPLE-WEBAUTH-TOKEN` cookie on the iCloud domain the request came to (.icloud.com or
  .icloud.com.cn), so CloudKit and a later `validate` see it.
- The `webservices` map always advertises ckdatabasews over https on the same domain: pyicloud
  refuses any webservice URL that is not https.
- An account with Advanced Data Protection (`web_access_denied`) reports `isICDRSDisabled: true`
  and then refuses PCS with `ACCESS_DENIED`, which pyicloud raises as that code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.icloud.accounts import AuthSession, SessionRegistry, SimAccount, WebSession
from simulator.icloud.contract import CKDATABASE_HOST
from simulator.icloud.transport import Reply, SimRequest, json_reply

SETUP_PREFIX = "/setup/ws/1"
WEB_TOKEN_COOKIE = "X-APPLE-WEBAUTH-TOKEN"
SESSION_INVALID = {"success": False, "error": "Invalid Session Token", "errorCode": 421}
ACCESS_DENIED = {
    "status": "failure",
    "serverErrorCode": "ACCESS_DENIED",
    "reason": "private db access disabled for this account",
}


def icloud_domain(host: str) -> str:
    return "icloud.com.cn" if host.endswith(".com.cn") else "icloud.com"


class SetupService:
    def __init__(self, accounts: Mapping[str, SimAccount], registry: SessionRegistry) -> None:
        self._accounts = accounts
        self._registry = registry

    def handle(self, req: SimRequest) -> Reply:
        route = req.path.removesuffix("/").removeprefix(SETUP_PREFIX)
        if route == "/accountLogin":
            return self._account_login(req)
        if route == "/validate":
            return self._validate(req)
        if route == "/requestWebAccessState":
            return self._with_web_session(req, _web_access_state)
        if route == "/requestPCS":
            return self._with_web_session(req, _pcs)
        if route == "/logout":
            return json_reply(200, {"success": True})
        return json_reply(404, {"success": False, "errorCode": 404})

    def authenticated_account(self, req: SimRequest) -> tuple[SimAccount, WebSession] | Reply:
        """The account behind the request's web token cookie, or the reply refusing it."""
        token = req.cookies().get(WEB_TOKEN_COOKIE, "").strip('"')
        found = self._registry.web_session(token)
        if found is None:
            return json_reply(421, SESSION_INVALID)
        web, _ = found
        if web.expired_status is not None:
            return json_reply(web.expired_status, SESSION_INVALID)
        return self._accounts[web.username], web

    def _account_login(self, req: SimRequest) -> Reply:
        body = req.json_body()
        token = body.get("dsWebAuthToken") if isinstance(body, dict) else None
        session = self._registry.session_for_token(token if isinstance(token, str) else None)
        if session is None:
            return json_reply(421, SESSION_INVALID)
        return self._login_reply(req, session)

    def _validate(self, req: SimRequest) -> Reply:
        token = req.cookies().get(WEB_TOKEN_COOKIE, "").strip('"')
        found = self._registry.web_session(token)
        if found is None or found[0].expired_status is not None:
            return json_reply(421, SESSION_INVALID)
        return json_reply(200, _account_payload(self._accounts[found[1].username], found[1], req))

    def _login_reply(self, req: SimRequest, session: AuthSession) -> Reply:
        web_token = self._registry.issue_web_token(session)
        domain = icloud_domain(req.host)
        account = self._accounts[session.username]
        cookies = [
            (WEB_TOKEN_COOKIE, f'"{web_token}"'),
            ("X-APPLE-WEBAUTH-USER", f'"v=1:s=0:d={account.dsid}"'),
            ("X-APPLE-DS-WEB-SESSION-TOKEN", f'"{session.session_id}"'),
        ]
        headers = [
            ("Set-Cookie", f"{name}={value}; Domain=.{domain}; Path=/; Secure; HttpOnly")
            for name, value in cookies
        ]
        return json_reply(200, _account_payload(account, session, req), headers)

    def _with_web_session(self, req: SimRequest, answer: Any) -> Reply:
        found = self.authenticated_account(req)
        if isinstance(found, Reply):
            return found
        reply: Reply = answer(found[0])
        return reply


def _web_access_state(account: SimAccount) -> Reply:
    return json_reply(
        200,
        {
            "isICDRSDisabled": account.web_access_denied,
            "isDeviceConsentedForPCS": True,
            "isDeviceConsentNotificationSent": False,
        },
    )


def _pcs(account: SimAccount) -> Reply:
    if account.web_access_denied:
        return json_reply(200, ACCESS_DENIED)
    return json_reply(200, {"status": "success", "message": "PCS access granted"})


def _account_payload(account: SimAccount, session: AuthSession, req: SimRequest) -> dict[str, Any]:
    domain = icloud_domain(req.host)
    ck_host = CKDATABASE_HOST.replace("icloud.com", domain)
    return {
        "dsInfo": {
            "dsid": account.dsid,
            "hsaVersion": 2,
            "appleId": account.username,
            "primaryEmail": account.username,
            "fullName": account.username.split("@")[0],
            "languageCode": "en-us",
            "isPaidDeveloper": False,
            # Apple sets it for an account with a trusted device; icloudpd's pyicloud_ipd asks
            # for a 2FA code only when it is true (else it takes the legacy 2SA path).
            "hasICloudQualifyingDevice": account.two_factor == "device",
        },
        "hasMinimumDeviceForPhotosWeb": True,
        "iCDPEnabled": account.web_access_denied,
        "webservices": {
            "ckdatabasews": {
                "url": f"https://{ck_host}:443",
                "status": "active",
                "pcsRequired": True,
            },
        },
        "pcsEnabled": True,
        "hsaTrustedBrowser": session.is_verified,
        "hsaChallengeRequired": not session.is_verified,
        "isExtendedLogin": True,
        "requestInfo": {"country": "US", "timeZone": "GMT", "region": "US"},
        "apps": {"photos": {"canLaunchWithOneFactor": False}},
    }
