# shellcheck shell=bash disable=SC2154 # $work, $images, $netns: set by tests/boot-test
# virtio-blk in the Linux boot test (sourced by tests/boot-test).
# Two disks: a copy of the ext2 test disk, which the guest mounts, reads and
# writes (checks 50-disk-read, 51-disk-write), and a zeroed raw scratch disk
# that the guest writes a pattern to with dd conv=fsync (52-disk-raw) and
# that has two request queues (queues=2), which the guest counts as blk-mq
# hardware queues (54-disk-mq).  The guest finds them by their virtio-blk
# serial (the image's base name).  After
# minivmm exits, this plugin checks on the host that the images hold exactly
# what the guest wrote, and that e2fsck finds the file system clean.

disk_ext2=$work/disk.ext2
disk_raw=$work/scratch.raw
disk_stamp=stamp$$x$RANDOM
disk_raw_sector=2049 # as DISK_RAW_SECTOR in guest-images/rootfs/etc/minivmm/lib/disk.sh
disk_raw_queues=2

MINIVMM_ARGS+=(--disk "$disk_ext2" --disk "$disk_raw,queues=$disk_raw_queues")
GUEST_OPTS+=("minivmm.disk_ext2=${disk_ext2##*/}" "minivmm.disk_raw=${disk_raw##*/}"
	"minivmm.disk_raw_queues=$disk_raw_queues" "minivmm.disk_stamp=$disk_stamp")

disk_setup() {
	cp "$images/test-disk.ext2" "$disk_ext2" && truncate -s 4M "$disk_raw"
}

# What the guest's checks write; keep in step with 51-disk-write.sh and
# 52-disk-raw.sh.
disk_expected_written() {
	local i
	for ((i = 1; i <= 128; i++)); do
		printf 'minivmm disk check %s line %d\n' "$disk_stamp" "$i"
	done
}
disk_expected_raw() {
	local i
	for ((i = 1; i <= 128; i++)); do
		printf '%-63.63s\n' "minivmm scratch $disk_stamp line $i"
	done
}

disk_verify() {
	local out
	if out=$(e2fsck -fn "$disk_ext2" 2>&1); then
		pass "$label-disk-host-fsck (e2fsck -fn clean after the guest's writes)"
	else
		fail "$label-disk-host-fsck (e2fsck -fn: $(tail -n 3 <<<"$out" | tr '\n' ' '))"
	fi

	if cmp -s <(debugfs -R 'cat /written.txt' "$disk_ext2" 2>/dev/null) <(disk_expected_written); then
		pass "$label-disk-host-written (the image's /written.txt is what the guest wrote)"
	else
		fail "$label-disk-host-written (/written.txt in the image is missing or differs)"
	fi
	if [ "$(debugfs -R 'cat /hello.txt' "$disk_ext2" 2>/dev/null)" = "hello from the minivmm test disk" ]; then
		pass "$label-disk-host-hello (/hello.txt unchanged)"
	else
		fail "$label-disk-host-hello (/hello.txt in the image changed)"
	fi

	# The whole scratch image: the pattern where the guest wrote it, zeros
	# everywhere else.
	local expected=$work/scratch.expected
	truncate -s 4M "$expected" &&
		dd of="$expected" bs=512 seek="$disk_raw_sector" conv=notrunc iflag=fullblock status=none < <(disk_expected_raw)
	if cmp -s "$expected" "$disk_raw"; then
		pass "$label-disk-host-raw (scratch image: 8 KiB pattern at sector $disk_raw_sector, zeros elsewhere)"
	else
		fail "$label-disk-host-raw (scratch image differs: $(cmp "$expected" "$disk_raw" 2>&1 | head -n 1))"
	fi
}

setup_hooks+=(disk_setup)
verify_hooks+=(disk_verify)
