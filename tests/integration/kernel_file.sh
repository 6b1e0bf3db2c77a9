#!/usr/bin/env bash
# The kernel file is mapped into guest RAM copy-on-write, not copied, and a
# rewrite of that file while the VM runs does not reach the guest
# (docs/boot-times.md, "Start-up"): tests/guest/kernel_image.elf checksums
# its own text, waits for a console byte, and checksums again; in between
# this script overwrites the ELF file with zeros in place.  The writer's
# open breaks minivmm's read lease, so dd returns only after minivmm has
# given the guest its own copy of every still shared page.  Twice: once
# with the file leased and mapped, once with the file held open for
# writing, so that minivmm can take no lease and copies it at start.
# Usage: tests/integration/kernel_file.sh   (MINIVMM=path, default ./minivmm)
set -u
cd "$(dirname "$0")/../.." || exit 1
MINIVMM=${MINIVMM:-./minivmm}
GUEST=tests/guest/kernel_image.elf
LABEL=kernel-file
failed=0

pass() { echo "PASS: $LABEL: $1"; }
fail() {
	echo "FAIL: $LABEL: $1"
	failed=1
}

if [ ! -e /dev/kvm ]; then
	echo "SKIP: $LABEL (needs /dev/kvm)"
	exit 0
fi
for f in "$MINIVMM" "$GUEST"; do
	[ -e "$f" ] || {
		echo "FAIL: $LABEL: $f missing (make; make guests)"
		exit 1
	}
done
tmp=$(mktemp -d /var/tmp/minivmm-kernel-file.XXXXXX)
vm=
cleanup() {
	[ -z "$vm" ] || kill "$vm" 2>/dev/null
	exec 3>&- 4>&- 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for FILE TEXT SECONDS: until FILE contains TEXT (or the VM ended).
wait_for() {
	local end=$((SECONDS + $3))
	while [ $SECONDS -lt $end ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$vm" 2>/dev/null || return 1
		read -r -t 0.05 <> <(:) || true
	done
	return 1
}

# run_case NAME LEASED: boot a copy of the guest, rewrite the copy, let it finish.
run_case() {
	local name=$1 leased=$2 rc size
	cp "$GUEST" "$tmp/kernel.elf"
	rm -f "$tmp/in"
	mkfifo "$tmp/in"
	[ "$leased" = 1 ] || exec 4<>"$tmp/kernel.elf" # open for writing: no lease possible
	"$MINIVMM" -v --kernel "$tmp/kernel.elf" --cmdline "test.wait_ms=60000" \
		<"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
	vm=$!
	exec 3>"$tmp/in" # the guest's console input, kept open
	if ! wait_for "$tmp/out" "waiting for the host" 60; then
		fail "$name: the guest never got ready"
		sed 's/^/#   /' "$tmp/out" "$tmp/err"
		return
	fi
	if [ "$leased" = 1 ]; then
		grep -q "ranges mapped copy-on-write, under read leases" "$tmp/err" &&
			pass "$name: the kernel file is mapped, not copied" ||
			fail "$name: -v does not say the kernel file is mapped"
	else
		grep -q "ranges mapped copy-on-write" "$tmp/err" &&
			fail "$name: mapped although the file is open for writing" ||
			pass "$name: a file open for writing elsewhere is copied, not mapped"
	fi
	size=$(stat -c %s "$tmp/kernel.elf")
	if timeout 30 dd if=/dev/zero of="$tmp/kernel.elf" bs="$size" count=1 conv=notrunc \
		status=none; then
		pass "$name: the file was rewritten in place (zeros) while the VM ran"
	else
		fail "$name: dd could not rewrite the kernel file within 30 s"
	fi
	echo go >&3
	exec 3>&-
	wait "$vm"
	rc=$?
	vm=
	[ "$leased" = 1 ] || exec 4>&-
	sed 's/^/#   /' "$tmp/out"
	grep "being changed" "$tmp/err" | sed 's/^/#   /'
	if [ "$rc" = 0 ] && grep -q "kernel_image: PASS" "$tmp/out"; then
		pass "$name: the guest's text is unchanged after the rewrite (exit 0)"
	else
		fail "$name: guest exited $rc; its image changed or it crashed"
		sed 's/^/#   /' "$tmp/err"
	fi
	if [ "$leased" = 1 ]; then
		grep -q "is being changed: the guest keeps its own copy" "$tmp/err" &&
			pass "$name: minivmm saw the lease break and copied the shared pages" ||
			fail "$name: no log line about the lease break"
	fi
}

run_case leased 1
run_case unleased 0
exit $failed
