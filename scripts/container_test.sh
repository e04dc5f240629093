#!/usr/bin/env bash
# Build the container image and run photoledger's demo pipeline in it, for real, with podman.
#
# No image registry is needed: the Debian base is made from Debian packages (debootstrap
# --variant=minbase bookworm) and imported as localhost/debian:bookworm-slim, then the Dockerfile
# is built FROM that tag (BASE_IMAGE). Inside the container (no network), `photoledger demo` runs
# every stage against the built-in iCloud simulator and two Syncthing instances on loopback; then
# `status --json`, the health check (healthy, and unhealthy when the last run is too old), the
# PUID/PGID/UMASK/TZ handling, the runtime-only venv (no pytest, mypy, psycopg) and the default
# `watch` command with the image's HEALTHCHECK, and `serve` beside it (its token shown once in
# the logs, its hash file private, /login answered, the dashboard refused without a session)
# are checked. Exits 0 only when every check passes.
#
# Needs root (or sudo) for debootstrap and rootful podman; installs podman, buildah's runtime
# (runc) and debootstrap with apt-get when missing. Environment:
#   BASE_IMAGE        the base to build on (default localhost/debian:bookworm-slim; built if absent)
#   IMAGE             the tag to build (default localhost/photoledger:test)
#   ROOTFS_CACHE      where the debootstrapped tree is kept between runs (default
#                     /var/tmp/photoledger-rootfs)
#   DEBIAN_MIRROR     default http://deb.debian.org/debian
#   KEEP_IMAGE=1      keep the built image (it is kept anyway; the work folder is always removed)
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE="${BASE_IMAGE:-localhost/debian:bookworm-slim}"
IMAGE="${IMAGE:-localhost/photoledger:test}"
ROOTFS_CACHE="${ROOTFS_CACHE:-/var/tmp/photoledger-rootfs}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TEST_UID=1234
TEST_GID=2345

say() { echo "container_test: $*"; }
fail() { echo "container_test: FAIL: $*" >&2; exit 1; }

SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
need=()
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
PODMAN=($SUDO podman)

WORK="$(mktemp -d /tmp/photoledger-container.XXXXXX)"
chmod 0755 "$WORK"
NAME="photoledger-test-$$"
cleanup() {
  "${PODMAN[@]}" rm -f -t 5 "$NAME" >/dev/null 2>&1 || true
  "${PODMAN[@]}" rm -f -t 5 "$NAME-web" >/dev/null 2>&1 || true
  $SUDO rm -rf "$WORK"
}
trap cleanup EXIT

