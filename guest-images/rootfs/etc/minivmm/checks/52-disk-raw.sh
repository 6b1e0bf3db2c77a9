# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# virtio-blk raw write and flush: writes an 8 KiB pattern at an odd sector of
# the scratch disk with `dd conv=fsync` (the block device's fsync sends a
# FLUSH), drops the cache, reads the sectors back and compares.  The host
# checks the image byte for byte after minivmm exits.
check_disk_raw() {
	# shellcheck source-path=SCRIPTDIR source=../lib/disk.sh
	. /etc/minivmm/lib/disk.sh
	disk_raw_roundtrip "${param_disk_raw-}" vdb scratch
}
