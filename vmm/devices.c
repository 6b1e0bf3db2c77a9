#include "devices.h"

#include "cpu_affinity.h"
#include "devices/e1000/e1000.h"
#include "devices/pci.h"
#include "log.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/vhost_user_dev.h"
#include "vm.h"

/* What devices_create() made, for devices_destroy(): one VM per process. */
static struct {
	struct virtio_blk *blk[CONFIG_MAX_DISKS];
	struct virtio_net *net[CONFIG_MAX_NETS];
	struct e1000 *e1000[CONFIG_MAX_NETS];
	struct vhost_user_dev *vhost_user_blk[CONFIG_MAX_DISKS];
	struct vhost_user_dev *vhost_user_net[CONFIG_MAX_NETS];
} created;

/*
 * Each device model adds its creation here; the order fixes which
 * virtio-mmio window and IRQ each device gets (disks first, then NICs, in
 * command-line order).
 */
int devices_create(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	/* The PCI bus exists only when a PCI device (e1000) needs it. */
	bool pci_ready = false;

	/* The devices' I/O threads are created below: their placement first. */
	cpu_affinity_place_io_threads(vm);
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		if (cfg->disks[i].vhost_user) {
			if (vhost_user_blk_create(vm, &cfg->disks[i], i,
						  &created.vhost_user_blk[i]))
				return -1;
			continue;
		}
		if (virtio_blk_create(vm, &cfg->disks[i], i, &created.blk[i]))
			return -1;
	}
	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		const struct net_config *net = &cfg->nets[i];

		if (net->vhost_user) {
			if (vhost_user_net_create(vm, net, i, &created.vhost_user_net[i]))
				return -1;
			continue;
		}
		if (net->model == NET_MODEL_VIRTIO) {
			if (virtio_net_create(vm, net, i, &created.net[i]))
				return -1;
			continue;
		}
		if (!pci_ready && pci_init(vm) < 0)
			return -1;
		pci_ready = true;
		if (e1000_create(vm, net, i, &created.e1000[i]) < 0)
			return -1;
	}
	return 0;
}

void devices_destroy(void)
{
	for (unsigned int i = CONFIG_MAX_NETS; i-- > 0;) {
		if (created.e1000[i])
			e1000_destroy(created.e1000[i]);
		if (created.net[i])
			virtio_net_destroy(created.net[i]);
		vhost_user_dev_destroy(created.vhost_user_net[i]);
		created.e1000[i] = NULL;
		created.net[i] = NULL;
		created.vhost_user_net[i] = NULL;
	}
	for (unsigned int i = CONFIG_MAX_DISKS; i-- > 0;) {
		if (created.blk[i])
			virtio_blk_destroy(created.blk[i]);
		vhost_user_dev_destroy(created.vhost_user_blk[i]);
		created.blk[i] = NULL;
		created.vhost_user_blk[i] = NULL;
	}
}
