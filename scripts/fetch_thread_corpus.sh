#!/usr/bin/env bash
# Fetches what tests/test_thread_scoring.py compares seslake's threading against: notmuch (the Debian
# package) and the real mailing-list mail of notmuch's own test corpora (from Debian's notmuch source
# package). The mail goes to a cache folder outside the repository, never into it.
#
#   scripts/fetch_thread_corpus.sh [DEST]     DEST defaults to ${TMPDIR:-/tmp}/seslake-thread-corpus
#
# Needs root (or sudo) for apt-get; idempotent: a second run with everything in place does nothing.
set -euo pipefail

DEST="${1:-${SESLAKE_THREAD_CORPUS:-${TMPDIR:-/tmp}/seslake-thread-corpus}}"
SOURCES=/etc/apt/sources.list.d/seslake-deb-src.sources

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
updated=0
apt_update() {
    if [ "$updated" -eq 0 ]; then
        "${SUDO[@]}" apt-get update -q >/dev/null
        updated=1
    fi
}

if ! command -v notmuch >/dev/null 2>&1; then
    apt_update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends notmuch >/dev/null
fi

if [ -f "$DEST/.complete" ]; then
    echo "thread corpus: $DEST (cached)"
    exit 0
fi

work="$(mktemp -d)"
added_sources=0
cleanup() {
    rm -rf "$work"
    if [ "$added_sources" -eq 1 ]; then "${SUDO[@]}" rm -f "$SOURCES"; fi
}
trap cleanup EXIT
cd "$work"
if ! apt-get source --download-only -q notmuch >/dev/null 2>&1; then
    # No deb-src lines configured: add source suites mirroring the configured binary ones, for this download.
    if [ ! -f "$SOURCES" ]; then
        sed -n '/^Types:/!p; s/^Types: deb$/Types: deb-src/p' /etc/apt/sources.list.d/*.sources \
            | "${SUDO[@]}" tee "$SOURCES" >/dev/null
        added_sources=1
    fi
    updated=0
    apt_update
    apt-get source --download-only -q notmuch >/dev/null
fi

tarball="$(ls notmuch_*.orig.tar.* | head -n 1)"
mkdir -p extracted
tar -xf "$tarball" -C extracted --wildcards '*/test/corpora/*'
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mv extracted/*/test/corpora "$DEST"
echo "${tarball}" > "$DEST/.complete"
echo "thread corpus: $DEST ($(find "$DEST" -type f | wc -l) files from ${tarball})"
