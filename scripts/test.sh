#!/usr/bin/env bash
# Builds everything (scripts/setup.sh), runs every test, runs the torch-free core's tests again
# under AddressSanitizer + UndefinedBehaviorSanitizer, then the whole suite against libtorch 2.x
# (scripts/test-libtorch2.sh). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== ctest (Release build)"
ctest --test-dir build --output-on-failure -j2

echo "== AddressSanitizer build of the torch-free core"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DLADDER_WITH_TORCH=OFF -DLADDER_ASAN=ON
cmake --build build-asan -j2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j2

# libFuzzer targets of the torch-free readers (scripts/fuzz.sh: clang, ASan + UBSan), about
# 30 s each. Set LADDER_SKIP_FUZZ=1 to skip them.
if [[ ${LADDER_SKIP_FUZZ:-} != 1 ]]; then
  echo "== fuzzers (scripts/fuzz.sh 30)"
  bash scripts/fuzz.sh 30
fi

# The same suite against libtorch 2.x (Debian 13's 2.6 in a chroot; needs root). Set
# LADDER_SKIP_LIBTORCH2=1 to skip it on a machine where that cannot run.
if [[ -z ${LADDER_SKIP_LIBTORCH2:-} ]]; then
  echo "== libtorch 2.x suite (scripts/test-libtorch2.sh)"
  bash scripts/test-libtorch2.sh
fi

echo "== all tests passed"
