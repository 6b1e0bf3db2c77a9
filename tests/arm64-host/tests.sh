# The tests the emulated arm64 host runs (tests/arm64-host/run, docs/arm64.md).
# Run by the machine's /init with busybox sh (arm64), in a copy of the tree,
# chrooted into the host's root: PATH has the arm64 busybox applets first,
# because the host's own /bin tools are x86 and cannot run in there.
#
# Prints PASS:/FAIL:/SKIP: lines (the driver shows them as "[arm64-host]");
# exits 1 if any failed.
#
#   /dev/kvm        present, a character device
#   kvm_probe       the reference arm64 KVM user (tests/arm64-host/kvm_probe.c),
#                   when built: make tests/arm64-host/kvm_probe
#   minivmm         when an arm64 build is there ($MINIVMM_ARM64, else
#                   ./minivmm-arm64, else build-arm64/minivmm, what `make
#                   ARCH=arm64` makes): --version, then each guest of the
#                   table below with --kernel GUEST, which must exit 0 and
#                   print its greeting
set -u

failures=0
pass() { echo "PASS: $1"; }
fail() {
	echo "FAIL: $1"
	failures=$((failures + 1))
}
skip() { echo "SKIP: $1"; }

# A test guest takes well under a second on KVM; TCG under it makes that
# seconds.  Past this, the guest counts as hung.
guest_timeout=${ARM64_HOST_GUEST_TIMEOUT:-120}
# The virtio-blk images' size in sectors, as tests/arm64-host/run made them.
blk_sectors=8192
# The machine's results folder (init binds it here): files for the driver to check.
results=/tmp/arm64-host/results

if [ -c /dev/kvm ]; then
	pass "kvm-device (/dev/kvm is a character device)"
else
	fail "kvm-device (no /dev/kvm in the machine)"
fi

if [ -x tests/arm64-host/kvm_probe ]; then
	# Its own PASS:/FAIL: lines, one per step.
	tests/arm64-host/kvm_probe
	rc=$?
	[ "$rc" = 0 ] || fail "kvm_probe exited $rc"
else
	skip "kvm_probe (not built: make tests/arm64-host/kvm_probe)"
fi

# An AArch64 ELF: e_machine (bytes 18-19, little-endian) is 183 (0xb7).
is_arm64_elf() {
	[ "$(od -An -tx1 -j18 -N2 "$1" 2>/dev/null | tr -d ' ')" = b700 ]
}
vmm=
for candidate in ${MINIVMM_ARM64-} ./minivmm-arm64 build-arm64/minivmm; do
	if [ -x "$candidate" ] && is_arm64_elf "$candidate"; then
		vmm=$candidate
		break
	fi
done

out=/tmp/arm64-host/guest.out
if [ -z "$vmm" ]; then
	skip "minivmm-arm64 (no arm64 build: ./minivmm-arm64 or build-arm64/minivmm, make ARCH=arm64)"
