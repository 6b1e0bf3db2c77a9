/*
 * The virtio-mmio transport (virtio 1.2, section 4.2; version 2 only).
 *
 * A device model embeds struct virtio_device, fills in the identity, feature
 * and queue fields and the ops, and calls virtio_mmio_init_with_iothread()
 * (or virtio_mmio_init() for a device without an I/O thread, as in tests).
 * The transport then owns: a 4 KiB register window at ARCH_VIRTIO_MMIO_BASE
 * + slot * 4 KiB and IOAPIC pin ARCH_VIRTIO_IRQ_BASE + slot (the lowest free
 * slot), the `virtio_mmio.device=` kernel command-line entry, the status
 * state machine, feature negotiation, queue registers, per queue a kick
 * eventfd, and the device's lifecycle: it starts the I/O thread (or one
 * per group of queues, for multi-queue) after ops->activate, kicks every
 * ready queue once (chains the driver made available before DRIVER_OK are
 * served without a QueueNotify), and stops the threads before ops->reset.
 *
 * Status (virtio 1.2, 3.1.1): the driver's writes must follow
 * ACKNOWLEDGE -> DRIVER -> FEATURES_OK -> DRIVER_OK one step at a time;
 * FAILED may be added at any time (after it only 0 moves the status on),
 * 0 resets, NEEDS_RESET is the device's.
 * Any other write (a skipped step, DRIVER_OK before FEATURES_OK, a cleared
 * bit) is refused, counted (`status_refused` in --stats) and logged; the
 * register keeps its value, except that bits the driver tries to clear stay
 * set while newly set bits are still judged (the driver may clear bits only
 * by writing 0).
 *
 * Notifications: a QueueNotify write of queue index q signals
 * dev->queues[q].kick_fd.  With ioeventfd KVM does it without leaving the
 * kernel; without it the vCPU thread writes the eventfd itself (logged once),
 * so the device always waits on kick_fd in the I/O thread serving q.
 * Interrupts: virtio_mmio_signal_used() sets InterruptStatus and writes the
 * irqfd (edge), or pulses the line when irqfd is unavailable.
 *
 * Threading: register accesses come from vCPU threads and are serialised by
 * dev->lock.  ops->activate and ops->reset run under that lock.  After reset
 * the device must not touch guest memory: the transport stops the I/O threads
 * it owns (which waits for every operation in flight) before ops->reset; a
 * device with a thread of its own must stop it in ops->reset.
 * virtio_mmio_signal_used(), virtio_mmio_config_changed() and
 * virtio_mmio_set_needs_reset() may be called from any thread;
 * virtio_queue_pop() and virtio_queue_break() from the I/O thread serving
 * the queue, so two threads never touch one queue.
 */
#ifndef MINIVMM_VIRTIO_MMIO_H
#define MINIVMM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "counters.h"
#include "iothread.h"
#include "log.h"
#include "virtio/virtqueue.h"

struct vm;

#define VIRTIO_ID_NET	1
#define VIRTIO_ID_BLOCK 2

#define VIRTIO_F_VERSION_1	 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED	 34

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER	  2
#define VIRTIO_STATUS_DRIVER_OK	  4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED	  128

#define VIRTIO_MMIO_INT_VRING  1
#define VIRTIO_MMIO_INT_CONFIG 2

/* Register offsets (virtio 1.2, 4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_VENDOR_ID		0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4
#define VIRTIO_MMIO_SHM_SEL		0x0ac
#define VIRTIO_MMIO_SHM_LEN_LOW		0x0b0
#define VIRTIO_MMIO_SHM_LEN_HIGH	0x0b4
#define VIRTIO_MMIO_SHM_BASE_LOW	0x0b8
#define VIRTIO_MMIO_SHM_BASE_HIGH	0x0bc
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_MMIO_MAGIC  0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x4d564d4d /* "MMVM" as little-endian bytes */

/*
 * Queues per device: virtio-net with 8 queue pairs and its control queue
 * needs 17 (virtio 1.2, 5.1.2), virtio-blk with 8 queues 8.  Every index the
 * guest writes (QueueSel, QueueNotify) is checked against the device's own
 * nr_queues, never against this.
 */
