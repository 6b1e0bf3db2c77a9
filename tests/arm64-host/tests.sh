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
		# The interrupt controller: a vGICv3 where the board has a GICv3; on
		# a GICv2 board (ARM64_HOST_GIC=2) the fallback to a vGICv2, which
		# says so, and the refusal of more vCPUs than a GICv2 can address.
		if [ "${ARM64_HOST_GIC:-3}" = 2 ]; then
			if grep -q "vGICv3 not available; using a vGICv2" "$out"; then
				pass "arm64-vgic (no vGICv3 on this board: minivmm fell back to a vGICv2)"
			else
				fail "arm64-vgic (no vGICv2 fallback reported on a GICv2 board)"
			fi
			run_guest vgic-v2-9-cpus 100 "supports at most 8 vCPUs" --kernel $g/hello.elf --cpus 9
		elif grep -q "vGICv2" "$out"; then
			fail "arm64-vgic (a GICv3 board, yet minivmm used a vGICv2)"
		else
			pass "arm64-vgic (a vGICv3, as the board's GIC)"
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
		# The NICs: guest_peer --frames (tests/arm64-host/guest_peer.c, this
		# machine's frames.py) makes the tap, checks the guest's frames on it
		# byte for byte and sends the guest its frames once it is ready for
		# them; the guest checks those.  Each NIC on a tap of its own.
		# run_nic NAME TAP NTX NRX READY RECEIVED MINIVMM-ARGS...
		run_nic() {
			name=$1 tap=$2 ntx=$3 nrx=$4 ready=$5 received=$6
			shift 6
			if [ ! -x tests/arm64-host/guest_peer ]; then
				fail "arm64-guest-$name (no tests/arm64-host/guest_peer: make arm64)"
				return
			fi
			start=$(date +%s)
			tests/arm64-host/guest_peer --frames "$tap" "$nic_mac" "$ntx" "$nrx" "$ready" \
				--timeout "$guest_timeout" -- "$vmm" "$@" </dev/null >"$out" 2>&1
			rc=$?
			took=$(($(date +%s) - start))
			sed 's/^/    /' "$out"
			if [ "$rc" = 0 ] && grep -qF "$received" "$out"; then
				pass "arm64-guest-$name ($took s: $ntx frames from the guest and $nrx to it, byte for byte)"
			else
				fail "arm64-guest-$name (after $took s: $(grep '^guest_peer: ' "$out" | tr '\n' ' '))"
			fi
		}
		nic_mac=02:6d:76:00:00:0a
		for mrg in 0 1; do
			run_nic "virtio-net-mrg$mrg" mvvnet$mrg 40 24 "virtio-net: ready for rx" \
				"virtio-net: received 24 frames ok" --kernel $g/virtio_net.elf \
				--net "mvvnet$mrg,model=virtio,mac=$nic_mac" \
				--cmdline "console=ttyS0 vnet.tx=40 vnet.rx=24 vnet.mrg=$mrg vnet.mac=$nic_mac"
		done
		run_nic e1000 mve1000 40 24 "e1000: ready for rx" "e1000: received 24 frames ok" \
			--kernel $g/e1000.elf --net "mve1000,model=e1000,mac=$nic_mac" \
			--cmdline "console=ttyS0 e1000.tx=40 e1000.rx=24 e1000.mac=$nic_mac"
	fi
fi
# The arm64 Linux guest (guest-images: make -C guest-images arm64), booted
# with two vCPUs, a copy of the test disk and both NICs; its /init runs the
# checks named below and reports each as "MINIVMM-CHECK NAME PASS|FAIL
# DETAIL", then MINIVMM-CHECKS-DONE, and powers off (status 0).  Each check
# is a line here; one that never reports, a missing DONE or another status
# fails.  The NICs as in the x86 boot test (tests/boot-test.d/60-net.sh): a
# tap each, which minivmm makes and addresses (ip=), this machine's busybox
# httpd serving a random file whose md5sum the guest is told, and a busybox
# nc per NIC storing what the guest uploads, compared here after it exits.
# (This machine is the test's own: no network namespace is needed.)  The
# console's input as in the x86 boot test: guest_peer --type answers the
# guest's MINIVMM-READY-FOR-INPUT with a token, which the guest reads back.
linux_checks="serial-out cmdline serial-in smp exec-each-cpu memory disk-read disk-write"
linux_checks="$linux_checks virtio-net-link virtio-net-ping virtio-net-download virtio-net-upload"
linux_checks="$linux_checks virtio-net-mq e1000-link e1000-ping e1000-download e1000-upload"
kernel=guest-images/out/Image-arm64
initrd=guest-images/out/initramfs-arm64.cpio
www=/tmp/arm64-host/www
if [ -z "$vmm" ]; then
	:
