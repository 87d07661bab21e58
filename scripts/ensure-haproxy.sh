#!/usr/bin/env bash
# HAProxy for the embedded cluster's per-request balancing (platform.balancing: request, an ingress): with
# it the ingress runs on haproxy, without it on kibench's Python forwarder (about 4x the CPU per request).
# Debian's package; installed when missing and apt-get can run as root. Never fails the build: without
# haproxy the forwarder carries the traffic and the HAProxy tests skip, saying why.
set -u
if command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing haproxy (Debian) for per-request balancing on the embedded cluster"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends haproxy >/dev/null 2>&1 \
    || echo "could not install haproxy; per-request balancing will run on the Python forwarder"
  # Debian's package starts a system haproxy service where systemd runs; kibench starts its own.
else
  echo "no haproxy and no root apt-get: per-request balancing will run on the Python forwarder" \
    "and its HAProxy tests will be skipped (apt-get install haproxy)"
fi
exit 0
