#!/usr/bin/env bash
# shellcheck disable=SC2016 # the single-quoted scripts are for busybox sh
# The guest /init's handling of its console shell and of helpers that die of
# SIGSEGV (guest-images/rootfs/etc/minivmm/lib/{console,shell-env,retry}.sh),
# run on the host with busybox's ash, the guest's shell; no VM, under a second.
#   - a shell killed by a signal makes /init power off with status 128+N, so
#     minivmm and `make run` fail; a shell that exits (even with status 130
#     after a command killed by Ctrl-C) powers off with 0;
#   - retry_segv runs a command again after SIGSEGV (twice at most), not
#     after other failures.
set -u
cd "$(dirname "$0")/../.." || exit 1
lib=guest-images/rootfs/etc/minivmm/lib
busybox=${BUSYBOX:-/bin/busybox}
pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; }

if ! "$busybox" sh -c 'exit 0' 2>/dev/null; then
	fail "guest-init-shell ($busybox not found: install busybox-static)"
	exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# shell_case NAME EXPECTED_STATUS INPUT [SHELL...]: the console shell (default
# an interactive busybox sh reading INPUT) run by console_shell, as /init does.
shell_case() {
	local name=$1 want=$2 input=$3 got
	shift 3
	[ $# -gt 0 ] || set -- "$busybox" sh -i
	got=$(printf '%s\n' "$input" | CONSOLE_SHELL_MARK="$work/mark" \
		CONSOLE_SHELL_ENV="$PWD/$lib/shell-env.sh" "$busybox" sh -c '
		. "$0/console.sh"
		console_shell "$@" >/dev/null 2>&1
		echo "$poweroff_status"' "$lib" "$@" 2>/dev/null)
	if [ "$got" = "$want" ]; then
		pass "guest-init-shell-$name (power-off status $got)"
	else
		fail "guest-init-shell-$name (power-off status '$got', expected $want)"
	fi
}

shell_case exit 0 'exit'
shell_case exit-status 0 'exit 3'
shell_case exit-after-sigint 0 "$busybox sh -c 'kill -INT \$\$'; exit"
shell_case nested-shell-exits 0 "echo exit | $busybox sh -i; exit"
shell_case killed-segv 139 'kill -SEGV $$'
shell_case killed-hup 129 'kill -HUP $$'
shell_case killed-after-nested-shell 139 "echo exit | $busybox sh -i; kill -SEGV \$\$"
# Dies before reading $ENV, like a shell that faults on its first TLS access.
shell_case died-at-start 139 '' "$busybox" sh -c 'kill -SEGV $$'

# The guest's /init must use it.
if grep -q '^	console_shell setsid cttyhack sh -l$' guest-images/rootfs/init &&
	grep -q '^/sbin/poweroff "\$poweroff_status"$' guest-images/rootfs/init; then
	pass "guest-init-shell-wired (/init powers off with console_shell's status)"
else
	fail "guest-init-shell-wired (/init does not call console_shell / poweroff \"\$poweroff_status\")"
fi

# retry_case NAME EXPECTED "RUNS MESSAGES" SCRIPT: SCRIPT runs once per try
# ($1: a counter file); the status, how often it ran, and notices logged.
retry_case() {
	local name=$1 want=$2 want_runs=$3 script=$4 got runs notes
	: >"$work/count"
	: >"$work/log"
	printf '%s\n' "$script" >"$work/cmd.sh"
	# env --default-signal: a test started in the background inherits SIGINT
	# ignored (POSIX, for asynchronous lists), and the shell cannot undo that.
	got=$(RETRY_SEGV_LOG="$work/log" env --default-signal=INT,QUIT "$busybox" sh -c '
		. "$0/retry.sh"
		retry_segv "$1" sh "$2" "$3"
		echo "$? [$segv_retried]"' "$lib" "$busybox" "$work/cmd.sh" "$work/count" 2>/dev/null)
	runs=$(wc -c <"$work/count")
	notes=$(grep -c 'died of SIGSEGV (status 139); retrying' "$work/log")
	if [ "${got%% *}" = "$want" ] && [ "$runs $notes" = "$want_runs" ]; then
		pass "guest-init-retry-$name (status ${got%% *}, ran $runs times, $notes notices)"
	else
		fail "guest-init-retry-$name (got status/detail '$got', ran $runs times, $notes notices; expected $want, runs+notices $want_runs)"
	fi
}

retry_case ok 0 "1 0" 'printf x >>"$1"; exit 0'
retry_case segv-once 0 "2 1" 'printf x >>"$1"; [ "$(wc -c <"$1")" -ge 2 ] || kill -SEGV $$'
retry_case segv-always 139 "3 2" 'printf x >>"$1"; kill -SEGV $$'
retry_case other-failure 1 "1 0" 'printf x >>"$1"; exit 1'
retry_case other-signal 130 "1 0" 'printf x >>"$1"; kill -INT $$'
