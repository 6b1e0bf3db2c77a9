#!/usr/bin/env bash
# virtio-blk against host faults, crashes and other users of the image
# (issue 11), with the guest tests/guest/virtio_blk_faults.elf:
#  - image lock: while one minivmm has an image read-write, a second one on
#    it (read-write or read-only) is refused at start-up with one error line
#    naming the image (exit status 1); read-only users share; the lock goes
#    with a normal exit, so the next minivmm starts at once.
#  - full host file system (no device-mapper here): in a private mount
#    namespace the image lies on an 8 MiB tmpfs and is larger than that; the
#    guest's write beyond the space left gets VIRTIO_BLK_S_IOERR, the VM
#    keeps running and the device stays usable.  Both engines, both cache
#    modes (cache=none is O_DIRECT, which tmpfs implements since Linux 6.6;
#    skipped on older kernels).
#  - durability: the guest writes a pattern, FLUSHes and prints a marker; the
#    script kills minivmm with SIGKILL as soon as it reads the marker line
#    (no sleeps), then checks the image on the host.  Both engines and
#    cache modes.  Only the process dies here, not the host: this shows that
#    an acknowledged write and FLUSH were done on the file, not held back in
#    minivmm; surviving power loss is fdatasync's job (docs/virtio.md).
# Usage: MINIVMM=BUILD/minivmm tests/integration/virtio_blk_faults.sh
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
MINIVMM=${MINIVMM:-./minivmm}
GUEST=tests/guest/virtio_blk_faults.elf
TMP=$(mktemp -d /var/tmp/minivmm-blkfaults.XXXXXX)
failed=0
bg_pids=()
cleanup() {
	for p in "${bg_pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
MARK_FLUSHED="virtio_blk_faults: FLUSHED"
MARK_HOLDING="virtio_blk_faults: HOLDING"

pass() { echo "PASS: virtio_blk_faults: $1"; }
fail() {
	echo "FAIL: virtio_blk_faults: $1"
	failed=1
}

if [ ! -e /dev/kvm ] || ! command -v python3 >/dev/null; then
	echo "SKIP: virtio_blk_faults (needs /dev/kvm and python3)"
	exit 0
fi
[ -e "$GUEST" ] || {
	fail "missing $GUEST (make -C tests/guest)"
	exit 1
}

# ---- running a VM in the background until a marker line ----

# vm_start NAME ARGS...: starts minivmm ARGS... with its output on a pipe
# read through fd 3 (one background VM at a time); sets vm_pid.
vm_start() {
	local name=$1
	shift
	rm -f "$TMP/$name.fifo"
	mkfifo "$TMP/$name.fifo"
	"$MINIVMM" "$@" >"$TMP/$name.fifo" 2>&1 </dev/null &
	vm_pid=$!
	bg_pids+=("$vm_pid")
	exec 3<"$TMP/$name.fifo"
	vm_log=$TMP/$name.log
	: >"$vm_log"
}

# vm_wait_for MARKER: reads the VM's output line by line until one holds
# MARKER (true) or the VM ends or 60 s pass without output (false).
vm_wait_for() {
	local line
	while IFS= read -r -t 60 line <&3; do
		printf '%s\n' "$line" >>"$vm_log"
		case $line in *"$1"*) return 0 ;; esac
	done
	return 1
}

# vm_end SIGNAL: sends SIGNAL, reads the rest of the output (up to the end
# of the process), closes the pipe; sets vm_status.  A VM still there 60 s
# later fails the test and is killed.
vm_end() {
	# stderr closed: no "Killed" line from the shell about its job.
	{
		kill "-$1" "$vm_pid"
		# The end of the output is the end of the process.
		if ! timeout 60 cat <&3 >>"$vm_log"; then
			fail "minivmm did not end within 60 s of SIG$1"
			kill -9 "$vm_pid"
		fi
		exec 3<&-
		wait "$vm_pid"
		vm_status=$?
	} 2>/dev/null
}

# run_vm ARGS...: runs minivmm to its end; output in $TMP/out, status in rc.
run_vm() {
	timeout -k 10 120 "$MINIVMM" "$@" >"$TMP/out" 2>&1 </dev/null
	rc=$?
}

