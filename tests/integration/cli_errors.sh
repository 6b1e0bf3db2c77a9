#!/usr/bin/env bash
# Bad input at run time: every case must print exactly one "minivmm: error:"
# line naming the problem, exit with the documented status, start no guest
# and leave nothing behind (no console file, no tap).
set -u
cd "$(dirname "$0")/../.." || exit 1
vmm=${MINIVMM:-./minivmm}
hello=tests/guest/hello.elf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# expect NAME STATUS REGEX -- ARGS...: stderr has exactly one error line, matching REGEX.
expect() {
	local name=$1 status=$2 regex=$3 rc errors
	shift 4
	"$vmm" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	errors=$(grep -c '^minivmm: ' "$tmp/err" | tr -d ' ')
	# The one informational host line (docs/compat.md) is not an error line.
	errors=$((errors - $(grep -c '^minivmm: host: ' "$tmp/err")))
	if [ "$rc" != "$status" ]; then
		echo "FAIL: cli-$name: exit status $rc, expected $status"
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

expect missing-kernel 1 'error: --kernel .*/nope: No such file' -- --kernel "$tmp/nope"
expect kernel-directory 1 'error: --kernel .*: not a regular file' -- --kernel "$tmp"
expect empty-kernel 1 'error: --kernel .*: file is empty' -- --kernel "$tmp/empty"
expect garbage-kernel 1 'neither an ELF vmlinux nor a bzImage' -- --kernel "$tmp/garbage"
expect truncated-elf 1 'ELF file truncated' -- --kernel "$tmp/truncated-elf"
expect missing-initrd 1 'error: --initrd .*/nope: No such file' -- --kernel "$hello" --initrd "$tmp/nope"
expect empty-initrd 1 'error: --initrd .*: file is empty' -- --kernel "$hello" --initrd "$tmp/empty"
expect initrd-too-big 1 'error: --initrd .*: .*(does not fit|larger than)' -- --kernel "$hello" --mem 16M --initrd "$tmp/big"
expect mem-beyond-host 1 'error: --mem .*: more than this host' -- --kernel "$hello" --mem 1T
expect mem-syntax 2 '--mem 12Q' -- --kernel "$hello" --mem 12Q
expect cpus-zero 2 '--cpus' -- --kernel "$hello" --cpus 0
expect bad-mac 2 'mac' -- --kernel "$hello" --net tap0,mac=zz:00:00:00:00:00
expect unknown-option 2 'unknown|unrecognized' -- --kernel "$hello" --frobnicate
expect missing-disk 1 'error: .*nope' -- --kernel "$hello" --disk "$tmp/nope"
expect cpu-affinity-range 2 '--cpu-affinity vcpus=9999: .*CPU 9999 is out of range' -- --kernel "$hello" --cpu-affinity vcpus=9999
expect cpu-affinity-key 2 "--cpu-affinity cpus=0: unknown key 'cpus'" -- --kernel "$hello" --cpu-affinity cpus=0
expect cpu-affinity-vcpu 2 'vcpu2=: no such vCPU \(with --cpus 2' -- --kernel "$hello" --cpus 2 --cpu-affinity vcpus=0,vcpu2=0
# CPU 1023 exists on no host this runs on: not one minivmm may run on.
expect cpu-affinity-not-allowed 2 'CPU 1023 \(in io=\) is not one this process may run on' -- --kernel "$hello" --cpu-affinity io=1023

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
