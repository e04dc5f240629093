"""`photoledger serve`: the web UI (engine.web) for one library, served by uvicorn.

Invariants:
- Bound to 127.0.0.1 unless told otherwise; a non-loopback --host without --tls-cert and
  --tls-key, or without --insecure-lan, is a usage error (exit 2) before anything starts.
- The access token is made at first start (or with --new-token) and printed once on stdout;
  only its hash is kept (engine.web.auth.TokenStore, beside the config).
- Pages only read the library: the writer lock is never taken, so it runs beside `watch`.
- SIGTERM (`docker stop`) and Ctrl-C stop it gracefully (uvicorn finishes the requests in
  flight) and it exits 0: a requested stop is not a failure.
- --new-token ends every session made under the old token, in this server and in one already
  running for the same config (sessions are tied to the stored hash). When the port is taken,
  --new-token still replaces the token and says so (exit 0); without it, a taken port is one
  usage line (exit 2) before anything is changed.
"""

from __future__ import annotations

import errno
import signal
import socket
from pathlib import Path

import click
import uvicorn

from commands.context import Settings
from engine.services import check_library
from engine.web import TokenStore, build_app
from engine.web.auth import bind_refusal

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True,
              help="The TCP port to listen on.")
@click.option("--tls-cert", type=FILE, help="A PEM certificate: serve HTTPS (with --tls-key).")
@click.option("--tls-key", type=FILE, help="The PEM private key for --tls-cert.")
@click.option("--insecure-lan", is_flag=True,
              help="Allow a non-loopback --host without TLS (token and cookie in clear).")
@click.option("--new-token", is_flag=True,
              help="Replace the access token with a new one (printed once); every session "
              "made under the old one ends, in a server already running too.")
@click.pass_obj
def command(settings: Settings, host: str, port: int, tls_cert: Path | None,
            tls_key: Path | None, insecure_lan: bool, new_token: bool) -> None:
    """Serve the web UI: dashboard, asset pages, live progress, 2FA code, deletion review.

    Bound to 127.0.0.1 unless --host says otherwise (then TLS, or --insecure-lan). The access
    token is created at first start and shown once; the server keeps only its hash in
    photoledger-web.token beside the config (--new-token replaces it and ends every session).
    Pages only read and never take the writer lock, so `serve` runs beside `watch`; an action
    (Execute, Cancel, a 2FA code) does exactly what its command does.
    """
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    refusal = bind_refusal(host, tls_cert is not None, insecure_lan)
    if refusal is not None:
        raise click.UsageError(refusal)
    config = settings.load_config()
    check_library(config)
    taken = port_taken(host, port)
    if taken and not new_token:
        raise click.UsageError(f"{host}:{port} is already in use (another `photoledger "
                               "serve`?): choose another --port")
    store = TokenStore.beside(config.path)
    token = store.ensure(renew=new_token)
    if token is not None:
        click.echo(f"access token (shown once; only its hash is kept in {store.path}): {token}")
    if taken:
        click.echo(f"{host}:{port} is already in use, so no second server starts; if it is "
                   "`photoledger serve` for this config, it takes only the new token now and "
                   "its old sessions have ended")
        return
    scheme = "https" if tls_cert is not None else "http"
    click.echo(f"serving {scheme}://{host}:{port}/ (Ctrl-C stops it)")
    app = build_app(config, settings, store, secure_cookies=tls_cert is not None)
    # uvicorn shuts down gracefully on SIGTERM, then raises it again for the handler it found:
    # this one lets the command end normally (exit 0) instead of dying by the signal.
    signal.signal(signal.SIGTERM, _stopped)
    uvicorn.run(app, host=host, port=port, log_level="warning",
                ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None)



def _stopped(_signum: int, _frame: object) -> None:
    """SIGTERM once uvicorn has shut down: nothing more to do."""


def port_taken(host: str, port: int) -> bool:
    """Something already listens on host:port (checked by binding it, then letting go)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False
