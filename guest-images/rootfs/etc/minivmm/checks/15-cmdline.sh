# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# The kernel command line as the guest got it (minivmm adds its host
# workarounds only where the host needs them, docs/compat.md): no word
# twice, no option the kernel did not know (Linux logs those as "Unknown
# kernel command line parameters"), and a kernel tainted "CPU out of spec"
# (taint bit 2, which Linux sets for any clearcpuid=) only when the line
# asks for clearcpuid=.
check_cmdline() {
	read -r line </proc/cmdline
	seen=" " words=0
	set -f
	for word in $line; do
		case $seen in
		*" $word "*)
			set +f
			detail="'$word' appears twice in: $line"
			return 1
			;;
		esac
		seen="$seen$word "
		words=$((words + 1))
	done
	set +f
	unknown=$(dmesg | grep 'Unknown kernel command line parameters')
	if [ -n "$unknown" ]; then
		detail="kernel: ${unknown#*\] }"
		return 1
	fi
	read -r tainted </proc/sys/kernel/tainted
	case " $line " in
	*" clearcpuid="*) cleared=yes ;;
	*) cleared=no ;;
	esac
	if [ $((tainted & 4)) != 0 ] && [ $cleared = no ]; then
		detail="kernel tainted ($tainted) without clearcpuid="
		return 1
	fi
	detail="$words words, none repeated or unknown; tainted=$tainted clearcpuid=$cleared"
}
