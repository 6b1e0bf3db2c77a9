/*
 * The split virtqueue (virtio 1.2, section 2.7), device side, shared by every
 * virtio device.
 *
 * The rings live in guest memory and every value read from them is hostile:
 * virtq_pop() validates indices, chain lengths, loops, indirect tables,
 * read/write ordering and that every buffer lies wholly inside guest RAM.
 * A malformed chain marks the queue broken (vq->error says why); so does
 * virtq_break() when the device finds a chain it cannot answer.  A head the
 * device popped and has not pushed back is "in flight": the driver offering
 * it again is a malformed ring too (the device would answer one chain
 * twice).  A broken queue pops nothing until it is enabled again after a
 * reset.  Devices pop through the transport (virtio_queue_pop(),
 * virtio_queue_break() in virtio/mmio.h), which also puts the device in
 * NEEDS_RESET.
 *
 * Threading: the transport configures the queue (virtq_enable/virtq_reset)
 * only while the device's I/O thread is stopped; everything else is called
 * from that single I/O thread, so struct virtq needs no lock.  The guest is
 * the only other party, and the barriers the spec requires are inside these
 * functions.
 *
 * x86 is little-endian like virtio 1.x, so ring fields are used as they are.
 */
#ifndef MINIVMM_VIRTIO_VIRTQUEUE_H
#define MINIVMM_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guest_mem.h"
#include "iov.h"

/* Largest queue minivmm offers (QueueNumMax); also the longest valid chain. */
#define VIRTQ_MAX_SIZE 256

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

/* Feature bits the virtqueue implements (the device decides to offer them). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX     29

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq {
	/* Written by the transport while the queue is not ready. */
	uint16_t size;	    /* QueueNum: power of two, 1..VIRTQ_MAX_SIZE */
	uint64_t desc_gpa;  /* QueueDesc */
	uint64_t avail_gpa; /* QueueDriver */
	uint64_t used_gpa;  /* QueueDevice */
	bool ready;	    /* QueueReady, and virtq_enable() accepted the layout */

	/* Set by virtq_enable(). */
	const struct guest_mem *mem;
	bool event_idx;		 /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;		 /* VIRTIO_F_INDIRECT_DESC negotiated */
	struct virtq_desc *desc; /* host views of the rings */
	uint16_t *avail;	 /* flags, idx, ring[size], used_event */
	uint16_t *used;		 /* flags, idx, then struct virtq_used_elem[size], avail_event */

	/* Device-side state, I/O thread only. */
	uint16_t last_avail_idx;   /* next avail entry to pop */
	uint16_t used_idx;	   /* next used entry to fill (shadow of used->idx) */
	uint16_t signalled_used;   /* used->idx at the last virtq_flush_used() */
	bool signalled_used_valid; /* false until the first flush after enable */
	bool notify_enabled;	   /* last virtq_enable_notify()/virtq_disable_notify() */
	bool broken;
	/* Heads popped and not yet pushed: one bit per descriptor index,
	 * cleared by virtq_enable() and virtq_reset(). */
	uint64_t in_flight[VIRTQ_MAX_SIZE / 64];
	const char *error; /* why the queue broke, for the log */
	char errbuf[128];
};

/*
 * One popped descriptor chain: the device-readable buffers (iov[0..nr_out))
 * followed by the device-writable ones (iov[nr_out..nr_out+nr_in)).  iov
 * bases point straight into guest RAM.
 */
struct virtq_elem {
	uint16_t head;	/* id to hand back to virtq_push() */
	uint16_t ndesc; /* descriptor-table entries the chain occupies (an indirect table: 1) */
	uint16_t nr_out;
	uint16_t nr_in;
	uint64_t out_bytes;
	uint64_t in_bytes;
	struct iovec iov[VIRTQ_MAX_SIZE];
};

/* Back to the state after device reset (not ready, addresses zero). */
void virtq_reset(struct virtq *vq);

/*
 * Check the configured size and ring addresses (alignment, inside RAM) and
 * map the rings.  features: the negotiated feature bits.  0 or -EINVAL;
 * on error the queue stays not ready and vq->error says why.
 */
int virtq_enable(struct virtq *vq, const struct guest_mem *mem, uint64_t features);

/*
 * Pop the next available chain.  Returns 1 with *elem filled, 0 if the ring
 * is empty, -EINVAL if the ring or the chain is malformed, or its head is
 * still in flight (the queue is then broken; further calls return -EINVAL).
 * The head stays in flight until virtq_push() hands it back.
 */
int virtq_pop(struct virtq *vq, struct virtq_elem *elem);

/*
 * The device cannot answer a chain it popped (e.g. no writable status byte):
 * break the queue with why (copied into vq->error), as a malformed ring
 * does.  Further pops fail until virtq_enable().
 */
void virtq_break(struct virtq *vq, const char *why);

/* True if the driver has made chains available that were not popped yet. */
bool virtq_has_avail(struct virtq *vq);

/*
 * Put a chain on the used ring with len bytes written to its writable
 * buffers; the driver may offer its head again from now on.  Every popped
 * head must be pushed exactly once (or the queue reset).  Not visible to
 * the driver until virtq_flush_used().
 */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/*
 * Publish every pushed entry (used->idx) and return true if the driver wants
 * an interrupt for them (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with
 * EVENT_IDX); false if nothing was pushed since the last flush.  Call once
 * per batch of completions.
 */
bool virtq_flush_used(struct virtq *vq);

/*
 * Notification suppression (driver -> device kicks).  disable: the device
 * will poll the ring itself (e.g. while requests are in flight).  enable:
 * ask for a kick at the next available chain; returns true if chains
 * arrived meanwhile, in which case the caller must keep processing (no kick
 * will come for them).
 */
void virtq_disable_notify(struct virtq *vq);
bool virtq_enable_notify(struct virtq *vq);

/*
 * Like virtq_enable_notify(), for a device that would rather hear from the
 * driver once `batch` more chains are available than at the first one (an RX
 * queue that ran dry: restarting on every single buffer costs a kick and a
 * stall per frame).  With EVENT_IDX, avail_event is set batch - 1 entries
 * past the next chain to pop, so the driver's kick comes when its index
 * reaches that many; without EVENT_IDX there is only the NO_NOTIFY flag and
 * the driver kicks at its next chain, as after virtq_enable_notify().
 * batch is clamped to 1..size.  Returns true if the caller must keep
 * processing because no kick will come for what is already there: with
 * EVENT_IDX at least batch chains are available, without it any.
 *
 * The driver is never obliged to post `batch` chains (it may hold the rest,
 * or add them one at a time and wait for frames in between): a device that
 * uses this must, before it sleeps, call virtq_enable_notify() and serve
 * what that finds, or it may wait for a kick that never comes.
 */
bool virtq_enable_notify_batch(struct virtq *vq, uint16_t batch);

/* Chains the driver has made available and the device has not popped (0 if
 * the queue is not ready or broken).  A hostile index can make this exceed
 * the queue size; virtq_pop() then breaks the queue. */
uint16_t virtq_avail_count(struct virtq *vq);

#endif
