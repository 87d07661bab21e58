#!/usr/bin/env bash
# Headless Chromium for the report tests (tests/report/test_html_browser.py open report.html in it).
# Debian's package; installed when missing and apt-get can run as root. Never fails the build: without a
# browser those tests skip and say why.
set -u
for name in chromium-headless-shell chromium chromium-browser google-chrome; do
  if command -v "$name" >/dev/null 2>&1; then exit 0; fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium-headless-shell (Debian) for the HTML report tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null 2>&1 \
    || apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || echo "could not install Chromium; the browser tests will be skipped"
else
  echo "no Chromium and no root apt-get: the browser tests will be skipped (apt-get install chromium-headless-shell)"
fi
exit 0
