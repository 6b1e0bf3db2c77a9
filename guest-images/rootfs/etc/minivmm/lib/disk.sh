# shellcheck shell=sh disable=SC2034 # $detail is read by /init
# Helpers for the virtio-blk checks (50-disk-*.sh), sourced by each of them.
# Every fork+exec costs seconds on hosts that emulate guest kernel code, and
# ash's `read` builtin makes one system call per byte: files are written from
# shell variables with one printf, and compared with one md5sum (an applet
# that busybox runs in a fork without exec).  Helpers run through retry_segv
# (retry.sh, sourced by /init): on emulating hosts a fresh process may die at
# start.
#
# Parameters (all optional, the boot test passes them):
#   minivmm.disk_ext2=SERIAL   the ext2 test disk, found by its virtio-blk
#                              serial (minivmm's GET_ID: the image's base
#                              name); default vda
#   minivmm.disk_raw=SERIAL    a scratch disk written raw; default vdb
#   minivmm.disk_vhost_user=SERIAL  a scratch disk a vhost-user back-end
#                              serves (qemu-storage-daemon's serial is
#                              vhost_user_blk), written raw like disk_raw
#   minivmm.disk_stamp=WORD    written into the files, so the host knows the
#                              data came from this boot

DISK_MNT=/tmp/disk
DISK_HELLO="hello from the minivmm test disk"
# Where disk-raw writes its pattern: an odd sector (not page aligned) past
# the first MiB, so both the offset and a read-modify-write are exercised.
DISK_RAW_SECTOR=2049

# disk_by_serial SERIAL DEFAULT: sets $disk_dev (/dev/vdX) to the virtio disk
# whose serial is SERIAL, or to /dev/DEFAULT when SERIAL is empty.
disk_by_serial() {
	disk_dev=
	if [ -z "$1" ]; then
		disk_dev=/dev/$2
		return 0
	fi
	for sys in /sys/block/vd*; do
		[ -e "$sys/serial" ] || continue
		read -r serial <"$sys/serial"
		if [ "$serial" = "$1" ]; then
			disk_dev=/dev/${sys##*/}
			return 0
		fi
	done
	detail="no virtio disk with serial '$1'"
	return 1
}

# disk_mount: mounts the ext2 test disk on $DISK_MNT once.
disk_mount() {
	while read -r _ dir _; do
		[ "$dir" = "$DISK_MNT" ] && return 0
	done </proc/mounts
	disk_by_serial "${param_disk_ext2-}" vda || return 1
	mkdir -p "$DISK_MNT"
	if ! retry_segv mount -t ext2 "$disk_dev" "$DISK_MNT"; then
		detail="mount -t ext2 $disk_dev failed"
		return 1
	fi
}

# disk_drop_caches: forget clean cached file data and inodes, so the next
# read comes from the device, not from memory.
disk_drop_caches() {
	echo 3 >/proc/sys/vm/drop_caches
}

# disk_same FILE1 FILE2: identical contents (one md5sum for both)?
disk_same() {
	retry_segv md5sum "$1" "$2" >/tmp/disk-same.md5 || return 1
	{
		read -r sum1 _
		read -r sum2 _
	} </tmp/disk-same.md5
	[ -n "$sum1" ] && [ "$sum1" = "$sum2" ]
}

# disk_raw_roundtrip SERIAL DEFAULT WORD: writes 8 KiB (128 64-byte lines
# "minivmm WORD <stamp> line N") at DISK_RAW_SECTOR of the disk with serial
# SERIAL with `dd conv=fsync` (the block device's fsync sends a FLUSH), drops
# the cache, reads the sectors back and compares.  The host checks the image.
disk_raw_roundtrip() {
	disk_by_serial "$1" "$2" || return 1
	set -- "$3"
	word=$1
	shift
	i=1
	while [ "$i" -le 128 ]; do
		set -- "$@" "minivmm $word ${param_disk_stamp-} line $i"
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
