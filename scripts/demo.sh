#!/usr/bin/env bash
# The main job end to end on the built-in iCloud simulator, on a fresh Debian machine:
# installs what it needs (scripts/setup.sh), then runs `photoledger demo` into ./demo/
# (a simulated iCloud with real photos and videos; discover, download, status).
# Run it again to see an incremental run that finds nothing new to do.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/photoledger demo --dir ./demo "$@"
