#!/usr/bin/env bash
# Bad input at run time: every case must print exactly one "minivmm: error:"
# line naming the problem (plus, when the command line was accepted, the
# final "minivmm: stopped: could not start the VM: ..." line repeating it),
# exit with the documented status (lib/exit_status.sh), start no guest and
# leave nothing behind (no console file, no tap).
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
. tests/integration/lib/require_kvm.sh
vmm=${MINIVMM:-./minivmm}
hello=tests/guest/hello.elf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# expect NAME STATUS REGEX -- ARGS...: stderr has exactly one error line, matching REGEX.
expect() {
	local name=$1 status=$2 regex=$3 rc errors
	shift 4
	# Errors found after the command line is accepted come after /dev/kvm is opened.
	if [ "$status" = "$EXIT_STATUS_ERROR" ] && ! host_has_kvm; then
		echo "SKIP: cli-$name (no /dev/kvm on this host; the ordinary-KVM stage runs it)"
		return
	fi
	"$vmm" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	errors=$(grep -c '^minivmm: ' "$tmp/err" | tr -d ' ')
	# The one informational host line (docs/compat.md) is not an error line,
	# nor is the final line, which must name the same problem.
	errors=$((errors - $(grep -c '^minivmm: host: ' "$tmp/err")))
	if [ "$status" = "$EXIT_STATUS_ERROR" ]; then
		errors=$((errors - $(grep -c '^minivmm: stopped: could not start the VM: ' "$tmp/err")))
	fi
	if [ "$rc" != "$status" ]; then
		echo "FAIL: cli-$name: exit status $rc, expected $status"
	elif [ "$status" = "$EXIT_STATUS_ERROR" ] &&
		! tail -n 1 "$tmp/err" | grep -Eq -- "^minivmm: stopped: could not start the VM: .*(${regex#error: })"; then
		echo "FAIL: cli-$name: the last line is not 'minivmm: stopped: could not start the VM: ...' naming /$regex/:"
		sed 's/^/    /' "$tmp/err"
	elif [ "$errors" != 1 ] || ! grep -Eq -- "$regex" "$tmp/err"; then
		echo "FAIL: cli-$name: expected one error line matching /$regex/, got:"
		sed 's/^/    /' "$tmp/err"
	elif grep -q 'Hello from minivmm' "$tmp/out"; then
		echo "FAIL: cli-$name: the guest ran"
	else
		echo "PASS: cli-$name"
		return
	fi
	failed=$((failed + 1))
}

head -c 4096 /dev/urandom >"$tmp/garbage"
printf '\177ELF' >"$tmp/truncated-elf"
: >"$tmp/empty"
truncate -s 20M "$tmp/big"
cp "$hello" "$tmp/unreadable" && chmod 000 "$tmp/unreadable"

