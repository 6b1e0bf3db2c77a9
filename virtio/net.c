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
#include <sys/uio.h>
#include <unistd.h>

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

struct rx_op {
	struct iothread_op op;
	struct virtio_net *net;
};

struct virtio_net {
	struct virtio_device vdev;
	char name[32];
	struct tap tap;
	struct virtio_net_tap_ops tap_ops;
	struct virtio_net_config config;
	struct iothread *io;

	/* I/O thread only (and activate/reset while the thread is stopped). */
	struct tx_req *free_tx;
	unsigned int tx_inflight;
	struct tx_req *tx_reqs; /* VIRTQ_MAX_SIZE of them */

	atomic_int rx_state; /* enum rx_state; read by tests */
	bool rx_cancel_sent;
	bool mrg_rxbuf;
	bool rx_signal_due; /* a flush inside a burst found the driver wants an interrupt */
	struct rx_op rx_poll, rx_cancel;
	/* RX chains popped from the guest and not yet used, oldest first. */
	struct virtq_elem *rx_held; /* VIRTQ_MAX_SIZE of them, a ring */
	unsigned int rx_held_first, rx_held_count;
	uint64_t rx_held_bytes;
	struct iovec rx_iov[RX_MAX_IOV];
	unsigned int rx_iovcnt;
	uint64_t rx_iov_bytes; /* guest bytes in rx_iov, without the overflow byte */
	uint8_t rx_overflow;

	atomic_ulong stat_tx_packets, stat_tx_bytes, stat_tx_dropped, stat_tx_malformed,
	    stat_tx_oversized, stat_rx_packets, stat_rx_bytes, stat_rx_dropped, stat_rx_malformed,
	    stat_rx_oversized, stat_rx_no_buffers, stat_tx_kicks, stat_rx_kicks, stat_errors;
};

static struct virtio_net *to_net(struct virtio_device *dev)
{
	return container_of(dev, struct virtio_net, vdev);
}

struct virtio_device *virtio_net_device(struct virtio_net *net)
{
	return &net->vdev;
}

static struct virtq *rx_queue(struct virtio_net *net)
{
	return &net->vdev.queues[VIRTIO_NET_RXQ].vq;
}

static struct virtq *tx_queue(struct virtio_net *net)
{
	return &net->vdev.queues[VIRTIO_NET_TXQ].vq;
}

