#!/usr/bin/env bash
# `make browser` (part of `make test` and `make demo`): Debian's chromium and chromium-driver, the real
# browser the console's tests and the demo's screenshots drive (Selenium). Installed with apt-get
# when missing (Debian/Ubuntu, as root); otherwise says what to install.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "chromium: install chromium and chromium-driver (apt-get install chromium chromium-driver) or run as root" >&2
  exit 1
fi
echo "chromium: installing chromium and chromium-driver with apt-get"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