expect missing-kernel "$EXIT_STATUS_ERROR" 'error: --kernel .*/nope: No such file' -- --kernel "$tmp/nope"
expect kernel-directory "$EXIT_STATUS_ERROR" 'error: --kernel .*: not a regular file' -- --kernel "$tmp"
expect empty-kernel "$EXIT_STATUS_ERROR" 'error: --kernel .*: file is empty' -- --kernel "$tmp/empty"
expect garbage-kernel "$EXIT_STATUS_ERROR" 'neither an ELF vmlinux nor a bzImage' -- --kernel "$tmp/garbage"
expect truncated-elf "$EXIT_STATUS_ERROR" 'ELF file truncated' -- --kernel "$tmp/truncated-elf"
expect missing-initrd "$EXIT_STATUS_ERROR" 'error: --initrd .*/nope: No such file' -- --kernel "$hello" --initrd "$tmp/nope"
expect empty-initrd "$EXIT_STATUS_ERROR" 'error: --initrd .*: file is empty' -- --kernel "$hello" --initrd "$tmp/empty"
expect initrd-too-big "$EXIT_STATUS_ERROR" 'error: --initrd .*: .*(does not fit|larger than)' -- --kernel "$hello" --mem 16M --initrd "$tmp/big"
expect mem-beyond-host "$EXIT_STATUS_ERROR" 'error: --mem .*: more than this host' -- --kernel "$hello" --mem 1T
expect mem-syntax "$EXIT_STATUS_USAGE" '--mem 12Q' -- --kernel "$hello" --mem 12Q
expect cpus-zero "$EXIT_STATUS_USAGE" '--cpus' -- --kernel "$hello" --cpus 0
expect bad-mac "$EXIT_STATUS_USAGE" 'mac' -- --kernel "$hello" --net tap0,mac=zz:00:00:00:00:00
expect hostfwd-syntax "$EXIT_STATUS_USAGE" "--net user,hostfwd=tcp:2222:22: hostfwd 'tcp:2222:22' is not \\[tcp\\|udp\\]" -- --kernel "$hello" --net user,hostfwd=tcp:2222:22
expect hostfwd-port "$EXIT_STATUS_USAGE" "hostfwd host port '70000' \\(expected 1 to 65535\\)" -- --kernel "$hello" --net user,hostfwd=tcp::70000-:22
expect hostfwd-guest "$EXIT_STATUS_USAGE" 'hostfwd guest address 10.0.9.1 is not a guest' -- --kernel "$hello" --net user,hostfwd=udp::5353-10.0.9.1:53
expect hostfwd-on-tap "$EXIT_STATUS_USAGE" 'hostfwd= needs user-mode networking' -- --kernel "$hello" --net tap0,hostfwd=tcp::2222-:22
expect user-queues "$EXIT_STATUS_USAGE" 'user-mode networking has one queue pair' -- --kernel "$hello" --net user,queues=2
expect tap-ip-syntax "$EXIT_STATUS_USAGE" "ip=10.0.0.1 is not ADDR/LEN" -- --kernel "$hello" --net tap0,ip=10.0.0.1
expect tap-ip-prefix "$EXIT_STATUS_USAGE" "prefix length '33' \\(expected 1 to 32\\)" -- --kernel "$hello" --net tap0,ip=10.0.0.1/33
expect tap-ip-v6 "$EXIT_STATUS_USAGE" 'only IPv4 is supported' -- --kernel "$hello" --net tap0,ip=fd00::1/64
expect user-ip "$EXIT_STATUS_USAGE" 'ip= configures a tap minivmm creates' -- --kernel "$hello" --net user,ip=10.0.2.1/24
expect unknown-option "$EXIT_STATUS_USAGE" 'unknown|unrecognized' -- --kernel "$hello" --frobnicate
expect missing-disk "$EXIT_STATUS_ERROR" 'error: .*nope' -- --kernel "$hello" --disk "$tmp/nope"
expect cpu-affinity-range "$EXIT_STATUS_USAGE" '--cpu-affinity vcpus=9999: .*CPU 9999 is out of range' -- --kernel "$hello" --cpu-affinity vcpus=9999
expect cpu-affinity-key "$EXIT_STATUS_USAGE" "--cpu-affinity cpus=0: unknown key 'cpus'" -- --kernel "$hello" --cpu-affinity cpus=0
expect cpu-affinity-vcpu "$EXIT_STATUS_USAGE" 'vcpu2=: no such vCPU \(with --cpus 2' -- --kernel "$hello" --cpus 2 --cpu-affinity vcpus=0,vcpu2=0
# CPU 1023 exists on no host this runs on: not one minivmm may run on.
expect cpu-affinity-not-allowed "$EXIT_STATUS_USAGE" 'CPU 1023 \(in io=\) is not one this process may run on' -- --kernel "$hello" --cpu-affinity io=1023

# A console file is created only for a VM that starts, and an existing one
# is left untouched by a failed start.
"$vmm" --kernel "$tmp/garbage" --console "file:$tmp/console.log" 2>/dev/null
if [ -e "$tmp/console.log" ]; then
	echo "FAIL: cli-console-file-left-behind: $tmp/console.log exists after a failed start"
	failed=$((failed + 1))
else
	echo "PASS: cli-console-file-left-behind"
fi
echo previous >"$tmp/kept.log"
"$vmm" --kernel "$tmp/garbage" --console "file:$tmp/kept.log" 2>/dev/null
if [ "$(cat "$tmp/kept.log")" = previous ]; then
	echo "PASS: cli-console-file-kept"
else
	echo "FAIL: cli-console-file-kept: an existing console file was changed by a failed start"
	failed=$((failed + 1))
fi
[ "$failed" = 0 ]
