# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# virtio-blk read: the ext2 test disk mounts and /hello.txt has the contents
# guest-images/disk/hello.txt gave it.
check_disk_read() {
	# shellcheck source-path=SCRIPTDIR source=../lib/disk.sh
	. /etc/minivmm/lib/disk.sh
	disk_mount || return 1
	if ! read -r line <"$DISK_MNT/hello.txt"; then
		detail="cannot read /hello.txt on $disk_dev"
		return 1
	fi
	detail="$disk_dev /hello.txt: '$line'"
	[ "$line" = "$DISK_HELLO" ]
}
