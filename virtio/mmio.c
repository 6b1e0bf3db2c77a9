#include "virtio/mmio.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <json-c/json.h>

#include "arch/layout.h"
#include "bus.h"
#include "byteorder.h"
#include "log.h"
#include "util.h"
#include "vm.h"

static uint64_t mmio_offered_features(const struct virtio_device *dev)
{
	return dev->device_features | BIT(VIRTIO_F_VERSION_1);
}

static uint16_t mmio_queue_num_max(const struct virtio_device *dev)
{
	return dev->queue_num_max ? dev->queue_num_max : VIRTQ_MAX_SIZE;
}

static void mmio_count_bad_access(struct virtio_device *dev)
{
	counter_add(&dev->stat_bad_accesses, 1);
}

/*
 * Eventfd writes (eventfd_write) here ignore their result: only EAGAIN, the
 * counter at its maximum, can fail, and then a signal is pending anyway.
 */
/*
 * Without irqfd the line is pulsed with two KVM_IRQ_LINE calls.  Two I/O
 * threads of one device (multi-queue) pulsing at once could interleave
 * into a single edge, one of them raised while the guest's handler had
 * already read InterruptStatus: that completion would wait for the next
 * interrupt.  Whole pulses, one at a time.  (Rare path: irqfd is the norm.)
 */
static pthread_mutex_t mmio_pulse_lock = PTHREAD_MUTEX_INITIALIZER;

static void mmio_raise_interrupt(struct virtio_device *dev, unsigned int why)
{
	atomic_fetch_or(&dev->interrupt_status, why);
	counter_add(&dev->stat_interrupts, 1);
	if (dev->call_fd >= 0) {
		eventfd_write(dev->call_fd, 1);
		return;
	}
	pthread_mutex_lock(&mmio_pulse_lock);
	vm_pulse_irq(dev->vm, dev->irq);
	pthread_mutex_unlock(&mmio_pulse_lock);
}

