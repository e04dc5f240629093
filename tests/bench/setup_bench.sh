#!/usr/bin/env bash
# Create .venv-bench: a virtualenv apart from the project's .venv holding the PyPI icloudpd 1.32.3
# (a static binary wrapped in a wheel) and mitmproxy, which tests/bench/bench_icloud.py needs to
# compare photoledger with icloudpd. Neither is a dependency of photoledger itself, so they never go
# into pyproject.toml or .venv. Idempotent: a second run only checks the installed versions.
set -euo pipefail
cd "$(dirname "$0")/../.."

ICLOUDPD_VERSION="1.32.3"
VENV=.venv-bench
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup_bench: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
# Git ignores the whole folder without an entry in the project's .gitignore.
echo "*" > "$VENV/.gitignore"
stamp="$VENV/.bench-installed-$ICLOUDPD_VERSION"
if [ ! -f "$stamp" ]; then
  echo "setup_bench: installing icloudpd==$ICLOUDPD_VERSION and mitmproxy into $VENV"
  # The filter drops pip's notes about configured index folders missing on this machine.
  "$VENV/bin/python" -m pip install -q "icloudpd==$ICLOUDPD_VERSION" mitmproxy 2>&1 \
    | grep -v -e '^WARNING: Location' -e '^$' || true
  touch "$stamp"
fi

# Fail here, not halfway through a benchmark, when either program cannot start.
installed="$("$VENV/bin/icloudpd" --version 2>&1 | head -n 1)"
case "$installed" in
  *"$ICLOUDPD_VERSION"*) ;;
  *) echo "setup_bench: expected icloudpd $ICLOUDPD_VERSION, got: $installed" >&2; exit 1 ;;
esac
echo "setup_bench: ready ($installed, mitmdump $("$VENV/bin/mitmdump" --version 2>&1 | head -n 1))"
