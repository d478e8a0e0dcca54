#!/usr/bin/env bash
# Builds everything (scripts/setup.sh), runs every test, then runs the torch-free core's tests
# again under AddressSanitizer + UndefinedBehaviorSanitizer. Exits non-zero on any failure.
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

echo "== all tests passed"
