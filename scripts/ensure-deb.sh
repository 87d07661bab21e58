#!/usr/bin/env bash
# ensure-deb.sh PACKAGE BINARY FOR WITHOUT: Debian's PACKAGE when its BINARY is missing and apt-get can run as
# root ("installing PACKAGE (Debian) FOR"). Never fails the build: without it, it says WITHOUT and exits 0.
# Debian's package may start a system service where systemd runs; kibench starts its own process.
set -u
package=$1 binary=$2 for=$3 without=$4
if command -v "$binary" >/dev/null 2>&1 || [ -x "/usr/sbin/$binary" ] || [ -x "/usr/bin/$binary" ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing $package (Debian) $for"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
    || echo "could not install $package; $without"
else
  echo "no $package and no root apt-get: $without (apt-get install $package)"
fi
exit 0
