#include "virtio/mmio.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/layout.h"
#include "bus.h"
#include "byteorder.h"
#include "log.h"
#include "util.h"
#include "vm.h"


static uint64_t offered_features(const struct virtio_device *dev)
{
	return dev->device_features | BIT(VIRTIO_F_VERSION_1);
}

static uint16_t queue_num_max(const struct virtio_device *dev)
{
	return dev->queue_num_max ? dev->queue_num_max : VIRTQ_MAX_SIZE;
}

static void raise_interrupt(struct virtio_device *dev, unsigned int why)
{
	uint64_t one = 1;

	atomic_fetch_or(&dev->interrupt_status, why);
	atomic_fetch_add_explicit(&dev->stat_interrupts, 1, memory_order_relaxed);
	if (dev->call_fd >= 0) {
		/* Only EAGAIN (counter saturated) can fail, and then an
		 * interrupt is pending anyway. */
		if (write(dev->call_fd, &one, sizeof(one)) < 0) {
		}
	} else {
		vm_pulse_irq(dev->vm, dev->irq);
	}
}

void virtio_mmio_signal_used(struct virtio_device *dev)
{
	raise_interrupt(dev, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_config_changed(struct virtio_device *dev)
{
	atomic_fetch_add(&dev->config_generation, 1);
	raise_interrupt(dev, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_set_needs_reset(struct virtio_device *dev, const char *why)
{
	unsigned int old = atomic_fetch_or(&dev->status, VIRTIO_STATUS_NEEDS_RESET);

	if (old & VIRTIO_STATUS_NEEDS_RESET)
		return;
	atomic_fetch_add_explicit(&dev->stat_needs_reset, 1, memory_order_relaxed);
	log_error("%s: %s; device needs reset", dev->name, why ? why : "device error");
	raise_interrupt(dev, VIRTIO_MMIO_INT_CONFIG);
}

bool virtio_mmio_needs_reset(struct virtio_device *dev)
{
	return atomic_load_explicit(&dev->status, memory_order_relaxed) & VIRTIO_STATUS_NEEDS_RESET;
}

/* Drop kicks that arrived before the reset so they are not served later. */
static void drain_eventfd(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v;

	if (fd >= 0 && poll(&p, 1, 0) == 1 && read(fd, &v, sizeof(v)) < 0) {
	}
}

/* Back to the state after power-on.  Caller holds dev->lock. */
static void device_reset(struct virtio_device *dev)
{
	if (dev->active && dev->ops->reset)
		dev->ops->reset(dev);
	dev->active = false;
	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		virtq_reset(&dev->queues[i].vq);
		drain_eventfd(dev->queues[i].kick_fd);
	}
	dev->driver_features = 0;
	dev->device_features_sel = 0;
	dev->driver_features_sel = 0;
	dev->queue_sel = 0;
	atomic_store(&dev->interrupt_status, 0);
	atomic_store(&dev->status, 0);
}

static bool features_acceptable(struct virtio_device *dev)
{
	uint64_t f = dev->driver_features;

	if (f & ~offered_features(dev)) {
		log_error("%s: driver accepted features 0x%" PRIx64 " the device did not offer",
			  dev->name, f & ~offered_features(dev));
		return false;
	}
	if (!(f & BIT(VIRTIO_F_VERSION_1))) {
		log_error("%s: driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are not "
			  "supported)",
			  dev->name);
		return false;
	}
	return !dev->ops->features_ok || dev->ops->features_ok(dev, f);
}

static void write_status(struct virtio_device *dev, uint32_t value)
{
	unsigned int old = atomic_load(&dev->status), set;

	if (value == 0) {
		device_reset(dev);
		return;
	}
	/* NEEDS_RESET belongs to the device; the driver never clears bits
	 * except by writing 0, so only newly set bits matter. */
	set = value & ~old & ~VIRTIO_STATUS_NEEDS_RESET & 0xff;
	if ((set & VIRTIO_STATUS_FEATURES_OK) &&
	    (!(old & VIRTIO_STATUS_DRIVER) || !features_acceptable(dev)))
		set &= ~VIRTIO_STATUS_FEATURES_OK; /* the driver sees the refusal on re-read */
	if (set & VIRTIO_STATUS_DRIVER_OK) {
		if (!((old | set) & VIRTIO_STATUS_FEATURES_OK)) {
			log_error("%s: DRIVER_OK without FEATURES_OK", dev->name);
			set &= ~VIRTIO_STATUS_DRIVER_OK;
		} else if (!dev->active) {
			atomic_fetch_or(&dev->status, set);
			set = 0;
			if (dev->ops->activate(dev) == 0)
				dev->active = true;
			else
				virtio_mmio_set_needs_reset(dev, "activation failed");
		}
	}
	atomic_fetch_or(&dev->status, set);
}

static struct virtq *selected_queue(struct virtio_device *dev)
{
	return dev->queue_sel < dev->nr_queues ? &dev->queues[dev->queue_sel].vq : NULL;
}

/* Queue layout registers may change only while the queue is off and the
 * device not yet live. */
static struct virtq *configurable_queue(struct virtio_device *dev, uint32_t reg)
{
	struct virtq *vq = selected_queue(dev);

	if (!vq || vq->ready || dev->active) {
		atomic_fetch_add_explicit(&dev->stat_bad_accesses, 1, memory_order_relaxed);
		log_debug("%s: ignoring write to register 0x%03x for queue %u", dev->name, reg,
			  dev->queue_sel);
		return NULL;
	}
	return vq;
}

/* 64-bit values are written as two 32-bit halves. */
static void set_half(uint64_t *v, bool high, uint32_t half)
{
	if (high)
		*v = (*v & 0xffffffffULL) | ((uint64_t)half << 32);
	else
		*v = (*v & ~0xffffffffULL) | half;
}

/* The ring address a QueueDesc/Driver/Device Low or High register is half of. */
static uint64_t *ring_address(struct virtq *vq, uint64_t reg)
{
	if (reg <= VIRTIO_MMIO_QUEUE_DESC_HIGH)
		return &vq->desc_gpa;
	if (reg <= VIRTIO_MMIO_QUEUE_DRIVER_HIGH)
		return &vq->avail_gpa;
	return &vq->used_gpa;
}

static void notify_queue(struct virtio_device *dev, uint32_t q)
{
	uint64_t one = 1;

	if (q >= dev->nr_queues) {
		atomic_fetch_add_explicit(&dev->stat_bad_accesses, 1, memory_order_relaxed);
		return;
	}
	if (atomic_fetch_add_explicit(&dev->stat_notifies_in_vcpu, 1, memory_order_relaxed) == 0 &&
	    dev->kick_via_ioeventfd)
		log_debug("%s: QueueNotify reached the vCPU thread despite ioeventfd", dev->name);
	if (write(dev->queues[q].kick_fd, &one, sizeof(one)) < 0) {
	}
}

static void register_write(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	struct virtq *vq;

	switch (reg) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		dev->device_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		dev->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES: {
		unsigned int st = atomic_load(&dev->status);

		if (!(st & VIRTIO_STATUS_DRIVER) || (st & VIRTIO_STATUS_FEATURES_OK) ||
		    dev->driver_features_sel > 1) {
			atomic_fetch_add_explicit(&dev->stat_bad_accesses, 1, memory_order_relaxed);
			break;
		}
		set_half(&dev->driver_features, dev->driver_features_sel == 1, v);
		break;
	}
	case VIRTIO_MMIO_QUEUE_SEL:
		dev->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if ((vq = configurable_queue(dev, reg)))
			/* Checked against QueueNumMax on QueueReady. */
			vq->size = v > queue_num_max(dev) ? 0 : (uint16_t)v;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_QUEUE_DEVICE_HIGH:
		if ((vq = configurable_queue(dev, reg)))
			set_half(ring_address(vq, reg), reg & 4, v);
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (v == 0) {
			/* Turning a queue off while the device is live needs
			 * VIRTIO_F_RING_RESET, which is not offered. */
			vq = selected_queue(dev);
			if (vq && !dev->active)
				vq->ready = false;
			else
				atomic_fetch_add_explicit(&dev->stat_bad_accesses, 1,
							  memory_order_relaxed);
			break;
		}
		if (!(vq = configurable_queue(dev, reg)))
			break;
		if (!(atomic_load(&dev->status) & VIRTIO_STATUS_FEATURES_OK)) {
			log_error("%s: queue %u enabled before FEATURES_OK", dev->name,
				  dev->queue_sel);
			break;
		}
		if (virtq_enable(vq, &dev->vm->mem, dev->driver_features))
			log_error("%s: queue %u: %s", dev->name, dev->queue_sel, vq->error);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		notify_queue(dev, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		atomic_fetch_and(&dev->interrupt_status, ~v);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(dev, v);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		break;
	default:
		atomic_fetch_add_explicit(&dev->stat_bad_accesses, 1, memory_order_relaxed);
		log_debug("%s: write 0x%x to read-only or unknown register 0x%03" PRIx64, dev->name,
			  v, reg);
		break;
	}
}

static uint32_t register_read(struct virtio_device *dev, uint64_t reg)
{
	struct virtq *vq;

	switch (reg) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (dev->device_features_sel > 1)
			return 0;
		return (uint32_t)(offered_features(dev) >> (32 * dev->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return selected_queue(dev) ? queue_num_max(dev) : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		vq = selected_queue(dev);
		return vq && vq->ready;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return atomic_load(&dev->interrupt_status);
	case VIRTIO_MMIO_STATUS:
		return atomic_load(&dev->status);
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return atomic_load(&dev->config_generation);
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffff; /* no shared memory regions (spec 4.2.2) */
	default:
		return 0;
	}
}

void virtio_mmio_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_device *dev = opaque;

	pthread_mutex_lock(&dev->lock);
	if (offset >= VIRTIO_MMIO_CONFIG) {
		uint64_t off = offset - VIRTIO_MMIO_CONFIG;

		if (is_write) {
			if (off < dev->config_size && len <= dev->config_size - off &&
			    dev->ops->config_write)
				dev->ops->config_write(dev, (uint32_t)off, data, len);
		} else {
			memset(data, 0, len);
			if (off < dev->config_size && len <= dev->config_size - off)
				memcpy(data, (const uint8_t *)dev->config + off, len);
		}
	} else if (len != 4 || (offset & 3)) {
		/* The spec allows only aligned 32-bit register accesses. */
		atomic_fetch_add_explicit(&dev->stat_bad_accesses, 1, memory_order_relaxed);
		if (!is_write)
			memset(data, 0, len);
	} else if (is_write) {
		register_write(dev, offset, get_le32(data));
	} else {
		put_le32(data, register_read(dev, offset));
	}
	pthread_mutex_unlock(&dev->lock);
}

static void print_stats(void *opaque, FILE *out)
{
	struct virtio_device *dev = opaque;

	fprintf(out,
		"%s: interrupts=%lu notifies_on_exit_path=%lu needs_reset=%lu bad_accesses=%lu "
		"ioeventfd=%s irqfd=%s\n",
		dev->name, atomic_load(&dev->stat_interrupts),
		atomic_load(&dev->stat_notifies_in_vcpu), atomic_load(&dev->stat_needs_reset),
		atomic_load(&dev->stat_bad_accesses), dev->kick_via_ioeventfd ? "yes" : "no",
		dev->call_fd >= 0 ? "yes" : "no");
}

static int claim_slot(struct virtio_device *dev, struct vm *vm)
{
	for (unsigned int slot = 0; slot < ARCH_VIRTIO_MMIO_MAX; slot++) {
		uint64_t base = ARCH_VIRTIO_MMIO_BASE + slot * ARCH_VIRTIO_MMIO_SIZE;
		int ret = bus_register(&vm->mmio, base, ARCH_VIRTIO_MMIO_SIZE, virtio_mmio_access,
				       dev, dev->name);

		if (ret == -EEXIST)
			continue;
		if (ret)
			return ret;
		dev->slot = slot;
		dev->base = base;
		dev->irq = ARCH_VIRTIO_IRQ_BASE + slot;
		return 0;
	}
	return -ENOSPC;
}

/*
 * Kicks: one eventfd per queue, signalled by KVM on a QueueNotify write of
 * that queue's index.  If KVM cannot, the exit path writes the same eventfd.
 */
static int setup_kicks(struct virtio_device *dev, struct vm *vm)
{
	int ret = vm->has_ioeventfd ? 0 : -ENOSYS;

	for (unsigned int q = 0; q < dev->nr_queues; q++) {
		/* Blocking, so an io_uring read of it waits for a kick
		 * instead of failing with EAGAIN. */
		int fd = eventfd(0, EFD_CLOEXEC);

		if (fd < 0)
			return -errno;
		dev->queues[q].kick_fd = fd;
		if (ret == 0)
			ret = vm_add_ioeventfd(vm, dev->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q, fd);
	}
	if (ret == 0) {
		dev->kick_via_ioeventfd = true;
		return 0;
	}
	/* All or nothing, so every kick takes the same path. */
	for (unsigned int q = 0; q < dev->nr_queues; q++)
		vm_del_ioeventfd(vm, dev->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q,
				 dev->queues[q].kick_fd);
	log_info("%s: ioeventfd unavailable (%s); QueueNotify is handled on the vCPU exit path",
		 dev->name, strerror(-ret));
	return 0;
}

static void setup_interrupt(struct virtio_device *dev, struct vm *vm)
{
	int fd = -1, ret = -ENOSYS;

	if (vm->has_irqfd) {
		fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ret = fd < 0 ? -errno : vm_add_irqfd(vm, dev->irq, fd, -1);
	}
	if (ret == 0) {
		dev->call_fd = fd;
		return;
	}
	if (fd >= 0)
		close(fd);
	dev->call_fd = -1;
	log_info("%s: irqfd unavailable (%s); interrupts are injected with KVM_IRQ_LINE", dev->name,
		 strerror(-ret));
}

int virtio_mmio_init(struct virtio_device *dev, struct vm *vm)
{
	uint16_t qmax = queue_num_max(dev);
	int ret;

	if (dev->nr_queues == 0 || dev->nr_queues > VIRTIO_MMIO_MAX_QUEUES || !dev->ops ||
	    (dev->config_size && !dev->config) || !dev->ops->activate || qmax > VIRTQ_MAX_SIZE ||
	    (qmax & (qmax - 1)))
		return -EINVAL;
	dev->vm = vm;
	dev->call_fd = -1;
	dev->active = false;
	dev->driver_features = 0;
	for (unsigned int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		virtq_reset(&dev->queues[q].vq);
		dev->queues[q].kick_fd = -1;
	}
	atomic_init(&dev->status, 0);
	atomic_init(&dev->interrupt_status, 0);
	atomic_init(&dev->config_generation, 0);
	pthread_mutex_init(&dev->lock, NULL);

	ret = claim_slot(dev, vm);
	if (ret) {
		log_error("%s: no free virtio-mmio slot (at most %d devices)", dev->name,
			  ARCH_VIRTIO_MMIO_MAX);
		goto fail;
	}
	ret = setup_kicks(dev, vm);
	if (ret) {
		log_error("%s: eventfd: %s", dev->name, strerror(-ret));
		goto fail;
	}
	setup_interrupt(dev, vm);
	ret = vm_cmdline_append(vm, "virtio_mmio.device=4K@0x%" PRIx64 ":%u", dev->base, dev->irq);
	if (ret) {
		log_error("%s: kernel command line too long", dev->name);
		goto fail;
	}
	vm_register_stats(vm, print_stats, dev);
	log_debug("%s: virtio-mmio at 0x%" PRIx64 " irq %u", dev->name, dev->base, dev->irq);
	return 0;

fail:
	/* A claimed window stays on the bus (buses never shrink); the VM is
	 * not started after a device creation failure. */
	for (unsigned int q = 0; q < dev->nr_queues; q++)
		if (dev->queues[q].kick_fd >= 0) {
			close(dev->queues[q].kick_fd);
			dev->queues[q].kick_fd = -1;
		}
	pthread_mutex_destroy(&dev->lock);
	return ret;
}

void virtio_mmio_destroy(struct virtio_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	device_reset(dev);
	pthread_mutex_unlock(&dev->lock);
	for (unsigned int q = 0; q < dev->nr_queues; q++) {
		if (dev->queues[q].kick_fd < 0)
			continue;
		if (dev->kick_via_ioeventfd)
			vm_del_ioeventfd(dev->vm, dev->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q,
					 dev->queues[q].kick_fd);
		close(dev->queues[q].kick_fd);
		dev->queues[q].kick_fd = -1;
	}
	if (dev->call_fd >= 0)
		close(dev->call_fd);
	dev->call_fd = -1;
	pthread_mutex_destroy(&dev->lock);
}