# 1. The base image, from Debian packages.
if ! "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
  if [ ! -x "$ROOTFS_CACHE/bin/sh" ]; then
    say "debootstrap --variant=minbase bookworm into $ROOTFS_CACHE (a few minutes)"
    $SUDO rm -rf "$ROOTFS_CACHE.partial"
    $SUDO debootstrap --variant=minbase bookworm "$ROOTFS_CACHE.partial" "$DEBIAN_MIRROR" \
      > "$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap"; }
    $SUDO rm -rf "$ROOTFS_CACHE.partial"/var/cache/apt/archives/*.deb \
      "$ROOTFS_CACHE.partial"/var/lib/apt/lists/*
    $SUDO mv "$ROOTFS_CACHE.partial" "$ROOTFS_CACHE"
  fi
  say "importing $ROOTFS_CACHE as $BASE_IMAGE"
  $SUDO tar -C "$ROOTFS_CACHE" -c . | "${PODMAN[@]}" import - "$BASE_IMAGE" > "$WORK/import.log" 2>&1 \
    || { cat "$WORK/import.log" >&2; fail "podman import"; }
fi

# 2. Can podman run a container here? Some hosts (a VM without CAP_SYS_RESOURCE, cgroups in
#    hybrid mode) refuse crun and podman's default rlimits: fall back to runc and the host's limits.
if ! "${PODMAN[@]}" run --rm --network none "$BASE_IMAGE" true 2>"$WORK/probe.err"; then
  say "podman's defaults cannot run a container here ($(tail -1 "$WORK/probe.err"));" \
      "retrying with runc and the current rlimits"
  conf="$WORK/containers.conf"
  nofile="$(ulimit -Hn)"; [ "$nofile" = unlimited ] && nofile=65536
  cat > "$conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
CONF
  export CONTAINERS_CONF="$conf"
  PODMAN=($SUDO env CONTAINERS_CONF="$conf" podman)
  "${PODMAN[@]}" run --rm --network none "$BASE_IMAGE" true \
    || fail "podman cannot run a container on this host, even with runc and the host's rlimits"
fi

# 3. The image (host network for apt-get and pip while building only).
say "building $IMAGE from $BASE_IMAGE (WITH_SYNCTHING=1)"
# The host's CA bundle goes to pip as a build secret (TLS-inspecting proxies; not kept in the image).
secret=()
ca="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"
[ -s "$ca" ] && secret=(--secret "id=ca_bundle,src=$ca")
"${PODMAN[@]}" build --format docker --network host --build-arg BASE_IMAGE="$BASE_IMAGE" \
  --build-arg WITH_SYNCTHING=1 "${secret[@]}" -t "$IMAGE" . > "$WORK/build.log" 2>&1 \
  || { tail -30 "$WORK/build.log" >&2; fail "podman build"; }
say "image size: $("${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE") bytes"

RUN=("${PODMAN[@]}" run --rm --no-healthcheck --network none -e PUID=$TEST_UID -e PGID=$TEST_GID
     -v "$WORK/library:/library" -v "$WORK/config:/config")
mkdir -p "$WORK/library" "$WORK/config"
$SUDO chown "$TEST_UID:$TEST_GID" "$WORK/library"

# 4. A runtime-only install: no test tools, no PostgreSQL.
"${RUN[@]}" "$IMAGE" /opt/photoledger/bin/python -c '
import importlib.util, shutil, sys
extra = [m for m in ("pytest", "mypy", "psycopg", "hypothesis") if importlib.util.find_spec(m)]
extra += [p for p in ("postgres", "pg_ctl", "initdb") if shutil.which(p)]
sys.exit(f"not runtime-only: {extra}" if extra else 0)' || fail "the image holds test tools"
for tool in ffmpeg ffprobe exiftool syncthing photoledger; do
  "${RUN[@]}" "$IMAGE" sh -c "command -v $tool >/dev/null" || fail "$tool missing in the image"
done

# 5. The entrypoint: PUID/PGID, UMASK, TZ; root refused; a bad UMASK is a one-line error.
got="$("${RUN[@]}" -e UMASK=002 -e TZ=Europe/Paris "$IMAGE" sh -c \
  'echo "$(id -u):$(id -g) $(umask) $(date +%Z) $HOME"; touch /config/probe; stat -c %u:%g:%a /config/probe')"
want="$TEST_UID:$TEST_GID 0002 CET /config
$TEST_UID:$TEST_GID:664"
[ "$got" = "$want" ] || fail "entrypoint: got [$got], want [$want]"
for bad in PUID=0 UMASK=abc; do  # exit 3 (CONFIG) with one line naming the variable
  code=0; "${RUN[@]}" -e "$bad" "$IMAGE" status 2>"$WORK/err" || code=$?
  [ "$code" = 3 ] && grep -q "^photoledger: error: ${bad%%=*}" "$WORK/err" \
    || fail "$bad: exit $code: $(cat "$WORK/err")"
done

# 6. The README's first steps on fresh volumes: init writes /config/photoledger.yaml (the image's
#    PHOTOLEDGER_CONFIG), status answers, and the health check waits for a first run.
mkdir -p "$WORK/fresh/config" "$WORK/fresh/library" "$WORK/fresh/nas"
FRESH=("${PODMAN[@]}" run --rm --no-healthcheck --network none -e PUID=$TEST_UID -e PGID=$TEST_GID
       -v "$WORK/fresh/config:/config" -v "$WORK/fresh/library:/library" -v "$WORK/fresh/nas:/nas")
"${FRESH[@]}" "$IMAGE" init --library-root /library --nas-root /nas --session-dir /config/session \
  --username jdoe@example.com > "$WORK/init.log" 2>&1 || { cat "$WORK/init.log" >&2; fail "init"; }
[ "$(stat -c %u:%g "$WORK/fresh/config/photoledger.yaml")" = "$TEST_UID:$TEST_GID" ] \
  || fail "init wrote no /config/photoledger.yaml owned by $TEST_UID:$TEST_GID"
"${FRESH[@]}" "$IMAGE" status > "$WORK/status.log" 2>&1 || { cat "$WORK/status.log" >&2; fail "status"; }
got="$("${FRESH[@]}" "$IMAGE" /usr/local/bin/photoledger-healthcheck 2>/dev/null || echo "exit $?")"
[ "$got" = "unhealthy: no run recorded yet
exit 1" ] || fail "healthcheck before any run: [$got]"

# 7. The demo pipeline inside the container, against the built-in simulator, no network.
say "photoledger demo --assets 5 in the container"
"${RUN[@]}" "$IMAGE" --no-progress demo --dir /library/demo --assets 5 > "$WORK/demo.log" 2>&1 \
  || { tail -30 "$WORK/demo.log" >&2; fail "demo in the container"; }
owners="$(find "$WORK/library/demo" -printf '%u:%g\n' | sort -u | tr '\n' ' ')"
[ "$owners" = "$TEST_UID:$TEST_GID " ] || fail "demo files owned by [$owners], not $TEST_UID:$TEST_GID"
find "$WORK/library/demo/nas" -type f | grep -q . || fail "the demo put nothing on the NAS"

CFG=(-e PHOTOLEDGER_CONFIG=/library/demo/photoledger.yaml)
"${RUN[@]}" "${CFG[@]}" "$IMAGE" status --json > "$WORK/status.json" || fail "status --json"
python3 - "$WORK/status.json" <<'PY' || fail "status --json: $(head -c 400 "$WORK/status.json")"
import json, sys
status = json.load(open(sys.argv[1]))
last = status["last_run"]
assert last and last["exit_code"] == 0 and last["finished_at_utc"], last
assert status["totals"], status
print(f"container_test: status --json: last run {last['command']} {last['outcome']}")
PY

# 8. The health check: healthy now; unhealthy when the last run is older than the limit.
"${RUN[@]}" "${CFG[@]}" "$IMAGE" /usr/local/bin/photoledger-healthcheck \
  || fail "healthcheck after the demo"
if "${RUN[@]}" "${CFG[@]}" -e PHOTOLEDGER_HEALTH_MAX_AGE=0 "$IMAGE" \
   /usr/local/bin/photoledger-healthcheck; then
  fail "healthcheck passed with PHOTOLEDGER_HEALTH_MAX_AGE=0"
fi

# 9. The default command (watch) and the image's HEALTHCHECK; a stop ends watch gracefully.
say "watch (the default command) with the image's HEALTHCHECK"
"${PODMAN[@]}" run -d --name "$NAME" --network none -e PUID=$TEST_UID -e PGID=$TEST_GID \
  -v "$WORK/library:/library" -v "$WORK/config:/config" "${CFG[@]}" "$IMAGE" >/dev/null 2>&1 \
  || fail "podman run -d"  # (stderr: podman's complaints about systemd timers, where none runs)
"${PODMAN[@]}" inspect --format '{{.Config.Cmd}}' "$NAME" | grep -q watch || fail "CMD is not watch"
healthy=""
for _ in $(seq 1 60); do
  if "${PODMAN[@]}" healthcheck run "$NAME" >/dev/null 2>&1; then healthy=1; break; fi
  sleep 2
done
[ -n "$healthy" ] || { "${PODMAN[@]}" logs "$NAME" | tail -20 >&2; fail "HEALTHCHECK never healthy"; }
# Only tini (PID 1) runs as root; photoledger and its children run as PUID.
procs="$("${PODMAN[@]}" top "$NAME" huser comm)"
echo "$procs" | awk -v uid=$TEST_UID 'NR > 1 && $2 != "tini" && $1 != uid { bad = 1 } END { exit bad }' \
  || fail "a process in the container runs as another user: $procs"
echo "$procs" | awk -v uid=$TEST_UID '$1 == uid' | grep -q photoledger || fail "no photoledger: $procs"
# `docker exec ... photoledger` runs as root: the image's photoledger drops to PUID first.
[ "$("${PODMAN[@]}" exec "$NAME" id -u)" = 0 ] || fail "exec does not start as root (untested)"
"${PODMAN[@]}" exec "$NAME" photoledger status --json > /dev/null || fail "exec photoledger status"
"${PODMAN[@]}" exec "$NAME" photoledger --config /config/probe.yaml init \
  --library-root /config/probe-library --session-dir /config/probe-session \
  --username jdoe@example.com > /dev/null || fail "exec photoledger init"
owners="$(find "$WORK/config" -path "$WORK/config/probe*" -printf '%u:%g\n' | sort -u | tr '\n' ' ')"
[ "$owners" = "$TEST_UID:$TEST_GID " ] || fail "exec photoledger wrote files as [$owners]"
rooted="$(find "$WORK/library" "$WORK/config" -user root | head -5)"
[ -z "$rooted" ] || fail "root-owned files after exec: $rooted"
"${PODMAN[@]}" stop -t 60 "$NAME" >/dev/null 2>&1
code="$("${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$NAME")"
[ "$code" != 137 ] || fail "watch did not stop on SIGTERM within 60 s"
"${PODMAN[@]}" logs "$NAME" 2>&1 | tail -3 | sed 's/^/container_test: watch: /'

# 10. serve, as docker-compose.yml's `web` service runs it: the token once in its logs, only a
# private hash beside the config, /login answered, the dashboard refused without a session.
say "serve (the web service)"
"${PODMAN[@]}" run -d --name "$NAME-web" --network none -e PUID=$TEST_UID -e PGID=$TEST_GID \
  -v "$WORK/library:/library" -v "$WORK/config:/config" "${CFG[@]}" "$IMAGE" \
  serve --host 0.0.0.0 --insecure-lan >/dev/null 2>&1 || fail "podman run serve"
up=""
for _ in $(seq 1 30); do
  if "${PODMAN[@]}" exec "$NAME-web" /opt/photoledger/bin/python -c "
import http.client
c = http.client.HTTPConnection('127.0.0.1', 8765, timeout=5)
c.request('GET', '/login'); assert c.getresponse().status == 200
c = http.client.HTTPConnection('127.0.0.1', 8765, timeout=5)
c.request('GET', '/'); r = c.getresponse()
assert r.status == 303 and r.getheader('location') == '/login', r.status
" >/dev/null 2>&1; then up=1; break; fi
  sleep 1
done
[ -n "$up" ] || { "${PODMAN[@]}" logs "$NAME-web" 2>&1 | tail -10 >&2; fail "serve never answered"; }
[ "$("${PODMAN[@]}" logs "$NAME-web" 2>&1 | grep -c '^access token (shown once')" = 1 ] \
  || fail "serve's logs do not show the token exactly once"
TOKEN_FILE="$WORK/library/demo/photoledger-web.token"
[ "$(stat -c '%a %u' "$TOKEN_FILE")" = "600 $TEST_UID" ] || fail "token file: $(stat -c '%a %u' "$TOKEN_FILE")"
"${PODMAN[@]}" stop -t 30 "$NAME-web" >/dev/null 2>&1
say "OK"