# expect_refused NAME IMAGE REGEX ARGS...: minivmm ARGS... exits EXIT_STATUS_ERROR with
# exactly one error line, naming IMAGE and matching REGEX, and runs no guest.
expect_refused() {
	local name=$1 image=$2 regex=$3 errors
	shift 3
	run_vm "$@"
	errors=$(grep -c '^minivmm: error: ' "$TMP/out")
	if [ "$rc" = "$EXIT_STATUS_ERROR" ] && [ "$errors" = 1 ] &&
		grep -q "^minivmm: error: --disk $image: image is in use" "$TMP/out" &&
		grep -Eq "$regex" "$TMP/out" && ! grep -q "mode " "$TMP/out"; then
		pass "$name: refused: $(grep '^minivmm: error: ' "$TMP/out" | sed 's/^minivmm: error: //')"
	else
		fail "$name: expected exit $EXIT_STATUS_ERROR and one 'image is in use' error (exit $rc)"
		sed 's/^/    /' "$TMP/out" | tail -10
	fi
}

expect_pass() {
	local name=$1
	shift
	run_vm "$@"
	if [ "$rc" = 0 ] && grep -q "virtio_blk_faults: PASS" "$TMP/out"; then
		pass "$name"
	else
		fail "$name (exit $rc)"
		sed 's/^/    /' "$TMP/out" | tail -10
	fi
}

# ---- 1. the image lock ----

img=$TMP/lock.img
truncate -s 32M "$img"
vm_start lock-rw --kernel "$GUEST" --disk "$img,cache=none" --cmdline "test.mode=hold"
if vm_wait_for "$MARK_HOLDING"; then
	pass "lock: first minivmm holds $img read-write (cache=none)"
	expect_refused "lock: second read-write minivmm" "$img" "a writable disk needs the image to itself" \
		--kernel "$GUEST" --disk "$img" --cmdline "test.mode=read"
	expect_refused "lock: read-only minivmm while a writer holds it" "$img" \
		"a read-only disk shares it only with read-only users" \
		--kernel "$GUEST" --disk "$img,ro,engine=sync" --cmdline "test.mode=read"
	vm_end TERM
	[ "$vm_status" = 0 ] || [ "$vm_status" -ge 128 ] || fail "lock: holder exit status $vm_status"
	# Back to back: the lock went with the holder.
	expect_pass "lock: released when minivmm exits, the next one starts at once" \
		--kernel "$GUEST" --disk "$img" --cmdline "test.mode=read"
else
	fail "lock: holder never reported $MARK_HOLDING"
	vm_end KILL
	sed 's/^/    /' "$vm_log" | tail -10
fi

# One minivmm, one image named twice: the second --disk is refused too.
expect_refused "lock: the same image as two disks of one VM" "$img" "read-only users" \
	--kernel "$GUEST" --disk "$img" --disk "$img,ro" --cmdline "test.mode=read"

vm_start lock-ro --kernel "$GUEST" --disk "$img,ro" --cmdline "test.mode=hold"
if vm_wait_for "$MARK_HOLDING"; then
	pass "lock: first minivmm holds $img read-only"
	expect_pass "lock: a second read-only minivmm shares the image" \
		--kernel "$GUEST" --disk "$img,ro,cache=none" --cmdline "test.mode=read"
	expect_pass "lock: two read-only disks on one image in one VM" \
		--kernel "$GUEST" --disk "$img,ro" --disk "$img,ro,engine=sync" --cmdline "test.mode=read"
	expect_refused "lock: read-write minivmm while a reader holds it" "$img" \
		"a writable disk needs the image to itself" \
		--kernel "$GUEST" --disk "$img" --cmdline "test.mode=read"
	vm_end TERM
else
	fail "lock: read-only holder never reported $MARK_HOLDING"
	vm_end KILL
	sed 's/^/    /' "$vm_log" | tail -10
fi

# ---- 2. a full host file system ----

if [ "$(id -u)" != 0 ] || ! unshare -m true 2>/dev/null; then
	echo "SKIP: virtio_blk_faults: full file system (needs root and unshare -m)"
