#!/bin/sh
# Unpacks Debian's arm64 libfdt.a into DIR (make deps; docs/arm64.md), for
# `make ARCH=arm64`.  libfdt-dev is not co-installable across architectures:
# installing libfdt-dev:arm64 would remove the amd64 one the host build and
# the unit tests link.  The headers are the same on both, so only the
# library is taken.  Does nothing when DIR already holds it.
# usage: arch/arm64/install-libfdt.sh DIR
set -eu
dir=${1:?usage: $0 DIR}
[ -f "$dir/libfdt.a" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt-get download writes to the current directory as the _apt user when it can.
chmod 755 "$tmp"
(cd "$tmp" && apt-get download -q libfdt-dev:arm64)
dpkg-deb -x "$tmp"/libfdt-dev_*_arm64.deb "$tmp/x"
mkdir -p "$dir"
cp "$tmp/x/usr/lib/aarch64-linux-gnu/libfdt.a" "$dir/libfdt.a"
echo "install-libfdt: $dir/libfdt.a"
