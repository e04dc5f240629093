"""Two real `syncthing` processes on loopback: the server and a stand-in "pixel".

Used by the tests, the benchmark and the demo. The pair is built the way the research note
(targets-compression.md §1.1) found reliable on Syncthing 1.19:

Invariants:
- Each side gets its own home, a fresh key, an API key and two free loopback ports (REST, BEP);
  the config is written before the first start, so the generated default (listening on every
  interface, discovery, relays, NAT) is never live.
- Global and local discovery, relays, NAT, usage reporting and upgrades are off. Only the pixel
  knows an address for its peer, so only the pixel dials (no simultaneous-dial timeouts); the
  server is started and answering before the pixel starts (no dial back-off).
- The outbox folder is send-only on the server and receive-only on the pixel, shared by both.
- Every process is started by this module and stopped by its own pid (SIGTERM, then SIGKILL),
  never by name. `STMONITORED=1` keeps each instance a single process.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

SYNCTHING_BINARY = "syncthing"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
_ENV = {
    "STNOUPGRADE": "1",
    "STNODEFAULTFOLDER": "1",
    "STHASHING": "minio",  # skips a start-up self-benchmark (~0.9 s)
    "STMONITORED": "1",  # one process per instance: the pid we hold is the one to stop
}
_OPTIONS = {
    "globalAnnounceEnabled": "false",
    "localAnnounceEnabled": "false",
    "relaysEnabled": "false",
    "natEnabled": "false",
    "urAccepted": "-1",
    "crashReportingEnabled": "false",
    "autoUpgradeIntervalH": "0",
    "startBrowser": "false",
    "setLowPriority": "false",
    "reconnectionIntervalS": "1",
}


class SyncthingLaunchError(RuntimeError):
    """A syncthing process could not be set up or did not come up in time."""


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def generate_identity(home: Path) -> str:
    """Create a key and certificate in `home`; returns the device id."""
    home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [SYNCTHING_BINARY, "generate", f"--home={home}", "--no-default-folder"],
        capture_output=True,
        text=True,
        env={**os.environ, **_ENV},
        timeout=START_TIMEOUT_S,
        check=False,
    )
    for line in (done.stdout + done.stderr).splitlines():
        if "Device ID:" in line:
            return line.split("Device ID:", 1)[1].strip()
    raise SyncthingLaunchError(f"syncthing generate gave no device id: {done.stderr.strip()}")


@dataclass
class SyncthingNode:
    """One syncthing instance: its home, identity, ports and (while running) its process."""

    name: str
    home: Path
    device_id: str
    api_key: str
    gui_port: int
    bep_port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gui_port}"

    @property
    def config_xml(self) -> Path:
        return self.home / "config.xml"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        """Start the process and wait until its REST API answers."""
        if self.process is not None:
            return
        with (self.home / "syncthing.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    SYNCTHING_BINARY, "serve", f"--home={self.home}", "--no-browser",
                    "--no-restart", "--no-upgrade", "--logflags=3",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **_ENV},
            )
        self.wait_until(lambda: self.rest("/rest/system/ping") == {"ping": "pong"}, "answer")

    def stop(self) -> None:
        """Stop the process we started (by its pid) and wait for it."""
        self.signal_stop()
        process, self.process = self.process, None
        if process is None:
            return
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def signal_stop(self) -> None:
        """Ask the process to stop without waiting (stopping two at once halves the wait)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def rest(self, path: str, method: str = "GET", body: object = None) -> object:
        """One REST call (for set-up and tests); None when it cannot be made."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"X-API-Key": self.api_key}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                text = response.read()
        except (OSError, urllib.error.URLError):
            return None
        return json.loads(text) if text.strip() else {}

    def is_connected_to(self, device_id: str) -> bool:
        answer = self.rest("/rest/system/connections")
        if not isinstance(answer, dict):
            return False
        return bool(answer.get("connections", {}).get(device_id, {}).get("connected"))

    def wait_until(self, predicate: object, what: str, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise SyncthingLaunchError(
                    f"syncthing {self.name} exited with {self.process.returncode}; "
                    f"see {self.home / 'syncthing.log'}"
                )
            if callable(predicate) and predicate():
                return
            time.sleep(0.05)
        raise SyncthingLaunchError(f"syncthing {self.name} did not {what} in {timeout_s:.0f} s")


def write_node_config(
    node: SyncthingNode,
    peer: SyncthingNode,
    *,
    folder_id: str,
    folder_path: Path,
    folder_type: str,
    dial_peer: bool,
) -> None:
    """Write the whole config.xml before the first start (never start on the default)."""
    peer_address = f"tcp://127.0.0.1:{peer.bep_port}" if dial_peer else "dynamic"
    options = "".join(f"<{k}>{v}</{k}>" for k, v in _OPTIONS.items())
    devices = "".join(f"<device id={quoteattr(d)}></device>" for d in (node.device_id,
                                                                          peer.device_id))
    node.config_xml.write_text(
        f"""<configuration version="36">
  <folder id={quoteattr(folder_id)} label={quoteattr(folder_id)} path={quoteattr(str(folder_path))}
      type={quoteattr(folder_type)} rescanIntervalS="3600" fsWatcherEnabled="true"
      fsWatcherDelayS="1">{devices}</folder>
  <device id={quoteattr(node.device_id)} name={quoteattr(node.name)}>
    <address>dynamic</address></device>
  <device id={quoteattr(peer.device_id)} name={quoteattr(peer.name)}>
    <address>{peer_address}</address></device>
  <gui enabled="true" tls="false"><address>127.0.0.1:{node.gui_port}</address>
    <apikey>{node.api_key}</apikey></gui>
  <options><listenAddress>tcp://127.0.0.1:{node.bep_port}</listenAddress>{options}</options>
