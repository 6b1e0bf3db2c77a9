#include "virtio/net.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <json-c/json.h>

#include "vm_config.h"
#include "byteorder.h"
#include "log.h"
#include "util.h"
#include "devices/net/tap.h"
#include "iothread.h"
#include "virtio/free_slots.h"
#include "virtio/mmio.h"
#include "vm.h"

#define HDR_BYTES	   sizeof(struct virtio_net_hdr_v1)
#define NUM_BUFFERS_OFFSET offsetof(struct virtio_net_hdr_v1, num_buffers)
/* readv() takes at most UIO_MAXIOV (1024) buffers. */
#define RX_MAX_IOV	  1024
#define MAX_LOGGED_ERRORS 10
/* The longest control command taken: class, command and a few bytes of data. */
#define VNET_CTRL_MAX_BYTES 64

/*
 * Frames read from the tap in one go before the I/O thread gets back to its
 * loop (TX completions, kicks).  A burst saves the io_uring round trip per
 * frame; the bound keeps TX from waiting behind a flood of RX.
 */
#define RX_BURST 64
/*
 * Within a burst, publish the used ring every this many frames, so that a
 * polling driver can consume and refill while the burst goes on (the
 * interrupt, if one is due, still waits for the end of the batch).
 */
#define RX_PUBLISH_EVERY 8
/*
 * Transmit requests in flight per pair at most.  The tap takes a writev at
 * once (io_uring completes it inline), so more in flight buys nothing but
 * memory: each request is 8 KiB (iovec arrays for the longest chain), and a
 * driver that kept its whole ring of 256 in flight made 2 MiB resident.
 * The rest of the ring waits for the completions, which call
 * vnet_tx_process() again.
 */
#define TX_MAX_INFLIGHT 32
/*
 * Busy-poll window of the I/O thread before it sleeps (iothread_set_poll):
 * long enough for a polling driver to post its next chains, short because
 * on a small host the window takes CPU time from the vCPUs.
 */
#define NET_POLL_MIN_NS 2000
#define NET_POLL_MAX_NS 20000
/*
 * When RX runs dry with EVENT_IDX, the driver is asked to kick only once
 * this many buffers are back (at most a quarter of the ring), not at the
 * first: restarting on one buffer reads one frame and runs dry again, a
 * kick and a stall per frame.  While the I/O thread busy-polls it restarts
 * RX as soon as that many are there; before it sleeps it asks for a kick at
 * the very next buffer (vnet_poll_queues()), so a driver that posts fewer,
 * or one at a time, is never left waiting.
 */
#define RX_KICK_BATCH 16

enum rx_state {
	RX_IDLE,       /* nothing outstanding: about to read, or stopped */
	RX_POLLING,    /* the tap was empty: waiting for POLLIN */
	RX_NO_BUFFERS, /* the guest posted no buffers: tap left alone until an RX kick */
};

/* Pair i's queues 2i and 2i + 1 and the control queue at 2N, one thread per pair. */
_Static_assert(2 * VIRTIO_NET_MAX_PAIRS + 1 <= VIRTIO_MMIO_MAX_QUEUES, "virtio-net queues");
_Static_assert(VIRTIO_NET_MAX_PAIRS <= VIRTIO_MMIO_MAX_IOTHREADS, "virtio-net I/O threads");

struct vnet_pair;

struct tx_req {
	struct iothread_op op;
	struct vnet_pair *pair;
	uint32_t frame_len; /* bytes after the header */
	uint32_t total;	    /* header + frame, what the tap must accept */
	/* A private copy of the header: what was validated is what the tap sees. */
	struct virtio_net_hdr_v1 hdr;
	struct iovec iov[VIRTQ_MAX_SIZE + 1];
	struct virtq_elem elem;
};

/*
 * One queue pair: receiveq rxq = 2i and transmitq txq = 2i + 1, tap queue
 * i, served by I/O thread i (the only thread with one pair: pair 0).
 * Everything below is touched by that thread only (and by activate/reset
 * while every thread is stopped), except in_rx and rx_state.
 */
struct vnet_pair {
	struct virtio_net *net;
	unsigned int index;
	unsigned int rxq, txq; /* virtqueue indices */
	struct tap *tap;       /* net->taps[index] */
	struct iothread *io;   /* the thread serving the pair */
	bool tap_attached;     /* in the tap's rotation (pair 0: always) */
	/*
	 * Set around every RX burst of a pair other than 0, which then checks
	 * that the pair is active: a VQ_PAIRS_SET that shrinks active_pairs
	 * waits until the pairs it turns off are out of their bursts, so no
	 * frame reaches their receive queues once the command is acknowledged
	 * (virtio 1.2, 5.1.6.5.5).  Sequentially consistent on both sides.
	 */
	atomic_bool in_rx;

	struct free_slots free_tx; /* of tx_reqs */
	unsigned int tx_inflight;
	struct tx_req *tx_reqs; /* VIRTQ_MAX_SIZE of them */

	atomic_int rx_state; /* enum rx_state; read by tests */
	int rx_tap_watch;    /* the I/O thread's readable watch on the tap */
	int tap_file;	     /* the tap's index in the ring's file table (TX writev) */
	bool rx_signal_due;  /* a flush inside a burst found the driver wants an interrupt */
	/* RX chains popped from the guest and not yet used, oldest first. */
	struct virtq_elem *rx_held; /* VIRTQ_MAX_SIZE of them, a ring */
	unsigned int rx_held_first, rx_held_count;
	uint64_t rx_held_bytes;
	unsigned int rx_held_descs; /* descriptor-table entries the held chains occupy */
	struct iovec rx_iov[RX_MAX_IOV];
	unsigned int rx_iovcnt;
	unsigned int rx_iov_chains; /* held chains in rx_iov (the first ones) */
	uint64_t rx_iov_bytes;	    /* guest bytes in rx_iov */
	/*
	 * The end of a frame longer than the guest's buffers (RX_SPILL_BYTES):
	 * with MRG_RXBUF it waits here, rx_pending_len bytes in all counting
	 * the rx_iov_bytes already in the guest, for the guest to post more.
	 */
	uint8_t *rx_spill;
	uint64_t rx_spill_room;	 /* spill bytes a frame may use; the byte after means oversized */
	uint64_t rx_pending_len; /* 0: no frame waiting */
};

struct virtio_net {
	struct virtio_device vdev;
	char name[32];
	unsigned int nr_pairs;	 /* queues=N; MQ and the control queue offered if above 1 */
	struct vnet_pair *pairs; /* nr_pairs of them */
	struct tap taps[VIRTIO_NET_MAX_PAIRS];
	struct virtio_net_tap_ops tap_ops;
	struct virtio_net_config config;
	/*
	 * Pairs in use (virtio 1.2, 5.1.6.5.5): 1 after reset, set by
	 * VQ_PAIRS_SET in the thread serving the control queue, read by every
	 * pair's thread.  Pairs at and above it neither read their tap queue
	 * (detached) nor fill their receive queue.
	 */
	atomic_uint active_pairs;

	/* Set by activate (threads stopped), read-only while they run. */
	bool mrg_rxbuf;
	uint16_t rx_kick_batch; /* buffers to ask for when RX runs dry (RX_KICK_BATCH) */
	uint64_t rx_want_bytes; /* with MRG_RXBUF: guest bytes to hold before a read */

