# shellcheck shell=sh disable=SC2034 # $segv_retried is read by /init
# retry_segv CMD [ARG]...: runs CMD; when it was killed by SIGSEGV (status
# 139) runs it again, at most twice more, and says so on the console and in
# $segv_retried (/init adds that to the check's result line).
#
# Why: on hosts whose KVM emulates guest kernel code (kvm_pvm) a freshly
# exec'd process now and then dies at start-up, on its first thread-local
# access ("segfault at 0"/"at 8"); docs/compat.md, "Fresh processes that die
# at start".  Such a process did nothing yet, so running it again is safe.
# Only for helpers whose death at start-up is the only plausible SIGSEGV.
# Costs nothing unless the command died: no extra fork.
#
# RETRY_SEGV_LOG: where the notice goes (default /dev/console, so that it is
# seen even when the caller redirects the command's output).
retry_segv() {
	retry_n=0
	while :; do
		"$@"
		retry_status=$?
		if [ "$retry_status" != 139 ] || [ "$retry_n" -ge 2 ]; then
			return "$retry_status"
		fi
		retry_n=$((retry_n + 1))
		segv_retried="${segv_retried:+$segv_retried, }$1 died of SIGSEGV, retry $retry_n"
		echo "minivmm guest: '$*' died of SIGSEGV (status 139); retrying ($retry_n of 2; see docs/compat.md)" \
			>>"${RETRY_SEGV_LOG:-/dev/console}"
	done
}
