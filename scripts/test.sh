#!/usr/bin/env bash
# The README's test command: install everything (scripts/setup.sh), then lint, type-check
# and run the test suite. Extra arguments go to pytest (e.g. scripts/test.sh -k ledger).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/ruff check engine projections commands simulator tests
.venv/bin/mypy
# Three workers: most tests wait on subprocesses, sockets and disks, so 2 cores keep 3 busy
# (PYTEST_WORKERS=0 runs everything in one process, e.g. to debug).
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-3}" "$@"
