#!/usr/bin/env bash
# shellcheck disable=SC2016 # the single-quoted scripts are for busybox sh
# The guest /init's handling of its console shell, of helpers that die of
# SIGSEGV and of the ACPI power button
# (guest-images/rootfs/etc/minivmm/lib/{console,shell-env,retry,power_button}.sh),
# run on the host with busybox's ash, the guest's shell; no VM, a few seconds.
#   - a shell that exits (even with status 130 after a command killed by
#     Ctrl-C) powers off with 0;
#   - a shell killed by a signal is said so and replaced, at most 3 times;
#     killed a 4th time, /init powers off with 128+N, so minivmm (99, the
#     real status in its last line) and `make run` fail;
#   - retry_segv runs a command again after SIGSEGV (twice at most), not
#     after other failures;
#   - power_button_watch powers off (status 0) on the first event of an input
#     device named "Power Button", and starts nothing without one.
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

# shell_case NAME EXPECTED_STATUS EXPECTED_NOTICES INPUT [SHELL...]: the
# console shell (default an interactive busybox sh reading INPUT; a shell
# started again reads the rest, i.e. nothing) run by console_shell, as /init
# does; the power-off status and the number of "minivmm guest:" lines.
shell_case() {
	local name=$1 want=$2 want_notes=$3 input=$4 got notes
	shift 4
	[ $# -gt 0 ] || set -- "$busybox" sh -i
	: >"$work/count"
	# env --default-signal: a test run under nohup, or started in the
	# background by a non-interactive shell, inherits ignored SIGHUP/SIGINT,
	# which no shell may un-ignore; the guest's /init starts with none ignored.
	got=$(printf '%s\n' "$input" | CONSOLE_SHELL_MARK="$work/mark" \
		CONSOLE_SHELL_ENV="$PWD/$lib/shell-env.sh" NOTES="$work/notes" \
		env --default-signal "$busybox" sh -c '
		. "$0/console.sh"
		console_shell "$@" >/dev/null 2>"$NOTES"
		echo "$poweroff_status"' "$lib" "$@" 2>/dev/null)
	notes=$(grep -c '^minivmm guest: the console shell was killed by signal' "$work/notes")
	if [ "$got" = "$want" ] && [ "$notes" = "$want_notes" ]; then
		pass "guest-init-shell-$name (power-off status $got, $notes notices)"
	else
		fail "guest-init-shell-$name (power-off status '$got', $notes notices; expected $want, $want_notes notices)"
		sed 's/^/    /' "$work/notes"
	fi
}

shell_case exit 0 0 'exit'
shell_case exit-status 0 0 'exit 3'
shell_case exit-after-sigint 0 0 "$busybox sh -c 'kill -INT \$\$'; exit"
shell_case nested-shell-exits 0 0 "echo exit | $busybox sh -i; exit"
# Killed once: a new shell starts (and here exits: its input is used up).
shell_case killed-segv-restarted 0 1 'kill -SEGV $$'
shell_case killed-hup-restarted 0 1 'kill -HUP $$'
shell_case killed-after-nested-shell-restarted 0 1 "echo exit | $busybox sh -i; kill -SEGV \$\$"
# Dies before reading $ENV, like a shell that faults on its first TLS access,
# every time: 3 new shells, then power-off with 128+N (4 notices in all).
shell_case died-at-start-always 139 4 '' "$busybox" sh -c 'kill -SEGV $$'
shell_case killed-hup-always 129 4 '' "$busybox" sh -c 'kill -HUP $$'
# Killed twice, then a shell that exits normally: 0.
shell_case killed-twice-then-exits 0 2 '' "$busybox" sh -c \
	'printf x >>"$0"; [ "$(wc -c <"$0")" -ge 3 ] || kill -SEGV $$; exit 0' "$work/count"

# The guest's /init must use it.
if grep -q '^	console_shell setsid cttyhack sh -l$' guest-images/rootfs/init &&
	grep -q '^/sbin/poweroff "\$poweroff_status"$' guest-images/rootfs/init; then
	pass "guest-init-shell-wired (/init powers off with console_shell's status)"
else
	fail "guest-init-shell-wired (/init does not call console_shell / poweroff \"\$poweroff_status\")"
fi
if grep -q '^\. /etc/minivmm/lib/power_button.sh$' guest-images/rootfs/init &&
	grep -q '^power_button_watch$' guest-images/rootfs/init; then
	pass "guest-init-power-button-wired (/init starts power_button_watch)"
else
	fail "guest-init-power-button-wired (/init does not source power_button.sh and call power_button_watch)"
fi

# power_button_case NAME EXPECTED_RETURN [DEVICE_NAME]...: input devices event0.. with
# these names (a FIFO as each node); returns what power_button_watch
# returned, and with a watcher, whether 24 bytes on the button's node power
# off with 0.
power_button_case() {
	local name=$1 want=$2 i=0 dev got node=""
	shift 2
	rm -rf "$work/pb" && mkdir -p "$work/pb/sys" "$work/pb/dev"
	for dev in "$@"; do
		mkdir -p "$work/pb/sys/event$i/device"
		printf '%s\n' "$dev" >"$work/pb/sys/event$i/device/name"
		mkfifo "$work/pb/dev/event$i"
		[ "$dev" = "Power Button" ] && node=$work/pb/dev/event$i
		i=$((i + 1))
	done
	printf '#!/bin/sh\necho "poweroff $1" >"%s"\n' "$work/pb/done" >"$work/pb/stub"
	chmod +x "$work/pb/stub"
	# To a file, not through $(...): the watcher left in the background keeps
	# a copy of the shell's stdout open.
	POWER_BUTTON_SYSFS="$work/pb/sys" POWER_BUTTON_DEV="$work/pb/dev" \
		POWER_BUTTON_POWEROFF="$work/pb/stub" "$busybox" sh -c '
		. "$0/power_button.sh"
		power_button_watch >/dev/null
		echo $?' "$lib" >"$work/pb/rc" 2>/dev/null
	got=$(cat "$work/pb/rc")
	if [ "$got" != "$want" ]; then
		fail "guest-init-power-button-$name (power_button_watch returned '$got', expected $want)"
		return
	fi
	if [ -z "$node" ]; then
		pass "guest-init-power-button-$name (returned $got, no watcher)"
		return
	fi
	# One input_event (24 bytes), as Linux's ACPI button driver reports KEY_POWER.
	head -c 24 /dev/zero >"$node"
	for i in $(seq 50); do
		[ -s "$work/pb/done" ] && break
		sleep 0.1
	done
	if [ "$(cat "$work/pb/done" 2>/dev/null)" = "poweroff 0" ]; then
		pass "guest-init-power-button-$name (an event on the button powers off with 0)"
	else
		fail "guest-init-power-button-$name (no 'poweroff 0' after an event on the button)"
	fi
}
power_button_case none 1 "AT Translated Set 2 keyboard"
power_button_case no-input-devices 1
power_button_case acpi 0 "AT Translated Set 2 keyboard" "Power Button"

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
