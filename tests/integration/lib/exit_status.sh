# shellcheck shell=bash disable=SC2034 # read by the scripts that source this
# minivmm's exit statuses for test scripts: the same names and values as
# EXIT_STATUS_* in vmm/core/vm.h (tests/integration/endings.sh checks that
# they agree) and the table in docs/usage.md, "Exit status".
#
# The guest's power-off status v passes through when v <= 99 and is
# reported as 99 above that; every status minivmm chooses itself is >= 100,
# so a script can tell "minivmm failed" from "the guest said N".
EXIT_STATUS_GUEST_MAX=99
EXIT_STATUS_ERROR=100
EXIT_STATUS_USAGE=101
EXIT_STATUS_RESET=102
EXIT_STATUS_TRIPLE_FAULT=103
EXIT_STATUS_CONSOLE=104
EXIT_STATUS_API_STOP=105
EXIT_STATUS_SIGNAL_BASE=128 # + the signal's number: SIGHUP 129, SIGINT 130, SIGTERM 143
EXIT_STATUS_SECCOMP=159     # 128 + SIGSYS (vmm/seccomp.h)
