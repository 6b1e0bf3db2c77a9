#!/usr/bin/env bash
# Build (or fetch from the cache) minivmm's guest kernel and link it into OUT_DIR.
#
# usage: build-kernel.sh OUT_DIR
#
# Source: Debian's linux-source-6.1 package (/usr/src/linux-source-6.1.tar.xz),
# configured as `tinyconfig` + kernel.config, with patches/*.patch applied.
#
# Cache: $MINIVMM_CACHE, else $XDG_CACHE_HOME/minivmm, else ~/.cache/minivmm.
#   src-<pkgver>-<patch hash>/    unpacked, patched tree, built in place; kept
#                                 so that a config change is an incremental build
#   kernel-<pkgver>-<key>/        finished vmlinux, bzImage, .config, gen_init_cpio,
#                                 key = hash of kernel.config + patches + BUILD_RECIPE
# A build whose key is already in the cache only re-links OUT_DIR (a second).
set -euo pipefail

# Bump when the way the kernel is built changes, so cached kernels are not reused.
BUILD_RECIPE=1

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-kernel.sh OUT_DIR}
tarball=${KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
pkg=linux-source-6.1
cache=${MINIVMM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/minivmm}
jobs=${KERNEL_JOBS:-$(nproc)}

die() {
	echo "build-kernel: $*" >&2
	exit 1
}

[ -r "$tarball" ] || die "$tarball not found: install $pkg (make deps)"
pkgver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null) || die "$pkg is not installed (make deps)"

patches=("$here"/patches/*.patch)
[ -e "${patches[0]}" ] || patches=()
patch_hash=$(cat /dev/null "${patches[@]}" | sha256sum | cut -c1-12)
key=$( { echo "recipe $BUILD_RECIPE"; cat "$here/kernel.config" /dev/null "${patches[@]}"; } |
	sha256sum | cut -c1-16)
src=$cache/src-$pkgver-$patch_hash
result=$cache/kernel-$pkgver-$key

link_outputs() {
	mkdir -p "$out"
	for f in vmlinux bzImage gen_init_cpio; do
		ln -sfn "$result/$f" "$out/$f"
	done
	ln -sfn "$result/config" "$out/kernel.full-config"
}

if [ -f "$result/done" ]; then
	link_outputs
	echo "build-kernel: cached kernel $pkgver key $key ($result)"
	exit 0
fi

mkdir -p "$cache"
# One kernel build per cache at a time: two would fight over the shared tree.
exec 9>"$cache/kernel.lock"
if ! flock -n 9; then
	echo "build-kernel: waiting for another kernel build ($cache/kernel.lock)"
	flock 9
fi
if [ -f "$result/done" ]; then # built by whoever held the lock
	link_outputs
	exit 0
fi

start=$(date +%s)
if [ ! -f "$src/.minivmm-unpacked" ]; then
	echo "build-kernel: unpacking $tarball and applying ${#patches[@]} patch(es)"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" --strip-components=1 -xf "$tarball"
	for p in "${patches[@]}"; do
		patch -d "$src.tmp" -p1 --batch --forward --quiet <"$p" || die "patch $p does not apply"
	done
	touch "$src.tmp/.minivmm-unpacked"
	mv "$src.tmp" "$src"
fi

kmake() {
	make -C "$src" ARCH=x86_64 -s "$@"
}

echo "build-kernel: configuring (tinyconfig + kernel.config)"
conflog=$cache/config-$key.log
# olddefconfig warns about every fragment line that overrides tinyconfig: expected.
if ! { kmake tinyconfig && cat "$here/kernel.config" >>"$src/.config" &&
	kmake olddefconfig; } >"$conflog" 2>&1; then
	cat "$conflog" >&2
	die "configuring the kernel failed"
fi

# Kconfig silently drops options whose dependencies are missing; a fragment
# line that did not survive is a bug in kernel.config, not a detail.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*)
		grep -qxF "$line" "$src/.config" || {
			echo "build-kernel: kernel.config asks for '$line' but olddefconfig dropped it" >&2
			bad=1
		}
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		if grep -q "^$opt=" "$src/.config"; then
			echo "build-kernel: kernel.config turns $opt off but it is still set" >&2
			bad=1
		fi
		;;
	esac
done <"$here/kernel.config"
[ "$bad" = 0 ] || exit 1

echo "build-kernel: make -j$jobs vmlinux bzImage (a full build takes ~7 min on 2 cores)"
log=$cache/build-$key.log
if ! kmake -j"$jobs" vmlinux bzImage >"$log" 2>&1; then
	tail -30 "$log" >&2
	die "kernel build failed, full log: $log"
fi

rm -rf "$result.tmp"
mkdir -p "$result.tmp"
cp "$src/vmlinux" "$src/arch/x86/boot/bzImage" "$src/usr/gen_init_cpio" "$result.tmp/"
cp "$src/.config" "$result.tmp/config"
echo "$pkgver $key" >"$result.tmp/done"
rm -rf "$result"
mv "$result.tmp" "$result"
link_outputs
echo "build-kernel: built kernel $pkgver key $key in $(($(date +%s) - start)) s ($result)"
