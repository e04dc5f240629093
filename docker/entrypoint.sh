#!/bin/sh
# The container's entrypoint (under tini): become PUID/PGID, apply TZ and UMASK, run photoledger.
#
# Invariants: photoledger never runs as root. Started as root (the default), the entrypoint gives
# the `photoledger` user the uid/gid PUID/PGID (default 1000/1000), makes /config theirs (only
# the folder itself) and /library and /nas too while they are empty (a fresh volume; a share
# with files is never re-owned), then drops to them with setpriv; started
# with `--user`, it runs as that user. Arguments that are not a program (`watch`, `status --json`,
# `--help`) are photoledger's; `sh`, `bash` or an absolute path run as given.
set -eu

: "${PUID:=1000}" "${PGID:=1000}" "${UMASK:=022}" "${TZ:=Etc/UTC}"

die() { echo "photoledger: error: $*" >&2; exit 3; }  # 3: CONFIG, as for a bad config key

case "$PUID" in ''|*[!0-9]*) die "PUID must be a number, not '$PUID'";; esac
case "$PGID" in ''|*[!0-9]*) die "PGID must be a number, not '$PGID'";; esac
case "$UMASK" in ''|*[!0-7]*) die "UMASK must be octal (e.g. 022 or 002), not '$UMASK'";; esac
[ "$PUID" -ne 0 ] || die "PUID 0 would run photoledger as root; give the NAS user's uid"
umask "$UMASK"

if [ -f "/usr/share/zoneinfo/$TZ" ]; then
  export TZ
  if [ "$(id -u)" -eq 0 ]; then
    ln -sf "/usr/share/zoneinfo/$TZ" /etc/localtime
    echo "$TZ" > /etc/timezone
  fi
else
  echo "photoledger: warning: unknown TZ '$TZ', using UTC" >&2
  export TZ=Etc/UTC
fi

case "${1:-}" in
  photoledger|sh|bash|/*) ;;
  *) set -- photoledger "$@" ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  exec "$@"
fi

if [ "$(id -g photoledger)" != "$PGID" ]; then
  groupmod --non-unique --gid "$PGID" photoledger
fi
if [ "$(id -u photoledger)" != "$PUID" ]; then
  usermod --non-unique --uid "$PUID" photoledger
fi
chown "$PUID:$PGID" /config
for dir in /library /nas; do  # a fresh (empty) volume becomes theirs; a NAS share is left as is
  if [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then chown "$PUID:$PGID" "$dir"; fi
done
for dir in /config /library /nas; do
  if ! setpriv --reuid="$PUID" --regid="$PGID" --init-groups test -w "$dir"; then
    echo "photoledger: warning: $dir is not writable by uid $PUID gid $PGID" \
         "(set PUID/PGID to the owner of the folder on the NAS)" >&2
  fi
done
exec setpriv --reuid="$PUID" --regid="$PGID" --init-groups "$@"
