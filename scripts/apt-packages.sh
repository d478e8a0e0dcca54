#!/usr/bin/env bash
# Sourced by setup.sh and fuzz.sh: `apt_install_missing WHO PACKAGE...` installs with apt the
# packages that are not installed yet (as root, or through sudo), and does nothing when all are.
apt_install_missing() {
  local who=$1
  shift
  local missing=() p status
  for p in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    echo "$who: all packages present ($*)"
    return 0
  fi
  echo "$who: installing ${missing[*]}"
  local sudo=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "$who: run as root (or install sudo) to install: ${missing[*]}" >&2; return 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -q
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
}