	/* The control queue: only its thread touches ctrl_elem. */
	struct virtq_elem ctrl_elem;

	struct virtio_net_counters counters;
	atomic_uint logged_errors; /* errors logged so far, to cap the log */
};

static struct virtio_net *vnet_from_vdev(struct virtio_device *dev)
{
	return container_of(dev, struct virtio_net, vdev);
}

struct virtio_device *virtio_net_device(struct virtio_net *net)
{
	return &net->vdev;
}

static struct virtq *vnet_rxq(struct vnet_pair *p)
{
	return &p->net->vdev.queues[p->rxq].vq;
}

static struct virtq *vnet_txq(struct vnet_pair *p)
{
	return &p->net->vdev.queues[p->txq].vq;
}

static bool vnet_queue_usable(struct vnet_pair *p, struct virtq *vq)
{
	return vq->ready && !virtio_mmio_needs_reset(&p->net->vdev) && !iothread_stopping(p->io);
}

/* Whether pair p may be used now (pair 0 always). */
static bool vnet_pair_active(const struct vnet_pair *p)
{
	return p->index < atomic_load_explicit(&p->net->active_pairs, memory_order_relaxed);
}

static void vnet_log_limited(struct virtio_net *net, const char *what, int err)
{
	if (atomic_fetch_add(&net->logged_errors, 1) < MAX_LOGGED_ERRORS)
		log_error("%s: %s: %s", net->name, what, strerror(err));
}

unsigned int virtio_net_tun_offloads(uint64_t f)
{
	unsigned int tun = 0;

	/* TUNSETOFFLOAD names what the tap may hand us, i.e. what the guest
	 * accepts on RX; the HOST_* features need no tap setting, since a
	 * vnet-header tap always takes partial checksums and GSO frames. */
	if (!(f & BIT(VIRTIO_NET_F_GUEST_CSUM)))
		return 0;
	tun |= TUN_F_CSUM;
	if (f & BIT(VIRTIO_NET_F_GUEST_TSO4))
		tun |= TUN_F_TSO4;
	if (f & BIT(VIRTIO_NET_F_GUEST_TSO6))
		tun |= TUN_F_TSO6;
	if ((f & BIT(VIRTIO_NET_F_GUEST_ECN)) && (tun & (TUN_F_TSO4 | TUN_F_TSO6)))
		tun |= TUN_F_TSO_ECN;
	if (f & BIT(VIRTIO_NET_F_GUEST_UFO))
		tun |= TUN_F_UFO;
	return tun;
}

/* ---- TX: guest chains become writev SQEs on the tap ---- */

static void vnet_tx_release(struct vnet_pair *p, struct tx_req *req)
{
	virtq_push(vnet_txq(p), req->elem.head, 0);
	free_slots_push(&p->free_tx, (unsigned int)(req - p->tx_reqs));
	p->tx_inflight--;
}

static void vnet_tx_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct tx_req *req = (struct tx_req *)op;
	struct vnet_pair *p = req->pair;

	(void)flags;
	if (res == (int)req->total) {
		counter_add(&p->net->counters.tx_packets, 1);
		counter_add(&p->net->counters.tx_bytes, req->frame_len);
	} else {
		/* The tap refused it (bad GSO metadata, too short, interface
		 * gone) or took part of it: the frame is lost either way. */
		counter_add(&p->net->counters.tx_dropped, 1);
		/* EBADFD: the pair was turned off (its tap queue detached)
		 * while the frame was on its way; counted, not logged. */
		if (res < 0 && res != -ECANCELED && res != -EBADFD)
			vnet_log_limited(p->net, "tap write", -res);
	}
	vnet_tx_release(p, req);
}

/* Offloads in the header must be ones the driver negotiated. */
static bool vnet_tx_header_ok(const struct vnet_pair *p, const struct virtio_net_hdr_v1 *h)
{
	uint64_t f = p->net->vdev.driver_features;

	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return false;
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(f & BIT(VIRTIO_NET_F_CSUM)))
		return false;
	switch (h->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return f & BIT(VIRTIO_NET_F_HOST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return f & BIT(VIRTIO_NET_F_HOST_TSO6);
	default:
		return false; /* ECN, UFO, USO: not offered */
	}
}

/* Fill req->iov: the header copy, then the guest's buffers past the header. */
static unsigned int vnet_tx_build_iov(struct tx_req *req)
{
	req->iov[0] = (struct iovec){.iov_base = &req->hdr, .iov_len = HDR_BYTES};
	return 1 + iov_tail(&req->iov[1], req->elem.iov, req->elem.nr_out, HDR_BYTES);
}

/*
 * Whether the chain may go to the tap: NULL if so (req->hdr then holds the
 * header copy that was checked), else the counter that says why not.
 */
static counter_t *vnet_tx_reject(struct vnet_pair *p, struct tx_req *req)
{
	const struct virtq_elem *e = &req->elem;

	/* TX buffers are device-readable only and start with a header. */
	if (e->nr_in || e->out_bytes < HDR_BYTES)
		return &p->net->counters.tx_malformed;
	if (e->out_bytes - HDR_BYTES > VIRTIO_NET_MAX_FRAME)
		return &p->net->counters.tx_oversized;
	iov_to_buf(e->iov, e->nr_out, 0, &req->hdr, HDR_BYTES);
	if (!vnet_tx_header_ok(p, &req->hdr))
		return &p->net->counters.tx_malformed;
	return NULL;
}

/* A chain that does not reach the tap: counted as dropped (and why), handed back. */
static void vnet_tx_drop(struct vnet_pair *p, struct tx_req *req, counter_t *why)
{
	if (why)
		counter_add(why, 1);
	counter_add(&p->net->counters.tx_dropped, 1);
	vnet_tx_release(p, req);
}

static void vnet_tx_start(struct vnet_pair *p, struct tx_req *req)
{
	counter_t *why = vnet_tx_reject(p, req);
	struct io_uring_sqe *sqe;
	unsigned int iovcnt;

	p->tx_inflight++;
	/* An inactive pair's tap queue is detached and takes no frames: a
	 * driver must not use the pair (virtio 1.2, 5.1.6.5.5), so drop. */
	if (!why && !vnet_pair_active(p))
		why = &p->net->counters.tx_inactive_pair;
	if (why) {
		vnet_tx_drop(p, req, why);
		return;
	}
	req->hdr.num_buffers = 0;
	req->frame_len = (uint32_t)(req->elem.out_bytes - HDR_BYTES);
	req->total = req->frame_len + HDR_BYTES;
	iovcnt = vnet_tx_build_iov(req);
	sqe = iothread_get_sqe(p->io, &req->op);
	if (!sqe) {
		vnet_tx_drop(p, req, NULL);
		return;
	}
	io_uring_prep_writev(sqe, p->tap_file, req->iov, iovcnt, 0);
	iothread_sqe_fixed(sqe);
}

/*
 * Pop and send every available chain.  While frames are in flight kicks
 * stay off: each completion brings the thread back here.  Only when it goes
 * idle does the device ask for a kick again.
 */
