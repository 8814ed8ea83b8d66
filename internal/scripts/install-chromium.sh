#!/usr/bin/env bash
# Installs Debian's chromium for the console's browser test
# (cluster/console), unless a Chromium is already there.
#
# The test looks for chromium, chromium-browser or google-chrome on PATH, or
# the binary named by $CHROMIUM_BIN; so does this script, which installs
# nothing when one is found. Otherwise it installs the `chromium` package
# with apt-get (root, or sudo without a password); where it cannot, it says
# how and exits 0, and the browser test then fails with the same advice.
set -euo pipefail

if [ -n "${CHROMIUM_BIN:-}" ]; then
  [ -x "$CHROMIUM_BIN" ] || { echo "chromium: CHROMIUM_BIN=$CHROMIUM_BIN is not an executable file" >&2; exit 1; }
  exit 0
fi
for b in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: not found and no apt-get here: install Chromium (or set CHROMIUM_BIN) for the console's browser test" >&2
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "chromium: not found; run 'sudo apt-get install -y chromium' for the console's browser test" >&2
    exit 0
  fi
fi
echo "chromium: installing Debian's chromium package (for the console's browser test)" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get install -y chromium >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y chromium >&2; }
