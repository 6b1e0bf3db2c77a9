#!/usr/bin/env bash
# Boots each test guest (tests/guest/*.elf, built by `make guests`) under
# minivmm and checks both its exit status and its serial output.  One line
# per check: "PASS: name (seconds)" or "FAIL: name: why" followed by the
# guest's console and minivmm's stderr, indented.  Exits non-zero on any
# failure.
#
# env: MINIVMM (default ./minivmm), GUEST_TIMEOUT seconds per boot (default
# 120: guest kernel code is emulated on kvm_pvm hosts, so be generous).
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib/require_kvm.sh
require_kvm guests
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh

vmm=${MINIVMM:-./minivmm}
guests=tests/guest
limit=${GUEST_TIMEOUT:-120}
failed=0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

show() { # file -> indented, so guest text never looks like a PASS/FAIL line
	[ -s "$1" ] && tr -d '\r' <"$1" | sed 's/^/    | /'
}

# check NAME EXPECTED_STATUS PATTERN... -- MINIVMM_ARGS...
# Every PATTERN (grep -E) must match a line of the guest's console output;
# a PATTERN written "stderr:REGEX" must match a line of minivmm's stderr.
check() {
	local name=$1 want=$2 patterns=() rc start elapsed why=""
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		patterns+=("$1")
		shift
	done
	shift
	local out="$tmp/$name.console" err="$tmp/$name.stderr"
	: >"$out"
	start=${EPOCHREALTIME/./}
	timeout -k 5 "$limit" "$vmm" --console "file:$out" "$@" 2>"$err" </dev/null
	rc=$?
	elapsed=$(((${EPOCHREALTIME/./} - start) / 10000))
	elapsed=$((elapsed / 100)).$(printf '%02d' $((elapsed % 100)))
	tr -d '\r' <"$out" >"$out.txt"
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		why="timed out after ${limit} s"
	elif [ "$rc" != "$want" ]; then
		why="exit status $rc, expected $want"
	else
		for p in "${patterns[@]+"${patterns[@]}"}"; do
			if [ "${p#stderr:}" != "$p" ]; then
				if ! grep -Eq -- "${p#stderr:}" "$err"; then
					why="no minivmm stderr line matching '${p#stderr:}'"
					break
				fi
			elif ! grep -Eq -- "$p" "$out.txt"; then
				why="no console line matching '$p'"
				break
			fi
		done
	fi
	if [ -z "$why" ]; then
		echo "PASS: $name (${elapsed} s)"
	else
		echo "FAIL: $name: $why (${elapsed} s)"
		echo "    console:"
		show "$out"
		echo "    minivmm stderr:"
		show "$err"
		failed=$((failed + 1))
	fi
}

prereqs_ok=1
if [ ! -x "$vmm" ]; then
	echo "FAIL: guests: $vmm not built (make minivmm)"
	prereqs_ok=0
fi
for g in hello exceptions cpl3 timer smp exitcode; do
	if [ ! -f "$guests/$g.elf" ]; then
		echo "FAIL: guests: $guests/$g.elf not built (make guests)"
		prereqs_ok=0
	fi
done
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
	echo "FAIL: guests: /dev/kvm not accessible"
	prereqs_ok=0
fi
[ $prereqs_ok = 1 ] || exit 1

check hello 0 '^Hello from minivmm test guest$' '^cmdline: ' \
	-- --kernel "$guests/hello.elf"
# The runtime's command-line parser: two good virtio_mmio.device= entries
# (hex and K-suffixed sizes, optional device ID) and one malformed one.
check hello-cmdline 0 '^Hello from minivmm test guest$' \
	'^cmdline: .*greeting=yes' \
	'^virtio-mmio [0-9]+: base 0xd8000000 size 0x1000 irq 5$' \
	'^virtio-mmio [0-9]+: base 0xd8001000 size 0x200 irq 6$' \
	'^virtio-mmio: 1 malformed entries ignored$' \
	-- --kernel "$guests/hello.elf" --cmdline "greeting=yes virtio_mmio.device=4K@0xd8000000:5 virtio_mmio.device=0x200@0xd8001000:6:2 virtio_mmio.device=4K@:7"
# Firmware tables (docs/acpi.md): by default the ACPI RSDP at 0xE0000, found
# by a PC's scan and named in boot_params, beside the MP table at 0x9FC00;
# --no-acpi leaves the MP table alone.
check acpi-tables-found 0 '^acpi_probe: RSDP at 0xe0000$' \
	'^acpi_probe: boot_params.acpi_rsdp_addr 0xe0000$' '^acpi_probe: MP floating pointer at 0x9fc00$' \
	-- --kernel "$guests/acpi_probe.elf"
