# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# Serial input: the host types minivmm.token=TOKEN on the console after
# MINIVMM-READY-FOR-INPUT; the guest reads one line and compares it.
# minivmm.input_timeout=SECONDS bounds the wait (default 120).
check_serial_in() {
	if [ -z "${param_token-}" ]; then
		detail="no minivmm.token= on the kernel command line"
		return 1
	fi
	echo "MINIVMM-READY-FOR-INPUT"
	# shellcheck disable=SC3045 # busybox ash has read -t
	if ! read -r -t "${param_input_timeout:-120}" line; then
		detail="no input line within ${param_input_timeout:-120} s"
		return 1
	fi
	detail="read '$line'"
	[ "$line" = "$param_token" ]
}
