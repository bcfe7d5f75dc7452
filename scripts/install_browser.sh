#!/usr/bin/env bash
# Installs Debian's Chromium, which tests/report/ drives headless to render the HTML report.
# Needs root (or sudo) for apt-get; idempotent: does nothing when Chromium is already there.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
"${SUDO[@]}" apt-get update -q >/dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null
chromium --version
