# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# virtio-blk raw write and flush: writes an 8 KiB pattern at an odd sector of
# the scratch disk with `dd conv=fsync` (the block device's fsync sends a
# FLUSH), drops the cache, reads the sectors back and compares.  The host
# checks the image byte for byte after minivmm exits.
check_disk_raw() {
	# shellcheck source-path=SCRIPTDIR source=../lib/disk.sh
	. /etc/minivmm/lib/disk.sh
	disk_by_serial "${param_disk_raw-}" vdb || return 1
	set --
	i=1
	while [ "$i" -le 128 ]; do
		set -- "$@" "minivmm scratch ${param_disk_stamp-} line $i"
		i=$((i + 1))
	done
	# 64 bytes a line, 8 KiB in all; one printf (a builtin) for all lines.
	printf '%-63.63s\n' "$@" >/tmp/raw.expected
	if ! dd if=/tmp/raw.expected of="$disk_dev" bs=512 seek="$DISK_RAW_SECTOR" \
		conv=notrunc,fsync 2>/tmp/raw.err; then
		read -r err </tmp/raw.err
		detail="dd to $disk_dev failed: $err"
		return 1
	fi
	disk_drop_caches
	if ! dd if="$disk_dev" of=/tmp/raw.read bs=512 skip="$DISK_RAW_SECTOR" \
		count=16 2>/tmp/raw.err; then
		read -r err </tmp/raw.err
		detail="dd from $disk_dev failed: $err"
		return 1
	fi
	if ! disk_same /tmp/raw.expected /tmp/raw.read; then
		detail="sectors $DISK_RAW_SECTOR.. of $disk_dev read back differ from what was written"
		return 1
	fi
	detail="$disk_dev: 8 KiB at sector $DISK_RAW_SECTOR written, flushed, read back"
}
