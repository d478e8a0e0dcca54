#!/usr/bin/env bash
# Installs the build dependencies (Debian 12, as root) and builds ladder in Release into build/:
# `bash scripts/setup.sh [TARGET...]` (default: everything, tests included).
# apt is skipped when every package is already installed, so a second run only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libtorch-dev libopenblas0-openmp nlohmann-json3-dev libcli11-dev libgtest-dev
          cmake g++ ninja-build xz-utils liblzma-dev libhdf5-dev libgloo-dev libpcre2-dev
          libutf8proc-dev)

# shellcheck source=scripts/apt-packages.sh
source scripts/apt-packages.sh
apt_install_missing setup "${packages[@]}"

# Targets to build may be given (the demo builds only the CLI); none: everything, tests included.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
if (($# > 0)); then
  cmake --build build -j2 --target "$@"
else
  cmake --build build -j2
fi
