# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# SMP: every vCPU that minivmm was given (minivmm.cpus=N) is online.
check_smp() {
	want=${param_cpus:-1}
	case $want in
	'' | *[!0-9]* | 0)
		detail="bad minivmm.cpus='$want'"
		return 1
		;;
	esac
	expect=0
	[ "$want" -gt 1 ] && expect="0-$((want - 1))"
	read -r online </sys/devices/system/cpu/online
	detail="online=$online expected=$expect"
	[ "$online" = "$expect" ]
}
