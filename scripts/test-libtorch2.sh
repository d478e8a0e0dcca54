#!/usr/bin/env bash
# Builds ladder against libtorch 2.x (Debian 13 "trixie": libtorch-dev 2.6, CPU) in a chroot and
# runs the whole test suite there, so the 2.x code paths (scaled_dot_product_attention, ...)
# are tested on every change. Needs root. The root (LADDER_TRIXIE_ROOT, default
# /var/tmp/ladder-trixie) and the build (build-torch2/, ccache in the root) are reused when the
# machine keeps them; a fresh machine makes both (about 25 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
root=${LADDER_TRIXIE_ROOT:-/var/tmp/ladder-trixie}
jobs=${JOBS:-$(nproc)}
# shellcheck source=scripts/trixie-root.sh
source scripts/trixie-root.sh
trap trixie_leave EXIT INT TERM

start=$SECONDS
trixie_root_ready "$root"
echo "== libtorch 2.x chroot ready ($root, $((SECONDS - start)) s): $(chroot "$root" dpkg-query -W -f='libtorch-dev ${Version}' libtorch-dev)"
trixie_enter "$root" "$repo"
trixie_run "$root" cmake -S . -B build-torch2 -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
trixie_run "$root" cmake --build build-torch2 -j"$jobs"
echo "== ctest against libtorch 2.x ($((SECONDS - start)) s so far)"
trixie_run "$root" ctest --test-dir build-torch2 --output-on-failure -j"$jobs"
echo "== libtorch 2.x suite passed in $((SECONDS - start)) s"
