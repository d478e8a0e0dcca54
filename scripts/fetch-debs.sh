#!/usr/bin/env bash
# Downloads the header-only / static dependencies as Debian packages and unpacks them into
# third_party/debs (never into /), for a machine that cannot install packages (the GPU box).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p third_party/debs third_party/debs-cache
(cd third_party/debs-cache && apt-get download nlohmann-json3-dev libcli11-dev libgtest-dev googletest libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2)
for deb in third_party/debs-cache/*.deb; do dpkg -x "$deb" third_party/debs; done
echo "unpacked into third_party/debs: pass it with run's carry"