void virtio_mmio_signal_used(struct virtio_device *dev)
{
	mmio_raise_interrupt(dev, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_config_changed(struct virtio_device *dev)
{
	atomic_fetch_add(&dev->config_generation, 1);
	mmio_raise_interrupt(dev, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_set_needs_reset(struct virtio_device *dev, const char *why)
{
	unsigned int old = atomic_fetch_or(&dev->status, VIRTIO_STATUS_NEEDS_RESET);

	if (old & VIRTIO_STATUS_NEEDS_RESET)
		return;
	counter_add(&dev->stat_needs_reset, 1);
	log_guest_error(&dev->guest_errors, "%s: %s; device needs reset", dev->name,
			why ? why : "device error");
	mmio_raise_interrupt(dev, VIRTIO_MMIO_INT_CONFIG);
}

bool virtio_mmio_needs_reset(struct virtio_device *dev)
{
	return atomic_load_explicit(&dev->status, memory_order_relaxed) & VIRTIO_STATUS_NEEDS_RESET;
}

int virtio_queue_pop(struct virtio_device *dev, unsigned int q, struct virtq_elem *elem)
{
	struct virtq *vq = &dev->queues[q].vq;
	int ret = virtq_pop(vq, elem);

	if (ret < 0)
		virtio_mmio_set_needs_reset(dev, vq->error);
	return ret;
}

void virtio_queue_break(struct virtio_device *dev, unsigned int q, const char *why)
{
	virtq_break(&dev->queues[q].vq, why);
	virtio_mmio_set_needs_reset(dev, why);
}

/* Drop kicks that arrived before the reset so they are not served later. */
static void mmio_drain_eventfd(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v;

	if (fd >= 0 && poll(&p, 1, 0) == 1 && read(fd, &v, sizeof(v)) < 0) {
	}
}

/* Stop the first n I/O threads (each waits for its operations in flight). */
static void mmio_stop_iothreads(struct virtio_device *dev, unsigned int n)
{
	for (unsigned int t = 0; t < n; t++)
		iothread_stop(dev->io_threads[t]);
}

/* Destroy every I/O thread (stopping it first). */
static void mmio_destroy_iothreads(struct virtio_device *dev)
{
	for (unsigned int t = 0; t < dev->nr_io_threads; t++) {
		iothread_destroy(dev->io_threads[t]);
		dev->io_threads[t] = NULL;
	}
	dev->nr_io_threads = 0;
	dev->io = NULL;
}

/* Start every I/O thread, or none: 0 or -errno. */
static int mmio_start_iothreads(struct virtio_device *dev)
{
	for (unsigned int t = 0; t < dev->nr_io_threads; t++) {
		int ret = iothread_start(dev->io_threads[t]);

		if (ret) {
			mmio_stop_iothreads(dev, t);
			return ret;
		}
	}
	return 0;
}

/* Back to the state after power-on.  Caller holds dev->lock. */
static void mmio_device_reset(struct virtio_device *dev)
{
	if (dev->active) {
		/* Waits for every operation in flight: after this the device
		 * no longer touches guest memory. */
		mmio_stop_iothreads(dev, dev->nr_io_threads);
		if (dev->ops->reset)
			dev->ops->reset(dev);
	}
	dev->active = false;
	for (unsigned int i = 0; i < dev->nr_queues; i++) {
		virtq_reset(&dev->queues[i].vq);
		mmio_drain_eventfd(dev->queues[i].kick_fd);
	}
	dev->driver_features = 0;
	dev->device_features_sel = 0;
	dev->driver_features_sel = 0;
	dev->queue_sel = 0;
	atomic_store(&dev->interrupt_status, 0);
	atomic_store(&dev->status, 0);
}

static bool mmio_features_acceptable(struct virtio_device *dev)
{
	uint64_t f = dev->driver_features;

	if (f & ~mmio_offered_features(dev)) {
		log_guest_error(&dev->guest_errors,
				"%s: driver accepted features 0x%" PRIx64
				" the device did not offer",
				dev->name, f & ~mmio_offered_features(dev));
		return false;
	}
	if (!(f & BIT(VIRTIO_F_VERSION_1))) {
		log_guest_error(&dev->guest_errors,
				"%s: driver did not accept VIRTIO_F_VERSION_1 (legacy drivers are "
				"not supported)",
				dev->name);
		return false;
	}
	return !dev->ops->features_ok || dev->ops->features_ok(dev, f);
}

/*
 * DRIVER_OK: activate the device, start its I/O thread, and kick every ready
 * queue once, so chains the driver made available before DRIVER_OK are
 * served although no QueueNotify announced them.  A failure puts the device
 * in NEEDS_RESET; DRIVER_OK is taken either way (the driver sees both).
 */
static bool mmio_enter_driver_ok(struct virtio_device *dev)
{
	int ret = dev->ops->activate(dev);

	if (ret) {
		virtio_mmio_set_needs_reset(dev, "activation failed");
		return true;
	}
	ret = mmio_start_iothreads(dev);
	if (ret) {
		log_error("%s: cannot start the I/O thread: %s", dev->name, strerror(-ret));
		if (dev->ops->reset)
			dev->ops->reset(dev);
		virtio_mmio_set_needs_reset(dev, "activation failed");
		return true;
	}
	dev->active = true;
	for (unsigned int q = 0; q < dev->nr_queues; q++)
		if (dev->queues[q].vq.ready)
			eventfd_write(dev->queues[q].kick_fd, 1);
	return true;
}

#define ST_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define ST_DRV VIRTIO_STATUS_DRIVER
#define ST_FOK VIRTIO_STATUS_FEATURES_OK
#define ST_DOK VIRTIO_STATUS_DRIVER_OK
/* Bits outside the driver's steps: FAILED (driver, any time), NEEDS_RESET (device). */
#define ST_SIDE (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_NEEDS_RESET)

/*
 * The driver's steps (virtio 1.2, 3.1.1), one bit at a time.  enter runs
 * before the step is taken and may decline it (false): that is the device
 * refusing the features, which the driver sees when it reads FEATURES_OK
 * back, not a driver error.
 */
static const struct mmio_status_step {
	uint8_t from, to;
	bool (*enter)(struct virtio_device *dev);
} mmio_status_steps[] = {
    {0, ST_ACK, NULL},
    {ST_ACK, ST_ACK | ST_DRV, NULL},
    {ST_ACK | ST_DRV, ST_ACK | ST_DRV | ST_FOK, mmio_features_acceptable},
    {ST_ACK | ST_DRV | ST_FOK, ST_ACK | ST_DRV | ST_FOK | ST_DOK, mmio_enter_driver_ok},
};

static const struct mmio_status_step *mmio_find_step(unsigned int from, unsigned int to)
{
	for (size_t i = 0; i < ARRAY_SIZE(mmio_status_steps); i++)
		if (mmio_status_steps[i].from == from && mmio_status_steps[i].to == to)
			return &mmio_status_steps[i];
	return NULL;
}

static void mmio_refuse_status(struct virtio_device *dev, unsigned int old, uint32_t value)
{
	counter_add(&dev->stat_status_refused, 1);
	log_guest_error(&dev->guest_errors,
			"%s: Status 0x%02x -> 0x%02x refused (out of the virtio 1.2, 3.1.1 order)",
			dev->name, old, value);
}

/*
 * A Status write: 0 resets; otherwise the bits other than FAILED and
 * NEEDS_RESET must stay or take one step of mmio_status_steps, and a status
 * with FAILED takes no step.  NEEDS_RESET belongs to the device and bits
 * are cleared only by reset, so the new status is old | value, with
 * NEEDS_RESET ignored; a write that would clear a bit counts as refused.
 */
static void mmio_write_status(struct virtio_device *dev, uint64_t reg, uint32_t value)
{
	unsigned int old = atomic_load(&dev->status);
	unsigned int want = old | (value & 0xff & ~VIRTIO_STATUS_NEEDS_RESET);
	unsigned int from = old & ~ST_SIDE, to = want & ~ST_SIDE;
	const struct mmio_status_step *step = NULL;

	(void)reg;
	if (value == 0) {
		mmio_device_reset(dev);
		return;
	}
	if (from != to && (!(step = mmio_find_step(from, to)) || (old & VIRTIO_STATUS_FAILED))) {
		mmio_refuse_status(dev, old, value);
		return;
	}
	if (old & ~VIRTIO_STATUS_NEEDS_RESET & ~value)
		mmio_refuse_status(dev, old, value); /* counted; the cleared bits stay */
	if (step && step->enter && !step->enter(dev))
		return;
	atomic_fetch_or(&dev->status, want);
}

static struct virtq *mmio_selected_queue(struct virtio_device *dev)
{
	return dev->queue_sel < dev->nr_queues ? &dev->queues[dev->queue_sel].vq : NULL;
}

/* Queue layout registers may change only while the queue is off and the
 * device not yet live. */
static struct virtq *mmio_configurable_queue(struct virtio_device *dev, uint32_t reg)
{
	struct virtq *vq = mmio_selected_queue(dev);

	if (!vq || vq->ready || dev->active) {
		mmio_count_bad_access(dev);
		log_debug("%s: ignoring write to register 0x%03x for queue %u", dev->name, reg,
			  dev->queue_sel);
		return NULL;
	}
	return vq;
}

/* 64-bit values are written as two 32-bit halves. */
static void mmio_set_half(uint64_t *v, bool high, uint32_t half)
{
	if (high)
		*v = (*v & 0xffffffffULL) | ((uint64_t)half << 32);
	else
		*v = (*v & ~0xffffffffULL) | half;
}

/* The ring address a QueueDesc/Driver/Device Low or High register is half of. */
static uint64_t *mmio_ring_address(struct virtq *vq, uint64_t reg)
{
	if (reg <= VIRTIO_MMIO_QUEUE_DESC_HIGH)
		return &vq->desc_gpa;
	if (reg <= VIRTIO_MMIO_QUEUE_DRIVER_HIGH)
		return &vq->avail_gpa;
	return &vq->used_gpa;
}

/* ---- register writes: one handler per register, dispatched by mmio_writers[] ---- */

static void mmio_write_device_features_sel(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	(void)reg;
	dev->device_features_sel = v;
}

static void mmio_write_driver_features_sel(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	(void)reg;
	dev->driver_features_sel = v;
}

/* Only between DRIVER and FEATURES_OK: after that the features are final. */
static void mmio_write_driver_features(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	unsigned int st = atomic_load(&dev->status);

	(void)reg;
	if (!(st & VIRTIO_STATUS_DRIVER) || (st & VIRTIO_STATUS_FEATURES_OK) ||
	    dev->driver_features_sel > 1) {
		mmio_count_bad_access(dev);
		return;
	}
	mmio_set_half(&dev->driver_features, dev->driver_features_sel == 1, v);
}

static void mmio_write_queue_sel(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	(void)reg;
	dev->queue_sel = v;
}

static void mmio_write_queue_num(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	struct virtq *vq = mmio_configurable_queue(dev, (uint32_t)reg);

	if (vq) /* checked against QueueNumMax on QueueReady */
		vq->size = v > mmio_queue_num_max(dev) ? 0 : (uint16_t)v;
}

/* QueueDesc/Driver/Device Low and High. */
static void mmio_write_ring_address(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	struct virtq *vq = mmio_configurable_queue(dev, (uint32_t)reg);

	if (vq)
		mmio_set_half(mmio_ring_address(vq, reg), reg & 4, v);
}

static void mmio_write_queue_ready(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	struct virtq *vq;

	if (v == 0) {
		/* Turning a queue off while the device is live needs
		 * VIRTIO_F_RING_RESET, which is not offered. */
		vq = mmio_selected_queue(dev);
		if (vq && !dev->active)
			vq->ready = false;
		else
			mmio_count_bad_access(dev);
		return;
	}
	if (!(vq = mmio_configurable_queue(dev, (uint32_t)reg)))
		return;
	if (!(atomic_load(&dev->status) & VIRTIO_STATUS_FEATURES_OK)) {
		log_guest_error(&dev->guest_errors, "%s: queue %u enabled before FEATURES_OK",
				dev->name, dev->queue_sel);
		return;
	}
	if (virtq_enable(vq, &dev->vm->mem, dev->driver_features))
		log_guest_error(&dev->guest_errors, "%s: queue %u: %s", dev->name, dev->queue_sel,
				vq->error);
}

static void mmio_write_queue_notify(struct virtio_device *dev, uint64_t reg, uint32_t q)
{
	(void)reg;
	if (q >= dev->nr_queues) {
		mmio_count_bad_access(dev);
		return;
	}
	if (atomic_fetch_add_explicit(&dev->stat_notifies_on_exit_path, 1, memory_order_relaxed) ==
		0 &&
	    dev->kick_via_ioeventfd)
		log_debug("%s: QueueNotify reached the vCPU thread despite ioeventfd", dev->name);
	eventfd_write(dev->queues[q].kick_fd, 1);
}

static void mmio_write_interrupt_ack(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	(void)reg;
	atomic_fetch_and(&dev->interrupt_status, ~v);
}

static void mmio_write_ignored(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	(void)dev;
	(void)reg;
	(void)v;
}

typedef void (*mmio_write_fn)(struct virtio_device *dev, uint64_t reg, uint32_t v);

/* The writable registers, indexed by offset / 4; the rest are read-only or unknown. */
static const mmio_write_fn mmio_writers[VIRTIO_MMIO_CONFIG / 4] = {
    [VIRTIO_MMIO_DEVICE_FEATURES_SEL / 4] = mmio_write_device_features_sel,
    [VIRTIO_MMIO_DRIVER_FEATURES / 4] = mmio_write_driver_features,
    [VIRTIO_MMIO_DRIVER_FEATURES_SEL / 4] = mmio_write_driver_features_sel,
    [VIRTIO_MMIO_QUEUE_SEL / 4] = mmio_write_queue_sel,
    [VIRTIO_MMIO_QUEUE_NUM / 4] = mmio_write_queue_num,
    [VIRTIO_MMIO_QUEUE_READY / 4] = mmio_write_queue_ready,
    [VIRTIO_MMIO_QUEUE_NOTIFY / 4] = mmio_write_queue_notify,
    [VIRTIO_MMIO_INTERRUPT_ACK / 4] = mmio_write_interrupt_ack,
    [VIRTIO_MMIO_STATUS / 4] = mmio_write_status,
    [VIRTIO_MMIO_QUEUE_DESC_LOW / 4] = mmio_write_ring_address,
    [VIRTIO_MMIO_QUEUE_DESC_HIGH / 4] = mmio_write_ring_address,
    [VIRTIO_MMIO_QUEUE_DRIVER_LOW / 4] = mmio_write_ring_address,
    [VIRTIO_MMIO_QUEUE_DRIVER_HIGH / 4] = mmio_write_ring_address,
    [VIRTIO_MMIO_QUEUE_DEVICE_LOW / 4] = mmio_write_ring_address,
    [VIRTIO_MMIO_QUEUE_DEVICE_HIGH / 4] = mmio_write_ring_address,
    [VIRTIO_MMIO_SHM_SEL / 4] = mmio_write_ignored, /* no shared memory regions */
};

/* An aligned 32-bit write below the config space. */
static void mmio_register_write(struct virtio_device *dev, uint64_t reg, uint32_t v)
{
	mmio_write_fn fn = reg < VIRTIO_MMIO_CONFIG ? mmio_writers[reg / 4] : NULL;

	if (!fn) {
		mmio_count_bad_access(dev);
		log_debug("%s: write 0x%x to read-only or unknown register 0x%03" PRIx64, dev->name,
			  v, reg);
		return;
	}
	fn(dev, reg, v);
}

static uint32_t mmio_register_read(struct virtio_device *dev, uint64_t reg)
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
		return (uint32_t)(mmio_offered_features(dev) >> (32 * dev->device_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return mmio_selected_queue(dev) ? mmio_queue_num_max(dev) : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		vq = mmio_selected_queue(dev);
		return vq && vq->ready;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		if (dev->data_plane_external && dev->active)
			return atomic_load(&dev->interrupt_status) | VIRTIO_MMIO_INT_VRING;
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

static unsigned int mmio_exit_slot(uint64_t offset)
{
	return offset >= VIRTIO_MMIO_CONFIG ? VIRTIO_MMIO_EXIT_SLOTS - 1 : (unsigned int)offset / 4;
}

/* Register names as the virtio specification spells them, for --stats. */
static const char *const mmio_register_names[VIRTIO_MMIO_EXIT_SLOTS] = {
    [VIRTIO_MMIO_MAGIC_VALUE / 4] = "MagicValue",
    [VIRTIO_MMIO_VERSION / 4] = "Version",
    [VIRTIO_MMIO_DEVICE_ID / 4] = "DeviceID",
    [VIRTIO_MMIO_VENDOR_ID / 4] = "VendorID",
    [VIRTIO_MMIO_DEVICE_FEATURES / 4] = "DeviceFeatures",
    [VIRTIO_MMIO_DEVICE_FEATURES_SEL / 4] = "DeviceFeaturesSel",
    [VIRTIO_MMIO_DRIVER_FEATURES / 4] = "DriverFeatures",
    [VIRTIO_MMIO_DRIVER_FEATURES_SEL / 4] = "DriverFeaturesSel",
    [VIRTIO_MMIO_QUEUE_SEL / 4] = "QueueSel",
    [VIRTIO_MMIO_QUEUE_NUM_MAX / 4] = "QueueNumMax",
    [VIRTIO_MMIO_QUEUE_NUM / 4] = "QueueNum",
    [VIRTIO_MMIO_QUEUE_READY / 4] = "QueueReady",
    [VIRTIO_MMIO_QUEUE_NOTIFY / 4] = "QueueNotify",
    [VIRTIO_MMIO_INTERRUPT_STATUS / 4] = "InterruptStatus",
    [VIRTIO_MMIO_INTERRUPT_ACK / 4] = "InterruptACK",
    [VIRTIO_MMIO_STATUS / 4] = "Status",
    [VIRTIO_MMIO_QUEUE_DESC_LOW / 4] = "QueueDescLow",
    [VIRTIO_MMIO_QUEUE_DESC_HIGH / 4] = "QueueDescHigh",
    [VIRTIO_MMIO_QUEUE_DRIVER_LOW / 4] = "QueueDriverLow",
    [VIRTIO_MMIO_QUEUE_DRIVER_HIGH / 4] = "QueueDriverHigh",
    [VIRTIO_MMIO_QUEUE_DEVICE_LOW / 4] = "QueueDeviceLow",
    [VIRTIO_MMIO_QUEUE_DEVICE_HIGH / 4] = "QueueDeviceHigh",
    [VIRTIO_MMIO_SHM_SEL / 4] = "SHMSel",
    [VIRTIO_MMIO_SHM_LEN_LOW / 4] = "SHMLenLow",
    [VIRTIO_MMIO_SHM_LEN_HIGH / 4] = "SHMLenHigh",
    [VIRTIO_MMIO_SHM_BASE_LOW / 4] = "SHMBaseLow",
    [VIRTIO_MMIO_SHM_BASE_HIGH / 4] = "SHMBaseHigh",
    [VIRTIO_MMIO_CONFIG_GENERATION / 4] = "ConfigGeneration",
    [VIRTIO_MMIO_EXIT_SLOTS - 1] = "Config",
};

void virtio_mmio_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct virtio_device *dev = opaque;

	counter_add(&dev->register_exits[mmio_exit_slot(offset)][is_write], 1);
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
		mmio_count_bad_access(dev);
		if (!is_write)
			memset(data, 0, len);
	} else if (is_write) {
		mmio_register_write(dev, offset, get_le32(data));
	} else {
		put_le32(data, mmio_register_read(dev, offset));
	}
	pthread_mutex_unlock(&dev->lock);
}

#define MMIO_COUNTER_DESC(name) {#name, offsetof(struct virtio_device, stat_##name)},
static const struct counter_desc mmio_counter_descs[] = {VIRTIO_MMIO_COUNTERS(MMIO_COUNTER_DESC)};

/* "Name.r"/"Name.w" for every register that caused an exit (unnamed offsets as "0xNN"). */
static void mmio_report_register_exits(struct virtio_device *dev, struct json_object *obj)
{
	struct json_object *regs = json_object_new_object();
	char key[40];

	for (unsigned int slot = 0; slot < VIRTIO_MMIO_EXIT_SLOTS; slot++)
		for (unsigned int w = 0; w < 2; w++) {
			unsigned long n = counter_get(&dev->register_exits[slot][w]);
			char offset[8];

			if (!n)
				continue;
			snprintf(offset, sizeof(offset), "0x%03x", slot * 4);
			snprintf(key, sizeof(key), "%s.%c",
				 mmio_register_names[slot] ? mmio_register_names[slot] : offset,
				 w ? 'w' : 'r');
			json_object_object_add(regs, key, json_object_new_uint64(n));
		}
	json_object_object_add(obj, "exits_by_register", regs);
}

/* One iothread_report_stats() object of thread t, with the queues it serves. */
static struct json_object *mmio_iothread_stats(const struct virtio_device *dev, unsigned int t)
{
	struct json_object *holder = json_object_new_object(), *o = NULL;
	struct json_object *queues = json_object_new_array();

	iothread_report_stats(dev->io_threads[t], holder);
	if (json_object_object_get_ex(holder, "io_thread", &o))
		json_object_get(o);
	else
		o = json_object_new_object();
	json_object_put(holder);
	for (unsigned int q = 0; q < dev->nr_queues; q++)
		if (dev->queue_thread[q] == t)
			json_object_array_add(queues, json_object_new_int((int)q));
	json_object_object_add(o, "queues", queues);
	return o;
}

/* "io_threads": thread t's counters at index t, for a device with several. */
static void mmio_report_each_iothread(const struct virtio_device *dev, struct json_object *obj)
{
	struct json_object *threads = json_object_new_array();

	for (unsigned int t = 0; t < dev->nr_io_threads; t++)
		json_object_array_add(threads, mmio_iothread_stats(dev, t));
	json_object_object_add(obj, "io_threads", threads);
}

void virtio_mmio_report_iothreads(const struct virtio_device *dev, struct json_object *obj)
{
	struct iothread_stats sum = {0}, one;

	if (dev->nr_io_threads <= 1) {
		if (dev->io)
			iothread_report_stats(dev->io, obj);
		return;
	}
	/* The event counters add up; gauges (a poll window) stay per thread, in "io_threads". */
	for (unsigned int t = 0; t < dev->nr_io_threads; t++) {
		iothread_get_stats(dev->io_threads[t], &one);
		sum.loops += one.loops;
		sum.completions += one.completions;
		sum.submitted += one.submitted;
		sum.eventfd_signals += one.eventfd_signals;
		sum.sleeps += one.sleeps;
		sum.poll_hits += one.poll_hits;
		sum.poll_misses += one.poll_misses;
	}
	iothread_stats_to_json(&sum, false, obj);
}

static void mmio_report_stats(void *opaque, struct json_object *obj)
{
	struct virtio_device *dev = opaque;
	struct json_object *transport = json_object_new_object();

	json_object_object_add(transport, "kind", json_object_new_string("virtio-mmio"));
	json_object_object_add(transport, "base", json_object_new_uint64(dev->base));
	json_object_object_add(transport, "irq", json_object_new_int((int)dev->irq));
	json_object_object_add(
	    transport, "kicks_via",
	    json_object_new_string(dev->kick_via_ioeventfd ? "ioeventfd" : "exit"));
	json_object_object_add(
	    transport, "interrupts_via",
	    json_object_new_string(dev->call_fd >= 0 ? "irqfd" : "KVM_IRQ_LINE"));
	counters_to_json(transport, dev, mmio_counter_descs, ARRAY_SIZE(mmio_counter_descs));
	json_object_object_add(obj, "transport", transport);
	mmio_report_register_exits(dev, obj);
	if (dev->nr_io_threads > 1)
		mmio_report_each_iothread(dev, obj);
}

/* The VM's allocator picks the window and its line (vmm/core/resources.h). */
static int mmio_claim_window(struct virtio_device *dev, struct vm *vm)
{
	struct vm_virtio_window window;
	int ret = vm_alloc_virtio_mmio(vm, &window);

	if (ret)
		return ret;
	ret = bus_register(&vm->mmio, window.base, window.size, virtio_mmio_access, dev, dev->name);
	if (ret)
		return ret;
	dev->slot = window.index;
	dev->base = window.base;
	dev->irq = window.gsi;
	return 0;
}

/*
 * Kicks: one eventfd per queue, signalled by KVM on a QueueNotify write of
 * that queue's index.  If KVM cannot, the exit path writes the same eventfd.
 */
static int mmio_setup_kicks(struct virtio_device *dev, struct vm *vm)
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

static void mmio_setup_interrupt(struct virtio_device *dev, struct vm *vm)
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

/* Every queue off, without a kick eventfd. */
static void mmio_init_queues(struct virtio_device *dev)
{
	for (unsigned int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		virtq_reset(&dev->queues[q].vq);
		dev->queues[q].kick_fd = -1;
	}
}

int virtio_mmio_init(struct virtio_device *dev, struct vm *vm)
{
	uint16_t qmax = mmio_queue_num_max(dev);
	int ret;

	if (dev->nr_queues == 0 || dev->nr_queues > VIRTIO_MMIO_MAX_QUEUES || !dev->ops ||
	    (dev->config_size && !dev->config) || !dev->ops->activate || qmax > VIRTQ_MAX_SIZE ||
	    (qmax & (qmax - 1)))
		return -EINVAL;
	dev->vm = vm;
	dev->call_fd = -1;
	dev->active = false;
	dev->driver_features = 0;
	mmio_init_queues(dev);
	atomic_init(&dev->status, 0);
	atomic_init(&dev->interrupt_status, 0);
	atomic_init(&dev->config_generation, 0);
	pthread_mutex_init(&dev->lock, NULL);

	ret = mmio_claim_window(dev, vm);
	if (ret) {
		log_error("%s: no free virtio-mmio slot (at most %d devices)", dev->name,
			  ARCH_VIRTIO_MMIO_MAX);
		goto fail;
	}
	ret = mmio_setup_kicks(dev, vm);
	if (ret) {
		log_error("%s: eventfd: %s", dev->name, strerror(-ret));
		goto fail;
	}
	mmio_setup_interrupt(dev, vm);
	/* x86 kernels without ACPI learn of the device only from the command line. */
	ret = 0;
	if (ARCH_VIRTIO_MMIO_ON_CMDLINE)
		ret = vm_cmdline_append(vm, "virtio_mmio.device=4K@0x%" PRIx64 ":%u", dev->base,
					dev->irq);
	if (ret) {
		log_error("%s: kernel command line too long", dev->name);
		goto fail;
	}
	vm_register_stats(vm, dev->name, mmio_report_stats, dev);
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

/* The description's argument for queue q's kick and for thread t's hooks. */
static void *mmio_kick_opaque(const struct virtio_io_desc *io, unsigned int q)
{
	return io->kick_opaque[q] ? io->kick_opaque[q] : io->opaque;
}

static void *mmio_thread_opaque(const struct virtio_io_desc *io, unsigned int t)
{
	return io->thread_opaque[t] ? io->thread_opaque[t] : io->opaque;
}

/*
 * Before anything is created: every queue has a kick handler and a thread,
 * every thread serves a queue.  The device's own bug, so logged as an error.
 */
static int mmio_check_io_desc(const struct virtio_device *dev, const struct virtio_io_desc *io)
{
	unsigned int nr_threads = io->nr_threads ? io->nr_threads : 1;
	bool serves[VIRTIO_MMIO_MAX_IOTHREADS] = {false};

	if (dev->nr_queues == 0 || dev->nr_queues > VIRTIO_MMIO_MAX_QUEUES ||
	    nr_threads > VIRTIO_MMIO_MAX_IOTHREADS) {
		log_error("%s: %u queues on %u I/O threads (at most %d and %d)", dev->name,
			  dev->nr_queues, nr_threads, VIRTIO_MMIO_MAX_QUEUES,
			  VIRTIO_MMIO_MAX_IOTHREADS);
		return -EINVAL;
	}
	for (unsigned int q = 0; q < dev->nr_queues; q++) {
		if (!io->kick[q] || io->queue_thread[q] >= nr_threads) {
			log_error("%s: queue %u has %s", dev->name, q,
				  io->kick[q] ? "no I/O thread" : "no kick handler");
			return -EINVAL;
		}
		serves[io->queue_thread[q]] = true;
	}
	for (unsigned int t = 0; t < nr_threads; t++)
		if (!serves[t]) {
			log_error("%s: I/O thread %u serves no queue", dev->name, t);
			return -EINVAL;
		}
	return 0;
}

/* Create the threads: one named dev->name, or several named "<dev->name>/<t>". */
static int mmio_create_iothreads(struct virtio_device *dev, const struct virtio_io_desc *io)
{
	unsigned int nr_threads = io->nr_threads ? io->nr_threads : 1;

	for (unsigned int t = 0; t < nr_threads; t++) {
		char name[32];

		if (nr_threads == 1)
			snprintf(name, sizeof(name), "%s", dev->name);
		else
			snprintf(name, sizeof(name), "%s/%u", dev->name, t);
		dev->io_threads[t] = iothread_create(name, io->ring_entries);
		if (!dev->io_threads[t]) {
			int ret = -errno;

			log_error("%s: io_uring_queue_init: %s (the I/O thread needs io_uring)",
				  dev->name, strerror(errno));
			mmio_destroy_iothreads(dev);
			return ret;
		}
		dev->nr_io_threads = t + 1;
	}
	dev->io = dev->io_threads[0];
	for (unsigned int q = 0; q < dev->nr_queues; q++)
		dev->queue_thread[q] = io->queue_thread[q];
	return 0;
}

/* Watch every queue's kick eventfd on its thread, then each thread's batch hook and poll window. */
static int mmio_wire_iothreads(struct virtio_device *dev, const struct virtio_io_desc *io)
{
	int ret = 0;

	for (unsigned int q = 0; q < dev->nr_queues && !ret; q++)
		ret = iothread_watch_eventfd(virtio_queue_iothread(dev, q), dev->queues[q].kick_fd,
					     io->kick[q], mmio_kick_opaque(io, q));
	for (unsigned int t = 0; t < dev->nr_io_threads && !ret; t++) {
		if (io->after_batch)
			ret = iothread_add_batch_hook(dev->io_threads[t], io->after_batch,
						      mmio_thread_opaque(io, t));
		if (!ret && io->poll)
			ret = iothread_set_poll(dev->io_threads[t], io->poll,
						mmio_thread_opaque(io, t), io->poll_min_ns,
						io->poll_max_ns);
	}
	return ret;
}

int virtio_mmio_init_with_iothread(struct virtio_device *dev, struct vm *vm,
				   const struct virtio_io_desc *io)
{
	int ret;

	dev->io = NULL;
	dev->nr_io_threads = 0;
	mmio_init_queues(dev); /* a failure before virtio_mmio_init() leaves no fd to close */
	ret = mmio_check_io_desc(dev, io);
	if (!ret)
		ret = mmio_create_iothreads(dev, io);
	if (ret)
		return ret;
	ret = virtio_mmio_init(dev, vm);
	if (ret) {
		mmio_destroy_iothreads(dev);
		return ret;
	}
	ret = mmio_wire_iothreads(dev, io);
	if (ret) {
		log_error("%s: cannot set up the I/O thread: %s", dev->name, strerror(-ret));
		virtio_mmio_destroy(dev);
	}
	return ret;
}

int virtio_mmio_seal_iothreads(struct virtio_device *dev)
{
	for (unsigned int t = 0; t < dev->nr_io_threads; t++) {
		int ret = iothread_seal(dev->io_threads[t]);

		if (ret)
			return ret;
	}
	return 0;
}

void virtio_mmio_destroy(struct virtio_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	mmio_device_reset(dev);
	pthread_mutex_unlock(&dev->lock);
	mmio_destroy_iothreads(dev);
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