static void vnet_tx_process(struct vnet_pair *p)
{
	struct virtq *vq = vnet_txq(p);

	if (!vnet_queue_usable(p, vq))
		return;
	for (;;) {
		while (p->free_tx.count && p->tx_inflight < TX_MAX_INFLIGHT) {
			struct tx_req *req = &p->tx_reqs[free_slots_top(&p->free_tx)];
			int ret = virtio_queue_pop(&p->net->vdev, p->txq, &req->elem);

			if (ret < 0)
				return;
			if (ret == 0)
				break;
			free_slots_pop(&p->free_tx);
			req->op.done = vnet_tx_done;
			req->pair = p;
			virtq_disable_notify(vq);
			vnet_tx_start(p, req);
		}
		if (!p->free_tx.count || p->tx_inflight)
			return;
		if (!virtq_enable_notify(vq))
			return;
	}
}

static void vnet_on_tx_kick(void *opaque)
{
	struct vnet_pair *p = opaque;

	counter_add(&p->net->counters.tx_kicks, 1);
	vnet_tx_process(p);
}

/* ---- RX: tap reads land in guest buffers ---- */

/*
 * rx_state is written by the I/O thread only (and by activate/reset while it
 * is stopped) and read by tests: release/acquire suffice, and cost a plain
 * store on x86 where the default seq_cst store, done per frame, is an xchg.
 */
static void vnet_rx_set_state(struct vnet_pair *p, enum rx_state state)
{
	atomic_store_explicit(&p->rx_state, state, memory_order_release);
}

static enum rx_state vnet_rx_state(struct vnet_pair *p)
{
	return atomic_load_explicit(&p->rx_state, memory_order_acquire);
}

static struct virtq_elem *vnet_rx_held_at(struct vnet_pair *p, unsigned int i)
{
	return &p->rx_held[(p->rx_held_first + i) % VIRTQ_MAX_SIZE];
}

/* Also drops a frame waiting for buffers: after a reset it is nobody's. */
static void vnet_rx_forget_held(struct vnet_pair *p)
{
	p->rx_held_first = p->rx_held_count = 0;
	p->rx_held_bytes = 0;
	p->rx_held_descs = 0;
	p->rx_pending_len = 0;
}

/* With MRG_RXBUF and a guest that takes GSO frames: header + the largest frame. */
#define RX_WANTED_BYTES (HDR_BYTES + VIRTIO_NET_MAX_FRAME)
/*
 * With MRG_RXBUF and no GUEST_TSO4/TSO6/UFO: header + the largest frame the
 * tap hands over at the usual MTU of 1500 (a 1514-byte Ethernet frame with
 * an 802.1Q tag).  Holding buffers for 64 KiB there made every read carry
 * ~34 iovecs that the kernel imports per call for nothing.  A longer frame
 * (a tap with a larger MTU) is still kept whole: its end goes to the spill
 * buffer and waits for more buffers, as with a guest short of them.
 */
#define RX_PLAIN_BYTES (HDR_BYTES + 1514 + 4)
/* The largest frame, and one byte to tell a longer one (truncated by the tap). */
#define RX_SPILL_BYTES (RX_WANTED_BYTES + 1)

/* What the held buffers should cover before a read, given the negotiated features. */
static uint64_t vnet_rx_want_bytes(uint64_t features)
{
	uint64_t gso = BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
		       BIT(VIRTIO_NET_F_GUEST_UFO);

	return (features & gso) ? RX_WANTED_BYTES : RX_PLAIN_BYTES;
}

/*
 * Take RX chains from the guest: one without MRG_RXBUF (the driver makes
 * each big enough), with it as many as cover the largest frame the
 * negotiated features allow (rx_want_bytes) or a frame waiting for buffers,
 * or as the guest has posted.  Returns false if the queue broke.
 */
static bool vnet_rx_collect(struct vnet_pair *p)
{
	struct virtq *vq = vnet_rxq(p);
	uint64_t want =
	    p->rx_pending_len > p->net->rx_want_bytes ? p->rx_pending_len : p->net->rx_want_bytes;

	while (p->rx_held_count < VIRTQ_MAX_SIZE &&
	       (p->net->mrg_rxbuf ? p->rx_held_bytes < want : p->rx_held_count == 0)) {
		struct virtq_elem *e = vnet_rx_held_at(p, p->rx_held_count);
		int ret = virtio_queue_pop(&p->net->vdev, p->rxq, e);

		if (ret < 0)
			return false;
		if (ret == 0)
			break;
		/* RX buffers are device-writable only and hold at least a header. */
		if (e->nr_out || e->in_bytes < HDR_BYTES) {
			counter_add(&p->net->counters.rx_malformed, 1);
			virtq_push(vq, e->head, 0);
			continue;
		}
		p->rx_held_count++;
		p->rx_held_bytes += e->in_bytes;
		p->rx_held_descs += e->ndesc;
	}
	return true;
}

/*
 * The held buffers as one iovec array, oldest first, up to the readv limit,
 * then the spill buffer: with MRG_RXBUF room for the rest of the largest
 * frame (a frame that reaches it waits there for more guest buffers instead
 * of being lost), and one byte more in any case: a read that reaches that
 * byte had a frame too large to keep (the tap silently truncates).
 */
static void vnet_rx_build_iov(struct vnet_pair *p)
{
	p->rx_iovcnt = 0;
	p->rx_iov_chains = 0;
	p->rx_iov_bytes = 0;
	for (unsigned int i = 0; i < p->rx_held_count; i++) {
		const struct virtq_elem *e = vnet_rx_held_at(p, i);

		if (p->rx_iovcnt + e->nr_in > RX_MAX_IOV - 1)
			break;
		memcpy(&p->rx_iov[p->rx_iovcnt], e->iov, e->nr_in * sizeof(struct iovec));
		p->rx_iovcnt += e->nr_in;
		p->rx_iov_chains++;
		p->rx_iov_bytes += e->in_bytes;
		if (!p->net->mrg_rxbuf)
			break;
	}
	p->rx_spill_room = 0;
	if (p->net->mrg_rxbuf && p->rx_iov_bytes < RX_WANTED_BYTES)
		p->rx_spill_room = RX_WANTED_BYTES - p->rx_iov_bytes;
	p->rx_iov[p->rx_iovcnt++] =
	    (struct iovec){.iov_base = p->rx_spill, .iov_len = p->rx_spill_room + 1};
}

/* A frame of len bytes (header included) is in the held buffers: hand them back. */
static void vnet_rx_complete_frame(struct vnet_pair *p, uint64_t len)
{
	struct virtq *vq = vnet_rxq(p);
	uint64_t left = len;
	uint16_t used = 0;

	/* Chains the frame occupies; the header went into the first one. */
	while (used < p->rx_held_count && (used == 0 || left)) {
		uint64_t cap = vnet_rx_held_at(p, used)->in_bytes;

		left -= cap < left ? cap : left;
		used++;
	}
	iov_from_buf(vnet_rx_held_at(p, 0)->iov, vnet_rx_held_at(p, 0)->nr_in, NUM_BUFFERS_OFFSET,
		     &used, sizeof(used));
	left = len;
	for (unsigned int i = 0; i < used; i++) {
		struct virtq_elem *e = vnet_rx_held_at(p, 0);
		uint64_t n = e->in_bytes < left ? e->in_bytes : left;

		virtq_push(vq, e->head, (uint32_t)n);
		left -= n;
		p->rx_held_bytes -= e->in_bytes;
		p->rx_held_descs -= e->ndesc;
		p->rx_held_first = (p->rx_held_first + 1) % VIRTQ_MAX_SIZE;
		p->rx_held_count--;
	}
	counter_add(&p->net->counters.rx_packets, 1);
	counter_add(&p->net->counters.rx_bytes, len - HDR_BYTES);
}

