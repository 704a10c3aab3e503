#!/usr/bin/env bash
# Installs Debian's Chromium for the HTML report's browser test, if it is not there yet. Idempotent.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then echo "chromium: $(command -v chromium)"; exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "chromium is missing and this is not root: install Debian's chromium package" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq chromium >/dev/null
echo "chromium: $(command -v chromium)"
