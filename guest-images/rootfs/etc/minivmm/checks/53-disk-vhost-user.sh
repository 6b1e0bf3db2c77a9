# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# A virtio-blk disk whose requests a vhost-user back-end (qemu-storage-daemon,
# started by tests/boot-test.d/53-disk-vhost-user.sh) serves, not minivmm:
# the same raw write, flush and read back as disk-raw, with its own pattern.
# The host checks the back-end's image byte for byte after minivmm exits.
check_disk_vhost_user() {
	# shellcheck source-path=SCRIPTDIR source=../lib/disk.sh
	. /etc/minivmm/lib/disk.sh
	disk_raw_roundtrip "${param_disk_vhost_user-}" vdc vhost-user
}
