#!/usr/bin/env bash
# Installs the build dependencies (Debian 12, as root) and builds ladder in Release into build/:
# `bash scripts/setup.sh [TARGET...]` (default: everything, tests included).
# apt is skipped when every package is already installed, so a second run only rebuilds.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libtorch-dev libopenblas0-openmp nlohmann-json3-dev libcli11-dev libgtest-dev
          cmake g++ ninja-build xz-utils liblzma-dev)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "setup: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}"
else
  echo "setup: all packages present (${packages[*]})"
fi

# Targets to build may be given (the demo builds only the CLI); none: everything, tests included.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
if (($# > 0)); then
  cmake --build build -j2 --target "$@"
else
  cmake --build build -j2
fi