#define VIRTIO_MMIO_MAX_QUEUES 17
/* I/O threads per device (struct virtio_io_desc.nr_threads). */
#define VIRTIO_MMIO_MAX_IOTHREADS 8

/* Per-register exit counters: one per 32-bit register below the config space, one for it. */
#define VIRTIO_MMIO_EXIT_SLOTS (VIRTIO_MMIO_CONFIG / 4 + 1)

struct virtio_device;

struct virtio_device_ops {
	/*
	 * Driver features are being accepted (FEATURES_OK written).  They are
	 * already checked to be a subset of device_features that includes
	 * VERSION_1.  Return false to refuse (FEATURES_OK then reads back 0).
	 * Optional.
	 */
	bool (*features_ok)(struct virtio_device *dev, uint64_t features);

	/* A write to device config space (offset from 0x100), already
	 * range-checked against config_size.  Optional; writes to a device
	 * without it are ignored.  Reads are served from dev->config. */
	void (*config_write)(struct virtio_device *dev, uint32_t offset, const void *data,
			     uint32_t len);

	/*
	 * DRIVER_OK: the ready queues are enabled (dev->queues[i].vq) and
	 * features are final.  Prepare to serve kicks; the transport then
	 * starts the I/O threads and kicks every ready queue.  A non-zero
	 * return puts the device in NEEDS_RESET (and no thread is started).
	 */
	int (*activate)(struct virtio_device *dev);

	/*
	 * The driver wrote 0 to Status (or the device is being destroyed),
	 * after a successful activate.  Every I/O thread has already
	 * stopped, with no operation in flight; undo what activate set up
	 * and do not touch guest memory afterwards.  Optional.
	 */
	void (*reset)(struct virtio_device *dev);
};

struct virtio_queue {
	struct virtq vq;
	int kick_fd; /* eventfd the device's I/O thread waits on */
};

/*
 * The transport's counters for --stats, each named once: the fields are
 * dev->stat_<name>, the keys <name>=.  The late ones are printed after the
 * ioeventfd=/irqfd= flags, so the older keys keep their places in the line.
 */
#define VIRTIO_MMIO_COUNTERS(X)                                                                    \
	X(interrupts)                                                                              \
	X(notifies_on_exit_path) /* QueueNotify handled on the vCPU exit path */                   \
	X(needs_reset)                                                                             \
	X(bad_accesses)                                                                            \
	X(status_refused) /* Status writes out of order */
#define VIRTIO_MMIO_STAT_FIELD(name) counter_t stat_##name;

/*
 * How a device's queues are served: what virtio_mmio_init_with_iothread()
 * wires to the device's I/O threads (vmm/core/iothread.h).  Every callback
 * gets opaque, normally the device, unless a per-queue or per-thread opaque
 * below is set.
 *
 * One thread (nr_threads 0 or 1, the default): it is named dev->name and
 * serves every queue, exactly as before multi-queue.
 *
 * Several threads (multi-queue): thread t (named "<dev->name>/<t>") serves
 * the queues q with queue_thread[q] == t: it watches their kick eventfds and
 * runs their kick handlers, so a queue is only ever touched by its thread.
 * Each thread has its own io_uring (ring_entries SQEs each), its own
 * after_batch hook and poll function (the same functions, called with
 * thread_opaque[t]), and every thread must serve at least one queue.  The
 * transport starts them all after ops->activate and stops them all before
 * ops->reset.
 */
struct virtio_io_desc {
	unsigned int ring_entries; /* io_uring submission queue size (power of two) */
	void *opaque;
	/* Queue q's kick handler, run in the I/O thread serving q when its
	 * eventfd is signalled (QueueNotify, or the transport's kick after
	 * DRIVER_OK).  Required for every q < dev->nr_queues. */
	iothread_fn kick[VIRTIO_MMIO_MAX_QUEUES];
	iothread_fn after_batch; /* optional: iothread_add_batch_hook() on every thread */
	iothread_poll_fn poll;	 /* optional: iothread_set_poll() on every thread, window below */
	unsigned int poll_min_ns, poll_max_ns;