/* Wait for the tap to become readable (the I/O thread's watch), then read again. */
static void vnet_rx_wait_for_tap(struct vnet_pair *p)
{
	if (!iothread_arm_readable(p->io, p->rx_tap_watch)) {
		/* Nothing will bring RX back but a kick; better than spinning. */
		vnet_rx_set_state(p, RX_NO_BUFFERS);
		return;
	}
	vnet_rx_set_state(p, RX_POLLING);
}

/* A frame that can never reach the guest: counted, its buffers kept for the next. */
static void vnet_rx_drop_oversized(struct vnet_pair *p)
{
	counter_add(&p->net->counters.rx_oversized, 1);
	counter_add(&p->net->counters.rx_dropped, 1);
}

/*
 * A frame waits in the spill buffer (MRG_RXBUF).  Once the held chains can
 * take all of it, copy its end into the chains after the ones the read
 * filled and hand it to the guest.  If they cannot and every descriptor of
 * the ring is already held, the guest has nothing left to post: the frame
 * can never fit, so drop it rather than stall RX for good.  Otherwise it
 * keeps waiting.
 */
static void vnet_rx_settle_pending(struct vnet_pair *p)
{
	uint64_t off = 0, left = p->rx_pending_len - p->rx_iov_bytes;

	if (p->rx_held_bytes >= p->rx_pending_len) {
		for (unsigned int i = p->rx_iov_chains; left && i < p->rx_held_count; i++) {
			const struct virtq_elem *e = vnet_rx_held_at(p, i);
			uint64_t n = e->in_bytes < left ? e->in_bytes : left;

			iov_from_buf(e->iov, e->nr_in, 0, p->rx_spill + off, n);
			off += n;
			left -= n;
		}
		vnet_rx_complete_frame(p, p->rx_pending_len);
	} else if (p->rx_held_descs >= vnet_rxq(p)->size) {
		vnet_rx_drop_oversized(p);
	} else {
		return;
	}
	p->rx_pending_len = 0;
}

/*
 * Make sure RX buffers are held and rx_iov describes them, a frame waiting
 * for buffers being settled first.  false if there are none (or the waiting
 * frame still needs more; RX then waits for a kick) or the queue broke.
 */
static bool vnet_rx_have_buffers(struct vnet_pair *p)
{
	struct virtq *vq = vnet_rxq(p);

	for (;;) {
		if (!vnet_rx_collect(p))
			return false;
		if (p->rx_pending_len)
			vnet_rx_settle_pending(p);
		if (!p->rx_pending_len && p->rx_held_count) {
			virtq_disable_notify(vq);
			vnet_rx_build_iov(p);
			vnet_rx_set_state(p, RX_IDLE);
			return true;
		}
		/* Nothing to read into: leave the tap alone (frames wait in
		 * its queue, or the kernel drops them) until the driver has
		 * posted a batch of buffers, or, once the thread is about to
		 * sleep, any (vnet_poll_rx()). */
		if (!virtq_enable_notify_batch(vq, p->net->rx_kick_batch)) {
			if (vnet_rx_state(p) != RX_NO_BUFFERS)
				counter_add(&p->net->counters.rx_no_buffers, 1);
			vnet_rx_set_state(p, RX_NO_BUFFERS);
			return false;
		}
	}
}

/* One readv into the held buffers returned res: account for the frame. */
static void vnet_rx_frame_read(struct vnet_pair *p, ssize_t res)
{
	if ((uint64_t)res > p->rx_iov_bytes + p->rx_spill_room) {
		/* More than the buffers and the spill room could keep (the
		 * tap kept only the start): drop it, reuse the buffers. */
		vnet_rx_drop_oversized(p);
	} else if ((uint64_t)res < HDR_BYTES) {
		counter_add(&p->net->counters.rx_dropped, 1);
	} else if ((uint64_t)res > p->rx_iov_bytes) {
		/* Its end is in the spill buffer: wait for the guest to post
		 * buffers for it (vnet_rx_settle_pending()). */
		p->rx_pending_len = (uint64_t)res;
	} else {
		vnet_rx_complete_frame(p, (uint64_t)res);
	}
}

/*
 * readv() of the held buffers, as a plain system call: glibc's readv() is a
 * cancellation point and brackets the call with asynccancel enable/disable,
 * ~4 % of the I/O thread's time at one frame per call (perf, 64-byte RX).
 * Nothing cancels the I/O thread.  -1 with errno set, like readv().
 */
static ssize_t vnet_tap_readv(struct vnet_pair *p)
{
	return syscall(SYS_readv, p->tap->fd, p->rx_iov, (int)p->rx_iovcnt);
}

/*
 * Read frames from the tap into guest buffers until the tap is empty (then
 * wait for POLLIN), the guest has no buffers left (then wait for a kick) or
 * a burst is done (then come back through the loop).  The reads are plain
 * non-blocking readv() calls in this thread: one system call per frame and
 * no io_uring round trip, and frames reach the used ring in tap order.
 */
static void vnet_rx_burst(struct vnet_pair *p)
{
	enum rx_state state = vnet_rx_state(p);
	unsigned int frames = 0, reads = 0, iovecs = 0;

	if (state == RX_POLLING || !vnet_queue_usable(p, vnet_rxq(p)))
		return;
	while (vnet_rx_have_buffers(p)) {
		ssize_t res;

		if (frames == RX_BURST) {
			/* Readable right away if frames remain: the poll
			 * completes in the next io_uring_enter. */
			vnet_rx_wait_for_tap(p);
			break;
		}
		res = vnet_tap_readv(p);
		reads++;
		iovecs += p->rx_iovcnt;
		if (res < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* Waiting for readability rather than retrying
				 * at once keeps a persistent error from spinning. */
				vnet_log_limited(p->net, "tap read", errno);
				counter_add(&p->net->counters.rx_dropped, 1);
			}
			vnet_rx_wait_for_tap(p);
			break;
		}
		if (res == 0) {
			/* End of file: a tap never gives one, but user-mode
			 * networking's socket pair does when its helper ended.
			 * Nothing will arrive any more: stop reading (waiting
			 * for readability would return at once, forever). */
			vnet_log_limited(p->net, "backend gone (end of file), receive stopped",
					 EPIPE);
			break;
		}
		vnet_rx_frame_read(p, res);
		if (++frames % RX_PUBLISH_EVERY == 0)
			p->rx_signal_due |= virtq_flush_used(vnet_rxq(p));
	}
	/* Once per burst: the counters are atomics. */
	if (reads) {
		counter_add(&p->net->counters.rx_reads, reads);
		counter_add(&p->net->counters.rx_read_iovecs, iovecs);
	}
}

