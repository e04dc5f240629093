"""A throwaway PostgreSQL server for tests: real binaries, a tmp data dir, a loopback port.

Invariants:
- Only a missing installation raises `PostgresNotInstalledError` (the one reason a fixture may
  skip). Every other problem (initdb fails, the server does not come up, a database cannot be
  created) raises `PostgresStartError` with the server's log, so a broken fixture fails loudly.
- The server listens on 127.0.0.1 only, on a free port, with its unix socket inside its own
  tmp dir, trust authentication and the superuser `postgres`. When the tests run as root the
  cluster is created and run by the `postgres` system user (initdb refuses root).
- `stop()` kills the server (`pg_ctl stop -m immediate`) and removes the tmp dir; it is safe
  to call twice. A watchdog process does the same if the test process dies without stopping
  it (kill -9, a CI timeout): it holds the read end of a pipe only the test process writes to. Durability settings are relaxed (fsync=off): these are contract tests of
  behaviour, not of crash safety, and they must be fast.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_ATTEMPTS = 3  # a free port can be taken between probing and binding: retry only that
READY_TIMEOUT_S = 60.0
_NEEDED = ("initdb", "pg_ctl", "postgres")


class PostgresNotInstalledError(RuntimeError):
    """No PostgreSQL server binaries on this machine (the only reason to skip)."""


class PostgresStartError(RuntimeError):
    """PostgreSQL is installed but the throwaway server could not be made to work."""


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in _NEEDED)


def _version_key(path: str) -> tuple[int, ...]:
    match = re.search(r"/postgresql/([0-9.]+)/bin$", path)
    if not match:
        return (0,)
    return tuple(int(part) for part in match.group(1).split(".") if part.isdigit())


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres (newest installed version).

    Order: `$PHOTOLEDGER_PG_BINDIR`, then `pg_config --bindir`, then the newest
    /usr/lib/postgresql/*/bin, then $PATH. Raises PostgresNotInstalledError when none has them.
    """
    candidates: list[Path] = []
    override = os.environ.get("PHOTOLEDGER_PG_BINDIR")
    if override:
        candidates.append(Path(override))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            out = None
        if out is not None and out.returncode == 0 and out.stdout.strip():
            candidates.append(Path(out.stdout.strip()))
    candidates += [
        Path(p)
        for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    ]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if _has_server_binaries(bindir):
            return bindir
    looked = ", ".join(str(c) for c in candidates) or "nothing found"
    raise PostgresNotInstalledError(
        f"PostgreSQL server binaries ({', '.join(_NEEDED)}) not found (looked in: {looked}); "
        "install the Debian package postgresql or set PHOTOLEDGER_PG_BINDIR"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _clean_env() -> dict[str, str]:
    """The environment without PG* variables (they would redirect the tools)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env


@dataclass
class PostgresServer:
    """A running throwaway server; `url(db)` names a database on it."""

    bindir: Path
    root: Path
    port: int
    run_as: pwd.struct_passwd | None
    _stopped: bool = field(default=False, repr=False)
    _watchdog: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "sock"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{dbname}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> Any:
        """An autocommit psycopg connection to `dbname` as the superuser."""
        import psycopg

        kwargs.setdefault("connect_timeout", 10)
        return psycopg.connect(
            host=HOST, port=self.port, user=SUPERUSER, dbname=dbname, autocommit=True, **kwargs
        )

    def create_database(self, name: str | None = None) -> str:
        """CREATE DATABASE `name` (default t_<uuid hex>); returns its URL."""
        name = name or f"t_{uuid.uuid4().hex}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"unsafe database name {name!r}")
        try:
            with self.connect() as con:
                con.execute(f'CREATE DATABASE "{name}"')
        except Exception as exc:
            raise PostgresStartError(
                f"cannot create database {name} on {self.url()}: {exc}\n{self.log_tail()}"
            ) from exc
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE ... WITH (FORCE): also ends sessions a test left open."""
        with self.connect() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Kill the server and remove its tmp dir (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        try:
            _stop_cluster(self.bindir, self.root, self.run_as)
        finally:
            if self._watchdog is not None:
                # EOF on its stdin: it finds nothing left to clean up and exits.
                with contextlib.suppress(OSError):
                    self._watchdog.stdin.close()  # type: ignore[union-attr]
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._watchdog.wait(timeout=30)


def _stop_cluster(bindir: Path, root: Path, run_as: pwd.struct_passwd | None) -> None:
    """pg_ctl stop -m immediate (when a server runs there), then remove the tmp dir."""
    try:
        if (root / "data" / "postmaster.pid").exists():
            argv = [str(bindir / "pg_ctl"), "stop", "-D", str(root / "data"),
                    "-m", "immediate", "-w", "-t", "30"]
            _run_tool(argv, root, run_as, check=False, log=root / "server.log")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run(
    server: PostgresServer, argv: list[str], *, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return _run_tool(argv, server.root, server.run_as, check=check, timeout=timeout,
                     log=server.logfile)


def _run_tool(
    argv: list[str], root: Path, run_as: pwd.struct_passwd | None, *, check: bool = True,
    timeout: float = 120, log: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL tool, as the postgres system user when we are root."""
    kwargs: dict[str, Any] = {}
    env = _clean_env()
    if run_as is not None:
        kwargs.update(user=run_as.pw_uid, group=run_as.pw_gid, extra_groups=[])
        env.update(HOME=run_as.pw_dir, USER=run_as.pw_name, LOGNAME=run_as.pw_name)
    result = subprocess.run(
        argv, cwd=root, env=env, capture_output=True, text=True,
        timeout=timeout, check=False, **kwargs,
    )
    if check and result.returncode != 0:
        tail = "(no server log)"
        if log is not None and log.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise PostgresStartError(
            f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}\n"
            f"server log:\n{tail}"
        )
    return result


def _start_watchdog(server: PostgresServer) -> subprocess.Popen[bytes]:
    """A process that stops the server once our end of its stdin pipe closes (we died)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--watchdog",
            str(server.bindir), str(server.root)]
    if server.run_as is not None:
        argv.append(server.run_as.pw_name)
    return subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # survives a Ctrl-C or a kill of our process group
        env=_clean_env(),
    )


def _watchdog_main(bindir: str, root: str, user: str | None = None) -> None:
    sys.stdin.buffer.read()  # returns at EOF: the test process stopped us or died
    _stop_cluster(Path(bindir), Path(root), pwd.getpwnam(user) if user else None)


def _wait_ready(server: PostgresServer, deadline: float) -> None:
    import psycopg

    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with server.connect(connect_timeout=2) as con:
                con.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            last = exc
            time.sleep(0.1)
    raise PostgresStartError(
        f"PostgreSQL on port {server.port} not ready after {READY_TIMEOUT_S:.0f}s: {last}\n"
        f"{server.log_tail()}"
    )


def start_postgres() -> PostgresServer:
    """initdb a tmp cluster, start it on a free loopback port and wait until it answers."""
    bindir = find_bindir()
    run_as: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        try:
            run_as = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresStartError(
                "running as root, but there is no `postgres` system user to run initdb as"
            ) from None
    root = Path(tempfile.mkdtemp(prefix="photoledger-pg-"))
    server = PostgresServer(bindir=bindir, root=root, port=0, run_as=run_as)
    try:
        server._watchdog = _start_watchdog(server)
        server.socket_dir.mkdir()
        if run_as is not None:
            for path in (root, server.socket_dir):
                os.chown(path, run_as.pw_uid, run_as.pw_gid)
        _run(server, [
            str(bindir / "initdb"), "-D", str(server.datadir), "-U", SUPERUSER,
            "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions",
        ])
        for attempt in range(1, START_ATTEMPTS + 1):
            server.port = free_port()
            options = (
                f"-c listen_addresses={HOST} -p {server.port} -k {server.socket_dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            result = _run(server, [
                str(bindir / "pg_ctl"), "start", "-D", str(server.datadir),
                "-l", str(server.logfile), "-w", "-t", str(int(READY_TIMEOUT_S)), "-o", options,
            ], check=False)
            if result.returncode == 0:
                break
            port_taken = "could not bind" in server.log_tail(200) or "in use" in server.log_tail(200)
            if not port_taken or attempt == START_ATTEMPTS:
                raise PostgresStartError(
                    f"pg_ctl start exited {result.returncode}: {result.stdout}{result.stderr}\n"
                    f"server log:\n{server.log_tail()}"
                )
        _wait_ready(server, time.monotonic() + READY_TIMEOUT_S)
    except BaseException:
        server.stop()
        raise
    return server


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A running throwaway server for the duration of the block."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__" and len(sys.argv) >= 4 and sys.argv[1] == "--watchdog":
    _watchdog_main(*sys.argv[2:5])
