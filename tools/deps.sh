#!/bin/sh
# deps.sh -- make sure the Debian 12 packages cityd needs are installed.
# As root: installs what is missing with apt-get. Otherwise: prints the one
# command to run and fails. `deps.sh fuzz` also wants clang and its
# libFuzzer runtime (make fuzz), which nothing else needs; `deps.sh
# valgrind` also wants valgrind (make valgrind).
set -e
PKGS="build-essential pkg-config libevent-dev libhiredis-dev libgeos-dev libjansson-dev
libcunit1-dev libglpk-dev libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev redis-server wrk tzdata curl"
# fonts the time-space SVG names first (Chinese intersection names)
PKGS="$PKGS fonts-noto-cjk"
# the browser pages: Leaflet and Chart.js served by cityd, Chromium for the
# browser tests (tests/browser)
PKGS="$PKGS libjs-leaflet libjs-chart.js chromium"
[ "${1:-}" = fuzz ] && PKGS="$PKGS clang libclang-rt-14-dev"
[ "${1:-}" = valgrind ] && PKGS="$PKGS valgrind"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "deps: missing packages:$missing" >&2
    echo "deps: run: sudo apt-get install -y$missing" >&2
    exit 1
fi
