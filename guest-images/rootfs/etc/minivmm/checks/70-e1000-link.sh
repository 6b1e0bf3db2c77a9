# shellcheck shell=sh disable=SC2034 # $detail is read by /init, which sources this file
# e1000: the interface with minivmm.e1000_mac= exists, is driven by e1000
# (PCI), takes its address and has carrier.  See /etc/minivmm/lib/net.sh.
check_e1000_link() {
	# shellcheck source-path=SCRIPTDIR source=../lib/net.sh
	. /etc/minivmm/lib/net.sh
	net_up e1000 /sys/bus/pci/drivers/e1000
}