static void count(atomic_ulong *c, unsigned long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static bool queue_usable(struct virtio_net *net, struct virtq *vq)
{
	return vq->ready && !virtio_mmio_needs_reset(&net->vdev) && !iothread_stopping(net->io);
}

static void log_limited(struct virtio_net *net, const char *what, int err)
{
	if (atomic_fetch_add(&net->stat_errors, 1) < MAX_LOGGED_ERRORS)
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

static void tx_release(struct virtio_net *net, struct tx_req *req)
{
	virtq_push(tx_queue(net), req->elem.head, 0);
	req->next_free = net->free_tx;
	net->free_tx = req;
	net->tx_inflight--;
}

static void tx_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct tx_req *req = (struct tx_req *)op;
	struct virtio_net *net = req->net;

	(void)flags;
	if (res == (int)req->total) {
		count(&net->stat_tx_packets, 1);
		count(&net->stat_tx_bytes, req->frame_len);
	} else {
		/* The tap refused it (bad GSO metadata, too short, interface
		 * gone) or took part of it: the frame is lost either way. */
		count(&net->stat_tx_dropped, 1);
		if (res < 0 && res != -ECANCELED)
			log_limited(net, "tap write", -res);
	}
	tx_release(net, req);
}

/* Offloads in the header must be ones the driver negotiated. */
static bool tx_header_ok(const struct virtio_net *net, const struct virtio_net_hdr_v1 *h)
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
static unsigned int tx_build_iov(struct tx_req *req)
{
	req->iov[0] = (struct iovec){.iov_base = &req->hdr, .iov_len = HDR_BYTES};
	return 1 + iov_tail(&req->iov[1], req->elem.iov, req->elem.nr_out, HDR_BYTES);
}

static void tx_start(struct virtio_net *net, struct tx_req *req)
{
	struct virtq_elem *e = &req->elem;
	struct io_uring_sqe *sqe;
	unsigned int iovcnt;

	net->tx_inflight++;
	/* TX buffers are device-readable only and start with a header. */
	if (e->nr_in || e->out_bytes < HDR_BYTES) {
		count(&net->stat_tx_malformed, 1);
		count(&net->stat_tx_dropped, 1);
		tx_release(net, req);
		return;
	}
	if (e->out_bytes - HDR_BYTES > VIRTIO_NET_MAX_FRAME) {
		count(&net->stat_tx_oversized, 1);
		count(&net->stat_tx_dropped, 1);
		tx_release(net, req);
		return;
	}
	iov_to_buf(e->iov, e->nr_out, 0, &req->hdr, HDR_BYTES);
	if (!tx_header_ok(net, &req->hdr)) {
		count(&net->stat_tx_malformed, 1);
		count(&net->stat_tx_dropped, 1);
		tx_release(net, req);
		return;
	}
	req->hdr.num_buffers = 0;
	req->frame_len = (uint32_t)(e->out_bytes - HDR_BYTES);
	req->total = req->frame_len + HDR_BYTES;
	iovcnt = tx_build_iov(req);
	sqe = iothread_get_sqe(net->io, &req->op);
	if (!sqe) {
		count(&net->stat_tx_dropped, 1);
		tx_release(net, req);
		return;
	}
	io_uring_prep_writev(sqe, net->tap.fd, req->iov, iovcnt, 0);
}

/*
 * Pop and send every available chain.  While frames are in flight kicks
 * stay off: each completion brings the thread back here.  Only when it goes
 * idle does the device ask for a kick again.
 */
static void tx_process(struct virtio_net *net)
{
	struct virtq *vq = tx_queue(net);

	if (!queue_usable(net, vq))
		return;
	for (;;) {
		while (net->free_tx) {
			struct tx_req *req = net->free_tx;
			int ret = virtq_pop(vq, &req->elem);

			if (ret < 0) {
				virtio_mmio_set_needs_reset(&net->vdev, vq->error);
				return;
			}
			if (ret == 0)
				break;
			net->free_tx = req->next_free;
			virtq_disable_notify(vq);
			tx_start(net, req);
		}
		if (!net->free_tx || net->tx_inflight)
			return;
		if (!virtq_enable_notify(vq))
			return;
	}
}

static void on_tx_kick(void *opaque)
{
	struct virtio_net *net = opaque;

	count(&net->stat_tx_kicks, 1);
	tx_process(net);
}

/* ---- RX: tap reads land in guest buffers ---- */

static struct virtq_elem *rx_held_at(struct virtio_net *net, unsigned int i)
{
	return &net->rx_held[(net->rx_held_first + i) % VIRTQ_MAX_SIZE];
}

static void rx_forget_held(struct virtio_net *net)
{
	net->rx_held_first = net->rx_held_count = 0;
	net->rx_held_bytes = 0;
}

/* With MRG_RXBUF: header + frame bytes the held buffers should cover before a read. */
#define RX_WANTED_BYTES (HDR_BYTES + VIRTIO_NET_MAX_FRAME)

/*
 * Take RX chains from the guest: one without MRG_RXBUF (the driver makes
 * each big enough), with it as many as cover the largest frame or as the
 * guest has posted.  Returns false if the queue broke.
 */
static bool rx_collect(struct virtio_net *net)
{
	struct virtq *vq = rx_queue(net);

	while (net->rx_held_count < VIRTQ_MAX_SIZE &&
	       (net->mrg_rxbuf ? net->rx_held_bytes < RX_WANTED_BYTES : net->rx_held_count == 0)) {
		struct virtq_elem *e = rx_held_at(net, net->rx_held_count);
		int ret = virtq_pop(vq, e);

		if (ret < 0) {
			virtio_mmio_set_needs_reset(&net->vdev, vq->error);
			return false;
		}
		if (ret == 0)
			break;
		/* RX buffers are device-writable only and hold at least a header. */
		if (e->nr_out || e->in_bytes < HDR_BYTES) {
			count(&net->stat_rx_malformed, 1);
			virtq_push(vq, e->head, 0);
			continue;
		}
		net->rx_held_count++;
		net->rx_held_bytes += e->in_bytes;
	}
	return true;
}

/*
 * The held buffers as one iovec array, oldest first, up to the readv limit,
 * plus one byte of our own at the end: a read that reaches it had a frame
 * larger than the guest's buffers (the tap silently truncates).
 */
static void rx_build_iov(struct virtio_net *net)
{
	net->rx_iovcnt = 0;
	net->rx_iov_bytes = 0;
	for (unsigned int i = 0; i < net->rx_held_count; i++) {
		const struct virtq_elem *e = rx_held_at(net, i);

		if (net->rx_iovcnt + e->nr_in > RX_MAX_IOV - 1)
			break;
		memcpy(&net->rx_iov[net->rx_iovcnt], e->iov, e->nr_in * sizeof(struct iovec));
		net->rx_iovcnt += e->nr_in;
		net->rx_iov_bytes += e->in_bytes;
		if (!net->mrg_rxbuf)
			break;
	}
	net->rx_iov[net->rx_iovcnt++] = (struct iovec){.iov_base = &net->rx_overflow, .iov_len = 1};
}

/* A frame of len bytes (header included) is in the held buffers: hand them back. */
static void rx_complete_frame(struct virtio_net *net, uint64_t len)
{
	struct virtq *vq = rx_queue(net);
	uint64_t left = len;
	uint16_t used = 0;

	/* Chains the frame occupies; the header went into the first one. */
	while (used < net->rx_held_count && (used == 0 || left)) {
		uint64_t cap = rx_held_at(net, used)->in_bytes;

		left -= cap < left ? cap : left;
		used++;
	}
	iov_from_buf(rx_held_at(net, 0)->iov, rx_held_at(net, 0)->nr_in, NUM_BUFFERS_OFFSET, &used,
		     sizeof(used));
	left = len;
	for (unsigned int i = 0; i < used; i++) {
		struct virtq_elem *e = rx_held_at(net, 0);
		uint64_t n = e->in_bytes < left ? e->in_bytes : left;

		virtq_push(vq, e->head, (uint32_t)n);
		left -= n;
		net->rx_held_bytes -= e->in_bytes;
		net->rx_held_first = (net->rx_held_first + 1) % VIRTQ_MAX_SIZE;
		net->rx_held_count--;
	}
	count(&net->stat_rx_packets, 1);
	count(&net->stat_rx_bytes, len - HDR_BYTES);
}

/* Wait for the tap to become readable (io_uring poll), then read again. */
static void rx_wait_for_tap(struct virtio_net *net)
{
	struct io_uring_sqe *sqe = iothread_get_sqe(net->io, &net->rx_poll.op);

	if (!sqe) {
		/* Nothing will bring RX back but a kick; better than spinning. */
		atomic_store(&net->rx_state, RX_NO_BUFFERS);
		return;
	}
	io_uring_prep_poll_add(sqe, net->tap.fd, POLLIN);
	atomic_store(&net->rx_state, RX_POLLING);
}

/*
 * Make sure RX buffers are held and rx_iov describes them.  false if there
 * are none (RX then waits for a kick) or the queue broke.
 */
static bool rx_have_buffers(struct virtio_net *net)
{
	struct virtq *vq = rx_queue(net);

	for (;;) {
		if (!rx_collect(net))
			return false;
		if (net->rx_held_count) {
			virtq_disable_notify(vq);
			rx_build_iov(net);
			atomic_store(&net->rx_state, RX_IDLE);
			return true;
		}
		/* Nothing to read into: leave the tap alone (frames wait in
		 * its queue, or the kernel drops them) until the next kick. */
		if (!virtq_enable_notify(vq)) {
			if (atomic_load(&net->rx_state) != RX_NO_BUFFERS)
				count(&net->stat_rx_no_buffers, 1);
			atomic_store(&net->rx_state, RX_NO_BUFFERS);
			return false;
		}
	}
}

/* One readv into the held buffers returned res: account for the frame. */
static void rx_frame_read(struct virtio_net *net, ssize_t res)
{
	if ((uint64_t)res > net->rx_iov_bytes) {
		/* The frame did not fit the buffers we had (the tap kept
		 * only the start): drop it, reuse the buffers for the next. */
		count(&net->stat_rx_oversized, 1);
		count(&net->stat_rx_dropped, 1);
	} else if ((uint64_t)res < HDR_BYTES) {
		count(&net->stat_rx_dropped, 1);
	} else {
		rx_complete_frame(net, (uint64_t)res);
	}
}

/*
 * Read frames from the tap into guest buffers until the tap is empty (then
 * wait for POLLIN), the guest has no buffers left (then wait for a kick) or
 * a burst is done (then come back through the loop).  The reads are plain
 * non-blocking readv() calls in this thread: one system call per frame and
 * no io_uring round trip, and frames reach the used ring in tap order.
 */
static void rx_start(struct virtio_net *net)
{
	int state = atomic_load(&net->rx_state);
	unsigned int frames = 0;

	if (state == RX_POLLING || !queue_usable(net, rx_queue(net)))
		return;
	while (rx_have_buffers(net)) {
		ssize_t res;

		if (frames == RX_BURST) {
			/* Readable right away if frames remain: the poll
			 * completes in the next io_uring_enter. */
			rx_wait_for_tap(net);
			return;
		}
		res = readv(net->tap.fd, net->rx_iov, (int)net->rx_iovcnt);
		if (res < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* Waiting for readability rather than retrying
				 * at once keeps a persistent error from spinning. */
				log_limited(net, "tap read", errno);
				count(&net->stat_rx_dropped, 1);
			}
			rx_wait_for_tap(net);
			return;
		}
		rx_frame_read(net, res);
		if (++frames % RX_PUBLISH_EVERY == 0)
			net->rx_signal_due |= virtq_flush_used(rx_queue(net));
	}
}

