#!/usr/bin/env bash
# Write the guest's initramfs: an UNCOMPRESSED newc cpio with busybox-static,
# a link for each of its applets, and the files under rootfs/ (/init, the
# checks, /etc).  Uncompressed because unpacking gzip in a guest whose kernel
# code is emulated took more than 9 minutes; the plain archive takes ~30 s.
#
# usage: gen-initramfs.sh GEN_INIT_CPIO ROOTFS_DIR BUSYBOX OUTPUT [LIST_BUSYBOX]
#
# LIST_BUSYBOX: a busybox that runs here, asked for the applet list when
# BUSYBOX is another architecture's (the arm64 guest's) and cannot run.  Its
# applet name table must appear byte for byte in BUSYBOX (the same Debian
# busybox-static build for two architectures has the same one), so links
# are never made for applets BUSYBOX lacks.
#
# The kernel's gen_init_cpio writes the archive from a list, so device nodes
# and root ownership need neither root nor a staging directory.
set -euo pipefail

gen=${1:?usage: gen-initramfs.sh GEN_INIT_CPIO ROOTFS_DIR BUSYBOX OUTPUT [LIST_BUSYBOX]}
rootfs=$(cd "${2:?}" && pwd)
busybox=${3:?}
output=${4:?}
list_busybox=${5:-$busybox}

[ -x "$gen" ] || {
	echo "gen-initramfs: $gen not found (build the kernel first)" >&2
	exit 1
}
"$list_busybox" --list-full >/dev/null || {
	echo "gen-initramfs: $list_busybox is not a busybox binary (install busybox-static)" >&2
	exit 1
}
# busybox keeps its applet names as one table of NUL-terminated strings in
# --list order, ended by an empty string: look for exactly that run of
# strings.  (awk reads to the end: an early exit would fail tr with SIGPIPE.)
if [ "$list_busybox" != "$busybox" ] &&
	! tr '\0' '\n' <"$busybox" | LC_ALL=C awk -v list="$("$list_busybox" --list)" '
	BEGIN { n = split(list, want, "\n") }
	found { next }
	k == n && $0 == "" { found = 1; next }
	{ k = ($0 == want[k + 1]) ? k + 1 : ($0 == want[1]) }
	END { exit !found }'; then
	echo "gen-initramfs: $busybox does not have the applets of $list_busybox (not the same busybox build?)" >&2
	exit 1
fi

list=$output.list
{
	declare -A dirs=()
	emit_dir() { # parents first, each once
		local d=$1 mode=${2:-0755}
		[ "$d" = / ] || [ -n "${dirs[$d]-}" ] && return 0
		emit_dir "$(dirname "$d")"
		dirs[$d]=1
		echo "dir $d $mode 0 0"
	}
	emit_dir /dev
	echo "nod /dev/console 0600 0 0 c 5 1"
	emit_dir /proc 0555
	emit_dir /sys 0555
	emit_dir /tmp 1777
	emit_dir /root 0700
	emit_dir /bin
	echo "file /bin/busybox $busybox 0755 0 0"

	while IFS= read -r rel; do
		path=${rel#.}
		if [ -d "$rootfs/$rel" ]; then
			emit_dir "$path"
		else
			emit_dir "$(dirname "$path")"
			mode=0644
			[ -x "$rootfs/$rel" ] && mode=0755
			echo "file $path $rootfs$path $mode 0 0"
		fi
	done < <(cd "$rootfs" && find . -mindepth 1 | LC_ALL=C sort)

	# Applet links, except where rootfs/ has its own file (e.g. /sbin/poweroff).
	while IFS= read -r applet; do
		[ "$applet" = bin/busybox ] && continue
		[ -e "$rootfs/$applet" ] && continue
		case $applet in
		*/*) emit_dir "/${applet%/*}" ;;
		esac
		echo "slink /$applet /bin/busybox 0777 0 0"
	done < <("$list_busybox" --list-full | LC_ALL=C sort)
} >"$list"

"$gen" "$list" >"$output.tmp"
mv "$output.tmp" "$output"
