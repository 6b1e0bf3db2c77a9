# Sourced by the integration scripts that start VMs.  On a host without
# /dev/kvm (e.g. a kvm_pvm kernel that is itself a PVM guest, where kvm_pvm
# does not bind) they cannot run: they say SKIP and exit 0, and run inside
# the ordinary-KVM stage instead (docs/ordinary-kvm.md).  A /dev/kvm that
# exists but cannot be opened is not skipped: that is the scripts' to report.

# host_has_kvm: is there a /dev/kvm at all?
host_has_kvm() { [ -e /dev/kvm ]; }

# require_kvm LABEL: exits 0 with "SKIP: LABEL (...)" when there is no /dev/kvm.
require_kvm() {
	host_has_kvm && return 0
	echo "SKIP: $1 (no /dev/kvm on this host; the ordinary-KVM stage runs it)"
	exit 0
}
