# photoledger as a container for a NAS (Synology, Unraid, TrueNAS): `watch` as a service, and
# the web UI (`serve`, port 8765) as a second service of the same image.
#
# Build:   docker build -t photoledger .
#          (--build-arg WITH_SYNCTHING=1 adds Syncthing for backup-google;
#           --build-arg EXTRAS=postgres adds the PostgreSQL ledger client;
#           --build-arg BASE_IMAGE=localhost/debian:bookworm-slim builds on a locally imported
#           Debian, as scripts/container_test.sh does where no registry is reachable.)
# Run:     see docker-compose.yml and the README section "On a NAS (Docker, Synology, Unraid)".
#
# Invariants: photoledger runs from a venv in /opt/photoledger built from this source tree with
# the runtime dependencies only (no pytest, mypy or PostgreSQL server); the process never runs as
# root (the entrypoint drops to PUID/PGID); /config, /library and /nas are the only places it
# writes to.
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG EXTRAS=""
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md /src/
COPY engine /src/engine
COPY projections /src/projections
COPY commands /src/commands
COPY simulator /src/simulator
# An optional CA bundle for pip behind a TLS-inspecting proxy (never stored in the image):
#   --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export PIP_CERT=/run/secrets/ca_bundle; fi \
 && python3 -m venv /opt/photoledger \
 && /opt/photoledger/bin/pip install --no-cache-dir --disable-pip-version-check \
        "/src${EXTRAS:+[$EXTRAS]}" \
 && /opt/photoledger/bin/photoledger --version

FROM ${BASE_IMAGE}
ARG WITH_SYNCTHING=0
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 ca-certificates tzdata tini ffmpeg libimage-exiftool-perl \
        $([ "$WITH_SYNCTHING" = 1 ] && echo syncthing) \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
 && groupadd --gid 1000 photoledger \
 && useradd --uid 1000 --gid 1000 --home-dir /config --no-create-home \
        --shell /usr/sbin/nologin photoledger \
 && mkdir -p /config /library /nas \
 && chown photoledger:photoledger /config /library /nas
COPY --from=build /opt/photoledger /opt/photoledger
COPY docker/entrypoint.sh /usr/local/bin/photoledger-entrypoint
COPY docker/healthcheck.py /usr/local/bin/photoledger-healthcheck
COPY docker/photoledger-as-user.sh /usr/local/bin/photoledger
RUN chmod 0755 /usr/local/bin/photoledger-entrypoint /usr/local/bin/photoledger-healthcheck \
        /usr/local/bin/photoledger \
 && sed -i '1s|.*|#!/opt/photoledger/bin/python|' /usr/local/bin/photoledger-healthcheck

# /usr/local/bin/photoledger (as PUID, also under `docker exec`) ahead of the venv's.
ENV PATH=/usr/local/bin:/opt/photoledger/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/config \
    PHOTOLEDGER_CONFIG=/config/photoledger.yaml \
    PUID=1000 \
    PGID=1000 \
    UMASK=022 \
    TZ=Etc/UTC \
    PYTHONUNBUFFERED=1
VOLUME ["/config", "/library", "/nas"]
# `photoledger serve --host 0.0.0.0 ...` listens here (docker-compose.yml: the `web` service).
EXPOSE 8765
WORKDIR /config
# Healthy: `photoledger status --json` exits 0 and the last run started or finished within
# PHOTOLEDGER_HEALTH_MAX_AGE seconds (default 3 h: the default 1 h watch interval plus a run).
HEALTHCHECK --interval=5m --timeout=2m --start-period=30m --retries=3 \
    CMD ["/usr/local/bin/photoledger-healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/photoledger-entrypoint"]
CMD ["watch"]
