# shellcheck shell=sh disable=SC2034 # $poweroff_status and friends are read by /init
# console_shell CMD [ARG]...: runs the console shell (/init: `setsid cttyhack
# sh -l`) and sets $poweroff_status for /sbin/poweroff.
#   - The shell exited (exit, Ctrl-D, `poweroff` aside; whatever its last
#     status): 0.
#   - A signal killed it (status 128+N), e.g. when it died at start on an
#     emulating host (docs/compat.md): one line says so and a new shell
#     starts, at most CONSOLE_SHELL_RESTARTS (3) times; a shell killed once
#     more powers off with its status (128+N), so that minivmm (which reports
#     a guest status above 99 as 99, and names the real one in its last line)
#     and `make run` fail instead of ending silently.
#
# ash's $? is 128+N both for "killed by signal N" and for `exit` after a
# command that was (Ctrl-C on ping, then Ctrl-D), so the shell tells a normal
# exit apart itself: shell-env.sh ($ENV, read by the interactive shell) sets
# an EXIT trap that writes "exited" to $CONSOLE_SHELL_MARK, and an EXIT trap
# does not run when a signal kills the shell.  Builtins only: no fork but the
# shell's own.
CONSOLE_SHELL_MARK=${CONSOLE_SHELL_MARK:-/tmp/.minivmm-console-shell}
CONSOLE_SHELL_ENV=${CONSOLE_SHELL_ENV:-/etc/minivmm/lib/shell-env.sh}
CONSOLE_SHELL_RESTARTS=${CONSOLE_SHELL_RESTARTS:-3}

# console_shell_once CMD...: one run; sets $console_status and
# $console_killed (1 when a signal killed the shell, else 0).
console_shell_once() {
	: >"$CONSOLE_SHELL_MARK"
	CONSOLE_SHELL_MARK=$CONSOLE_SHELL_MARK CONSOLE_SHELL_PARENT=$$ ENV=$CONSOLE_SHELL_ENV "$@"
	console_status=$?
	console_exited=
	read -r console_exited <"$CONSOLE_SHELL_MARK"
	console_killed=0
	if [ "$console_status" -gt 128 ] && [ "$console_exited" != exited ]; then
		console_killed=1
	fi
}

console_shell() {
	console_restarts=0
	poweroff_status=0
	while :; do
		console_shell_once "$@"
		[ "$console_killed" = 1 ] || return 0
		if [ "$console_restarts" -ge "$CONSOLE_SHELL_RESTARTS" ]; then
			poweroff_status=$console_status
			echo "minivmm guest: the console shell was killed by signal $((console_status - 128)) (status $console_status), $((console_restarts + 1)) times in a row; powering off with status $console_status" >&2
			return 0
		fi
		console_restarts=$((console_restarts + 1))
		echo "minivmm guest: the console shell was killed by signal $((console_status - 128)) (status $console_status); starting a new one ($console_restarts of $CONSOLE_SHELL_RESTARTS)" >&2
	done
}
