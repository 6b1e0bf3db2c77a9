# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# virtio-blk write: writes /written.txt (128 lines, several file-system
# blocks) on the ext2 test disk, syncs, drops the page cache, reads it back
# from the device and compares; then unmounts, so the host finds a clean file
# system.  The host checks the image after minivmm exits
# (tests/boot-test.d/50-disk.sh).
check_disk_write() {
	# shellcheck source-path=SCRIPTDIR source=../lib/disk.sh
	. /etc/minivmm/lib/disk.sh
	disk_mount || return 1
	text=
	i=1
	while [ "$i" -le 128 ]; do
		text="${text}minivmm disk check ${param_disk_stamp-} line $i
"
		i=$((i + 1))
	done
	printf '%s' "$text" >/tmp/written.expected
	if ! printf '%s' "$text" >"$DISK_MNT/written.txt"; then
		detail="cannot write /written.txt on $disk_dev"
		return 1
	fi
	sync
	disk_drop_caches
	if ! disk_same /tmp/written.expected "$DISK_MNT/written.txt"; then
		detail="/written.txt read back from $disk_dev differs from what was written"
		return 1
	fi
	if ! umount "$DISK_MNT"; then
		detail="umount $DISK_MNT failed"
		return 1
	fi
	detail="$disk_dev /written.txt: ${#text} bytes written, synced, read back, unmounted"
}
