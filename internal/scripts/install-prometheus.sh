#!/usr/bin/env bash
# Installs Debian's `prometheus` package if no prometheus binary is found.
#
# The metrics kill test (internal/promserver) runs a real Prometheus
# server against three granary processes. It starts the binary itself, with
# its own configuration and a temporary data directory on a loopback port,
# so the Debian service is not needed: this script never starts it (and in
# containers Debian's policy-rc.d keeps dpkg from starting it too).
# Overrides: $PROMETHEUS_BIN, then `prometheus` on PATH.
set -euo pipefail

if [ -n "${PROMETHEUS_BIN:-}" ]; then
  [ -x "$PROMETHEUS_BIN" ] || { echo "prometheus: PROMETHEUS_BIN=$PROMETHEUS_BIN is not an executable file" >&2; exit 1; }
  echo "prometheus: using $PROMETHEUS_BIN"; exit 0
fi
if p="$(command -v prometheus 2>/dev/null)"; then
  echo "prometheus: using $p"; exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "prometheus: not found and no apt-get to install it; install Prometheus or set PROMETHEUS_BIN" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "prometheus: installing Debian's prometheus package"
# Another apt-get (a parallel make test installing chromium, say) may hold
# the dpkg lock: wait for it rather than fail.
$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends prometheus \
  || { $sudo apt-get -o DPkg::Lock::Timeout=600 update && \
       $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends prometheus; }
echo "prometheus: using $(command -v prometheus)"
