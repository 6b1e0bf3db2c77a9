# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# User processes start on every vCPU: a freshly exec'd static busybox (libc
# start-up, TLS set-up through arch_prctl) pinned to each online CPU in turn.
# Catches vCPUs that run the kernel but break user space.
check_exec_each_cpu() {
	read -r online </sys/devices/system/cpu/online
	last=${online##*-}
	case $last in
	'' | *[!0-9]*)
		detail="cannot parse online CPUs '$online'"
		return 1
		;;
	esac
	cpu=0
	failed=
	while [ "$cpu" -le "$last" ]; do
		# A path, not an applet name: busybox would run an applet in-process.
		taskset -c "$cpu" /bin/busybox true || failed="$failed $cpu(status $?)"
		cpu=$((cpu + 1))
	done
	if [ -n "$failed" ]; then
		detail="exec failed on CPU$failed"
		return 1
	fi
	detail="exec'd /bin/busybox on CPUs 0-$last"
}
