#!/usr/bin/env bash
# A Debian 13 ("trixie") root with libtorch 2.6, for building and testing ladder against
# libtorch 2.x on this Debian 12 machine. Sourced by test-libtorch2.sh, check-cuda-build.sh and
# gpu-check.sh --cpu; needs root (debootstrap, chroot, mount).
#
#   trixie_root_ready ROOT [extra packages...]   makes ROOT once (reused afterwards), installs packages
#   trixie_enter ROOT REPO                        binds REPO at ROOT/src and ../shared at ROOT/shared
#   trixie_run ROOT COMMAND...                    runs COMMAND in the root (cwd /src)
#   trixie_leave                                   unmounts what trixie_enter mounted (also on exit)
#
# The root is made in ROOT.partial and renamed when complete, so an interrupted run never
# leaves a half-made root that a later run would trust.

TRIXIE_MIRROR=${TRIXIE_MIRROR:-http://deb.debian.org/debian}
TRIXIE_PACKAGES=(libtorch-dev libopenblas0-openmp nlohmann-json3-dev libcli11-dev libgtest-dev cmake g++
                 ninja-build liblzma-dev libhdf5-dev libgloo-dev libpcre2-dev libutf8proc-dev xz-utils ccache ca-certificates)
TRIXIE_MOUNTS=()

trixie_log() { echo "trixie: $*" >&2; }

trixie_need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    trixie_log "needs root (debootstrap, chroot and bind mounts)"
    return 1
  fi
  if ! command -v debootstrap >/dev/null; then
    trixie_log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
  fi
}

trixie_mount() {  # SOURCE TARGET [mount options...]
  local source=$1 target=$2
  shift 2
  mkdir -p "$target"
  mount "$@" "$source" "$target"
  TRIXIE_MOUNTS+=("$target")
}

trixie_leave() {
  local i
  for ((i = ${#TRIXIE_MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${TRIXIE_MOUNTS[i]}" 2>/dev/null || umount -l "${TRIXIE_MOUNTS[i]}" 2>/dev/null || true
  done
  TRIXIE_MOUNTS=()
}

trixie_apt() {  # ROOT PACKAGES...
  local root=$1
  shift
  local missing=()
  for p in "$@"; do
    chroot "$root" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0
  trixie_log "installing ${missing[*]}"
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >"$root/var/log/ladder-apt.log" 2>&1 || {
    tail -20 "$root/var/log/ladder-apt.log" >&2
    return 1
  }
}

trixie_root_ready() {  # ROOT [extra packages...]
  local root=$1
  shift
  trixie_need_root || return 1
  if [[ ! -f $root/.ladder-root ]]; then
    local partial="$root.partial"
    rm -rf "$partial"
    trixie_log "debootstrap trixie into $partial (a few minutes, once)"
    debootstrap --variant=minbase trixie "$partial" "$TRIXIE_MIRROR" >"$partial.log" 2>&1 || {
      tail -20 "$partial.log" >&2
      return 1
    }
    echo "deb $TRIXIE_MIRROR trixie main contrib non-free non-free-firmware" >"$partial/etc/apt/sources.list"
    trixie_apt "$partial" "${TRIXIE_PACKAGES[@]}" || return 1
    touch "$partial/.ladder-root"
    rm -rf "$root"
    mv "$partial" "$root"
    rm -f "$partial.log"
  fi
  trixie_apt "$root" "${TRIXIE_PACKAGES[@]}" "$@"
}

trixie_enter() {  # ROOT REPO
  local root=$1 repo=$2
  trixie_mount proc "$root/proc" -t proc
  trixie_mount /dev "$root/dev" --bind
  trixie_mount "$repo" "$root/src" --bind
  if [[ -d $repo/../shared ]]; then trixie_mount "$repo/../shared" "$root/shared" --bind -o ro; fi
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
}

trixie_run() {  # ROOT COMMAND...
  local root=$1
  shift
  chroot "$root" env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin CCACHE_DIR=/var/cache/ccache CI="${CI:-}" \
    bash -c 'cd /src && "$@"' bash "$@"
}
