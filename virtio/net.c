#include "virtio/net.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <json-c/json.h>

#include "vm_config.h"
#include "log.h"
#include "util.h"
#include "devices/net/tap.h"
#include "iothread.h"
#include "virtio/mmio.h"
#include "vm.h"

#define HDR_BYTES	   sizeof(struct virtio_net_hdr_v1)
#define NUM_BUFFERS_OFFSET offsetof(struct virtio_net_hdr_v1, num_buffers)
/* readv() takes at most UIO_MAXIOV (1024) buffers. */
#define RX_MAX_IOV	  1024
#define MAX_LOGGED_ERRORS 10

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

struct virtio_net;

struct tx_req {
	struct iothread_op op;
	struct virtio_net *net;
	struct tx_req *next_free;
	uint32_t frame_len; /* bytes after the header */
	uint32_t total;	    /* header + frame, what the tap must accept */
	/* A private copy of the header: what was validated is what the tap sees. */
	struct virtio_net_hdr_v1 hdr;
	struct iovec iov[VIRTQ_MAX_SIZE + 1];
	struct virtq_elem elem;
};

struct virtio_net {
	struct virtio_device vdev;
	char name[32];
	struct tap tap;
	struct virtio_net_tap_ops tap_ops;
	struct virtio_net_config config;

	/* I/O thread only (and activate/reset while the thread is stopped). */
	struct tx_req *free_tx;
	unsigned int tx_inflight;
	struct tx_req *tx_reqs; /* VIRTQ_MAX_SIZE of them */

