#!/usr/bin/env bash
# minivmm's x86 ACPI tables (arch/x86/acpi.c, docs/acpi.md) checked by
# ACPICA's own tools: tests/integration/lib/acpi_dump.c (compiled here from
# the sources) builds the tables as minivmm does and writes each one, found
# RSDP -> XSDT -> FADT -> DSDT, to a file; `iasl -d` must disassemble the
# FADT, MADT, XSDT and DSDT without complaint, the DSDT must name the devices
# of the machine it describes, and the disassembled DSDT must compile again
# with no errors or warnings.  Several machines: with and without PCI, with
# no, some and all virtio-mmio windows, 1 to 64 CPUs.  No guest runs;
# about 2 s.  Needs iasl (Debian's acpica-tools; SKIP without it).
set -u
cd "$(dirname "$0")/../.." || exit 1
LABEL=acpi-tables
failed=0
pass() { echo "PASS: $LABEL: $1"; }
fail() {
	echo "FAIL: $LABEL: $1"
	failed=1
}
show() { [ -s "$1" ] && sed 's/^/    | /' "$1"; }

if ! command -v iasl >/dev/null; then
	echo "SKIP: $LABEL (iasl not installed: apt-get install acpica-tools)"
	exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

dump=$tmp/acpi_dump
if ! ${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I. -Ivmm/core -o "$dump" \
	tests/integration/lib/acpi_dump.c arch/x86/acpi.c vmm/core/aml.c >"$tmp/cc.log" 2>&1; then
	show "$tmp/cc.log"
	fail "cannot build tests/integration/lib/acpi_dump.c"
	exit 1
fi

# check_machine NAME NCPUS WINDOW_MASK PCI
check_machine() {
	local name=$1 ncpus=$2 mask=$3 pci=$4 dir=$tmp/$1 bad='' want n
	mkdir -p "$dir"
	if ! "$dump" "$dir" "$ncpus" "$mask" "$pci" >"$dir/dump.log" 2>&1; then
		show "$dir/dump.log"
		fail "$name: acpi_dump failed"
		return
	fi
	for t in facp apic xsdt dsdt; do
		[ -s "$dir/$t.dat" ] || bad+=" no $t table;"
	done
	if ! (cd "$dir" && iasl -d facp.dat apic.dat xsdt.dat dsdt.dat) >"$dir/iasl-d.log" 2>&1; then
		bad+=" iasl -d failed;"
	fi
	# The data-table disassembler reports what it cannot decode inside the .dsl.
	if grep -inE 'error|warning|invalid|unknown|terminates' "$dir"/{facp,apic,xsdt}.dsl \
		>"$dir/complaints.log"; then
		bad+=" iasl complains (see below);"
	fi
	grep -iE 'error|warning' "$dir/iasl-d.log" >>"$dir/complaints.log" && bad+=" iasl -d warned;"
	if [ -s "$dir/dsdt.dsl" ]; then
		want=$(python3 -c "print(bin($mask).count('1'))")
		n=$(grep -c '"LNRO0005"' "$dir/dsdt.dsl")
		[ "$n" = "$want" ] || bad+=" $n LNRO0005 devices, expected $want;"
		n=$(grep -c 'PNP0A03' "$dir/dsdt.dsl")
		[ "$n" = "$pci" ] || bad+=" PNP0A03 $n times, expected $pci;"
		for id in ACPI0013 PNP0C0C PNP0501 PNP0303 _S5_ _EVT; do
			grep -qF "$id" "$dir/dsdt.dsl" || bad+=" no $id in the DSDT;"
		done
		grep -qF 'Name (\_S5, Package' "$dir/dsdt.dsl" || bad+=" no \\_S5 package;"
		# ASL back to AML: the disassembly is a valid, warning-free program.
		if ! (cd "$dir" && iasl -p recompiled dsdt.dsl) >"$dir/iasl.log" 2>&1 ||
			! grep -q 'Compilation successful. 0 Errors, 0 Warnings' "$dir/iasl.log"; then
			bad+=" the disassembled DSDT does not compile cleanly;"
			grep -E 'Error|Warning|Remark|Compilation' "$dir/iasl.log" >>"$dir/complaints.log"
		fi
	else
		bad+=" no dsdt.dsl;"
	fi
	n=$(grep -c 'Subtable Type : 00 \[Processor Local APIC\]' "$dir/apic.dsl" 2>/dev/null)
	[ "$n" = "$ncpus" ] || bad+=" MADT has $n local APICs, expected $ncpus;"
	grep -q 'Hardware Reduced (V5) : 1' "$dir/facp.dsl" 2>/dev/null || bad+=" FADT not hardware-reduced;"
	grep -q '8042 Present on ports 60/64 (V2) : 1' "$dir/facp.dsl" 2>/dev/null ||
		bad+=" FADT lacks the 8042 flag;"
	if [ -z "$bad" ]; then
		pass "$name ($ncpus CPUs, virtio windows $mask, PCI $pci): iasl -d clean, DSDT recompiles"
	else
		show "$dir/complaints.log"
		fail "$name:$bad"
	fi
}

check_machine minimal 1 0x0 0
check_machine typical 2 0x3 1
check_machine sparse 4 0x85 1
check_machine largest 64 0xff 1
exit $failed
