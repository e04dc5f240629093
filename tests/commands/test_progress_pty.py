"""Progress bars as a person sees them: `photoledger download` against the iCloud simulator under
a real pseudo-terminal (a known width), its bytes captured and read back.

The bytes bar must count bytes in the CLI's binary units (KiB, MiB: the summary's unit too) and
end with a total equal to what was downloaded; the assets bar counts assets ("n/N"), never
shown as bytes.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from commands.progress import RichReporter
from tests.factories import REPO_ROOT, run_cli
from tests.scenarios.fault_world import open_world
from tests.sim import PASSWORD

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]")
SIZE = r"(\d+(?:\.\d+)?)/(\d+(?:\.\d+)?) (bytes|kB|MB|GB|KiB|MiB|GiB)"
UNIT = {"KiB": 1024, "MiB": 1024**2}


def run_in_pty(args: list[str], env: dict[str, str], columns: int = 120) -> tuple[int, str]:
    """Run photoledger with stdin, stdout and stderr on a pseudo-terminal `columns` wide."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    full_env.update(env, TERM="xterm-256color")
    process = subprocess.Popen(
        [sys.executable, "-c", "from commands import main; main()", *args],
        stdin=slave, stdout=slave, stderr=slave, env=full_env, cwd=REPO_ROOT, close_fds=True,
    )
    os.close(slave)
    captured, deadline = b"", time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            captured += chunk
        elif process.poll() is not None:
            break
    code = process.wait(timeout=30)
    os.close(master)
    return code, ANSI.sub(b"", captured).decode("utf-8", "replace").replace("\r", "\n")


def library_bytes(root: Path) -> int:
    """What the download wrote: every file but sidecars and photoledger's own state."""
    return sum(p.stat().st_size for p in root.rglob("*")
               if p.is_file() and ".photoledger" not in p.parts and p.suffix.lower() != ".xmp")


def test_download_bars_count_bytes_in_bytes_and_assets_as_n_of_total(tmp_path: Path) -> None:
    with open_world(tmp_path, assets=30, size_scale=0.05) as world:
        env = {"PHOTOLEDGER_ICLOUD_ENDPOINT": world.server.base_url,
               "PHOTOLEDGER_ICLOUD_PASSWORD": PASSWORD}
        found = run_cli(["--no-progress", "discover"], world.library.config_path, env=env,
                        timeout=300)
        assert found.returncode == 0, found.stderr
        config = str(world.library.config_path)
        code, screen = run_in_pty(["--config", config, "download"], env)
        assert code == 0, screen
        downloaded = library_bytes(world.library.config.library_root)

    bytes_lines = [line for line in screen.splitlines() if "download: bytes" in line]
    asset_lines = [line for line in screen.splitlines() if "download: assets" in line]
    assert bytes_lines and asset_lines, screen
    done, total, unit = re.findall(SIZE, bytes_lines[-1])[0]
    assert unit in ("KiB", "MiB"), bytes_lines[-1]
    assert done == total, bytes_lines[-1]  # finished: the total is what was moved
    assert abs(float(total) * UNIT[unit] - downloaded) <= 0.05 * UNIT[unit] + 1, (
        bytes_lines[-1], downloaded)
    assert re.search(r"\d (KiB|MiB)/s", bytes_lines[-1]), bytes_lines[-1]  # rate, same units
    for line in bytes_lines:
        assert re.search(SIZE, line), line
    counts = [re.search(r"\s(\d+)/(\d+)\s", line) for line in asset_lines]
    assert all(counts), asset_lines
    assert {m.group(2) for m in counts if m} == {"29"}  # the work list (one record is an album)
    assert counts[-1] and counts[-1].group(1) == "29"
    for line in asset_lines:  # a count of assets, never a size
        assert not re.search(r"bytes|KiB|MiB|kB|MB|/s", line.split("download: assets")[1]), line
    summary = re.search(r"downloaded 29 assets .*; ([\d.]+) (KiB|MiB) in", screen)
    assert summary and summary.group(1) == total  # the bar and the summary agree


def reporter_on_a_terminal() -> tuple[Progress, RichReporter]:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    progress = Progress(console=console)
    return progress, RichReporter(progress)


def test_the_bytes_total_follows_what_is_done() -> None:
    progress, reporter = reporter_on_a_terminal()
    reporter.started("download", 2, total_bytes=1000)
    reporter.advance_bytes(700)
    reporter.asset_done("ok", "a")
    reporter.advance_bytes(600)  # more than announced (a file larger than iCloud said)
    [assets, size] = progress.tasks
    assert (size.completed, size.total) == (1300, 1300)
    reporter.asset_done("ok", "b")
    assert (assets.completed, assets.total) == (2, 2)

    reporter.started("compress", 2, total_bytes=1000)
    reporter.advance_bytes(300)
    reporter.asset_done("ok", "a")
    reporter.asset_done("failed", "b")  # nothing more will come: the total is what was moved
    size = progress.tasks[-1]
    assert (size.completed, size.total) == (300, 300)
