"""Logging in to iCloud through pyicloud: session reuse, SRP, 2FA, and one-line errors.

Invariants:
- The pyicloud service is built with `authenticate=False`, the redirect/counting adapter is
  mounted on its session, and only then does it authenticate: no request escapes the adapter.
- Every pyicloud failure leaves this module as a port error (AuthenticationError and its
  subclasses, ThrottledError, IcloudError) with a one-line message; throttling (429/503, which
  pyicloud reports as a failed login) and unreachable networks are retried with backoff first.
- A 2FA code is asked for only through the `code_source` callable; without one, a login that
  needs 2FA fails with TwoFactorCodeRequestedError, which carries how Apple delivers the code,
  so the caller can record the request and a later process can submit the code
  (`submit_pending_code`) against the sign-in pyicloud kept in the session folder. A wrong
  code fails the same way (WrongTwoFactorCodeError): the sign-in still waits.
- Session files are 0600 in a 0700 folder after every login.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pyicloud import PyiCloudService
from pyicloud.exceptions import (
    PyiCloud2SARequiredException,
    PyiCloudAcceptTermsException,
    PyiCloudAccountLockedException,
    PyiCloudAPIResponseException,
    PyiCloudConnectionException,
    PyiCloudException,
    PyiCloudFailedLoginException,
)

from engine.errors import PhotoledgerError
from engine.icloud.credentials import (
    CodeSource,
    PasswordPrompt,
    precreate_private_file,
    prepare_session_dir,
    secure_session_files,
)
from engine.icloud.port import (
    AuthenticationError,
    IcloudError,
    ThrottledError,
    TwoFactorRequiredError,
    WebAccessDeniedError,
)
from engine.icloud.redirect import CallCounter, mount_on
from engine.icloud.retry import RetryPolicy, TransientError, execute_with_retry
from engine.icloud.twofa_state import SUBMIT_HINT, TwoFactorCodeRequestedError

_THROTTLE_CODES = {429, 503}
_NO_PASSWORD = "No password set"


@dataclass(frozen=True)
class LoginOptions:
    """Everything a login needs; built once by the command layer."""

    username: str
    session_dir: Path
    password: str | None  # from env / .env / keyring; None: ask `password_prompt` if needed
    password_prompt: PasswordPrompt | None
    code_source: CodeSource | None
    endpoint: str | None
    policy: RetryPolicy
    counter: CallCounter
    china_mainland: bool = False  # icloud.domain "cn": setup.icloud.com.cn (pyicloud's switch)
    password_variable: str = "PHOTOLEDGER_ICLOUD_PASSWORD"  # named in messages (per account)


class IcloudLogin:
    """One authenticated pyicloud service, renewable once the session expires."""

    def __init__(self, options: LoginOptions) -> None:
        self.options = options
        self._password = options.password
        self._api: Any = None
        self._lock = threading.Lock()
        self.generation = 0  # bumped by every successful (re-)login

    @property
    def api(self) -> Any:
        """The logged-in PyiCloudService (logs in on first use)."""
        if self._api is None:
            with self._lock:
                if self._api is None:  # another thread may have logged in while we waited
                    self._login_locked(force_refresh=False)
        return self._api

    def login(self) -> None:
        """Reuse the stored session if Apple still accepts it, else log in (with 2FA if asked)."""
        with self._lock:
            self._login_locked(force_refresh=False)

    def relogin(self, seen_generation: int) -> None:
        """Renew an expired session, unless another thread already did since `seen_generation`."""
        with self._lock:
            if self.generation != seen_generation and self._api is not None:
                return
            self._login_locked(force_refresh=True)

    def _login_locked(self, *, force_refresh: bool) -> None:
        opts = self.options
        prepare_session_dir(opts.session_dir)
        api = self._api if self._api is not None else self._new_service()
        if self._password is None and not api.session.data.get("session_token"):
            api = self._new_service(password=self._ask_password())
        try:
            self._authenticate(api, force_refresh=force_refresh)
        except _PasswordNeededError:
            api = self._new_service(password=self._ask_password())
            self._authenticate(api, force_refresh=True)
        if api.requires_2fa:
            complete_two_factor(api, opts.username, opts.code_source)
        elif api.requires_2sa:
            raise AuthenticationError(
                f"{opts.username} uses the legacy two-step verification, which is not "
                "supported: turn on two-factor authentication for the Apple Account"
            )
        secure_session_files(opts.session_dir)
        self._api = api
        self.generation += 1

    def _new_service(self, password: str | None = None) -> Any:
        opts = self.options
        if password is not None:
            self._password = password
        api = PyiCloudService(
            opts.username,
            self._password,
            cookie_directory=str(opts.session_dir),
            authenticate=False,
            china_mainland=opts.china_mainland,
        )
        mount_on(api.session, endpoint=opts.endpoint, counter=opts.counter)
        # pyicloud rewrites these files with the process umask; created 0600 they stay 0600.
        precreate_private_file(Path(api.session.session_path), "{}")
        precreate_private_file(Path(api.session.cookiejar_path), "#LWP-Cookies-2.0\n")
        return api

    def resume_challenge(self, method: str, auth_options: dict[str, Any]) -> Any:
        """A service for the 2FA challenge another process started, ready for the code.

        pyicloud keeps the session id, scnt and token on disk, but how the code is delivered
        only in memory: that is restored from what the requesting process recorded."""
        api = self._new_service()
        api._auth_data = dict(auth_options)  # noqa: SLF001 (pyicloud has no public setter)
        if method == "sms":
            api._set_two_factor_delivery_state("sms")  # noqa: SLF001 (as above)
        else:
            api.use_existing_trusted_device_code()
        return api

    def _ask_password(self) -> str:
        prompt = self.options.password_prompt
        if prompt is None:
            raise AuthenticationError(
                f"no iCloud password for {self.options.username}: set "
                f"{self.options.password_variable}, "
                "put it in a .env file beside the config, store it in the keyring, or run "
                "`photoledger login` on a terminal"
            )
        return prompt()

    def _authenticate(self, api: Any, *, force_refresh: bool) -> None:
        def attempt() -> None:
            try:
                api.authenticate(force_refresh=force_refresh)
            except PyiCloudException as exc:
                raise classify_login_error(exc, self.options.username,
                                           self.options.password_variable) from exc

        try:
            execute_with_retry(
                self.options.policy,
                attempt,
                on_retry=lambda _e, _d: self.options.counter.add("retries"),
            )
        except TransientError as exc:
            raise transient_to_port_error(exc, "logging in") from exc


class _PasswordNeededError(PhotoledgerError):
    """The stored session was not enough and no password is known yet."""


class WrongTwoFactorCodeError(TwoFactorCodeRequestedError):
    """Apple rejected the code; the sign-in still waits for the right one."""


_WHERE = {"sms": "by SMS to the trusted phone", "trusted_device": "on the trusted devices"}


def complete_two_factor(api: Any, username: str, code_source: CodeSource | None) -> None:
    """Ask for the code, validate it and trust the session; one-line errors otherwise."""
    method = str(api.two_factor_delivery_method)
    if method == "unknown":  # nothing was sent: Apple shows the code on the trusted devices
        method = "trusted_device"
    if method == "security_key":
        raise AuthenticationError(
            f"{username} signs in with a security key, which photoledger cannot use"
        )
    # The non-secret 2FA options (masked trusted phone) a later process needs for an SMS code.
    options = dict(getattr(api, "_auth_data", None) or {})
    if code_source is None:
        raise TwoFactorCodeRequestedError(
            f"iCloud sent a two-factor code for {username} {_WHERE.get(method, '')}: run "
            f"`{SUBMIT_HINT}` (or `photoledger login` on a terminal)", method, options
        )
    check_code(api, code_source(method).strip(), method, options)


def check_code(api: Any, code: str, method: str, options: dict[str, Any]) -> None:
    """Validate the code and trust the session; WrongTwoFactorCodeError when Apple says no."""
    try:
        accepted = bool(api.validate_2fa_code(code))
    except PyiCloudConnectionException as exc:
        raise IcloudError("cannot reach iCloud while checking the 2FA code; try again") from exc
    except PyiCloudException as exc:
        raise AuthenticationError(f"iCloud refused the 2FA code: {_one_line(exc)}") from exc
    if not accepted:
        raise WrongTwoFactorCodeError(
            "iCloud rejected the 2FA code: check it and try again with "
            f"`{SUBMIT_HINT}` (the sign-in still waits; no password needed); a code Apple "
            "sent long ago may have expired: `photoledger login --request-code` asks for a "
            "new one", method, options
        )
    if not api.is_trusted_session and not api.trust_session():
        raise AuthenticationError(
            "iCloud accepted the 2FA code but did not trust this session: run `photoledger login`"
        )


def submit_pending_code(options: LoginOptions, code: str, method: str,
                        auth_options: dict[str, Any]) -> None:
    """Give Apple the code for the sign-in pyicloud kept in the session folder (no password).

    WrongTwoFactorCodeError when Apple rejects it (the sign-in still waits)."""
    prepare_session_dir(options.session_dir)
    api = IcloudLogin(replace(options, password=None)).resume_challenge(method, auth_options)
    try:
        check_code(api, code, method, auth_options)
    finally:
        secure_session_files(options.session_dir)


def classify_login_error(  # noqa: PLR0911 (one return per kind of failure)
    exc: PyiCloudException, username: str, password_variable: str = "PHOTOLEDGER_ICLOUD_PASSWORD"
) -> Exception:
    """A pyicloud login failure as a port error, or a TransientError worth retrying."""
    code = api_error_code(exc)
    if isinstance(exc, PyiCloudConnectionException) or isinstance(
        exc.__cause__, PyiCloudConnectionException
    ):
        return TransientError(f"network error: {_one_line(exc)}", kind="network")
    if code in _THROTTLE_CODES:
        return TransientError(f"HTTP {code} while logging in", kind="throttled")
    if code == "ACCESS_DENIED":
        return access_denied_error(username)
    if isinstance(exc, PyiCloudAccountLockedException):
        return AuthenticationError(
            f"the Apple Account {username} is locked: unlock it at iforgot.apple.com"
        )
    if isinstance(exc, PyiCloudAcceptTermsException):
        return AuthenticationError("accept Apple's new iCloud terms at icloud.com, then run again")
    if isinstance(exc, PyiCloud2SARequiredException):
        return TwoFactorRequiredError(f"iCloud needs a verification code for {username}")
    if isinstance(exc, PyiCloudFailedLoginException):
        if str(exc.args[0] if exc.args else "") == _NO_PASSWORD:
            return _PasswordNeededError("no password")
        return AuthenticationError(
            f"iCloud refused the login for {username} (wrong password?): check "
            f"{password_variable}, the .env file or the keyring"
        )
    return IcloudError(f"iCloud login failed: {_one_line(exc)}")


def access_denied_error(username: str) -> WebAccessDeniedError:
    return WebAccessDeniedError(
        f"iCloud denies web access to {username}'s photos: turn on \"Access iCloud Data on the "
        'Web" (Settings > Apple Account > iCloud) or turn off Advanced Data Protection'
    )


def api_error_code(exc: BaseException) -> int | str | None:
    """The HTTP status or Apple error code behind a pyicloud exception, however it is wrapped."""
    candidates: list[Any] = [exc, exc.__cause__, *getattr(exc, "args", ())[1:2]]
    for candidate in candidates:
        if isinstance(candidate, PyiCloudAPIResponseException) and candidate.code is not None:
            code: int | str = candidate.code
            return code
    return None


def transient_to_port_error(exc: TransientError, doing: str) -> IcloudError:
    """The port error for a failure that outlived every retry."""
    if exc.kind == "throttled":
        return ThrottledError(
            f"iCloud kept throttling while {doing} ({exc}) after every retry; run again later"
        )
    if exc.kind == "network":
        return IcloudError(f"cannot reach iCloud while {doing} ({exc}); check the network")
    return IcloudError(f"iCloud kept failing while {doing} ({exc}); run again later")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__