static void rx_poll_done(struct iothread_op *op, int res, uint32_t flags)
{
	struct virtio_net *net = ((struct rx_op *)op)->net;

	(void)flags;
	atomic_store(&net->rx_state, RX_IDLE);
	if (res == -ECANCELED || iothread_stopping(net->io))
		return;
	rx_start(net);
}

static void noop_done(struct iothread_op *op, int res, uint32_t flags)
{
	(void)op;
	(void)res;
	(void)flags;
}

static void on_rx_kick(void *opaque)
{
	struct virtio_net *net = opaque;

	count(&net->stat_rx_kicks, 1);
	rx_start(net);
}

/* iothread_stop() cancels only its own watches; a tap read may wait forever. */
static void rx_cancel_if_stopping(struct virtio_net *net)
{
	int state = atomic_load(&net->rx_state);
	struct io_uring_sqe *sqe;

	if (!iothread_stopping(net->io) || net->rx_cancel_sent || state != RX_POLLING)
		return;
	sqe = iothread_get_sqe(net->io, &net->rx_cancel.op);
	if (!sqe)
		return;
	io_uring_prep_cancel(sqe, &net->rx_poll.op, 0);
	net->rx_cancel_sent = true;
}

static void after_batch(void *opaque)
{
	struct virtio_net *net = opaque;
	bool signal;

	tx_process(net);
	rx_cancel_if_stopping(net);
	/* Both queues share the interrupt line: at most one per batch. */
	signal = virtq_flush_used(tx_queue(net));
	signal |= virtq_flush_used(rx_queue(net)) || net->rx_signal_due;
	net->rx_signal_due = false;
	if (signal)
		virtio_mmio_signal_used(&net->vdev);
}

