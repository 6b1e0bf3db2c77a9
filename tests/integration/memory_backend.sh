#!/usr/bin/env bash
# --memory-backend: guest RAM as anonymous memory, a memfd, or a memfd of
# hugetlbfs pages.  Each boots a test guest and --stats reports what RAM was
# made of; hugetlb without free huge pages is a clear error at start; with
# pages reserved (this script reserves them, and gives them back), a
# vhost-user back-end (qemu-storage-daemon) serves the functional virtio-blk
# guest from hugetlb RAM.
# Usage: tests/integration/memory_backend.sh   (MINIVMM=path, default ./minivmm)
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib/exit_status.sh
. tests/integration/lib/exit_status.sh
MINIVMM=${MINIVMM:-./minivmm}
GUESTS=tests/guest
LABEL=memory-backend
SECTORS=8192
failed=0

pass() { echo "PASS: $LABEL: $1"; }
fail() {
	echo "FAIL: $LABEL: $1"
	failed=1
}

. tests/integration/lib/blk_image.sh
. tests/integration/lib/vhost_user.sh

if [ ! -e /dev/kvm ] || ! command -v jq >/dev/null; then
	echo "SKIP: $LABEL (needs /dev/kvm and jq)"
	exit 0
fi
for f in "$MINIVMM" $GUESTS/hello.elf $GUESTS/virtio_blk.elf; do
	[ -e "$f" ] || {
		fail "missing $f (run make)"
		exit 1
	}
done

TMP=$(mktemp -d /var/tmp/minivmm-membackend.XXXXXX)
VU_DIR=$TMP
NR_HUGEPAGES=/proc/sys/vm/nr_hugepages
hugepages_before=$(cat $NR_HUGEPAGES)
cleanup() {
	vu_cleanup
	# Give back the huge pages this script reserved.
	[ "$(cat $NR_HUGEPAGES)" = "$hugepages_before" ] || echo "$hugepages_before" >$NR_HUGEPAGES
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_hugepages() { awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo; }

# The guest runs the same on each; --stats says what its RAM was.
for backend in anon:anonymous memfd:memfd; do
	opt=${backend%%:*} want=${backend#*:}
	out=$(timeout 60 "$MINIVMM" --kernel $GUESTS/hello.elf --mem 64M --memory-backend "$opt" \
		--stats="$TMP/$opt.json" 2>&1)
	rc=$?
	got=$(jq -r '.run.guest.memory_backend' "$TMP/$opt.json" 2>/dev/null)
	if [ $rc = 0 ] && echo "$out" | grep -q "Hello" && [ "$got" = "$want" ]; then
		pass "--memory-backend $opt: the guest runs, --stats says '$got'"
	else
		fail "--memory-backend $opt: exit $rc, memory_backend '$got': $(echo "$out" | tail -3)"
	fi
done

# A size that is not whole huge pages is a command-line error.
out=$("$MINIVMM" --kernel $GUESTS/hello.elf --mem 63M --memory-backend hugetlb 2>&1)
rc=$?
[ $rc = "$EXIT_STATUS_USAGE" ] && echo "$out" | grep -q "multiple of 2 MiB" &&
	pass "--memory-backend hugetlb --mem 63M: exit $rc, '$(echo "$out" | head -1)'" ||
	fail "--memory-backend hugetlb --mem 63M: exit $rc: $out"

# No free huge pages: refused at start with the reason, not a crash later.
if [ "$(free_hugepages)" = 0 ]; then
	out=$(timeout 60 "$MINIVMM" --kernel $GUESTS/hello.elf --mem 64M --memory-backend hugetlb 2>&1)
	rc=$?
	[ $rc = "$EXIT_STATUS_ERROR" ] && echo "$out" | grep -q "too few free huge pages" &&
		pass "hugetlb without free huge pages: exit $rc, '$(echo "$out" | grep -m1 "huge pages")'" ||
		fail "hugetlb without free huge pages: exit $rc: $out"
else
	echo "# $(free_hugepages) huge pages free already: the no-pages case is not run"
fi

# Reserve 64 MiB of huge pages for a guest, if the kernel gives them.
if [ "$(id -u)" = 0 ] && echo $((hugepages_before + 40)) >$NR_HUGEPAGES 2>/dev/null &&
	[ "$(free_hugepages)" -ge 32 ]; then
	vu_require_tools qemu-storage-daemon
	img=$TMP/blk.img
	make_image "$img"
	if vu_qsd_start "$TMP/blk.sock" "$img" "$TMP/qsd.log"; then
		out=$(timeout 120 "$MINIVMM" --kernel $GUESTS/virtio_blk.elf --mem 64M \
			--memory-backend hugetlb --disk "vhost-user=$TMP/blk.sock" \
			--cmdline "test.sectors=$SECTORS test.serial=vhost_user_blk" \
			--stats="$TMP/hugetlb.json" 2>&1)
		rc=$?
		got=$(jq -r '.run.guest.memory_backend' "$TMP/hugetlb.json" 2>/dev/null)
		if [ $rc = 0 ] && echo "$out" | grep -q "virtio_blk: PASS" &&
			[ "$got" = "memfd (hugetlb)" ] && why=$(verify_image "$img"); then
			pass "hugetlb RAM shared with qemu-storage-daemon: the virtio-blk guest passes, the image holds its writes"
		else
			fail "hugetlb RAM with a vhost-user disk: exit $rc, memory_backend '$got' ${why-}: $(echo "$out" | tail -5)"
		fi
	else
		fail "qemu-storage-daemon did not start"
	fi
else
	echo "# cannot reserve huge pages here (not root, or the kernel has none to give): hugetlb guest not run"
fi

exit $failed
