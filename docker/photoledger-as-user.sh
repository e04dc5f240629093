#!/bin/sh
# `photoledger` on the container's PATH (ahead of the venv's): run as PUID/PGID, never as root.
#
# Invariant: `docker exec <container> photoledger status` (which runs as root) leaves no
# root-owned file in /config, /library or /nas: as root with PUID set, it drops to PUID/PGID
# with UMASK, as the entrypoint does; as any other user it runs the venv's photoledger directly.
set -eu
if [ "$(id -u)" -eq 0 ] && [ -n "${PUID:-}" ] && [ "$PUID" != 0 ]; then
  umask "${UMASK:-022}"
  exec setpriv --reuid="$PUID" --regid="${PGID:-$PUID}" --init-groups \
    /opt/photoledger/bin/photoledger "$@"
fi
exec /opt/photoledger/bin/photoledger "$@"
