"""The container image for real (opt-in: `pytest -m container`; needs root or sudo, ~10 min).

scripts/container_test.sh builds a Debian bookworm base from Debian packages (debootstrap),
builds the Dockerfile on it with podman, and in the container runs the demo pipeline against the
built-in iCloud simulator, `status --json`, the health check, the PUID/PGID/UMASK/TZ entrypoint
and the default `watch` command with the image's HEALTHCHECK; it exits 0 only when all pass.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.factories import REPO_ROOT

pytestmark = pytest.mark.container


def test_image_builds_and_runs_the_demo_pipeline() -> None:
    result = subprocess.run([str(REPO_ROOT / "scripts" / "container_test.sh")], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=3600, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "container_test: status --json: last run delete ok" in output
    assert result.stdout.rstrip().endswith("container_test: OK")
