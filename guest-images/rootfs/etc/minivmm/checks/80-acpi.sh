# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# ACPI: the kernel read minivmm's tables and found the devices through them
# (docs/acpi.md): a DSDT and a MADT, every virtio device's platform device
# made from an LNRO0005 node, the PCI host bridge (PNP0A03) when there are
# PCI devices, COM1 (PNP0501), the Generic Event Device and the power button.
#
# A kernel built without ACPI (the default guest kernel) has no
# /sys/firmware/acpi: the check then passes as "skipped", unless
# minivmm.acpi=1 says ACPI is required (the ACPI-variant kernel's boot).
# Builtins only: no fork.
check_acpi() {
	if [ ! -d /sys/firmware/acpi/tables ]; then
		if [ "${param_acpi-}" = 1 ]; then
			detail="no /sys/firmware/acpi/tables: this kernel did not find ACPI tables"
			return 1
		fi
		detail="skipped: this kernel has no ACPI (minivmm.acpi=1 makes that a failure)"
		return 0
	fi
	for t in DSDT APIC FACP; do
		if [ ! -e "/sys/firmware/acpi/tables/$t" ]; then
			detail="no $t table in /sys/firmware/acpi/tables"
			return 1
		fi
	done
	# Every virtio device sits on a platform device that ACPI made (its
	# firmware_node); with a virtio_mmio.device= word it would have none.
	virtio=0
	for dev in /sys/bus/virtio/devices/virtio*; do
		[ -e "$dev" ] || continue
		if [ ! -e "$dev/../firmware_node" ]; then
			detail="${dev##*/} was not found through ACPI (its platform device has no firmware_node)"
			return 1
		fi
		read -r hid <"$dev/../firmware_node/hid" || hid=
		if [ "$hid" != LNRO0005 ]; then
			detail="${dev##*/}: firmware node '$hid', expected LNRO0005"
			return 1
		fi
		virtio=$((virtio + 1))
	done
	nodes=0
	for node in /sys/bus/acpi/devices/LNRO0005:*; do
		[ -e "$node" ] || continue
		nodes=$((nodes + 1))
	done
	if [ "$nodes" != "$virtio" ]; then
		detail="$nodes LNRO0005 nodes in the DSDT but $virtio virtio devices bound to them"
		return 1
	fi
	pci=none
	if [ -e /sys/bus/pci/devices ]; then
		for dev in /sys/bus/pci/devices/*; do
			[ -e "$dev" ] || continue
			pci=missing
			[ -e /sys/devices/pci0000:00/firmware_node ] && pci=PNP0A03
			break
		done
	fi
	if [ "$pci" = missing ]; then
		detail="PCI devices exist but bus 0 has no ACPI host bridge (PNP0A03)"
		return 1
	fi
	for hid in PNP0501 ACPI0013 PNP0C0C; do
		if [ ! -e "/sys/bus/acpi/devices/$hid:00/physical_node" ] &&
			[ ! -e "/sys/bus/acpi/devices/$hid:00/driver" ]; then
			detail="$hid:00 (from the DSDT) has no driver or device bound"
			return 1
		fi
	done
	# Without CONFIG_ACPI_BUTTON (Firecracker's configuration) the button is
	# a platform device that no driver reports: `minivmm ctl stop` then
	# waits for its timeout (docs/acpi.md, "Power").
	button="power button bound"
	[ -e /sys/bus/acpi/devices/PNP0C0C:00/driver ] ||
		button="power button present but without a driver (no CONFIG_ACPI_BUTTON)"
	detail="DSDT, MADT, FADT; $virtio virtio device(s) via LNRO0005; PCI host bridge: $pci;"
	detail="$detail COM1 and GED bound, $button"
	return 0
}