else
	echo "arm64 minivmm: $vmm"
	if version=$("$vmm" --version 2>&1); then
		pass "minivmm-arm64-version ($version)"
	else
		fail "minivmm-arm64-version (exited $?: $version)"
	fi
	# run_guest NAME STATUS LINE MINIVMM-ARGS...: minivmm must exit with
	# STATUS and its output (guest and minivmm) hold LINE.
	run_guest() {
		name=$1 want=$2 line=$3
		shift 3
		start=$(date +%s)
		timeout "$guest_timeout" "$vmm" "$@" </dev/null >"$out" 2>&1
		rc=$?
		took=$(($(date +%s) - start))
		sed 's/^/    /' "$out"
		if [ "$rc" = 143 ]; then
			fail "arm64-guest-$name (killed after $guest_timeout s: hung)"
		elif [ "$rc" != "$want" ]; then
			fail "arm64-guest-$name (exited $rc after $took s, expected $want)"
		elif ! grep -qF "$line" "$out"; then
			fail "arm64-guest-$name (exited $rc but did not print \"$line\")"
		else
			pass "arm64-guest-$name ($took s: exit $rc, \"$line\")"
		fi
	}
	g=tests/guest/arm64
	if [ ! -f $g/hello.elf ]; then
		skip "arm64-guests (not built: make guests-arm64)"
	else
		run_guest hello 0 "Hello from minivmm arm64 test guest" --kernel $g/hello.elf
		# The device tree: bootargs, a second vCPU (PSCI, powered off until
		# asked) and a virtio-mmio window with its SPI, as the guest reads them.
		: >/tmp/arm64-host/empty.img
		truncate -s 1M /tmp/arm64-host/empty.img
		run_guest hello-dt 0 "virtio-mmio 0: base 0xa000000 size 0x1000 irq 16" \
			--kernel $g/hello.elf --cpus 2 --disk /tmp/arm64-host/empty.img \
			--cmdline "console=ttyS0 test.word=arm64" --dump-dtb /tmp/arm64-host/dt.dtb
		if grep -q "test.word=arm64" "$out" && [ -s /tmp/arm64-host/dt.dtb ]; then
			pass "arm64-dump-dtb (bootargs reached the guest; $(wc -c </tmp/arm64-host/dt.dtb) bytes written)"
			cp /tmp/arm64-host/dt.dtb "$results/dt.dtb"
		else
			fail "arm64-dump-dtb (bootargs or the --dump-dtb file missing)"
		fi
		# The test-exit register's status, and the exception report of a guest that faults.
		run_guest exit-status 5 "exitcode: exiting with 5" --kernel $g/exitcode.elf --cmdline "code=5"
		run_guest fault 2 "unexpected exception" --kernel $g/exitcode.elf --cmdline "fault=ud"
		# virtio-blk: the x86 guest's own driver, on images the driver made
		# (tests/integration/lib/blk_image.sh) and checks after the machine
		# powers off, from what is left in results/.
		for engine in io_uring sync; do
			img=/tmp/arm64-host/fixtures/$engine/blk-test.img
			if [ ! -f "$img" ]; then
				fail "arm64-guest-virtio-blk-$engine (no $img)"
				continue
			fi
			run_guest virtio-blk-$engine 0 "virtio_blk: PASS" --kernel $g/virtio_blk.elf \
				--disk "$img,engine=$engine" --cmdline "test.sectors=$blk_sectors"
			cp "$img" "$results/blk-$engine.img" || fail "arm64-guest-virtio-blk-$engine (cannot hand the image back)"
		done
	fi
fi
# The arm64 Linux guest (guest-images: make -C guest-images arm64), booted
# with two vCPUs and a copy of the test disk; its /init runs the checks named
# below and reports each as "MINIVMM-CHECK NAME PASS|FAIL DETAIL", then
# MINIVMM-CHECKS-DONE, and powers off (status 0).  Each check is a line here;
# one that never reports, a missing DONE or another status fails.
linux_checks="serial-out cmdline smp exec-each-cpu memory disk-read disk-write"
kernel=guest-images/out/Image-arm64
initrd=guest-images/out/initramfs-arm64.cpio
if [ -z "$vmm" ]; then
	:
elif [ ! -e "$kernel" ] || [ ! -e "$initrd" ]; then
	fail "arm64-linux (no $kernel or $initrd: make -C guest-images arm64)"
else
	start=$(date +%s)
	timeout 600 "$vmm" --kernel "$kernel" --initrd "$initrd" --mem 256M --cpus 2 \
		--disk /tmp/arm64-host/fixtures/linux-disk.ext2 \
		--cmdline "console=ttyS0 rodata=off panic=-1 minivmm.test=$(echo $linux_checks | tr ' ' ,) minivmm.cpus=2 minivmm.mem=256" \
		</dev/null >"$out" 2>&1
	rc=$?
	took=$(($(date +%s) - start))
	sed 's/^/    /' "$out"
	for check in $linux_checks; do
		line=$(grep -m1 "^MINIVMM-CHECK $check " "$out" | tr -d '\r')
		case $line in
		*" $check PASS"*) pass "arm64-linux-$check (${line#MINIVMM-CHECK $check PASS })" ;;
		"") fail "arm64-linux-$check (never reported)" ;;
		*) fail "arm64-linux-$check (${line#MINIVMM-CHECK $check })" ;;
		esac
	done
	if [ "$rc" = 0 ] && grep -q '^MINIVMM-CHECKS-DONE' "$out"; then
		pass "arm64-linux-poweroff (checks done, minivmm exited 0 after $took s)"
	else
		fail "arm64-linux-poweroff (minivmm exited $rc after $took s$(grep -q '^MINIVMM-CHECKS-DONE' "$out" || echo ', checks not done'))"
	fi
fi

[ "$failures" = 0 ]
