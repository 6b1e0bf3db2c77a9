# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# Memory size: MemTotal matches minivmm.mem=MIB.  MemTotal leaves out the
# kernel image, the memory map and firmware holes, so allow it to be up to
# 1/8 + 16 MiB below the configured size, but never above it.
check_memory() {
	want_mib=${param_mem-}
	case $want_mib in
	'' | *[!0-9]*)
		detail="bad minivmm.mem='$want_mib' (MiB expected)"
		return 1
		;;
	esac
	total_kib=
	while read -r key value _; do
		if [ "$key" = MemTotal: ]; then
			total_kib=$value
			break
		fi
	done </proc/meminfo
	want_kib=$((want_mib * 1024))
	low_kib=$((want_kib - want_kib / 8 - 16384))
	detail="MemTotal=${total_kib}kB configured=${want_mib}MiB"
	[ -n "$total_kib" ] && [ "$total_kib" -le "$want_kib" ] && [ "$total_kib" -ge "$low_kib" ]
}
