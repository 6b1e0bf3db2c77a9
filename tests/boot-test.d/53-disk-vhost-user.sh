# shellcheck shell=bash disable=SC2154 # $work: set by tests/boot-test
# A vhost-user disk in the Linux boot test (sourced by tests/boot-test):
# qemu-storage-daemon serves a zeroed raw image as vhost-user-blk on a socket
# in $work, minivmm gets `--disk vhost-user=SOCKET`, and the guest check
# 53-disk-vhost-user writes, flushes and reads back a pattern through it,
# found by the back-end's serial.  After minivmm exits this plugin checks that
# the image holds exactly that pattern: the data went through the back-end.

vu_disk_img=$work/vhost-user.raw
vu_disk_sock=$work/vhost-user-blk.sock
vu_disk_serial=vhost_user_blk # qemu-storage-daemon's GET_ID answer
vu_disk_pid=

vu_disk_setup() {
	local i
	if ! command -v qemu-storage-daemon >/dev/null; then
		echo "# no qemu-storage-daemon (make deps installs it): check disk-vhost-user skipped"
		SKIP_CHECKS+=(disk-vhost-user)
		return 0
	fi
	truncate -s 4M "$vu_disk_img" || return 1
	qemu-storage-daemon \
		--blockdev "driver=file,node-name=vu0,filename=$vu_disk_img" \
		--export "type=vhost-user-blk,id=vuexp0,node-name=vu0,addr.type=unix,addr.path=$vu_disk_sock,writable=on" \
		</dev/null >"$work/qemu-storage-daemon.log" 2>&1 &
	vu_disk_pid=$!
	# Ready when it listens: a bounded wait for the socket, not a sleep.
	for ((i = 0; i < 100; i++)); do
		[ -S "$vu_disk_sock" ] && break
		kill -0 "$vu_disk_pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -S "$vu_disk_sock" ]; then
		echo "# qemu-storage-daemon did not start: $(tail -n 2 "$work/qemu-storage-daemon.log")"
		return 1
	fi
	MINIVMM_ARGS+=(--disk "vhost-user=$vu_disk_sock")
	GUEST_OPTS+=("minivmm.disk_vhost_user=$vu_disk_serial")
}

vu_disk_verify() {
	local expected=$work/vhost-user.expected i
	[ -n "$vu_disk_pid" ] || return 0
	truncate -s 4M "$expected" &&
		for ((i = 1; i <= 128; i++)); do
			printf '%-63.63s\n' "minivmm vhost-user $disk_stamp line $i"
		done | dd of="$expected" bs=512 seek="$disk_raw_sector" conv=notrunc iflag=fullblock status=none
	if cmp -s "$expected" "$vu_disk_img"; then
		pass "$label-disk-vhost-user-host (back-end's image: 8 KiB pattern at sector $disk_raw_sector, zeros elsewhere)"
	else
		fail "$label-disk-vhost-user-host (back-end's image differs: $(cmp "$expected" "$vu_disk_img" 2>&1 | head -n 1))"
	fi
}

vu_disk_cleanup() {
	[ -n "$vu_disk_pid" ] && kill "$vu_disk_pid" 2>/dev/null && wait "$vu_disk_pid" 2>/dev/null
	vu_disk_pid=
}

setup_hooks+=(vu_disk_setup)
verify_hooks+=(vu_disk_verify)
cleanup_hooks+=(vu_disk_cleanup)
