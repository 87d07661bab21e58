#!/usr/bin/env bash
# Prometheus for the tests of reading GPU metrics (DCGM) from a Prometheus on a cluster run (platform.prometheus_url):
# a real Prometheus scrapes the embedded cluster's replicas over loopback (tests/kube/test_usage_on_cluster.py).
# Never fails the build: without it those tests are skipped, saying why. kibench itself never needs one locally.
exec bash "$(dirname "$0")/ensure-deb.sh" prometheus prometheus "for the Prometheus/DCGM tests" \
  "the Prometheus/DCGM tests will be skipped"
