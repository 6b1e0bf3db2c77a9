# shellcheck shell=sh
# $ENV of the console shell (see console.sh): mark a normal exit, which a
# shell killed by a signal never reaches.  Only in the shell /init started,
# not in shells started from it.
if [ "$PPID" = "${CONSOLE_SHELL_PARENT-}" ]; then
	trap 'echo exited >"$CONSOLE_SHELL_MARK"' EXIT
fi
