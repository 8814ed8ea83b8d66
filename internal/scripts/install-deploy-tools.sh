#!/usr/bin/env bash
# Installs what deploy/deploy_test.go checks the deployment files with,
# when it is missing: systemd-analyze (Debian's systemd package) for the
# units, openssl for the certificate script. promtool comes with
# install-prometheus.sh. Nothing is started: systemd-analyze verify only
# reads unit files.
set -euo pipefail

need=()
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "deploy-tools: ${need[*]} missing and no apt-get here: install them for deploy/deploy_test.go" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "deploy-tools: installing ${need[*]}"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}" \
  || { $sudo apt-get -o DPkg::Lock::Timeout=600 update && \
       $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${need[@]}"; }
