#!/usr/bin/env bash
# Compiles and links ladder, tests included, against a CUDA libtorch on a machine without a GPU:
# Debian 13's libtorch-cuda-dev 2.6 (contrib) and nvidia-cuda-toolkit (non-free) in a chroot
# (a copy of scripts/trixie-root.sh's root, LADDER_CUDA_ROOT, default /var/tmp/ladder-trixie-cuda).
# Nothing runs: there is no GPU. Needs root; downloads about 2.3 GB once; not part of CI.
#
# Known on this workplace's machines: nvidia-cudnn's install script downloads cuDNN from NVIDIA,
# which is unreachable, so it and libtorch-cuda stay "unconfigured" with their files in place;
# cuDNN's symbols are then missing at link time, hence -Wl,--allow-shlib-undefined, and the
# binaries could not run here anyway (so GoogleTest lists the tests when ctest runs, PRE_TEST,
# not after linking).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
cpu_root=${LADDER_TRIXIE_ROOT:-/var/tmp/ladder-trixie}
root=${LADDER_CUDA_ROOT:-/var/tmp/ladder-trixie-cuda}
jobs=${JOBS:-$(nproc)}
# shellcheck source=scripts/trixie-root.sh
source scripts/trixie-root.sh
trap trixie_leave EXIT INT TERM
start=$SECONDS

trixie_root_ready "$cpu_root"
if [[ ! -f $root/.ladder-cuda-root ]]; then
  echo "== copying $cpu_root to $root.partial"
  rm -rf "$root.partial"
  cp -a "$cpu_root" "$root.partial"
  cp /etc/resolv.conf "$root.partial/etc/resolv.conf" 2>/dev/null || true
  # libgloo-cuda-dev replaces the root's libgloo-dev (they conflict): libtorch-cuda links gloo's CUDA build.
  echo "== installing libtorch-cuda-dev, gloo's and NCCL's headers and nvidia-cuda-toolkit (about 2.3 GB)"
  chroot "$root.partial" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  # Accept NVIDIA's licence prompts non-interactively; the cuDNN download failure is expected.
  echo "nvidia-cudnn nvidia-cudnn/license_preseed select ACCEPT" | chroot "$root.partial" debconf-set-selections 2>/dev/null || true
  chroot "$root.partial" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    libtorch-cuda-dev libgloo-cuda-dev libnccl-dev nvidia-cuda-toolkit >"$root.partial.apt.log" 2>&1 || echo "   (apt exited non-zero: $(grep -c 'not fully installed\|unconfigured\|Errors were encountered' "$root.partial.apt.log") problem lines; see $root.partial.apt.log)"
  chroot "$root.partial" dpkg-query -W -f='${Package} ${Version} ${Status}\n' libtorch-cuda-dev libtorch-cuda-2.6 nvidia-cudnn nvidia-cuda-toolkit 2>/dev/null || true
  [[ -e $root.partial/usr/lib/x86_64-linux-gnu/libtorch_cuda.so ]] || { echo "libtorch_cuda.so is missing after the install" >&2; exit 1; }
  touch "$root.partial/.ladder-cuda-root"
  rm -rf "$root"
  mv "$root.partial" "$root"
fi
echo "== [$((SECONDS - start)) s] CUDA root ready: $(chroot "$root" nvcc --version | tail -1)"
trixie_enter "$root" "$repo"
trixie_run "$root" cmake -S . -B build-cuda-check -G Ninja -DCMAKE_BUILD_TYPE=Release -DLADDER_WITH_NCCL=ON \
  -DCMAKE_CXX_COMPILER_LAUNCHER=ccache "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined" \
  -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST 2>&1 |
  grep -E "ladder: libtorch|ladder: distributed|CUDA|Error|error" || true
trixie_run "$root" cmake --build build-cuda-check -j"$jobs"
echo "== [$((SECONDS - start)) s] compiled and linked against the CUDA libtorch:"
ls -la build-cuda-check/ladder build-cuda-check/ladder_tests build-cuda-check/ladder_core_tests
grep -q "cuda_memory.cpp" build-cuda-check/build.ninja && echo "   src/runtime/cuda_memory.cpp (the CUDA allocator statistics) was compiled"