	/* Multi-queue; all optional (zero: one thread serving every queue). */
	unsigned int nr_threads;		      /* 0 or 1..VIRTIO_MMIO_MAX_IOTHREADS */
	uint8_t queue_thread[VIRTIO_MMIO_MAX_QUEUES]; /* the thread serving queue q */
	void *kick_opaque[VIRTIO_MMIO_MAX_QUEUES];    /* kick[q]'s argument, if not NULL */
	/* Thread t's after_batch and poll argument, if not NULL. */
	void *thread_opaque[VIRTIO_MMIO_MAX_IOTHREADS];
};

struct virtio_device {
	/* Filled in by the device before virtio_mmio_init_with_iothread(). */
	const char *name;	  /* "virtio-blk.0", for logs and --stats */
	uint32_t device_id;	  /* VIRTIO_ID_* */
	uint64_t device_features; /* VIRTIO_F_VERSION_1 is added by the transport */
	unsigned int nr_queues;	  /* <= VIRTIO_MMIO_MAX_QUEUES */
	uint16_t queue_num_max;	  /* power of two <= VIRTQ_MAX_SIZE; 0 means VIRTQ_MAX_SIZE */
	const void *config;	  /* device config space as the driver reads it */
	uint32_t config_size;	  /* its size in bytes */
	const struct virtio_device_ops *ops;
	/*
	 * The queues are served by another process (vhost-user) that kicks
	 * the irqfd itself: minivmm cannot know when it did, so while the
	 * device is active InterruptStatus always reads with VRING set and
	 * the driver checks its used rings on every interrupt (which is what
	 * it does for VRING anyway).  Needs irqfd (call_fd >= 0).
	 */
	bool data_plane_external;

	/* Set by the transport. */
	struct vm *vm;
	/* virtio_mmio_init_with_iothread(); NULL and 0 with virtio_mmio_init().
	 * io is io_threads[0]: a single-threaded device uses only it. */
	struct iothread *io;
	struct iothread *io_threads[VIRTIO_MMIO_MAX_IOTHREADS];
	unsigned int nr_io_threads;
	uint8_t queue_thread[VIRTIO_MMIO_MAX_QUEUES]; /* index into io_threads, per queue */
	unsigned int slot;
	uint64_t base;	  /* GPA of the register window */
	unsigned int irq; /* GSI */
	struct virtio_queue queues[VIRTIO_MMIO_MAX_QUEUES];
	uint64_t driver_features; /* valid once FEATURES_OK is set */
	int call_fd;		  /* irqfd, or -1 when pulsing the line */
	bool kick_via_ioeventfd;

	pthread_mutex_t lock; /* register accesses */
	atomic_uint status;
	atomic_uint interrupt_status;
	atomic_uint config_generation;
	bool active; /* ops->activate succeeded, ops->reset pending */
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	/* Lines the guest may cause in the log: refused steps and layouts. */
	struct log_budget guest_errors;

	/* Counters for --stats. */
	VIRTIO_MMIO_COUNTERS(VIRTIO_MMIO_STAT_FIELD)
	/* VM exits per register (offset / 4; config space in the last slot) and direction. */
	counter_t register_exits[VIRTIO_MMIO_EXIT_SLOTS][2];
};

/*
 * Claim the lowest free slot on vm, register the window, eventfds, irqfd
 * and the command-line entry.  0 or -errno after logging why.  dev->io is
 * left as the caller set it (zero-initialise the device).
 */
int virtio_mmio_init(struct virtio_device *dev, struct vm *vm);

