#!/usr/bin/env bash
# Installs Debian's PostgreSQL server, which tests/ starts (as a throwaway server) to test the hand-off ledger
# in PostgreSQL. Needs root (or sudo) for apt-get; idempotent: does nothing when a server is already there.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
"${SUDO[@]}" apt-get update -q >/dev/null
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends postgresql >/dev/null
ls -d /usr/lib/postgresql/*/bin/pg_ctl
