# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# e1000: the host end of the tap answers 3 pings.
check_e1000_ping() {
	# shellcheck source-path=SCRIPTDIR source=../lib/net.sh
	. /etc/minivmm/lib/net.sh
	net_ping e1000 /sys/bus/pci/drivers/e1000
}
