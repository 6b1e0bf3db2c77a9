# shellcheck shell=sh
# power_button_watch: when the kernel has an ACPI power button (an input
# device named "Power Button": CONFIG_ACPI_BUTTON and CONFIG_INPUT_EVDEV, as
# in the ACPI variant of the guest kernel), a background subshell waits for
# its first event and powers the VM off cleanly with status 0.  That is how
# minivmm asks the guest to stop (`minivmm ctl SOCKET stop`, the ACPI power
# button); Linux itself only reports the key.  One watcher per power button
# (there is normally one).  Returns 0 when it started a watcher, 1 when
# there is no power button.
#
# Cost: nothing without a power button (builtins only: the kernels without
# ACPI); with one, the subshell's fork and, in the background, one dd.  The
# event is read by dd because evdev refuses reads shorter than one event
# (24 bytes on x86-64), and the shell's `read` reads byte by byte.
#
# POWER_BUTTON_SYSFS, POWER_BUTTON_DEV and POWER_BUTTON_POWEROFF: where the
# input devices are listed, where their nodes are, and what powers off
# (tests/integration/guest_init_shell.sh runs this on the host).
power_button_watch() {
	pb_found=1
	for pb_dev in "${POWER_BUTTON_SYSFS:-/sys/class/input}"/event*; do
		[ -r "$pb_dev/device/name" ] || continue
		pb_name=
		read -r pb_name <"$pb_dev/device/name"
		[ "$pb_name" = "Power Button" ] || continue
		pb_node=${POWER_BUTTON_DEV:-/dev/input}/${pb_dev##*/}
		[ -e "$pb_node" ] || continue
		(
			if dd if="$pb_node" of=/dev/null bs=24 count=1 2>/dev/null; then
				echo "minivmm guest: power button pressed: powering off"
				# shellcheck disable=SC2086 # the tests' stub may be "CMD ARG"
				${POWER_BUTTON_POWEROFF:-/sbin/poweroff} 0
			else
				echo "minivmm guest: cannot read the power button ($pb_node); it will not power off"
			fi
		) &
		pb_found=0
	done
	return $pb_found
}
