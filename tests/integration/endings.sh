#!/usr/bin/env bash
# How minivmm ends (docs/usage.md, "Exit status" and "The final line"):
#   - every run that got past the command line ends with exactly one line
#     "minivmm: stopped: WHY" on stderr, its last line, whatever --console
#     says: guest power-off with its status, reset, triple fault, Ctrl-A x,
#     a signal (named), a start-up failure or an error (with the reason);
#   - where the console and stderr are one file and the guest's output
#     ended mid-line (a prompt), the final line still starts a line;
#   - the guest's status v passes through when v <= 99 and becomes 99 above;
#     minivmm's own statuses are all >= 100 (tests/integration/lib/exit_status.sh,
#     checked here against vmm/core/vm.h);
#   - a bzImage on a host that emulates guest kernel code gets a one-line
#     warning (decompression takes minutes there; a vmlinux is faster).
# Test guests only (tests/guest/exitcode.elf, kernel_image.elf, and a tiny
# bzImage made here), no Linux; about 10 s.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
LABEL=endings
MINIVMM=${MINIVMM:-./minivmm}
EXITCODE=tests/guest/exitcode.elf
WAITER=tests/guest/kernel_image.elf
failed=0
pass() { echo "PASS: $LABEL: $1"; }
fail() {
	echo "FAIL: $LABEL: $1"
	failed=1
}
show() { [ -s "$1" ] && sed 's/^/    | /' "$1"; }

if [ ! -e /dev/kvm ]; then
	echo "SKIP: $LABEL (needs /dev/kvm)"
	exit 0
fi
for f in "$MINIVMM" "$EXITCODE" "$WAITER"; do
	[ -e "$f" ] || {
		echo "FAIL: $LABEL: $f missing (make; make guests)"
		exit 1
	}
done
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null
	exec 3>&- 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the names the scripts use are the C ones ----
mismatch=
for name in GUEST_MAX ERROR USAGE RESET TRIPLE_FAULT CONSOLE API_STOP SIGNAL_BASE; do
	c=$(sed -n "s/^#define EXIT_STATUS_${name}[[:space:]]\+\([0-9]\+\).*/\1/p" vmm/core/vm.h)
	var=EXIT_STATUS_$name
	[ "$c" = "${!var}" ] || mismatch+=" $name (vm.h '${c}', exit_status.sh '${!var}')"
done
c=$(sed -n 's/^#define EXIT_STATUS_SECCOMP[[:space:]]\+\([0-9]\+\).*/\1/p' vmm/seccomp.h)
[ "$c" = "$EXIT_STATUS_SECCOMP" ] || mismatch+=" SECCOMP (seccomp.h '$c')"
[ -z "$mismatch" ] && pass "tests/integration/lib/exit_status.sh agrees with vmm/core/vm.h" ||
	fail "exit statuses differ:$mismatch"

# check_final NAME RC WANT_RC REGEX ERRFILE: the status, and exactly one
# "minivmm: stopped:" line, the last on stderr, matching REGEX (grep -E).
check_final() {
	local name=$1 rc=$2 want=$3 regex=$4 err=$5 n last
	n=$(grep -c '^minivmm: stopped: ' "$err")
	last=$(tail -n 1 "$err")
	if [ "$rc" != "$want" ]; then
		fail "$name: exit status $rc, expected $want"
		show "$err"
	elif [ "$n" != 1 ]; then
		fail "$name: $n 'minivmm: stopped:' lines, expected one"
		show "$err"
	elif ! grep -Eq -- "^minivmm: stopped: $regex\$" <<<"$last"; then
		fail "$name: the last stderr line is not 'minivmm: stopped: $regex'"
		show "$err"
	else
		pass "$name: status $rc, '$last'"
	fi
}

# run_guest NAME WANT_RC REGEX ARGS...: a run to its end, console to a file.
run_guest() {
	local name=$1 want=$2 regex=$3 rc
	shift 3
	timeout -k 5 120 "$MINIVMM" --console "file:$tmp/console" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	check_final "$name" "$rc" "$want" "$regex" "$tmp/err"
}

# ---- the guest's status: 0..99 as they are, larger ones as 99 ----
run_guest guest-status-0 0 'the guest powered off with status 0' --kernel "$EXITCODE" --cmdline code=0
run_guest guest-status-7 7 'the guest powered off with status 7' --kernel "$EXITCODE"
run_guest guest-status-99 99 'the guest powered off with status 99' --kernel "$EXITCODE" --cmdline code=99
run_guest guest-status-100 "$EXIT_STATUS_GUEST_MAX" \
	'the guest powered off with status 100; exit status 99 \(guest statuses above 99 are reported as 99\)' \
	--kernel "$EXITCODE" --cmdline code=100
