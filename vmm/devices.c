#include "devices.h"

#include "log.h"
#include "vm.h"

/*
 * Each device model adds its creation here; the order fixes which
 * virtio-mmio window and IRQ each device gets (disks first, then NICs, in
 * command-line order).
 */
int devices_create(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;

	if (cfg->nr_disks) {
		log_error("--disk: virtio-blk is not implemented yet");
		return -1;
	}
	if (cfg->nr_nets) {
		log_error("--net: network devices are not implemented yet");
		return -1;
	}
	return 0;
}