check no-acpi-mp-table-only 0 '^acpi_probe: no RSDP in 0xe0000-0xfffff$' \
	'^acpi_probe: boot_params.acpi_rsdp_addr 0x0$' '^acpi_probe: MP floating pointer at 0x9fc00$' \
	-- --kernel "$guests/acpi_probe.elf" --no-acpi
# The compat CPU profile (forced, so this holds on every host) merges its
# features into the user's clearcpuid= (Linux acts on the last one only),
# never repeating one the user named (by name or number), and adds
# nofsgsbase once; the host profile leaves the command line alone.
check cmdline-compat-merge 0 '^cmdline: console=ttyS0 clearcpuid=erms,308,151,154,141 rodata=off nofsgsbase$' \
	-- --kernel "$guests/hello.elf" --cpu-profile compat --cmdline "console=ttyS0 clearcpuid=erms rodata=off"
check cmdline-compat-no-repeats 0 '^cmdline: clearcpuid=smap,popcnt,154,141 nofsgsbase$' \
	-- --kernel "$guests/hello.elf" --cpu-profile compat --cmdline "clearcpuid=smap,popcnt nofsgsbase"
check cmdline-host-profile 0 '^cmdline: console=ttyS0 noxsaveopt$' \
	-- --kernel "$guests/hello.elf" --cpu-profile host --cmdline "console=ttyS0 noxsaveopt"
# The default profile on this host: the default guest's command line
# (guest-images) gets the workarounds only where KVM emulates guest kernel
# code (docs/compat.md), and then exactly once.
guest_cmdline=$(make -s --no-print-directory -C guest-images print-cmdline)
if [ -e /sys/module/kvm_pvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	want_cmdline="$guest_cmdline clearcpuid=308,151,154,141 nofsgsbase"
else
	want_cmdline=$guest_cmdline
fi
check cmdline-default-guest 0 "^cmdline: ${want_cmdline}\$" \
	-- --kernel "$guests/hello.elf" --cmdline "$guest_cmdline"
check exceptions 0 '^ok: int3 at CPL0$' '^ok: ud2 at CPL0$' '^ok: read fault at CPL0$' \
	'^ok: int3 at CPL3$' '^ok: read fault at CPL3$' '^ok: hlt at CPL3$' \
	'^exceptions: all 9 checks passed$' \
	-- --kernel "$guests/exceptions.elf"
check cpl3 0 '^printf from CPL3 ' '^ok: MMIO at CPL3$' '^cpl3: all checks passed$' \
	-- --kernel "$guests/cpl3.elf"
check timer 0 '^lapic timer: 10 interrupts' '^pit: 10 interrupts' '^timer: lapic and pit agree$' \
	'^tsc-deadline timer: 1 interrupt' \
	-- --kernel "$guests/timer.elf"
check smp-1cpu 0 '^smp: 1 CPUs$' -- --kernel "$guests/smp.elf" --cpus 1 --cmdline expect_cpus=1
check smp-2cpus 0 '^smp: MP table lists 2 CPUs' '^smp: 1 IPIs received' '^smp: 2 CPUs$' \
	-- --kernel "$guests/smp.elf" --cpus 2 --cmdline expect_cpus=2
# More vCPUs than this 2-core host has.
check smp-4cpus 0 '^smp: 4 CPUs$' -- --kernel "$guests/smp.elf" --cpus 4 --cmdline expect_cpus=4

# Negative checks: the guest's failure must become minivmm's exit status.
check smp-wrong-expectation 1 '^assertion failed: .*checked_in == expect' \
	-- --kernel "$guests/smp.elf" --cpus 2 --cmdline expect_cpus=3
check exit-status-7 7 '^exitcode: exiting with 7$' -- --kernel "$guests/exitcode.elf"
check exit-status-0 0 '^exitcode: exiting with 0$' -- --kernel "$guests/exitcode.elf" --cmdline code=0
check exit-status-low-byte 3 '^exitcode: exiting with 259$' \
	-- --kernel "$guests/exitcode.elf" --cmdline code=259
check exit-from-cpl3 42 'from CPL3$' -- --kernel "$guests/exitcode.elf" --cmdline "code=42 cpl3"
check unhandled-exception 2 '^unhandled #PF: vector 14 .*cr2 0x200000000' \
	-- --kernel "$guests/exitcode.elf" --cmdline fault=pf
# minivmm's own stop reasons (docs/usage.md, lib/exit_status.sh): reset, triple fault.
check i8042-reset "$EXIT_STATUS_RESET" '^exitcode: i8042 reset$' \
	-- --kernel "$guests/exitcode.elf" --cmdline reset=i8042
check triple-fault "$EXIT_STATUS_TRIPLE_FAULT" '^exitcode: raising triple$' 'stderr:triple fault' \
	-- --kernel "$guests/exitcode.elf" --cmdline fault=triple

[ $failed = 0 ]
