#!/usr/bin/env bash
# HAProxy for the embedded cluster's per-request balancing (platform.balancing: request, an ingress): with
# it the ingress runs on haproxy, without it on kibench's Python forwarder (about 4x the CPU per request).
# Never fails the build: without haproxy the forwarder carries the traffic and the HAProxy tests skip.
exec bash "$(dirname "$0")/ensure-deb.sh" haproxy haproxy "for per-request balancing on the embedded cluster" \
  "per-request balancing will run on the Python forwarder and its HAProxy tests will be skipped"