run_guest guest-status-255 "$EXIT_STATUS_GUEST_MAX" \
	'the guest powered off with status 255; exit status 99 .*' --kernel "$EXITCODE" --cmdline code=255
# Only the port's low byte counts: 259 is 3.
run_guest guest-status-low-byte 3 'the guest powered off with status 3' --kernel "$EXITCODE" --cmdline code=259
# --console none hides the guest's output, never the final line.
"$MINIVMM" --console none --kernel "$EXITCODE" --cmdline code=5 >"$tmp/out" 2>"$tmp/err" </dev/null
check_final console-none $? 5 'the guest powered off with status 5' "$tmp/err"

# ---- minivmm's own reasons ----
run_guest reset "$EXIT_STATUS_RESET" "the guest reset the machine; exit status $EXIT_STATUS_RESET" \
	--kernel "$EXITCODE" --cmdline reset=i8042
run_guest triple-fault "$EXIT_STATUS_TRIPLE_FAULT" "triple fault in the guest; exit status $EXIT_STATUS_TRIPLE_FAULT" \
	--kernel "$EXITCODE" --cmdline fault=triple
run_guest start-failure "$EXIT_STATUS_ERROR" \
	"could not start the VM: --kernel $tmp/nope: No such file or directory; exit status $EXIT_STATUS_ERROR" \
	--kernel "$tmp/nope"
"$MINIVMM" --kernel "$EXITCODE" --mem 12Q >"$tmp/out" 2>"$tmp/err" </dev/null
rc=$?
# A command-line error starts nothing: its own two lines, no final line.
if [ "$rc" = "$EXIT_STATUS_USAGE" ] && ! grep -q '^minivmm: stopped:' "$tmp/err" &&
	grep -q '^minivmm: --mem 12Q: ' "$tmp/err"; then
	pass "usage-error: status $rc, the error line and no 'stopped:' line"
else
	fail "usage-error: status $rc (expected $EXIT_STATUS_USAGE)"
	show "$tmp/err"
fi

