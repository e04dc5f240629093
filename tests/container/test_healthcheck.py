"""The image's health check and entrypoint checks, run on the host (fast, default suite).

docker/healthcheck.py is healthy only when `photoledger status --json` exits 0 and the last run
is recent enough (finished within PHOTOLEDGER_HEALTH_MAX_AGE, or still running and started
within PHOTOLEDGER_HEALTH_MAX_RUN); docker/entrypoint.sh refuses a bad PUID/PGID/UMASK and
PUID 0 with one `photoledger: error:` line before it changes anything. The container itself is
tested by tests/container/test_container.py (opt-in, `-m container`).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest

from engine import events as ev
from tests.factories import REPO_ROOT, Library, new_run

HEALTHCHECK = REPO_ROOT / "docker" / "healthcheck.py"
ENTRYPOINT = REPO_ROOT / "docker" / "entrypoint.sh"
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("photoledger_healthcheck", HEALTHCHECK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat()


@pytest.mark.parametrize(
    ("last_run", "healthy"),
    [
        (None, False),
        ({"command": "run", "started_at_utc": stamp(100), "finished_at_utc": stamp(50)}, True),
        ({"command": "run", "started_at_utc": stamp(9000), "finished_at_utc": stamp(3601)}, False),
        ({"command": "download", "started_at_utc": stamp(7000), "finished_at_utc": None}, True),
        ({"command": "download", "started_at_utc": stamp(7201), "finished_at_utc": None}, False),
        ({"command": "run", "started_at_utc": None, "finished_at_utc": None}, False),
    ],
)
def test_verdict_by_the_age_of_the_last_run(last_run: dict[str, str] | None, healthy: bool) -> None:
    reason = load_healthcheck().verdict(last_run, NOW, max_age=3600, max_run=7200)
    assert (reason == "") is healthy, reason


def run_healthcheck(config: Path, **env: str) -> subprocess.CompletedProcess[str]:
    bindir = str(Path(sys.executable).parent)
    full_env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}",
                "PHOTOLEDGER_CONFIG": str(config), **env}
    full_env.pop("PUID", None)
    return subprocess.run([sys.executable, str(HEALTHCHECK)], capture_output=True, text=True,
                          env=full_env, timeout=120, check=False)


def test_unhealthy_without_a_config(tmp_path: Path) -> None:
    result = run_healthcheck(tmp_path / "missing.yaml")
    assert result.returncode == 1
    assert result.stdout.startswith("unhealthy: status exited ")


def test_healthy_only_while_the_last_run_is_recent(library: Library) -> None:
    no_run = run_healthcheck(library.config_path)
    assert (no_run.returncode, no_run.stdout) == (1, "unhealthy: no run recorded yet\n")

    ledger = library.open_ledger()
    run = new_run("watch")
    ledger.save(run)
    running = run_healthcheck(library.config_path)
    assert running.returncode == 0, running.stdout + running.stderr
    stuck = run_healthcheck(library.config_path, PHOTOLEDGER_HEALTH_MAX_RUN="0")
    assert stuck.returncode == 1
    assert "not finished" in stuck.stdout

    run.record(ev.RunFinished, exit_code=0, outcome="ok")
    ledger.save(run)
    ledger.close()
    done = run_healthcheck(library.config_path)
    assert (done.returncode, done.stdout) == (0, "healthy: last run watch (ok)\n")
    old = run_healthcheck(library.config_path, PHOTOLEDGER_HEALTH_MAX_AGE="0")
    assert old.returncode == 1
    assert old.stdout.startswith("unhealthy: the last run (watch) finished ")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PUID": "abc"}, "photoledger: error: PUID must be a number, not 'abc'\n"),
        ({"PGID": "-1"}, "photoledger: error: PGID must be a number, not '-1'\n"),
        ({"UMASK": "0x22"}, "photoledger: error: UMASK must be octal (e.g. 022 or 002), not '0x22'\n"),
        ({"PUID": "0"}, "photoledger: error: PUID 0 would run photoledger as root;"
                        " give the NAS user's uid\n"),
    ],
)
def test_entrypoint_refuses_bad_ids_before_changing_anything(
    env: dict[str, str], message: str
) -> None:
    result = subprocess.run(["sh", str(ENTRYPOINT), "status"], capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], **env}, timeout=30, check=False)
    assert (result.returncode, result.stderr) == (3, message)