else
	mnt=$TMP/full
	mkdir -p "$mnt"
	for engine in io_uring sync; do
		for cache in writeback none; do
			name="full fs engine=$engine cache=$cache"
			# An 8 MiB tmpfs, seen only by this namespace, holding a 64 MiB sparse image.
			unshare -m --propagation private sh -c '
				mount -t tmpfs -o size=8m minivmm-full "$1" || exit 99
				truncate -s 64M "$1/disk.img" || exit 99
				# tmpfs has O_DIRECT only since Linux 6.6.
				if [ "$5" = none ] && ! dd if=/dev/zero of="$1/probe" bs=4096 count=1 \
					oflag=direct 2>/dev/null; then
					exit 98
				fi
				rm -f "$1/probe"
				exec timeout -k 10 120 "$2" --kernel "$3" --disk "$1/disk.img,engine=$4,cache=$5" \
					--stats="$6"' sh \
				"$mnt" "$MINIVMM" "$GUEST" "$engine" "$cache" "$TMP/stats.json" \
				>"$TMP/out" 2>&1 </dev/null
			rc=$?
			if [ "$rc" = 98 ]; then
				echo "SKIP: virtio_blk_faults: $name: tmpfs here has no O_DIRECT (Linux < 6.6)"
				continue
			fi
			if [ "$rc" = 0 ] && grep -q "virtio_blk_faults: PASS" "$TMP/out" &&
				grep -q "write beyond the space left: IOERR" "$TMP/out"; then
				pass "$name: guest got IOERR, kept running, device usable ($(grep -o '[0-9]* MiB written' "$TMP/out"))"
			else
				fail "$name: guest (exit $rc)"
				sed 's/^/    /' "$TMP/out" | tail -15
			fi
			if grep -q "virtio-blk.0: write at byte [0-9]*: No space left on device" "$TMP/out"; then
				pass "$name: host logged the ENOSPC"
			else
				fail "$name: no 'No space left on device' line"
			fi
			ioerr=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['devices']['virtio-blk.0']['counters']['ioerr'])" "$TMP/stats.json" 2>/dev/null)
			if [ "${ioerr:-0}" -ge 2 ] 2>/dev/null; then
				pass "$name: ioerr counter $ioerr"
			else
				fail "$name: ioerr counter '${ioerr:-missing}', expected at least 2"
			fi
			rm -f "$TMP/stats.json"
		done
	done
fi

# ---- 3. an acknowledged, flushed write survives kill -9 ----

# verify_durable IMAGE SEED: the guest's pattern at 1 MiB (256 KiB).
verify_durable() {
	python3 - "$1" "$2" <<'PY'
import sys
seed = int(sys.argv[2])
with open(sys.argv[1], 'rb') as f:
    f.seek(1 << 20)
    d = f.read(256 * 1024)
want = bytes(((i * 31 + (i >> 9) + seed * 101) & 0xff) for i in range(256 * 1024))
if d != want:
    bad = next((i for i in range(len(want)) if i >= len(d) or d[i] != want[i]), len(want))
    print('first wrong byte at %d of the flushed region' % bad)
    sys.exit(1)
PY
}

for engine in io_uring sync; do
	for cache in writeback none; do
		name="kill -9 engine=$engine cache=$cache"
		img=$TMP/durable.img
		rm -f "$img"
		truncate -s 32M "$img"
		seed=$((RANDOM % 250 + 1))
		vm_start durable --kernel "$GUEST" --disk "$img,engine=$engine,cache=$cache" \
			--cmdline "test.mode=durable test.seed=$seed"
		if vm_wait_for "$MARK_FLUSHED seed=$seed"; then
			vm_end KILL
			if [ "$vm_status" = 137 ]; then
				pass "$name: killed (SIGKILL) right after the guest's flush was acknowledged"
			else
				fail "$name: minivmm ended with status $vm_status, not by SIGKILL"
			fi
			if why=$(verify_durable "$img" "$seed"); then
				pass "$name: the flushed data is in the image"
			else
				fail "$name: $why"
			fi
			# The killed process's lock went with it.
			expect_pass "$name: the image opens read-write again at once" \
				--kernel "$GUEST" --disk "$img,engine=$engine,cache=$cache" --cmdline "test.mode=read"
		else
			vm_end KILL
			fail "$name: the guest never reported '$MARK_FLUSHED seed=$seed'"
			sed 's/^/    /' "$vm_log" | tail -10
		fi
	done
done

exit $failed