# start_waiter ARGS...: kernel_image.elf waiting for a console byte (it says
# so first), minivmm in the background as $pid; its console in $tmp/console.
start_waiter() {
	: >"$tmp/console"
	env --default-signal=INT,TERM,HUP "$MINIVMM" --kernel "$WAITER" --cmdline test.wait_ms=600000 \
		"$@" 2>"$tmp/err" &
	pid=$!
	for _ in $(seq 600); do
		grep -q 'waiting for the host' "$tmp/console" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
# stop_waiter: waits for $pid (at most 30 s) and sets rc.
stop_waiter() {
	local i
	for i in $(seq 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	[ "$i" -lt 300 ] || kill -KILL "$pid" 2>/dev/null
	wait "$pid"
	rc=$?
	pid=
}

# ---- signals, named ----
for sig in TERM HUP INT; do
	num=$(kill -l "$sig")
	if start_waiter --console "file:$tmp/console" >"$tmp/out" </dev/null; then
		kill -s "$sig" "$pid"
		stop_waiter
		check_final "signal-$sig" "$rc" $((EXIT_STATUS_SIGNAL_BASE + num)) \
			"signal $num \(SIG$sig\); exit status $((EXIT_STATUS_SIGNAL_BASE + num))" "$tmp/err"
	else
		fail "signal-$sig: the guest did not start waiting"
		stop_waiter
		show "$tmp/err"
	fi
done

# ctrl_a_x CONSOLE ERR READY CMDLINE: the waiting guest with --console stdio
# (stdin a pipe: no terminal needed), its output appended to CONSOLE and
# minivmm's stderr to ERR (the same file when they are the same name); types
# Ctrl-A x once READY is on the console, then sets rc.
ctrl_a_x() {
	local console=$1 err=$2 ready=$3 cmdline=$4
	rm -f "$tmp/in"
	mkfifo "$tmp/in"
	: >"$console"
	: >"$err"
	env --default-signal=INT,TERM,HUP "$MINIVMM" --kernel "$WAITER" --cmdline "$cmdline" \
		--console stdio <"$tmp/in" >>"$console" 2>>"$err" &
	pid=$!
	exec 3>"$tmp/in"
	for _ in $(seq 600); do
		grep -q -- "$ready" "$console" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	printf '\001x' >&3
	stop_waiter
	exec 3>&-
}

# ---- Ctrl-A x on the console ----
ctrl_a_x "$tmp/console" "$tmp/err" 'waiting for the host' test.wait_ms=600000
check_final ctrl-a-x "$rc" "$EXIT_STATUS_CONSOLE" "Ctrl-A x on the console; exit status $EXIT_STATUS_CONSOLE" "$tmp/err"

# ---- the guest left a prompt (no newline) and the console is stderr's file ----
# The final line must start a line of its own, not follow the prompt.
ctrl_a_x "$tmp/both" "$tmp/both" 'kernel_image> ' "test.wait_ms=600000 test.prompt=1"
prompt_line=$(grep -a 'kernel_image> ' "$tmp/both")
if [ "$rc" != "$EXIT_STATUS_CONSOLE" ]; then
	fail "final line after a prompt: exit status $rc, expected $EXIT_STATUS_CONSOLE"
	show "$tmp/both"
elif [ "$prompt_line" != "kernel_image> " ] || ! tail -n 1 "$tmp/both" | grep -q '^minivmm: stopped: Ctrl-A x'; then
	fail "final line after a prompt: not on a line of its own after 'kernel_image> '"
	show "$tmp/both"
else
	pass "final line after a prompt: on a line of its own ('$(tail -n 1 "$tmp/both")')"
fi

# ---- an error after the run: the --stats report cannot be written ----
mkdir "$tmp/stats"
if start_waiter --console "file:$tmp/console" --stats="$tmp/stats/report.json" >"$tmp/out" </dev/null; then
	rm -rf "$tmp/stats"
	kill -TERM "$pid"
	stop_waiter
	check_final stats-error "$rc" "$EXIT_STATUS_ERROR" \
		"signal 15 \(SIGTERM\), then error: --stats $tmp/stats/report.json: cannot write the report: .*; exit status $EXIT_STATUS_ERROR" \
		"$tmp/err"
else
	fail "stats-error: the guest did not start waiting"
	stop_waiter
	show "$tmp/err"
fi

# ---- a bzImage on a host that emulates guest kernel code is warned about ----
# The smallest bzImage minivmm loads (boot protocol 2.15, 64-bit entry at
# 0x200 into the payload): out 0x501 with status 9, then hlt.
python3 - "$tmp/bzImage" <<'EOF'
import struct, sys
buf = bytearray(1024 + 0x400)
buf[0x1f1] = 1                          # setup_sects: 1024 bytes of setup
buf[0x1fe:0x200] = b"\x55\xaa"
buf[0x200:0x202] = b"\xeb\x66"          # jump over the header
buf[0x202:0x206] = b"HdrS"
struct.pack_into("<H", buf, 0x206, 0x020f)
buf[0x211] = 1                          # LOADED_HIGH
struct.pack_into("<H", buf, 0x236, 1)   # XLF_KERNEL_64
code = bytes([0x66, 0xba, 0x01, 0x05,   # mov dx, 0x501
              0xb0, 9,                  # mov al, 9
              0xee,                     # out dx, al
              0xf4, 0xeb, 0xfd])        # hlt; jmp hlt
buf[1024 + 0x200:1024 + 0x200 + len(code)] = code
open(sys.argv[1], "wb").write(buf)
EOF
if [ -e /sys/module/kvm_pvm ] || ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	emulating=1
else
	emulating=0
fi
run_guest bzimage 9 'the guest powered off with status 9' --kernel "$tmp/bzImage"
warned=$(grep -c '^minivmm: host: .*bzImage.*minutes.*vmlinux' "$tmp/err")
if [ "$warned" = "$emulating" ]; then
	pass "bzimage-warning: $warned warning line(s); this host emulates guest kernel code: $([ $emulating = 1 ] && echo yes || echo no)"
else
	fail "bzimage-warning: $warned warning line(s), expected $emulating"
	show "$tmp/err"
fi
run_guest elf-no-warning 7 'the guest powered off with status 7' --kernel "$EXITCODE" -v
if grep -q 'bzImage' "$tmp/err"; then
	fail "elf-no-warning: an ELF kernel got the bzImage warning"
	show "$tmp/err"
else
	pass "elf-no-warning: no bzImage warning for an ELF kernel"
fi
# -v describes the kernel's placement; without --initrd there is no initrd address.
if grep -q '^minivmm: kernel: ELF at .*; no initrd; cmdline' "$tmp/err" && ! grep -q 'initrd at 0x0;' "$tmp/err"; then
	pass "verbose-no-initrd: -v says 'no initrd' rather than an address"
else
	fail "verbose-no-initrd: -v kernel line: $(grep '^minivmm: kernel:' "$tmp/err")"
fi

[ "$failed" = 0 ]
