"""Process plumbing for bench_icloud.py: the shared mitmproxy, timed child runs, tree comparison.

Invariants:
- Every child is waited for with os.wait4, so its rusage is its own, never the maximum over
  everything the bench started. A child forked from this (large) process inherits this
  process's high-water RSS until it execs, so a peak RSS that matters is measured through a
  small launcher process (`run_child_peak_rss`), whose own child starts small.
- A child that outlives its time limit is killed by its own pid and reported as failed; the
  bench never kills anything it did not start.
- The proxy listens on 127.0.0.1 only, forwards only to the simulator on 127.0.0.1, and is
  stopped (by pid) when its context ends, whatever happened inside.
- Tree comparison is by relative path and sha256 of the bytes; folders named in `excluded`
  (photoledger's state folder) and icloudpd's own scratch files are never compared.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_VENV = REPO_ROOT / ".venv-bench"
MITM_ADDON = Path(__file__).resolve().parent / "mitm_redirect.py"
SIM_PORT_ENV = "PHOTOLEDGER_BENCH_SIM_PORT"
HASH_CHUNK_BYTES = 1 << 20
FileDigests = dict[str, tuple[int, str]]
"""Relative path -> (size in bytes, sha256 hex)."""


@dataclass(frozen=True)
class ChildRun:
    """How one child process went."""

    argv: tuple[str, ...]
    exit_code: int
    wall_s: float
    cpu_s: float  # user + system of the child and what it waited for
    peak_rss_mb: float  # includes this process's size at fork unless from run_child_peak_rss
    log_path: Path

    @property
    def is_ok(self) -> bool:
        return self.exit_code == 0

    def tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text("utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, proc(5)).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU seconds of this process: the simulator serving both tools, plus the bench's own work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    timeout_s: float,
) -> ChildRun:
    """Run argv to completion; stdout and stderr go to log_path. Times wall clock and peak RSS."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            list(argv), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
        status, rusage = _wait_with_deadline(proc, started + timeout_s)
        wall_s = time.monotonic() - started
    exit_code = os.waitstatus_to_exitcode(status) if status is not None else -1
    cpu_s = rusage.ru_utime + rusage.ru_stime
    # Linux reports ru_maxrss in KiB.
    return ChildRun(tuple(argv), exit_code, wall_s, cpu_s, rusage.ru_maxrss / 1024, log_path)


def _wait_with_deadline(
    proc: subprocess.Popen[bytes], deadline: float
) -> tuple[int | None, resource.struct_rusage]:
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
            return status, rusage
        if time.monotonic() > deadline:
            proc.send_signal(signal.SIGKILL)
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            return None, rusage
        time.sleep(0.02)


RSS_LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(proc.pid, 0)
print(f"peak_rss_kib={usage.ru_maxrss}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child_peak_rss(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log_path: Path, timeout_s: float
) -> ChildRun:
    """Like run_child, with peak_rss_mb measured by a launcher that starts small (see above)."""
    launched = [sys.executable, "-c", RSS_LAUNCHER, *argv]
    child = run_child(launched, env=env, cwd=cwd, log_path=log_path, timeout_s=timeout_s)
    lines = log_path.read_text("utf-8", errors="replace").splitlines()
    reported = [line.split("=", 1)[1] for line in lines if line.startswith("peak_rss_kib=")]
    peak_mb = int(reported[-1]) / 1024 if reported else float("nan")
    return dataclasses.replace(child, argv=tuple(argv), peak_rss_mb=peak_mb)


@dataclass(frozen=True)
class Proxy:
    """A running mitmdump: where it listens and the CA its clients must trust."""

    url: str
    ca_bundle: Path
    pid: int

    def client_env(self) -> dict[str, str]:
        """What makes a requests-based client (photoledger, icloudpd) go through the proxy."""
        return {"HTTPS_PROXY": self.url, "REQUESTS_CA_BUNDLE": self.ca_bundle.as_posix()}


@contextmanager
def running_proxy(sim_port: int, confdir: Path, log_path: Path) -> Iterator[Proxy]:
    """mitmdump with the redirect addon, pointed at the simulator on sim_port."""
    mitmdump = BENCH_VENV / "bin" / "mitmdump"
    if not mitmdump.exists():
        raise SystemExit(f"{mitmdump} is missing: run tests/bench/setup_bench.sh first")
    port = free_port()
    argv = [
        str(mitmdump),
        "--quiet",
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        str(port),
        "--set",
        f"confdir={confdir}",
        "--set",
        "connection_strategy=lazy",
        "--set",
        "upstream_cert=false",
        "--set",
        "stream_large_bodies=256k",
        "-s",
        str(MITM_ADDON),
    ]
    env = {**os.environ, SIM_PORT_ENV: str(sim_port)}
    confdir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_listening(proc, port, log_path)
            yield Proxy(f"http://127.0.0.1:{port}", confdir / "mitmproxy-ca-cert.pem", proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_listening(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mitmdump exited at start: {log_path.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("mitmdump did not listen within 30 s")


@dataclass
class TreeDiff:
    """Differences between two downloaded trees, by relative path."""

    left_files: int = 0
    right_files: int = 0
    left_bytes: int = 0
    right_bytes: int = 0
    only_left: list[str] = field(default_factory=list)
    only_right: list[str] = field(default_factory=list)
    different_bytes: list[str] = field(default_factory=list)

    @property
    def is_equal(self) -> bool:
        return not (self.only_left or self.only_right or self.different_bytes)


def digest_tree(root: Path, excluded: Sequence[str] = ()) -> FileDigests:
    """Relative path -> (size, sha256) of every regular file under root, skipping `excluded`."""
    found: FileDigests = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.split("/")[0] in excluded:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
        found[rel] = (path.stat().st_size, digest.hexdigest())
    return found


def compare_trees(left: FileDigests, right: FileDigests) -> TreeDiff:
    diff = TreeDiff(
        left_files=len(left),
        right_files=len(right),
        left_bytes=sum(size for size, _ in left.values()),
        right_bytes=sum(size for size, _ in right.values()),
    )
    diff.only_left = sorted(set(left) - set(right))
    diff.only_right = sorted(set(right) - set(left))
    diff.different_bytes = sorted(p for p in set(left) & set(right) if left[p] != right[p])
    return diff


def describe_diff(diff: TreeDiff, left_name: str, right_name: str) -> list[str]:
    """The headline: files and bytes on each side and how many paths differ in each way."""
    return [
        f"{left_name}: {diff.left_files} files, {diff.left_bytes:,} bytes; "
        f"{right_name}: {diff.right_files} files, {diff.right_bytes:,} bytes; "
        f"only in {left_name}: {len(diff.only_left)}, only in {right_name}: "
        f"{len(diff.only_right)}, same path with different bytes: {len(diff.different_bytes)}"
    ]