/*
 * RX on pair p, if the pair is active.  Pair 0 always is; for the others
 * in_rx brackets the check and the burst (see struct vnet_pair).  An
 * inactive pair leaves its state as it is: a VQ_PAIRS_SET that turns it on
 * kicks its receive queue.
 */
static void vnet_rx_start(struct vnet_pair *p)
{
	if (p->index == 0) {
		vnet_rx_burst(p);
		return;
	}
	atomic_store(&p->in_rx, true);
	if (p->index < atomic_load(&p->net->active_pairs))
		vnet_rx_burst(p);
	atomic_store_explicit(&p->in_rx, false, memory_order_release);
}

/* The tap became readable (the watch does not call this once stopping). */
static void vnet_on_tap_readable(void *opaque)
{
	struct vnet_pair *p = opaque;

	vnet_rx_set_state(p, RX_IDLE);
	vnet_rx_start(p);
}

static void vnet_ctrl_process(struct virtio_net *net, unsigned int q);

/*
 * The control queue's index for the negotiated features (virtio 1.2,
 * 5.1.2): 2N with MQ, else 2; none (UINT_MAX) without CTRL_VQ.
 */
static unsigned int vnet_ctrl_queue(const struct virtio_net *net)
{
	if (!virtio_has_feature(&net->vdev, VIRTIO_NET_F_CTRL_VQ))
		return UINT_MAX;
	return virtio_has_feature(&net->vdev, VIRTIO_NET_F_MQ) ? 2 * net->nr_pairs : 2;
}

static void vnet_on_rx_kick(void *opaque)
{
	struct vnet_pair *p = opaque;

	/* Without MQ, queue 2 (pair 1's receiveq, on its thread) is the
	 * control queue. */
	if (p->rxq == vnet_ctrl_queue(p->net)) {
		vnet_ctrl_process(p->net, p->rxq);
		return;
	}
	counter_add(&p->net->counters.rx_kicks, 1);
	vnet_rx_start(p);
}

static void vnet_after_batch(void *opaque)
{
	struct vnet_pair *p = opaque;
	bool signal;

	vnet_tx_process(p);
	/* Both queues share the interrupt line: at most one per batch. */
	signal = virtq_flush_used(vnet_txq(p));
	signal |= virtq_flush_used(vnet_rxq(p)) || p->rx_signal_due;
	p->rx_signal_due = false;
	if (signal)
		virtio_mmio_signal_used(&p->net->vdev);
}

/*
 * RX's part of the poll: while the thread busy-polls, a dry RX queue
 * restarts once the driver has posted rx_kick_batch buffers (its kick
 * request, vnet_rx_have_buffers()).  Before the thread sleeps the request
 * becomes "kick at the next buffer": the driver is not obliged to post a
 * batch, and a sleeping device with buffers it has not seen and no kick to
 * come would stall RX for good.  Whatever is there by then is served.
 */
static bool vnet_poll_rx(struct vnet_pair *p, bool about_to_sleep)
{
	struct virtq *vq = vnet_rxq(p);

	/* An inactive pair reads nothing: no work to report, or the thread
	 * would poll for ever. */
	if (vnet_rx_state(p) != RX_NO_BUFFERS || !vnet_pair_active(p))
		return false;
	if (about_to_sleep ? !virtq_enable_notify(vq)
			   : virtq_avail_count(vq) < p->net->rx_kick_batch)
		return false;
	vnet_rx_start(p);
	return true;
}

/*
 * The I/O thread's poll function (iothread_set_poll): before sleeping, look
 * for chains the guest posted without a kick, so a polling driver rarely
 * has to kick.  TX asked for a kick where it went idle (nothing in flight),
 * so it needs no re-arming before the thread sleeps; RX re-arms in
 * vnet_poll_rx().  A last look covers chains that arrived as the window
 * closed.
 */
static bool vnet_poll_queues(void *opaque, bool about_to_sleep)
{
	struct vnet_pair *p = opaque;
	bool rx, tx;

	if (!vnet_queue_usable(p, vnet_rxq(p)) || !vnet_queue_usable(p, vnet_txq(p)))
		return false;
	rx = vnet_poll_rx(p, about_to_sleep);
	tx = p->free_tx.count && !p->tx_inflight && virtq_has_avail(vnet_txq(p));
	if (tx)
		vnet_tx_process(p);
	return rx || tx;
}

/* ---- the control queue (virtio 1.2, 5.1.6.5) ---- */

/*
 * Turn a tap queue in or out of the interface's rotation, remembering which
 * way it is (TUNSETQUEUE refuses to repeat a state).  0 or -errno.
 */
static int vnet_attach_tap_queue(struct virtio_net *net, struct vnet_pair *p, bool on)
{
	int ret;

	if (p->tap_attached == on)
		return 0;
	ret = net->tap_ops.set_queue_enabled(p->tap, on);
	if (ret) {
		vnet_log_limited(net, on ? "attaching a tap queue" : "detaching a tap queue", -ret);
		return ret;
	}
	p->tap_attached = on;
	return 0;
}

/*
 * VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET n, in the thread serving the control
 * queue.  More pairs: attach their tap queues, publish, kick their receive
 * queues (an inactive pair stopped RX where it was).  Fewer: publish, wait
 * until the pairs turned off are out of any RX burst (vnet_rx_start()),
 * then detach their tap queues so the kernel steers no frames to queues
 * nobody reads.  Refused (nothing changes) without MQ, for n outside
 * 1..max_virtqueue_pairs, or if a queue of the pairs asked for is not ready.
 */
static uint8_t vnet_set_pairs(struct virtio_net *net, unsigned int n)
{
	unsigned int old = atomic_load(&net->active_pairs);

	if (!virtio_has_feature(&net->vdev, VIRTIO_NET_F_MQ) || n < 1 || n > net->nr_pairs) {
		log_guest_error(&net->vdev.guest_errors, "%s: VQ_PAIRS_SET %u refused (1 to %u%s)",
				net->name, n, net->nr_pairs,
				virtio_has_feature(&net->vdev, VIRTIO_NET_F_MQ)
				    ? ""
				    : ", and only with VIRTIO_NET_F_MQ");
		return VIRTIO_NET_ERR;
	}
	for (unsigned int i = 0; i < n; i++)
		if (!vnet_rxq(&net->pairs[i])->ready || !vnet_txq(&net->pairs[i])->ready) {
			log_guest_error(&net->vdev.guest_errors,
					"%s: VQ_PAIRS_SET %u refused: queue pair %u is not ready",
					net->name, n, i);
			return VIRTIO_NET_ERR;
		}
	for (unsigned int i = old; i < n; i++)
		if (vnet_attach_tap_queue(net, &net->pairs[i], true)) {
			while (i-- > old)
				vnet_attach_tap_queue(net, &net->pairs[i], false);
			return VIRTIO_NET_ERR;
		}
	atomic_store(&net->active_pairs, n);
	for (unsigned int i = old; i < n; i++)
		eventfd_write(net->vdev.queues[net->pairs[i].rxq].kick_fd, 1);
	for (unsigned int i = n; i < old; i++) {
		while (atomic_load(&net->pairs[i].in_rx))
			sched_yield(); /* one RX burst at most: microseconds */
		vnet_attach_tap_queue(net, &net->pairs[i], false);
	}
	log_debug("%s: %u queue pairs in use (was %u)", net->name, n, old);
	return VIRTIO_NET_OK;
}

