/*
 * virtio-blk and virtio-net whose queues another process serves: minivmm is
 * the vhost-user front-end (devices/vhost_user/vhost_user.h for the
 * protocol, docs/vhost-user.md for the whole picture).
 *
 * minivmm keeps the virtio-mmio transport (registers, status, feature
 * negotiation, config space) and hands the back-end what it needs to serve
 * the rings without minivmm: guest RAM as memfd descriptors, each ring's
 * addresses, the queue's KVM ioeventfd as its kick fd and the device's KVM
 * irqfd as its call fd.  No minivmm thread touches a request.  One small
 * I/O thread per device waits for the back-end to hang up or to signal a
 * ring's error eventfd; either puts the device in NEEDS_RESET while the VM
 * keeps running.
 */
#ifndef MINIVMM_VIRTIO_VHOST_USER_DEV_H
#define MINIVMM_VIRTIO_VHOST_USER_DEV_H

struct vm;
struct disk_config;
struct net_config;
struct vhost_user_dev;

/*
 * Connect to the back-end named by cfg (cfg->vhost_user set), negotiate,
 * read its config (virtio-blk) and register the device as virtio-blk.index
 * or virtio-net.index.  0, or -errno after logging one line that names the
 * socket and what went wrong.
 */
int vhost_user_blk_create(struct vm *vm, const struct disk_config *cfg, unsigned int index,
			  struct vhost_user_dev **out);
int vhost_user_net_create(struct vm *vm, const struct net_config *cfg, unsigned int index,
			  struct vhost_user_dev **out);

/* Stop the rings in the back-end (GET_VRING_BASE), close the connection, free. */
void vhost_user_dev_destroy(struct vhost_user_dev *dev);

#endif
