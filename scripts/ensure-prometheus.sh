#!/usr/bin/env bash
# Prometheus for the tests of reading GPU metrics (DCGM) from a Prometheus on a cluster run (platform.prometheus_url):
# a real Prometheus scrapes the embedded cluster's replicas over loopback (tests/kube/test_usage_on_cluster.py).
# Debian's package; installed when missing and apt-get can run as root. Never fails the build: without it those
# tests are skipped, saying why. kibench itself never needs a local Prometheus.
set -u
if command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing prometheus (Debian) for the Prometheus/DCGM tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
    || echo "could not install prometheus; the Prometheus/DCGM tests will be skipped"
  # Debian's package enables a system prometheus service where systemd runs; the tests start their own.
else
  echo "no prometheus and no root apt-get: the Prometheus/DCGM tests will be skipped (apt-get install prometheus)"
fi
exit 0