/*
 * One command: class and command, then the command's data, all
 * device-readable; the ack byte device-writable.  The answer
 * (VIRTIO_NET_OK or VIRTIO_NET_ERR).  Anything but a well-formed
 * VQ_PAIRS_SET is refused: a command longer than any known one, shorter
 * than its class and command, with data of the wrong size, or of a class
 * or command not implemented (RX mode, MAC filter, VLAN, announce,
 * offloads).
 */
static uint8_t vnet_ctrl_command(struct virtio_net *net, const struct virtq_elem *e)
{
	uint8_t cmd[VNET_CTRL_MAX_BYTES];
	uint64_t len = e->out_bytes;

	if (len < 2 || len > sizeof(cmd)) {
		counter_add(&net->counters.ctrl_malformed, 1);
		return VIRTIO_NET_ERR;
	}
	iov_to_buf(e->iov, e->nr_out, 0, cmd, len);
	if (cmd[0] == VIRTIO_NET_CTRL_MQ && cmd[1] == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
		if (len != 2 + sizeof(uint16_t)) {
			counter_add(&net->counters.ctrl_malformed, 1);
			return VIRTIO_NET_ERR;
		}
		return vnet_set_pairs(net, get_le16(&cmd[2]));
	}
	log_guest_error(&net->vdev.guest_errors, "%s: control command class %u command %u refused",
			net->name, cmd[0], cmd[1]);
	return VIRTIO_NET_ERR;
}

/*
 * Answer every command on control queue q, then ask for a kick at the next
 * one.  A chain without a writable byte cannot be answered: handed back
 * with nothing written and not run (counted as malformed and refused).
 */
static void vnet_ctrl_process(struct virtio_net *net, unsigned int q)
{
	struct virtq *vq = &net->vdev.queues[q].vq;
	struct virtq_elem *e = &net->ctrl_elem;
	bool pushed = false;

	if (!vq->ready || virtio_mmio_needs_reset(&net->vdev) ||
	    iothread_stopping(virtio_queue_iothread(&net->vdev, q)))
		return;
	for (;;) {
		int ret;

		while ((ret = virtio_queue_pop(&net->vdev, q, e)) > 0) {
			uint8_t ack = VIRTIO_NET_ERR;
			uint32_t written = 0;

			/* A command that cannot be acknowledged is not run. */
			if (e->in_bytes) {
				ack = vnet_ctrl_command(net, e);
				written = (uint32_t)iov_from_buf(e->iov + e->nr_out, e->nr_in, 0,
								 &ack, 1);
			} else {
				counter_add(&net->counters.ctrl_malformed, 1);
			}
			counter_add(&net->counters.ctrl_commands, 1);
			if (ack != VIRTIO_NET_OK)
				counter_add(&net->counters.ctrl_refused, 1);
			virtq_push(vq, e->head, written);
			pushed = true;
		}
		if (ret < 0 || !virtq_enable_notify(vq))
			break;
	}
	if (pushed && virtq_flush_used(vq))
		virtio_mmio_signal_used(&net->vdev);
}

/* The MQ control queue (2N), on pair 0's thread; without MQ no such queue. */
static void vnet_on_ctrl_kick(void *opaque)
{
	struct vnet_pair *p = opaque;
	unsigned int q = 2 * p->net->nr_pairs;

	if (q == vnet_ctrl_queue(p->net))
		vnet_ctrl_process(p->net, q);
}

/* ---- transport callbacks ---- */

static bool vnet_features_ok(struct virtio_device *dev, uint64_t f)
{
	struct virtio_net *net = vnet_from_vdev(dev);

	/* Feature dependencies of virtio 1.2, 5.1.3.1. */
	if ((f & (BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6))) &&
	    !(f & BIT(VIRTIO_NET_F_GUEST_CSUM))) {
		log_error("%s: driver accepted GUEST_TSO without GUEST_CSUM", net->name);
		return false;
	}
	if ((f & (BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6))) &&
	    !(f & BIT(VIRTIO_NET_F_CSUM))) {
		log_error("%s: driver accepted HOST_TSO without CSUM", net->name);
		return false;
	}
	if ((f & BIT(VIRTIO_NET_F_MQ)) && !(f & BIT(VIRTIO_NET_F_CTRL_VQ))) {
		log_error("%s: driver accepted MQ without CTRL_VQ", net->name);
		return false;
	}
	return true;
}

static void vnet_reset_tx_requests(struct vnet_pair *p)
{
	p->tx_inflight = 0;
	free_slots_reset(&p->free_tx);
}

/* Every pair back to its state after creation (the threads are stopped). */
static void vnet_reset_pairs(struct virtio_net *net)
{
	for (unsigned int i = 0; i < net->nr_pairs; i++) {
		struct vnet_pair *p = &net->pairs[i];

		vnet_reset_tx_requests(p);
		vnet_rx_forget_held(p);
		vnet_rx_set_state(p, RX_IDLE);
		p->rx_signal_due = false;
		atomic_store(&p->in_rx, false);
	}
}

/*
 * Back to one pair in use (after reset, virtio 1.2, 5.1.6.5.5): the other
 * pairs' tap queues detached.  The threads are stopped.
 */
static void vnet_back_to_one_pair(struct virtio_net *net)
{
	atomic_store(&net->active_pairs, 1);
	for (unsigned int i = 1; i < net->nr_pairs; i++)
		vnet_attach_tap_queue(net, &net->pairs[i], false);
}

/* DRIVER_OK; the transport then starts the I/O threads and kicks every
 * ready queue, so RX buffers and TX frames posted before DRIVER_OK are
 * served.  Pair 0 must be ready; the driver may leave the others unused. */
static int vnet_activate(struct virtio_device *dev)
{
	struct virtio_net *net = vnet_from_vdev(dev);
	unsigned int offloads = virtio_net_tun_offloads(dev->driver_features);
	struct vnet_pair *p0 = &net->pairs[0];
	int ret;

	if (!vnet_rxq(p0)->ready || !vnet_txq(p0)->ready) {
		log_error("%s: DRIVER_OK with the RX or TX queue not ready", net->name);
		return -EINVAL;
	}
	/* The offloads belong to the interface: set through queue 0, which
	 * is always attached (a detached queue takes no ioctl). */
	ret = net->tap_ops.set_offload(p0->tap, offloads);
	if (ret)
		/* Harmless: the tap then hands over plain, checksummed frames,
		 * which every driver accepts. */
		log_error("%s: TUNSETOFFLOAD 0x%x: %s (offloads stay off)", net->name, offloads,
			  strerror(-ret));
	net->mrg_rxbuf = virtio_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
	net->rx_want_bytes = vnet_rx_want_bytes(dev->driver_features);
	net->rx_kick_batch =
	    vnet_rxq(p0)->size / 4 < RX_KICK_BATCH ? vnet_rxq(p0)->size / 4 : RX_KICK_BATCH;
	if (!net->rx_kick_batch || !virtio_has_feature(dev, VIRTIO_F_EVENT_IDX))
		net->rx_kick_batch = 1;
	log_debug("%s: driver ready, features 0x%" PRIx64 ", tap offloads 0x%x", net->name,
		  dev->driver_features, offloads);
	vnet_reset_pairs(net);
	vnet_back_to_one_pair(net);
	return 0;
}