elif [ ! -e "$kernel" ] || [ ! -e "$initrd" ]; then
	fail "arm64-linux (no $kernel or $initrd: make -C guest-images arm64)"
else
	mkdir -p $www
	head -c 262144 /dev/urandom >$www/netcheck.bin
	net_md5=$(md5sum <$www/netcheck.bin)
	net_md5=${net_md5%% *}
	busybox httpd -f -p 8080 -h $www </dev/null >/dev/null 2>&1 &
	net_pids=$!
	for port in 9001 9002; do
		busybox nc -l -p $port -e sh -c "exec cat >/tmp/arm64-host/upload-$port.bin" \
			</dev/null >/dev/null 2>&1 &
		net_pids="$net_pids $!"
	done
	vnet_mac=02:6d:76:4e:00:01
	e1000_mac=02:6d:76:4e:00:02
	guest_net="minivmm.net_http_port=8080 minivmm.net_file=/netcheck.bin minivmm.net_md5=$net_md5"
	guest_net="$guest_net minivmm.virtio_net_mac=$vnet_mac minivmm.virtio_net_ip=10.0.2.2/24"
	guest_net="$guest_net minivmm.virtio_net_host=10.0.2.1 minivmm.virtio_net_upload_port=9001"
	guest_net="$guest_net minivmm.virtio_net_queues=2"
	guest_net="$guest_net minivmm.e1000_mac=$e1000_mac minivmm.e1000_ip=10.0.3.2/24"
	guest_net="$guest_net minivmm.e1000_host=10.0.3.1 minivmm.e1000_upload_port=9002"
	token=arm64-$$-$(date +%s)
	start=$(date +%s)
	tests/arm64-host/guest_peer --type MINIVMM-READY-FOR-INPUT "$token" --timeout 600 -- \
		"$vmm" --kernel "$kernel" --initrd "$initrd" --mem 256M --cpus 2 \
		--disk /tmp/arm64-host/fixtures/linux-disk.ext2 \
		--net "mvtap0,model=virtio,mac=$vnet_mac,queues=2,ip=10.0.2.1/24" \
		--net "mvtap1,model=e1000,mac=$e1000_mac,ip=10.0.3.1/24" \
		--cmdline "console=ttyS0 rodata=off panic=-1 minivmm.test=$(echo $linux_checks | tr ' ' ,) minivmm.token=$token minivmm.cpus=2 minivmm.mem=256 $guest_net" \
		</dev/null >"$out" 2>&1
	# minivmm's own status: guest_peer's also says whether the token was typed.
	rc=$(sed -n 's/^guest_peer: command exited //p' "$out")
	took=$(($(date +%s) - start))
	# shellcheck disable=SC2086 # a list of pids
	kill $net_pids 2>/dev/null
	sed 's/^/    /' "$out"
	for check in $linux_checks; do
		line=$(grep -m1 "^MINIVMM-CHECK $check " "$out" | tr -d '\r')
		case $line in
		*" $check PASS"*) pass "arm64-linux-$check (${line#MINIVMM-CHECK $check PASS })" ;;
		"") fail "arm64-linux-$check (never reported)" ;;
		*) fail "arm64-linux-$check (${line#MINIVMM-CHECK $check })" ;;
		esac
	done
	for port in 9001 9002; do
		nic=virtio-net
		[ $port = 9002 ] && nic=e1000
		got=$(md5sum </tmp/arm64-host/upload-$port.bin 2>/dev/null)
		got=${got%% *}
		if [ "$got" = "$net_md5" ]; then
			pass "arm64-linux-$nic-host-upload (the host received $(wc -c </tmp/arm64-host/upload-$port.bin) bytes, md5 matches)"
		else
			fail "arm64-linux-$nic-host-upload (upload ${got:+has md5 $got, expected $net_md5}${got:-missing})"
		fi
	done
	if [ "$rc" = 0 ] && grep -q '^MINIVMM-CHECKS-DONE' "$out"; then
		pass "arm64-linux-poweroff (checks done, minivmm exited 0 after $took s)"
	else
		fail "arm64-linux-poweroff (minivmm exited ${rc:-abnormally} after $took s$(grep -q '^MINIVMM-CHECKS-DONE' "$out" || echo ', checks not done'))"
	fi
fi

[ "$failures" = 0 ]
