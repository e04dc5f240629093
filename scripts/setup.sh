#!/usr/bin/env bash
# Install everything photoledger and its tests need on a fresh Debian machine:
# system packages (apt-get), a virtualenv in .venv, and the project with its test extras.
# Idempotent: a second run only checks. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: PostgreSQL (the ledger's server backend, started by the tests themselves),
# Python's venv support and headers, ffmpeg (real media for the simulator and compression) and
# syncthing (the Google route's server and, in tests, the stand-in Pixel).
# libimage-exiftool-perl: exiftool, which copies a RAW's EXIF into its developed still (compression.raw)
# and which the compression tests read metadata back with.
# chromium: the browser the web UI's tests drive through Playwright (its own browser download
# cannot work offline); fonts-dejavu-core gives its pages readable text in screenshots.
APT_PACKAGES=(postgresql python3 python3-venv python3-dev ca-certificates ffmpeg syncthing
              libimage-exiftool-perl chromium fonts-dejavu-core)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.photoledger-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing photoledger and its test dependencies into .venv"
  .venv/bin/python -m pip install -q -e '.[test]' 2>&1 | grep -v -e '^WARNING: Location' -e '^$' || true
  .venv/bin/python -c 'import engine, projections, commands, psycopg' # fail here if the install failed
  touch "$stamp"
fi
echo "setup: ready ($(.venv/bin/python --version), $(.venv/bin/photoledger --version))"