/* The transport has stopped the I/O threads: no tap operation is in flight. */
static void vnet_reset(struct virtio_device *dev)
{
	struct virtio_net *net = vnet_from_vdev(dev);

	vnet_reset_pairs(net);
	vnet_back_to_one_pair(net);
	if (net->tap_ops.set_offload(net->pairs[0].tap, 0))
		log_debug("%s: cannot clear tap offloads", net->name);
}

static const struct virtio_device_ops vnet_ops = {
    .features_ok = vnet_features_ok,
    .activate = vnet_activate,
    .reset = vnet_reset,
};

const struct virtio_net_counters *virtio_net_counters(const struct virtio_net *net)
{
	return &net->counters;
}

bool virtio_net_rx_stalled(struct virtio_net *net)
{
	return vnet_rx_state(&net->pairs[0]) == RX_NO_BUFFERS;
}

unsigned int virtio_net_active_pairs(struct virtio_net *net)
{
	return atomic_load(&net->active_pairs);
}

#define VNET_COUNTER_DESC(name) COUNTER_DESC(struct virtio_net_counters, name)
static const struct counter_desc vnet_counter_descs[] = {VIRTIO_NET_COUNTERS(VNET_COUNTER_DESC)};

/* One line; keys only ever appended (scripts parse it). */
static void vnet_report_stats(void *opaque, struct json_object *obj)
{
	struct virtio_net *net = opaque;
	struct json_object *counters = json_object_new_object();

	json_object_object_add(obj, "model", json_object_new_string("virtio-net"));
	json_object_object_add(obj, "tap", json_object_new_string(net->pairs[0].tap->ifname));
	counters_to_json(counters, &net->counters, vnet_counter_descs,
			 ARRAY_SIZE(vnet_counter_descs));
	json_object_object_add(obj, "counters", counters);
	virtio_mmio_report_iothreads(&net->vdev, obj);
	json_object_object_add(obj, "queue_pairs", json_object_new_int((int)net->nr_pairs));
	json_object_object_add(obj, "active_queue_pairs",
			       json_object_new_int((int)atomic_load(&net->active_pairs)));
}

static void vnet_build_config(struct virtio_net *net, const struct net_config *cfg)
{
	memset(&net->config, 0, sizeof(net->config));
	if (cfg->mac_set) {
		memcpy(net->config.mac, cfg->mac, sizeof(net->config.mac));
	} else {
		/* Locally administered, unicast, "mv", then the slot: stable
		 * across runs and distinct between NICs of one VM. */
		const uint8_t mac[6] = {0x02, 0x6d, 0x76, 0x00, 0x00, (uint8_t)net->vdev.slot};

		memcpy(net->config.mac, mac, sizeof(mac));
	}
	net->config.status = VIRTIO_NET_S_LINK_UP;
	net->config.max_virtqueue_pairs = (uint16_t)net->nr_pairs;
}

static void vnet_free(struct virtio_net *net)
{
	tap_close_queues(net->taps, net->nr_pairs);
	for (unsigned int i = 0; net->pairs && i < net->nr_pairs; i++) {
		free(net->pairs[i].tx_reqs);
		free(net->pairs[i].rx_held);
		free(net->pairs[i].rx_spill);
	}
	free(net->pairs);
	free(net);
}

/* Pair i's buffers; false if out of memory. */
static bool vnet_alloc_pair(struct virtio_net *net, unsigned int i)
{
	struct vnet_pair *p = &net->pairs[i];

	p->net = net;
	p->index = i;
	p->rxq = 2 * i;
	p->txq = 2 * i + 1;
	p->tap = &net->taps[i];
	p->tap_attached = true; /* tap_open_queues() leaves every queue attached */
	atomic_init(&p->in_rx, false);
	p->tx_reqs = calloc(VIRTQ_MAX_SIZE, sizeof(*p->tx_reqs));
	p->rx_held = calloc(VIRTQ_MAX_SIZE, sizeof(*p->rx_held));
	p->rx_spill = malloc(RX_SPILL_BYTES);
	return p->tx_reqs && p->rx_held && p->rx_spill;
}

/*
 * The tap as the device needs it: every queue non-blocking (RX reads it
 * with plain readv() in the I/O thread, which must never block), frames
 * passed through with the 12-byte VERSION_1 header, no offloads until the
 * driver negotiates them (those two belong to the interface: set through
 * queue 0), and the queues of pairs 1.. detached until the driver asks for
 * them.
 */
static int vnet_prepare_tap(struct virtio_net *net, const char *tapname)
{
	int ret;

	for (unsigned int i = 0; i < net->nr_pairs; i++) {
		int fd = net->taps[i].fd, flags = fcntl(fd, F_GETFL);

		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
			ret = -errno;
			log_error("--net %s: cannot make the tap non-blocking: %s", tapname,
				  strerror(errno));
			return ret;
		}
	}
	ret = net->tap_ops.set_vnet_hdr_size(&net->taps[0], HDR_BYTES);
	if (ret) {
		log_error("--net %s: cannot set the vnet header size: %s", tapname, strerror(-ret));
		return ret;
	}
	ret = net->tap_ops.set_offload(&net->taps[0], 0);
	if (ret) {
		log_error("--net %s: TUNSETOFFLOAD: %s", tapname, strerror(-ret));
		return ret;
	}
	for (unsigned int i = 1; i < net->nr_pairs; i++) {
		ret = vnet_attach_tap_queue(net, &net->pairs[i], false);
		if (ret) {
			log_error("--net %s: cannot detach tap queue %u: %s", tapname, i,
				  strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* What the transport needs to know before virtio_mmio_init_with_iothread(). */
static void vnet_describe(struct virtio_net *net)
{
	net->vdev.name = net->name;
	net->vdev.device_id = VIRTIO_ID_NET;
	net->vdev.device_features = BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
				    BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) |
				    BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CSUM) |
				    BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |
				    BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
				    BIT(VIRTIO_NET_F_GUEST_TSO6);
	if (net->tap_ops.no_offloads)
		net->vdev.device_features &=
		    ~(BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
		      BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
		      BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6));
	/* One pair: exactly the device of before multi-queue, no control
	 * queue.  Several: N pairs and the control queue at 2N. */
	net->vdev.nr_queues = 2;
	if (net->nr_pairs > 1) {
		net->vdev.device_features |= BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ);
		net->vdev.nr_queues = 2 * net->nr_pairs + 1;
	}
	net->vdev.queue_num_max = VIRTQ_MAX_SIZE;
	net->vdev.config = &net->config;
	net->vdev.config_size = sizeof(net->config);
	net->vdev.ops = &vnet_ops;
}