/*
 * The I/O thread's poll function (iothread_set_poll): before sleeping, look
 * for chains the guest posted without a kick, so a polling driver rarely
 * has to kick.  Both queues already asked for kicks where they went idle
 * (TX with nothing in flight, RX without buffers), so nothing needs
 * re-arming before the thread sleeps; a last look covers chains that
 * arrived as the window closed.
 */
static bool poll_queues(void *opaque, bool about_to_sleep)
{
	struct virtio_net *net = opaque;
	bool rx, tx;

	(void)about_to_sleep;
	if (!queue_usable(net, rx_queue(net)) || !queue_usable(net, tx_queue(net)))
		return false;
	rx = atomic_load(&net->rx_state) == RX_NO_BUFFERS && virtq_has_avail(rx_queue(net));
	tx = net->free_tx && !net->tx_inflight && virtq_has_avail(tx_queue(net));
	if (rx)
		rx_start(net);
	if (tx)
		tx_process(net);
	return rx || tx;
}

/* ---- transport callbacks ---- */

static bool features_ok(struct virtio_device *dev, uint64_t f)
{
	struct virtio_net *net = to_net(dev);

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

static void reset_tx_requests(struct virtio_net *net)
{
	net->free_tx = NULL;
	net->tx_inflight = 0;
	for (unsigned int i = VIRTQ_MAX_SIZE; i-- > 0;) {
		net->tx_reqs[i].op.done = tx_done;
		net->tx_reqs[i].net = net;
		net->tx_reqs[i].next_free = net->free_tx;
		net->free_tx = &net->tx_reqs[i];
	}
}

/* Kick the I/O thread once, so it looks at rings filled before DRIVER_OK. */
static void self_kick(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0) {
	}
}

