# The disk image of the virtio-blk functional guest (tests/guest/virtio_blk.c):
# made before it runs, checked after.  Shared by virtio_blk.sh (in-VMM
# device) and vhost_user_blk.sh (qemu-storage-daemon); sourced, never run
# on its own.  POSIX sh.  The sourcing script sets SECTORS (the image size
# in 512-byte sectors, passed to the guest as test.sectors).

# make_image FILE: byte i of the image is (i*7 + i/512) & 0xff, as the
# guest expects.
make_image() {
	python3 -c "
import sys
n = $SECTORS * 512
sys.stdout.buffer.write(bytes(((i * 7 + (i >> 9)) & 0xff) for i in range(n)))" > "$1"
}

# verify_image FILE: the guest wrote sectors 100..131, discarded 200..207,
# zeroed 300..303, and left every other byte alone.  Prints what is wrong
# (nothing if all is well); exit status 1 if anything is.
verify_image() {
	python3 - "$1" "$SECTORS" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
sectors = int(sys.argv[2])
def pat(i): return (i * 7 + (i >> 9)) & 0xff
def wpat(i): return (i * 13 + 0x5a) & 0xff
bad = []
if len(d) != sectors * 512: bad.append('size changed to %d' % len(d))
for i in range(16384):
    if d[100 * 512 + i] != wpat(i): bad.append('written data at byte %d' % (100 * 512 + i)); break
if any(d[200 * 512:208 * 512]): bad.append('discarded sectors not zero')
if any(d[300 * 512:304 * 512]): bad.append('write-zeroes sectors not zero')
for lo, hi in ((0, 100 * 512), (132 * 512, 200 * 512), (208 * 512, 300 * 512), (304 * 512, len(d))):
    for i in range(lo, hi, 509):
        if d[i] != pat(i): bad.append('untouched data changed at byte %d' % i); break
print('; '.join(bad))
sys.exit(1 if bad else 0)
PY
}