/*
 * The one call that creates a device with its I/O thread(s): the threads
 * (dev->io_threads[], dev->io the first; io->ring_entries SQEs each), then
 * virtio_mmio_init(), then each queue's kick eventfd watched with
 * io->kick[q] on the thread serving q, the batch hook and the poll window on
 * every thread.  Fill in dev's name, identity, features, queues, config and
 * ops first; *io is copied, so a compound literal will do:
 *
 *	ret = virtio_mmio_init_with_iothread(&blk->vdev, vm, &(struct virtio_io_desc){
 *		.ring_entries = 2 * VIRTQ_MAX_SIZE, .opaque = blk,
 *		.kick = {blk_on_kick}, .after_batch = blk_after_batch,
 *		.poll = blk_poll_queue, .poll_min_ns = 4000, .poll_max_ns = 50000});
 *
 * A multi-queue device adds .nr_threads and .queue_thread (and per-queue or
 * per-thread opaques), e.g. 4 blk queues on 2 threads:
 *
 *	.nr_threads = 2, .queue_thread = {0, 0, 1, 1},
 *	.kick = {blk_on_kick, blk_on_kick, blk_on_kick, blk_on_kick},
 *	.kick_opaque = {&blk->vq[0], &blk->vq[1], &blk->vq[2], &blk->vq[3]},
 *	.thread_opaque = {&blk->thread[0], &blk->thread[1]},
 *
 * From then on the transport starts the threads after ops->activate, kicks
 * the ready queues, stops every thread before ops->reset, and
 * virtio_mmio_destroy() destroys them: the device never calls
 * iothread_create/start/stop/destroy.  It may register files, operations,
 * timers and watches on the threads, then seals them
 * (virtio_mmio_seal_iothreads(), or iothread_seal(dev->io) with one thread;
 * the first start seals a thread nobody sealed).  -EINVAL (logged) for a
 * bad description: a missing kick handler, nr_threads above
 * VIRTIO_MMIO_MAX_IOTHREADS, a queue_thread[q] >= nr_threads, or a thread
 * serving no queue.  On failure (logged) nothing is left to undo but the bus
 * window, which stays (buses never shrink).  0 or -errno.
 */
int virtio_mmio_init_with_iothread(struct virtio_device *dev, struct vm *vm,
				   const struct virtio_io_desc *io);

/* The I/O thread serving queue q (q < dev->nr_queues); NULL without threads. */
static inline struct iothread *virtio_queue_iothread(const struct virtio_device *dev,
						     unsigned int q)
{
	return dev->nr_io_threads ? dev->io_threads[dev->queue_thread[q]] : NULL;
}

/* iothread_seal() on every I/O thread of dev: 0 or the first -errno (logged). */
int virtio_mmio_seal_iothreads(struct virtio_device *dev);

struct json_object;

/*
 * For the device's --stats function: "io_thread", with one thread exactly
 * what iothread_report_stats(dev->io, obj) adds; with several, their event
 * counters (loops, completions, submitted, eventfd_signals, sleeps,
 * poll_hits, poll_misses) summed.  The transport's own report adds
 * "io_threads" when there are several: thread t's iothread_report_stats()
 * object at index t, with "queues", the queues it serves.
 */
void virtio_mmio_report_iothreads(const struct virtio_device *dev, struct json_object *obj);

/* Reset the device (stop its I/O threads, then ops->reset if active),
 * destroy the threads and close the eventfds.  The bus range stays
 * registered (buses never shrink); for teardown and tests. */
void virtio_mmio_destroy(struct virtio_device *dev);

/*
 * In the I/O thread serving q: pop the next chain of queue q (virtq_pop()).
 * A malformed ring puts the device in NEEDS_RESET with the queue's reason.
 * 1 with *elem filled, 0 if the ring is empty, -EINVAL if the queue is
 * broken (stop using it until the driver resets the device).
 */
int virtio_queue_pop(struct virtio_device *dev, unsigned int q, struct virtq_elem *elem);

/*
 * In the I/O thread serving q: the device cannot answer a chain it popped
 * from queue q (e.g. no writable status byte).  Break the queue (virtq_break()) and put
 * the device in NEEDS_RESET, logging why.
 */
void virtio_queue_break(struct virtio_device *dev, unsigned int q, const char *why);

/* Used buffers are available: InterruptStatus |= VRING and interrupt. */
void virtio_mmio_signal_used(struct virtio_device *dev);

/* Config space changed: bump ConfigGeneration, InterruptStatus |= CONFIG, interrupt. */
void virtio_mmio_config_changed(struct virtio_device *dev);

/*
 * The device hit an unrecoverable guest error (malformed queue): log why,
 * set NEEDS_RESET and raise a config interrupt.  The device must stop
 * processing until the driver resets it.
 */
void virtio_mmio_set_needs_reset(struct virtio_device *dev, const char *why);

/* True once NEEDS_RESET is set (cheap; for the I/O thread's loops). */
bool virtio_mmio_needs_reset(struct virtio_device *dev);

/* True if the negotiated features include bit. */
static inline bool virtio_has_feature(const struct virtio_device *dev, unsigned int bit)
{
	return (dev->driver_features >> bit) & 1;
}

/* The register handler, exported for unit tests (normally reached through the bus). */
void virtio_mmio_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write);

#endif
