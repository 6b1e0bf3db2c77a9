# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# e1000: a file downloaded over HTTP from the host end of the tap has the
# md5sum the host announced (minivmm.net_md5=).
check_e1000_download() {
	# shellcheck source-path=SCRIPTDIR source=../lib/net.sh
	. /etc/minivmm/lib/net.sh
	net_download e1000 /sys/bus/pci/drivers/e1000
}
