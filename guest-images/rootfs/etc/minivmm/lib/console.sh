# shellcheck shell=sh disable=SC2034 # $poweroff_status and friends are read by /init
# console_shell CMD [ARG]...: runs the console shell (/init: `setsid cttyhack
# sh -l`) and sets $poweroff_status for /sbin/poweroff: 0 when the shell
# exited (exit, Ctrl-D, whatever its last status), and the shell's status
# (128 + signal) when it was killed by a signal, e.g. when it died at start
# on an emulating host (docs/compat.md), so that minivmm and `make run` fail.
#
# ash's $? is 128+N both for "killed by signal N" and for `exit` after a
# command that was (Ctrl-C on ping, then Ctrl-D), so the shell tells a normal
# exit apart itself: shell-env.sh ($ENV, read by the interactive shell) sets
# an EXIT trap that writes "exited" to $CONSOLE_SHELL_MARK, and an EXIT trap
# does not run when a signal kills the shell.  Builtins only: no fork.
CONSOLE_SHELL_MARK=${CONSOLE_SHELL_MARK:-/tmp/.minivmm-console-shell}
CONSOLE_SHELL_ENV=${CONSOLE_SHELL_ENV:-/etc/minivmm/lib/shell-env.sh}

console_shell() {
	: >"$CONSOLE_SHELL_MARK"
	CONSOLE_SHELL_MARK=$CONSOLE_SHELL_MARK CONSOLE_SHELL_PARENT=$$ ENV=$CONSOLE_SHELL_ENV "$@"
	console_status=$?
	console_exited=
	read -r console_exited <"$CONSOLE_SHELL_MARK"
	poweroff_status=0
	if [ "$console_status" -gt 128 ] && [ "$console_exited" != exited ]; then
		poweroff_status=$console_status
		echo "minivmm guest: the console shell was killed by signal $((console_status - 128)) (status $console_status); powering off with status $console_status" >&2
	fi
}