static int activate(struct virtio_device *dev)
{
	struct virtio_net *net = to_net(dev);
	unsigned int offloads = virtio_net_tun_offloads(dev->driver_features);
	int ret;

	if (!rx_queue(net)->ready || !tx_queue(net)->ready) {
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
	log_debug("%s: driver ready, features 0x%" PRIx64 ", tap offloads 0x%x", net->name,
		  dev->driver_features, offloads);
	reset_tx_requests(net);
	rx_forget_held(net);
	atomic_store(&net->rx_state, RX_IDLE);
	net->rx_cancel_sent = false;
	net->rx_signal_due = false;
	ret = iothread_start(net->io);
	if (ret) {
		log_error("%s: cannot start the I/O thread: %s", net->name, strerror(-ret));
		return ret;
	}
	self_kick(dev->queues[VIRTIO_NET_RXQ].kick_fd);
	self_kick(dev->queues[VIRTIO_NET_TXQ].kick_fd);
	return 0;
}

static void reset(struct virtio_device *dev)
{
	struct virtio_net *net = to_net(dev);

	/* Returns once every tap operation in flight has completed. */
	iothread_stop(net->io);
	rx_forget_held(net);
	atomic_store(&net->rx_state, RX_IDLE);
	if (net->tap_ops.set_offload(&net->tap, 0))
		log_debug("%s: cannot clear tap offloads", net->name);
}

static const struct virtio_device_ops net_ops = {
    .features_ok = features_ok,
    .activate = activate,
    .reset = reset,
};

void virtio_net_get_stats(struct virtio_net *net, struct virtio_net_stats *s)
{
	struct iothread_stats io;

	s->tx_packets = atomic_load(&net->stat_tx_packets);
	s->tx_bytes = atomic_load(&net->stat_tx_bytes);
	s->tx_dropped = atomic_load(&net->stat_tx_dropped);
	s->tx_malformed = atomic_load(&net->stat_tx_malformed);
	s->tx_oversized = atomic_load(&net->stat_tx_oversized);
	s->rx_packets = atomic_load(&net->stat_rx_packets);
	s->rx_bytes = atomic_load(&net->stat_rx_bytes);
	s->rx_dropped = atomic_load(&net->stat_rx_dropped);
	s->rx_malformed = atomic_load(&net->stat_rx_malformed);
	s->rx_oversized = atomic_load(&net->stat_rx_oversized);
	s->rx_no_buffers = atomic_load(&net->stat_rx_no_buffers);
	s->tx_kicks = atomic_load(&net->stat_tx_kicks);
	s->rx_kicks = atomic_load(&net->stat_rx_kicks);
	s->interrupts = atomic_load(&net->vdev.stat_interrupts);
	iothread_get_stats(net->io, &io);
	s->io_loops = io.loops;
}

bool virtio_net_rx_stalled(struct virtio_net *net)
{
	return atomic_load(&net->rx_state) == RX_NO_BUFFERS;
}

static void print_stats(void *opaque, FILE *out)
{
	struct virtio_net *net = opaque;
	struct virtio_net_stats s;

	virtio_net_get_stats(net, &s);
	fprintf(out,
		"%s: tx_packets=%lu tx_bytes=%lu tx_dropped=%lu tx_malformed=%lu "
		"tx_oversized=%lu rx_packets=%lu rx_bytes=%lu rx_dropped=%lu rx_malformed=%lu "
		"rx_oversized=%lu rx_no_buffers=%lu tx_kicks=%lu rx_kicks=%lu interrupts=%lu "
		"io_loops=%lu tap=%s\n",
		net->name, s.tx_packets, s.tx_bytes, s.tx_dropped, s.tx_malformed, s.tx_oversized,
		s.rx_packets, s.rx_bytes, s.rx_dropped, s.rx_malformed, s.rx_oversized,
		s.rx_no_buffers, s.tx_kicks, s.rx_kicks, s.interrupts, s.io_loops, net->tap.ifname);
}

static void build_config(struct virtio_net *net, const struct net_config *cfg)
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

static void free_net(struct virtio_net *net)
{
	if (net->io)
		iothread_destroy(net->io);
	tap_close(&net->tap);
	free(net->tx_reqs);
	free(net->rx_held);
	free(net);
}

int virtio_net_create_on_tap(struct vm *vm, const struct net_config *cfg, unsigned int index,
			     const struct tap *tap, const struct virtio_net_tap_ops *ops,
			     struct virtio_net **out)
{
	struct virtio_net *net = calloc(1, sizeof(*net));
	int flags, ret;

	if (!net) {
		log_error("--net %s: out of memory", cfg->tap);
		return -ENOMEM;
	}
	net->tap = *tap;
	net->tap_ops = *ops;
	/* RX reads the tap with plain readv() in the I/O thread: it must never block. */
	flags = fcntl(net->tap.fd, F_GETFL);
	if (flags < 0 || fcntl(net->tap.fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = -errno;
		log_error("--net %s: cannot make the tap non-blocking: %s", cfg->tap,
			  strerror(errno));
		goto fail;
	}
	snprintf(net->name, sizeof(net->name), "virtio-net%u", index);
	net->rx_poll = (struct rx_op){.op.done = rx_poll_done, .net = net};
	net->rx_cancel = (struct rx_op){.op.done = noop_done, .net = net};
	net->tx_reqs = calloc(VIRTQ_MAX_SIZE, sizeof(*net->tx_reqs));
	net->rx_held = calloc(VIRTQ_MAX_SIZE, sizeof(*net->rx_held));
	if (!net->tx_reqs || !net->rx_held) {
		log_error("--net %s: out of memory", cfg->tap);
		ret = -ENOMEM;
		goto fail;
	}
	/* Frames are passed through with the 12-byte VERSION_1 header; no
	 * offloads until the driver negotiates them. */
	ret = ops->set_vnet_hdr_size(&net->tap, HDR_BYTES);
	if (ret) {
		log_error("--net %s: cannot set the vnet header size: %s", cfg->tap,
			  strerror(-ret));
		goto fail;
	}
	ret = ops->set_offload(&net->tap, 0);
	if (ret) {
		log_error("--net %s: TUNSETOFFLOAD: %s", cfg->tap, strerror(-ret));
		goto fail;
	}
	/* A full TX ring of writes plus the RX read, poll and cancel. */
	net->io = iothread_create(net->name, 2 * VIRTQ_MAX_SIZE);
	if (!net->io) {
		ret = -errno;
		log_error("%s: io_uring_queue_init: %s (the I/O thread needs io_uring)", net->name,
			  strerror(errno));
		goto fail;
	}

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
	net->vdev.ops = &net_ops;
	ret = virtio_mmio_init(&net->vdev, vm);
	if (ret)
		goto fail;
	build_config(net, cfg);
	ret = iothread_watch_eventfd(net->io, net->vdev.queues[VIRTIO_NET_RXQ].kick_fd, on_rx_kick,
				     net);
	if (!ret)
		ret = iothread_watch_eventfd(net->io, net->vdev.queues[VIRTIO_NET_TXQ].kick_fd,
					     on_tx_kick, net);
	if (!ret)
		ret = iothread_add_batch_hook(net->io, after_batch, net);
	if (!ret)
		ret =
		    iothread_set_poll(net->io, poll_queues, net, NET_POLL_MIN_NS, NET_POLL_MAX_NS);
	if (ret) {
		log_error("%s: cannot set up the I/O thread: %s", net->name, strerror(-ret));
		virtio_mmio_destroy(&net->vdev);
		goto fail;
	}
	reset_tx_requests(net);
	vm_register_stats(vm, print_stats, net);
	log_debug("%s: tap %s, mac %02x:%02x:%02x:%02x:%02x:%02x", net->name, net->tap.ifname,
		  net->config.mac[0], net->config.mac[1], net->config.mac[2], net->config.mac[3],
		  net->config.mac[4], net->config.mac[5]);
	if (out)
		*out = net;
	return 0;

fail:
	free_net(net);
	return ret;
}

static const struct virtio_net_tap_ops real_tap_ops = {
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
	return virtio_net_create_on_tap(vm, cfg, index, &tap, &real_tap_ops, out);
}

void virtio_net_destroy(struct virtio_net *net)
{
	if (!net)
		return;
	virtio_mmio_destroy(&net->vdev);
	free_net(net);
}