/*
 * The transport with one I/O thread per pair (pair i's receive and
 * transmit queues on thread i, the control queue on thread 0), then each
 * thread's use of its tap queue: a readable watch (RX reads it with readv,
 * outside the ring) and TX writev on the ring, the one opcode the device
 * adds; then the rings are locked down (iothread_seal).  0 or -errno after
 * logging, with nothing left to undo but the bus window.
 */
static int vnet_init_transport(struct virtio_net *net, struct vm *vm)
{
	struct virtio_io_desc desc = {
	    /* A full TX ring of writes plus the tap poll and its cancel. */
	    .ring_entries = 2 * VIRTQ_MAX_SIZE, .opaque = net,
	    .after_batch = vnet_after_batch,	.poll = vnet_poll_queues,
	    .poll_min_ns = NET_POLL_MIN_NS,	.poll_max_ns = NET_POLL_MAX_NS,
	    .nr_threads = net->nr_pairs,
	};
	int ret;

	for (unsigned int i = 0; i < net->nr_pairs; i++) {
		struct vnet_pair *p = &net->pairs[i];

		desc.kick[p->rxq] = vnet_on_rx_kick;
		desc.kick[p->txq] = vnet_on_tx_kick;
		desc.queue_thread[p->rxq] = desc.queue_thread[p->txq] = (uint8_t)i;
		desc.kick_opaque[p->rxq] = desc.kick_opaque[p->txq] = p;
		desc.thread_opaque[i] = p;
	}
	if (net->nr_pairs > 1) {
		unsigned int ctrl = 2 * net->nr_pairs;

		desc.kick[ctrl] = vnet_on_ctrl_kick;
		desc.queue_thread[ctrl] = 0;
		desc.kick_opaque[ctrl] = &net->pairs[0];
	}
	ret = virtio_mmio_init_with_iothread(&net->vdev, vm, &desc);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < net->nr_pairs && !ret; i++) {
		struct vnet_pair *p = &net->pairs[i];

		p->io = virtio_queue_iothread(&net->vdev, p->rxq);
		p->rx_tap_watch =
		    iothread_watch_readable(p->io, p->tap->fd, vnet_on_tap_readable, p);
		ret = p->rx_tap_watch < 0 ? p->rx_tap_watch : 0;
		if (!ret) {
			p->tap_file = iothread_register_file(p->io, p->tap->fd);
			ret = p->tap_file < 0 ? p->tap_file : 0;
		}
		if (!ret)
			ret = iothread_allow_op(p->io, IORING_OP_WRITEV);
		if (ret)
			log_error("%s: cannot watch tap %s: %s", net->name, p->tap->ifname,
				  strerror(-ret));
	}
	if (!ret)
		ret = virtio_mmio_seal_iothreads(&net->vdev); /* logs */
	if (ret)
		virtio_mmio_destroy(&net->vdev);
	return ret;
}

/* Close taps handed to a device that could not be created (they were taken over). */
static void vnet_close_taps(const struct tap *taps, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct tap t = taps[i];

		tap_close(&t);
	}
}

int virtio_net_create_on_taps(struct vm *vm, const struct net_config *cfg, unsigned int index,
			      const struct tap *taps, const struct virtio_net_tap_ops *ops,
			      struct virtio_net **out)
{
	unsigned int nr_pairs = cfg->queues ? cfg->queues : 1;
	struct virtio_net *net;
	int ret;

	if (nr_pairs > VIRTIO_NET_MAX_PAIRS || (nr_pairs > 1 && !ops->set_queue_enabled)) {
		log_error("--net %s: %u queue pairs (1 to %d, several need a multi-queue tap)",
			  cfg->tap, nr_pairs, VIRTIO_NET_MAX_PAIRS);
		vnet_close_taps(taps, nr_pairs > VIRTIO_NET_MAX_PAIRS ? 0 : nr_pairs);
		return -EINVAL;
	}
	net = calloc(1, sizeof(*net));
	if (!net) {
		log_error("--net %s: out of memory", cfg->tap);
		vnet_close_taps(taps, nr_pairs);
		return -ENOMEM;
	}
	memcpy(net->taps, taps, nr_pairs * sizeof(*taps));
	net->nr_pairs = nr_pairs;
	net->tap_ops = *ops;
	atomic_init(&net->active_pairs, 1);
	snprintf(net->name, sizeof(net->name), "virtio-net.%u", index);
	net->pairs = calloc(nr_pairs, sizeof(*net->pairs));
	ret = net->pairs ? 0 : -ENOMEM;
	for (unsigned int i = 0; i < nr_pairs && !ret; i++)
		if (!vnet_alloc_pair(net, i))
			ret = -ENOMEM;
	if (ret) {
		log_error("--net %s: out of memory", cfg->tap);
		goto fail;
	}
	ret = vnet_prepare_tap(net, cfg->tap);
	if (ret)
		goto fail;
	vnet_describe(net);
	ret = vnet_init_transport(net, vm);
	if (ret)
		goto fail;
	vnet_build_config(net, cfg); /* the default MAC needs the slot */
	vnet_reset_pairs(net);
	vm_register_stats(vm, net->name, vnet_report_stats, net);
	log_debug("%s: tap %s, %u queue pair%s, mac %02x:%02x:%02x:%02x:%02x:%02x", net->name,
		  net->taps[0].ifname, nr_pairs, nr_pairs == 1 ? "" : "s", net->config.mac[0],
		  net->config.mac[1], net->config.mac[2], net->config.mac[3], net->config.mac[4],
		  net->config.mac[5]);
	if (out)
		*out = net;
	return 0;

fail:
	vnet_free(net);
	return ret;
}

int virtio_net_create_on_tap(struct vm *vm, const struct net_config *cfg, unsigned int index,
			     const struct tap *tap, const struct virtio_net_tap_ops *ops,
			     struct virtio_net **out)
{
	struct net_config one = *cfg;

	one.queues = 1;
	return virtio_net_create_on_taps(vm, &one, index, tap, ops, out);
}

static const struct virtio_net_tap_ops vnet_real_tap_ops = {
    .set_vnet_hdr_size = tap_set_vnet_hdr_size,
    .set_offload = tap_set_offload,
    .set_queue_enabled = tap_set_queue_enabled,
};

int virtio_net_create(struct vm *vm, const struct net_config *cfg, unsigned int index,
		      struct virtio_net **out)
{
	unsigned int nr_pairs = cfg->queues ? cfg->queues : 1;
	struct tap taps[VIRTIO_NET_MAX_PAIRS];
	char err[256];
	int ret;

	if (nr_pairs > VIRTIO_NET_MAX_PAIRS) {
		log_error("--net %s: queues=%u is more than %d", cfg->tap, nr_pairs,
			  VIRTIO_NET_MAX_PAIRS);
		return -EINVAL;
	}
	ret = tap_open_queues(taps, nr_pairs, cfg->tap, TAP_VNET_HDR, err, sizeof(err));
	if (ret) {
		log_error("--net %s: %s", cfg->tap, err);
		return ret;
	}
	return virtio_net_create_on_taps(vm, cfg, index, taps, &vnet_real_tap_ops, out);
}

void virtio_net_destroy(struct virtio_net *net)
{
	if (!net)
		return;
	virtio_mmio_destroy(&net->vdev);
	vnet_free(net);
}