</configuration>
""",
        encoding="utf-8",
    )


@dataclass
class SyncthingPair:
    """The server (send-only outbox) and the pixel (receive-only copy), both running."""

    server: SyncthingNode
    pixel: SyncthingNode
    folder_id: str
    outbox: Path
    pixel_folder: Path

    def start_pixel(self) -> None:
        """(Re)start the pixel and wait until the two are connected."""
        self.pixel.start()
        self.wait_connected()

    def stop_pixel(self) -> None:
        """Stop the pixel and wait until the server sees it gone."""
        self.pixel.stop()
        self.server.wait_until(
            lambda: not self.server.is_connected_to(self.pixel.device_id), "see the pixel leave"
        )

    def wait_connected(self, timeout_s: float = START_TIMEOUT_S) -> None:
        self.server.wait_until(
            lambda: self.server.is_connected_to(self.pixel.device_id), "connect", timeout_s
        )

    def stop(self) -> None:
        self.pixel.signal_stop()
        self.server.signal_stop()
        self.pixel.stop()
        self.server.stop()


def _node(name: str, home: Path) -> SyncthingNode:
    return SyncthingNode(
        name=name,
        home=home,
        device_id=generate_identity(home),
        api_key=secrets.token_urlsafe(24),
        gui_port=free_loopback_port(),
        bep_port=free_loopback_port(),
    )


@contextmanager
def running_syncthing_pair(
    base_dir: Path, folder_id: str = "photoledger-outbox", *, connect: bool = True
) -> Iterator[SyncthingPair]:
    """Set up and start the pair under `base_dir`; both processes are stopped on exit."""
    server, pixel = _node("server", base_dir / "server-home"), _node("pixel", base_dir / "pixel")
    outbox, pixel_folder = base_dir / "outbox", base_dir / "pixel-dcim"
    for folder in (outbox, pixel_folder):
        folder.mkdir(parents=True, exist_ok=True)
    write_node_config(server, pixel, folder_id=folder_id, folder_path=outbox,
                      folder_type="sendonly", dial_peer=False)
    write_node_config(pixel, server, folder_id=folder_id, folder_path=pixel_folder,
                      folder_type="receiveonly", dial_peer=True)
    pair = SyncthingPair(server, pixel, folder_id, outbox, pixel_folder)
    try:
        server.start()
        if connect:
            pair.start_pixel()
        yield pair
    finally:
        pair.stop()