	atomic_int rx_state; /* enum rx_state; read by tests */
	int rx_tap_watch;    /* the I/O thread's readable watch on the tap */
	int tap_file;	     /* the tap's index in the ring's file table (TX writev) */
	bool mrg_rxbuf;
	uint16_t rx_kick_batch; /* buffers to ask for when RX runs dry (RX_KICK_BATCH) */
	uint64_t rx_want_bytes; /* with MRG_RXBUF: guest bytes to hold before a read */
	bool rx_signal_due;	/* a flush inside a burst found the driver wants an interrupt */
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

static struct virtq *vnet_rxq(struct virtio_net *net)
{
	return &net->vdev.queues[VIRTIO_NET_RXQ].vq;
}

static struct virtq *vnet_txq(struct virtio_net *net)
{
	return &net->vdev.queues[VIRTIO_NET_TXQ].vq;
}

static bool vnet_queue_usable(struct virtio_net *net, struct virtq *vq)
{
	return vq->ready && !virtio_mmio_needs_reset(&net->vdev) &&
	       !iothread_stopping(net->vdev.io);
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

static void vnet_tx_release(struct virtio_net *net, struct tx_req *req)
{
	virtq_push(vnet_txq(net), req->elem.head, 0);
	req->next_free = net->free_tx;
	net->free_tx = req;
	net->tx_inflight--;
}

static void vnet_tx_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct tx_req *req = (struct tx_req *)op;
	struct virtio_net *net = req->net;

	(void)flags;
	if (res == (int)req->total) {
		counter_add(&net->counters.tx_packets, 1);
		counter_add(&net->counters.tx_bytes, req->frame_len);
	} else {
		/* The tap refused it (bad GSO metadata, too short, interface
		 * gone) or took part of it: the frame is lost either way. */
		counter_add(&net->counters.tx_dropped, 1);
		if (res < 0 && res != -ECANCELED)
			vnet_log_limited(net, "tap write", -res);
	}
	vnet_tx_release(net, req);
}

/* Offloads in the header must be ones the driver negotiated. */
static bool vnet_tx_header_ok(const struct virtio_net *net, const struct virtio_net_hdr_v1 *h)
{
	uint64_t f = net->vdev.driver_features;

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
static counter_t *vnet_tx_reject(struct virtio_net *net, struct tx_req *req)
{
	const struct virtq_elem *e = &req->elem;

	/* TX buffers are device-readable only and start with a header. */
	if (e->nr_in || e->out_bytes < HDR_BYTES)
		return &net->counters.tx_malformed;
	if (e->out_bytes - HDR_BYTES > VIRTIO_NET_MAX_FRAME)
		return &net->counters.tx_oversized;
	iov_to_buf(e->iov, e->nr_out, 0, &req->hdr, HDR_BYTES);
	if (!vnet_tx_header_ok(net, &req->hdr))
		return &net->counters.tx_malformed;
	return NULL;
}

/* A chain that does not reach the tap: counted as dropped (and why), handed back. */
static void vnet_tx_drop(struct virtio_net *net, struct tx_req *req, counter_t *why)
{
	if (why)
		counter_add(why, 1);
	counter_add(&net->counters.tx_dropped, 1);
	vnet_tx_release(net, req);
}

static void vnet_tx_start(struct virtio_net *net, struct tx_req *req)
{
	counter_t *why = vnet_tx_reject(net, req);
	struct io_uring_sqe *sqe;
	unsigned int iovcnt;

	net->tx_inflight++;
	if (why) {
		vnet_tx_drop(net, req, why);
		return;
	}
	req->hdr.num_buffers = 0;
	req->frame_len = (uint32_t)(req->elem.out_bytes - HDR_BYTES);
	req->total = req->frame_len + HDR_BYTES;
	iovcnt = vnet_tx_build_iov(req);
	sqe = iothread_get_sqe(net->vdev.io, &req->op);
	if (!sqe) {
		vnet_tx_drop(net, req, NULL);
		return;
	}
	io_uring_prep_writev(sqe, net->tap_file, req->iov, iovcnt, 0);
	iothread_sqe_fixed(sqe);
}

/*
 * Pop and send every available chain.  While frames are in flight kicks
 * stay off: each completion brings the thread back here.  Only when it goes
 * idle does the device ask for a kick again.
 */
static void vnet_tx_process(struct virtio_net *net)
{
	struct virtq *vq = vnet_txq(net);

	if (!vnet_queue_usable(net, vq))
		return;
	for (;;) {
		while (net->free_tx) {
			struct tx_req *req = net->free_tx;
			int ret = virtio_queue_pop(&net->vdev, VIRTIO_NET_TXQ, &req->elem);

			if (ret < 0)
				return;
			if (ret == 0)
				break;
			net->free_tx = req->next_free;
			virtq_disable_notify(vq);
			vnet_tx_start(net, req);
		}
		if (!net->free_tx || net->tx_inflight)
			return;
		if (!virtq_enable_notify(vq))
			return;
	}
}

static void vnet_on_tx_kick(void *opaque)
{
	struct virtio_net *net = opaque;

	counter_add(&net->counters.tx_kicks, 1);
	vnet_tx_process(net);
}

/* ---- RX: tap reads land in guest buffers ---- */

/*
 * rx_state is written by the I/O thread only (and by activate/reset while it
 * is stopped) and read by tests: release/acquire suffice, and cost a plain
 * store on x86 where the default seq_cst store, done per frame, is an xchg.
 */
static void vnet_rx_set_state(struct virtio_net *net, enum rx_state state)
{
	atomic_store_explicit(&net->rx_state, state, memory_order_release);
}

static enum rx_state vnet_rx_state(struct virtio_net *net)
{
	return atomic_load_explicit(&net->rx_state, memory_order_acquire);
}

static struct virtq_elem *vnet_rx_held_at(struct virtio_net *net, unsigned int i)
{
	return &net->rx_held[(net->rx_held_first + i) % VIRTQ_MAX_SIZE];
}

/* Also drops a frame waiting for buffers: after a reset it is nobody's. */
static void vnet_rx_forget_held(struct virtio_net *net)
{
	net->rx_held_first = net->rx_held_count = 0;
	net->rx_held_bytes = 0;
	net->rx_held_descs = 0;
	net->rx_pending_len = 0;
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
static bool vnet_rx_collect(struct virtio_net *net)
{
	struct virtq *vq = vnet_rxq(net);
	uint64_t want =
	    net->rx_pending_len > net->rx_want_bytes ? net->rx_pending_len : net->rx_want_bytes;

	while (net->rx_held_count < VIRTQ_MAX_SIZE &&
	       (net->mrg_rxbuf ? net->rx_held_bytes < want : net->rx_held_count == 0)) {
		struct virtq_elem *e = vnet_rx_held_at(net, net->rx_held_count);
		int ret = virtio_queue_pop(&net->vdev, VIRTIO_NET_RXQ, e);

		if (ret < 0)
			return false;
		if (ret == 0)
			break;
		/* RX buffers are device-writable only and hold at least a header. */
		if (e->nr_out || e->in_bytes < HDR_BYTES) {
			counter_add(&net->counters.rx_malformed, 1);
			virtq_push(vq, e->head, 0);
			continue;
		}
		net->rx_held_count++;
		net->rx_held_bytes += e->in_bytes;
		net->rx_held_descs += e->ndesc;
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
static void vnet_rx_build_iov(struct virtio_net *net)
{
	net->rx_iovcnt = 0;
	net->rx_iov_chains = 0;
	net->rx_iov_bytes = 0;
	for (unsigned int i = 0; i < net->rx_held_count; i++) {
		const struct virtq_elem *e = vnet_rx_held_at(net, i);

		if (net->rx_iovcnt + e->nr_in > RX_MAX_IOV - 1)
			break;
		memcpy(&net->rx_iov[net->rx_iovcnt], e->iov, e->nr_in * sizeof(struct iovec));
		net->rx_iovcnt += e->nr_in;
		net->rx_iov_chains++;
		net->rx_iov_bytes += e->in_bytes;
		if (!net->mrg_rxbuf)
			break;
	}
	net->rx_spill_room = 0;
	if (net->mrg_rxbuf && net->rx_iov_bytes < RX_WANTED_BYTES)
		net->rx_spill_room = RX_WANTED_BYTES - net->rx_iov_bytes;
	net->rx_iov[net->rx_iovcnt++] =
	    (struct iovec){.iov_base = net->rx_spill, .iov_len = net->rx_spill_room + 1};
}

/* A frame of len bytes (header included) is in the held buffers: hand them back. */
static void vnet_rx_complete_frame(struct virtio_net *net, uint64_t len)
{
	struct virtq *vq = vnet_rxq(net);
	uint64_t left = len;
	uint16_t used = 0;

	/* Chains the frame occupies; the header went into the first one. */
	while (used < net->rx_held_count && (used == 0 || left)) {
		uint64_t cap = vnet_rx_held_at(net, used)->in_bytes;

		left -= cap < left ? cap : left;
		used++;
	}
	iov_from_buf(vnet_rx_held_at(net, 0)->iov, vnet_rx_held_at(net, 0)->nr_in,
		     NUM_BUFFERS_OFFSET, &used, sizeof(used));
	left = len;
	for (unsigned int i = 0; i < used; i++) {
		struct virtq_elem *e = vnet_rx_held_at(net, 0);
		uint64_t n = e->in_bytes < left ? e->in_bytes : left;

		virtq_push(vq, e->head, (uint32_t)n);
		left -= n;
		net->rx_held_bytes -= e->in_bytes;
		net->rx_held_descs -= e->ndesc;
		net->rx_held_first = (net->rx_held_first + 1) % VIRTQ_MAX_SIZE;
		net->rx_held_count--;
	}
	counter_add(&net->counters.rx_packets, 1);
	counter_add(&net->counters.rx_bytes, len - HDR_BYTES);
}

/* Wait for the tap to become readable (the I/O thread's watch), then read again. */
static void vnet_rx_wait_for_tap(struct virtio_net *net)
{
	if (!iothread_arm_readable(net->vdev.io, net->rx_tap_watch)) {
		/* Nothing will bring RX back but a kick; better than spinning. */
		vnet_rx_set_state(net, RX_NO_BUFFERS);
		return;
	}
	vnet_rx_set_state(net, RX_POLLING);
}

/* A frame that can never reach the guest: counted, its buffers kept for the next. */
static void vnet_rx_drop_oversized(struct virtio_net *net)
{
	counter_add(&net->counters.rx_oversized, 1);
	counter_add(&net->counters.rx_dropped, 1);
}

/*
 * A frame waits in the spill buffer (MRG_RXBUF).  Once the held chains can
 * take all of it, copy its end into the chains after the ones the read
 * filled and hand it to the guest.  If they cannot and every descriptor of
 * the ring is already held, the guest has nothing left to post: the frame
 * can never fit, so drop it rather than stall RX for good.  Otherwise it
 * keeps waiting.
 */
static void vnet_rx_settle_pending(struct virtio_net *net)
{
	uint64_t off = 0, left = net->rx_pending_len - net->rx_iov_bytes;

	if (net->rx_held_bytes >= net->rx_pending_len) {
		for (unsigned int i = net->rx_iov_chains; left && i < net->rx_held_count; i++) {
			const struct virtq_elem *e = vnet_rx_held_at(net, i);
			uint64_t n = e->in_bytes < left ? e->in_bytes : left;

			iov_from_buf(e->iov, e->nr_in, 0, net->rx_spill + off, n);
			off += n;
			left -= n;
		}
		vnet_rx_complete_frame(net, net->rx_pending_len);
	} else if (net->rx_held_descs >= vnet_rxq(net)->size) {
		vnet_rx_drop_oversized(net);
	} else {
		return;
	}
	net->rx_pending_len = 0;
}

/*
 * Make sure RX buffers are held and rx_iov describes them, a frame waiting
 * for buffers being settled first.  false if there are none (or the waiting
 * frame still needs more; RX then waits for a kick) or the queue broke.
 */
static bool vnet_rx_have_buffers(struct virtio_net *net)
{
	struct virtq *vq = vnet_rxq(net);

	for (;;) {
		if (!vnet_rx_collect(net))
			return false;
		if (net->rx_pending_len)
			vnet_rx_settle_pending(net);
		if (!net->rx_pending_len && net->rx_held_count) {
			virtq_disable_notify(vq);
			vnet_rx_build_iov(net);
			vnet_rx_set_state(net, RX_IDLE);
			return true;
		}
		/* Nothing to read into: leave the tap alone (frames wait in
		 * its queue, or the kernel drops them) until the driver has
		 * posted a batch of buffers, or, once the thread is about to
		 * sleep, any (vnet_poll_rx()). */
		if (!virtq_enable_notify_batch(vq, net->rx_kick_batch)) {
			if (vnet_rx_state(net) != RX_NO_BUFFERS)
				counter_add(&net->counters.rx_no_buffers, 1);
			vnet_rx_set_state(net, RX_NO_BUFFERS);
			return false;
		}
	}
}

/* One readv into the held buffers returned res: account for the frame. */
static void vnet_rx_frame_read(struct virtio_net *net, ssize_t res)
{
	if ((uint64_t)res > net->rx_iov_bytes + net->rx_spill_room) {
		/* More than the buffers and the spill room could keep (the
		 * tap kept only the start): drop it, reuse the buffers. */
		vnet_rx_drop_oversized(net);
	} else if ((uint64_t)res < HDR_BYTES) {
		counter_add(&net->counters.rx_dropped, 1);
	} else if ((uint64_t)res > net->rx_iov_bytes) {
		/* Its end is in the spill buffer: wait for the guest to post
		 * buffers for it (vnet_rx_settle_pending()). */
		net->rx_pending_len = (uint64_t)res;
	} else {
		vnet_rx_complete_frame(net, (uint64_t)res);
	}
}

/*
 * readv() of the held buffers, as a plain system call: glibc's readv() is a
 * cancellation point and brackets the call with asynccancel enable/disable,
 * ~4 % of the I/O thread's time at one frame per call (perf, 64-byte RX).
 * Nothing cancels the I/O thread.  -1 with errno set, like readv().
 */
static ssize_t vnet_tap_readv(struct virtio_net *net)
{
	return syscall(SYS_readv, net->tap.fd, net->rx_iov, (int)net->rx_iovcnt);
}

/*
 * Read frames from the tap into guest buffers until the tap is empty (then
 * wait for POLLIN), the guest has no buffers left (then wait for a kick) or
 * a burst is done (then come back through the loop).  The reads are plain
 * non-blocking readv() calls in this thread: one system call per frame and
 * no io_uring round trip, and frames reach the used ring in tap order.
 */
static void vnet_rx_start(struct virtio_net *net)
{
	enum rx_state state = vnet_rx_state(net);
	unsigned int frames = 0, reads = 0, iovecs = 0;

	if (state == RX_POLLING || !vnet_queue_usable(net, vnet_rxq(net)))
		return;
	while (vnet_rx_have_buffers(net)) {
		ssize_t res;

		if (frames == RX_BURST) {
			/* Readable right away if frames remain: the poll
			 * completes in the next io_uring_enter. */
			vnet_rx_wait_for_tap(net);
			break;
		}
		res = vnet_tap_readv(net);
		reads++;
		iovecs += net->rx_iovcnt;
		if (res < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* Waiting for readability rather than retrying
				 * at once keeps a persistent error from spinning. */
				vnet_log_limited(net, "tap read", errno);
				counter_add(&net->counters.rx_dropped, 1);
			}
			vnet_rx_wait_for_tap(net);
			break;
		}
		vnet_rx_frame_read(net, res);
		if (++frames % RX_PUBLISH_EVERY == 0)
			net->rx_signal_due |= virtq_flush_used(vnet_rxq(net));
	}
	/* Once per burst: the counters are atomics. */
	if (reads) {
		counter_add(&net->counters.rx_reads, reads);
		counter_add(&net->counters.rx_read_iovecs, iovecs);
	}
}

/* The tap became readable (the watch does not call this once stopping). */
static void vnet_on_tap_readable(void *opaque)
{
	struct virtio_net *net = opaque;

	vnet_rx_set_state(net, RX_IDLE);
	vnet_rx_start(net);
}

static void vnet_on_rx_kick(void *opaque)
{
	struct virtio_net *net = opaque;

	counter_add(&net->counters.rx_kicks, 1);
	vnet_rx_start(net);
}

static void vnet_after_batch(void *opaque)
{
	struct virtio_net *net = opaque;
	bool signal;

	vnet_tx_process(net);
	/* Both queues share the interrupt line: at most one per batch. */
	signal = virtq_flush_used(vnet_txq(net));
	signal |= virtq_flush_used(vnet_rxq(net)) || net->rx_signal_due;
	net->rx_signal_due = false;
	if (signal)
		virtio_mmio_signal_used(&net->vdev);
}

/*
 * RX's part of the poll: while the thread busy-polls, a dry RX queue
 * restarts once the driver has posted rx_kick_batch buffers (its kick
 * request, vnet_rx_have_buffers()).  Before the thread sleeps the request
 * becomes "kick at the next buffer": the driver is not obliged to post a
 * batch, and a sleeping device with buffers it has not seen and no kick to
 * come would stall RX for good.  Whatever is there by then is served.
 */
static bool vnet_poll_rx(struct virtio_net *net, bool about_to_sleep)
{
	struct virtq *vq = vnet_rxq(net);

	if (vnet_rx_state(net) != RX_NO_BUFFERS)
		return false;
	if (about_to_sleep ? !virtq_enable_notify(vq) : virtq_avail_count(vq) < net->rx_kick_batch)
		return false;
	vnet_rx_start(net);
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
	struct virtio_net *net = opaque;
	bool rx, tx;

	if (!vnet_queue_usable(net, vnet_rxq(net)) || !vnet_queue_usable(net, vnet_txq(net)))
		return false;
	rx = vnet_poll_rx(net, about_to_sleep);
	tx = net->free_tx && !net->tx_inflight && virtq_has_avail(vnet_txq(net));
	if (tx)
		vnet_tx_process(net);
	return rx || tx;
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
	return true;
}

static void vnet_reset_tx_requests(struct virtio_net *net)
{
	net->free_tx = NULL;
	net->tx_inflight = 0;
	for (unsigned int i = VIRTQ_MAX_SIZE; i-- > 0;) {
		net->tx_reqs[i].op.done = vnet_tx_done;
		net->tx_reqs[i].net = net;
		net->tx_reqs[i].next_free = net->free_tx;
		net->free_tx = &net->tx_reqs[i];
	}
}

/* DRIVER_OK; the transport then starts the I/O thread and kicks both queues,
 * so RX buffers and TX frames posted before DRIVER_OK are served. */
static int vnet_activate(struct virtio_device *dev)
{
	struct virtio_net *net = vnet_from_vdev(dev);
	unsigned int offloads = virtio_net_tun_offloads(dev->driver_features);
	int ret;

	if (!vnet_rxq(net)->ready || !vnet_txq(net)->ready) {
		log_error("%s: DRIVER_OK with the RX or TX queue not ready", net->name);
		return -EINVAL;
	}
	ret = net->tap_ops.set_offload(&net->tap, offloads);
	if (ret)
		/* Harmless: the tap then hands over plain, checksummed frames,
		 * which every driver accepts. */
		log_error("%s: TUNSETOFFLOAD 0x%x: %s (offloads stay off)", net->name, offloads,
			  strerror(-ret));
	net->mrg_rxbuf = virtio_has_feature(dev, VIRTIO_NET_F_MRG_RXBUF);
	net->rx_want_bytes = vnet_rx_want_bytes(dev->driver_features);
	net->rx_kick_batch =
	    vnet_rxq(net)->size / 4 < RX_KICK_BATCH ? vnet_rxq(net)->size / 4 : RX_KICK_BATCH;
	if (!net->rx_kick_batch || !virtio_has_feature(dev, VIRTIO_F_EVENT_IDX))
		net->rx_kick_batch = 1;
	log_debug("%s: driver ready, features 0x%" PRIx64 ", tap offloads 0x%x", net->name,
		  dev->driver_features, offloads);
	vnet_reset_tx_requests(net);
	vnet_rx_forget_held(net);
	vnet_rx_set_state(net, RX_IDLE);
	net->rx_signal_due = false;
	return 0;
}

/* The transport has stopped the I/O thread: no tap operation is in flight. */
static void vnet_reset(struct virtio_device *dev)
{
	struct virtio_net *net = vnet_from_vdev(dev);

	vnet_rx_forget_held(net);
	vnet_rx_set_state(net, RX_IDLE);
	if (net->tap_ops.set_offload(&net->tap, 0))
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
	return vnet_rx_state(net) == RX_NO_BUFFERS;
}

#define VNET_COUNTER_DESC(name) COUNTER_DESC(struct virtio_net_counters, name)
static const struct counter_desc vnet_counter_descs[] = {VIRTIO_NET_COUNTERS(VNET_COUNTER_DESC)};

static void vnet_report_stats(void *opaque, struct json_object *obj)
{
	struct virtio_net *net = opaque;
	struct json_object *counters = json_object_new_object();

	json_object_object_add(obj, "model", json_object_new_string("virtio-net"));
	json_object_object_add(obj, "tap", json_object_new_string(net->tap.ifname));
	counters_to_json(counters, &net->counters, vnet_counter_descs,
			 ARRAY_SIZE(vnet_counter_descs));
	json_object_object_add(obj, "counters", counters);
	iothread_report_stats(net->vdev.io, obj);
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
	net->config.max_virtqueue_pairs = 1;
}

static void vnet_free(struct virtio_net *net)
{
	tap_close(&net->tap);
	free(net->tx_reqs);
	free(net->rx_held);
	free(net->rx_spill);
	free(net);
}

/*
 * The tap as the device needs it: non-blocking (RX reads it with plain
 * readv() in the I/O thread, which must never block), frames passed through
 * with the 12-byte VERSION_1 header, no offloads until the driver
 * negotiates them.
 */
static int vnet_prepare_tap(struct virtio_net *net, const char *tapname)
{
	int flags = fcntl(net->tap.fd, F_GETFL), ret;

	if (flags < 0 || fcntl(net->tap.fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = -errno;
		log_error("--net %s: cannot make the tap non-blocking: %s", tapname,
			  strerror(errno));
		return ret;
	}
	ret = net->tap_ops.set_vnet_hdr_size(&net->tap, HDR_BYTES);
	if (ret) {
		log_error("--net %s: cannot set the vnet header size: %s", tapname, strerror(-ret));
		return ret;
	}
	ret = net->tap_ops.set_offload(&net->tap, 0);
	if (ret)
		log_error("--net %s: TUNSETOFFLOAD: %s", tapname, strerror(-ret));
	return ret;
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
	net->vdev.nr_queues = 2;
	net->vdev.queue_num_max = VIRTQ_MAX_SIZE;
	net->vdev.config = &net->config;
	net->vdev.config_size = sizeof(net->config);
	net->vdev.ops = &vnet_ops;
}

/*
 * The I/O thread's use of the tap: a readable watch (RX reads it with
 * readv, outside the ring) and TX writev on the ring, the one opcode the
 * device adds; then the ring is locked down (iothread_seal).  0 or -errno
 * after logging.
 */
static int vnet_wire_tap(struct virtio_net *net)
{
	int ret;

	net->rx_tap_watch =
	    iothread_watch_readable(net->vdev.io, net->tap.fd, vnet_on_tap_readable, net);
	ret = net->rx_tap_watch < 0 ? net->rx_tap_watch : 0;
	if (!ret) {
		net->tap_file = iothread_register_file(net->vdev.io, net->tap.fd);
		ret = net->tap_file < 0 ? net->tap_file : 0;
	}
	if (!ret)
		ret = iothread_allow_op(net->vdev.io, IORING_OP_WRITEV);
	if (ret)
		log_error("%s: cannot watch tap %s: %s", net->name, net->tap.ifname,
			  strerror(-ret));
	else
		ret = iothread_seal(net->vdev.io); /* logs */
	return ret;
}

int virtio_net_create_on_tap(struct vm *vm, const struct net_config *cfg, unsigned int index,
			     const struct tap *tap, const struct virtio_net_tap_ops *ops,
			     struct virtio_net **out)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	int ret;

	if (!net) {
		log_error("--net %s: out of memory", cfg->tap);
		return -ENOMEM;
	}
	net->tap = *tap;
	net->tap_ops = *ops;
	snprintf(net->name, sizeof(net->name), "virtio-net.%u", index);
	net->tx_reqs = calloc(VIRTQ_MAX_SIZE, sizeof(*net->tx_reqs));
	net->rx_held = calloc(VIRTQ_MAX_SIZE, sizeof(*net->rx_held));
	net->rx_spill = malloc(RX_SPILL_BYTES);
	if (!net->tx_reqs || !net->rx_held || !net->rx_spill) {
		log_error("--net %s: out of memory", cfg->tap);
		ret = -ENOMEM;
		goto fail;
	}
	ret = vnet_prepare_tap(net, cfg->tap);
	if (ret)
		goto fail;
	vnet_describe(net);
	ret = virtio_mmio_init_with_iothread(
	    &net->vdev, vm,
	    &(struct virtio_io_desc){
		/* A full TX ring of writes plus the tap poll and its cancel. */
		.ring_entries = 2 * VIRTQ_MAX_SIZE,
		.opaque = net,
		.kick = {[VIRTIO_NET_RXQ] = vnet_on_rx_kick, [VIRTIO_NET_TXQ] = vnet_on_tx_kick},
		.after_batch = vnet_after_batch,
		.poll = vnet_poll_queues,
		.poll_min_ns = NET_POLL_MIN_NS,
		.poll_max_ns = NET_POLL_MAX_NS,
	    });
	if (ret)
		goto fail;
	ret = vnet_wire_tap(net);
	if (ret) {
		virtio_mmio_destroy(&net->vdev);
		goto fail;
	}
	vnet_build_config(net, cfg); /* the default MAC needs the slot */
	vnet_reset_tx_requests(net);
	vm_register_stats(vm, net->name, vnet_report_stats, net);
	log_debug("%s: tap %s, mac %02x:%02x:%02x:%02x:%02x:%02x", net->name, net->tap.ifname,
		  net->config.mac[0], net->config.mac[1], net->config.mac[2], net->config.mac[3],
		  net->config.mac[4], net->config.mac[5]);
	if (out)
		*out = net;
	return 0;

fail:
	vnet_free(net);
	return ret;
}

static const struct virtio_net_tap_ops vnet_real_tap_ops = {
    .set_vnet_hdr_size = tap_set_vnet_hdr_size,
    .set_offload = tap_set_offload,
};

int virtio_net_create(struct vm *vm, const struct net_config *cfg, unsigned int index,
		      struct virtio_net **out)
{
	char err[256];
	struct tap tap;
	int ret = tap_open(&tap, cfg->tap, TAP_VNET_HDR, err, sizeof(err));

	if (ret) {
		log_error("--net %s: %s", cfg->tap, err);
		return ret;
	}
	return virtio_net_create_on_tap(vm, cfg, index, &tap, &vnet_real_tap_ops, out);
}

void virtio_net_destroy(struct virtio_net *net)
{
	if (!net)
		return;
	virtio_mmio_destroy(&net->vdev);
	vnet_free(net);
}
