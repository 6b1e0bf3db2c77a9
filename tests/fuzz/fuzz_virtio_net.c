/*
 * virtio-net (virtio/net.c) through the mmio transport and its real I/O
 * thread, with a SOCK_DGRAM socketpair standing in for the tap (one
 * datagram per frame, vnet header included, as the unit tests do).  The
 * input picks the negotiated features (MRG_RXBUF or not, checksum and TSO
 * offloads, indirect descriptors) and then interleaves:
 *  - TX batches: chains of a header (flags, gso type, sizes as the input
 *    says) and a payload, in various layouts (split, merged, short,
 *    oversized, with a stray writable buffer);
 *  - RX buffers: chains of writable buffers of input-chosen sizes (some
 *    too small, some with a readable buffer);
 *  - RX frames: datagrams of input-chosen length and header sent into the
 *    "tap".
 * A model of the device (virtio 1.2, 5.1.6) predicts every outcome.
 *
 * Invariants:
 *  - a TX frame reaches the tap exactly when its chain is well-formed and
 *    its header asks only for negotiated offloads, and the datagram is the
 *    guest's bytes (header with num_buffers 0, then the payload); every
 *    other chain is counted as malformed or oversized; every chain is used;
 *  - an RX frame is delivered into the buffers the model says (the first
 *    chain without MRG_RXBUF, the fewest chains that hold it with it),
 *    byte-exact with num_buffers set, with used lengths that fit those
 *    buffers; a frame too large is dropped and counted, a frame waiting
 *    for buffers (MRG_RXBUF) is delivered once they are posted; malformed
 *    RX chains are used with length 0;
 *  - only a chain with a readable buffer after a writable one (or an
 *    indirect table not negotiated) puts the device in NEEDS_RESET;
 *  - nothing stalls: every prediction is met within seconds, and after the
 *    input, a reset and a normal bring-up, a frame goes each way.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_vm.h"
#include "fuzz_input.h"
#include "mmio_driver.h"
#include "devices/net/tap.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtq_driver.h"
#include "vm_config.h"
#include "virtio_fuzz_support.h"

#define RAM_SIZE      (4u << 20)
#define QSIZE	      16
#define HDR	      12
#define MAX_FRAME     VIRTIO_NET_MAX_FRAME
#define RX_WANTED     (HDR + MAX_FRAME)
#define TX_BUFS	      0x10000u /* TX buffers: a bump allocator, reset per batch */
#define TX_BUFS_END   0x200000u
#define RX_BUFS	      0x200000u /* RX chain with head h: RX_BUFS + h * RX_CHAIN_AREA */
#define RX_CHAIN_AREA 0x2000u	/* its buffers at 1 KiB steps, its indirect table at 6 KiB */
#define RX_SEG_MAX    1024
#define MAX_SEGS      6
#define TX_BATCH      4
#define RX_PER_POST   3
#define MAX_FRAMES    64
#define MAX_EXPECTED  64

#define F(bit) (1ULL << (bit))

static struct vm *vm;
static struct virtio_net *net;
static struct virtio_device *dev;
static uint8_t *ram;
static int peer = -1, tapfd = -1;
static uint64_t features;
static bool mrg;
static FILE *trace;
static uint8_t frame_buf[RX_WANTED + 16];
static uint8_t recv_buf[RX_WANTED + 16];

static const struct virtio_net_tap_ops fake_ops = {
    .set_vnet_hdr_size = vfuzz_tap_set_vnet_hdr_size,
    .set_offload = vfuzz_tap_set_offload,
};

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* The driver's side of one queue: descriptors in use, where the used ring was read to. */
struct drvq {
	struct tdrv t;
	bool busy[QSIZE];
	uint16_t chain_descs[QSIZE][MAX_SEGS]; /* by head: the descriptors it took */
	uint8_t chain_ndesc[QSIZE];
	uint16_t used_seen;
};
static struct drvq rxq, txq;

/* ---- the model's RX state ---- */
struct rx_chain {
	uint16_t head;
	uint32_t cap; /* writable bytes */
	uint8_t ndesc;
	struct seg seg[MAX_SEGS];
	unsigned int nseg;
};

static struct {
	struct rx_chain good[QSIZE]; /* posted well-formed chains not yet used, oldest first */
	unsigned int ngood;
	bool malformed[QSIZE];	     /* by head: posted, to be used with length 0 */
	uint32_t frames[MAX_FRAMES]; /* sent, not yet delivered or dropped, oldest first */
	uint8_t frame_seed[MAX_FRAMES];
	uint8_t frame_hdr[MAX_FRAMES][HDR];
	unsigned int nframes;
	/* Deliveries the device owes: one used entry per chain, oldest first. */
	struct {
		struct rx_chain chain;
		uint32_t len;	 /* bytes in this chain */
		uint32_t offset; /* of the frame's bytes, where this chain starts */
		uint32_t frame_len;
		uint16_t num_buffers; /* chains the frame took, in its header */
		uint8_t seed;
		uint8_t hdr[HDR];
	} expect[MAX_EXPECTED];
	unsigned int nexpect;
	unsigned long dropped, oversized; /* counters as they must be */
} rx;

static unsigned long fnet_stat_of(const counter_t *c)
{
	return counter_get(c);
}

#define STAT(name) fnet_stat_of(&virtio_net_counters(net)->name)

static bool fnet_alloc_descs(struct drvq *q, unsigned int n, uint16_t *out)
{
	unsigned int got = 0;

	for (uint16_t i = 0; i < QSIZE && got < n; i++)
		if (!q->busy[i])
			out[got++] = i;
	if (got < n)
		return false;
	for (unsigned int i = 0; i < n; i++)
		q->busy[out[i]] = true;
	return true;
}

static void fnet_free_chain(struct drvq *q, uint16_t head)
{
	for (unsigned int i = 0; i < q->chain_ndesc[head]; i++)
		q->busy[q->chain_descs[head][i]] = false;
	q->chain_ndesc[head] = 0;
}

/*
 * Writes a chain of segs into queue q, directly or as an indirect table at
 * table_gpa, and makes it available.  Returns its head, or -1 if the ring
 * has no room.
 */
static int fnet_post_chain(struct drvq *q, const struct seg *segs, unsigned int n, bool indirect,
			   uint64_t table_gpa)
{
	uint16_t d[MAX_SEGS];
	unsigned int nd = indirect ? 1 : n;

	if (!n || !fnet_alloc_descs(q, nd, d))
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		uint16_t flags =
		    (segs[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0);

		if (indirect)
			tdrv_desc_at(&q->t, table_gpa, (uint16_t)i, segs[i].gpa, segs[i].len, flags,
				     (uint16_t)(i + 1));
		else
			tdrv_desc(&q->t, d[i], segs[i].gpa, segs[i].len, flags,
				  i + 1 < n ? d[i + 1] : 0);
	}
	if (indirect)
		tdrv_desc(&q->t, d[0], table_gpa, 16 * n, VIRTQ_DESC_F_INDIRECT, 0);
	memcpy(q->chain_descs[d[0]], d, nd * sizeof(d[0]));
	q->chain_ndesc[d[0]] = (uint8_t)nd;
	tdrv_post(&q->t, d[0]);
	return d[0];
}

/* Would the virtqueue refuse this chain (the device then needs a reset)? */
static bool fnet_chain_breaks(const struct seg *segs, unsigned int n, bool indirect)
{
	bool seen_write = false;

	if (indirect && !(features & F(VIRTIO_F_INDIRECT_DESC)))
		return true;
	for (unsigned int i = 0; i < n; i++) {
		if (!segs[i].write && seen_write)
			return true;
		if (segs[i].write && segs[i].len)
			seen_write = true;
	}
	return false;
}

static bool fnet_needs_reset(void)
{
	return tmmio_read(dev, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

static bool fnet_needs_reset_cb(void *arg)
{
	(void)arg;
	return fnet_needs_reset();
}

/* Ask for an interrupt at the next used entry of both queues. */
static void fnet_want_interrupts(void)
{
	tdrv_set_used_event(&rxq.t, tdrv_used_idx(&rxq.t));
	tdrv_set_used_event(&txq.t, tdrv_used_idx(&txq.t));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void fnet_drain(int fd)
{
	while (recv(fd, recv_buf, sizeof(recv_buf), MSG_DONTWAIT) >= 0)
		;
}

static void fnet_bring_up(uint64_t f)
{
	uint32_t st;

	tmmio_write(dev, VIRTIO_MMIO_STATUS, 0);
	fnet_drain(peer);
	fnet_drain(tapfd);
	st = tmmio_negotiate(dev, f);
	VFUZZ_CHECK(st & VIRTIO_STATUS_FEATURES_OK, "features 0x%llx refused",
		    (unsigned long long)f);
	features = f;
	mrg = f & F(VIRTIO_NET_F_MRG_RXBUF);
	memset(&rxq, 0, sizeof(rxq));
	memset(&txq, 0, sizeof(txq));
	memset(&rx, 0, sizeof(rx));
	tdrv_init(&rxq.t, &vm->mem, QSIZE, 0x1000);
	tdrv_init(&txq.t, &vm->mem, QSIZE, 0x4000);
	tmmio_setup_queue(dev, VIRTIO_NET_RXQ, QSIZE, rxq.t.desc, rxq.t.avail, rxq.t.used);
	tmmio_setup_queue(dev, VIRTIO_NET_TXQ, QSIZE, txq.t.desc, txq.t.avail, txq.t.used);
	tmmio_write(dev, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	VFUZZ_CHECK(tmmio_read(dev, VIRTIO_MMIO_STATUS) == 0x0f, "Status 0x%x after DRIVER_OK",
		    tmmio_read(dev, VIRTIO_MMIO_STATUS));
	rx.dropped = STAT(rx_dropped);
	rx.oversized = STAT(rx_oversized);
}

/* ---- TX ---- */

struct tx_chain {
	struct seg seg[MAX_SEGS];
	unsigned int nseg;
	bool indirect;
	uint64_t table;
	bool breaks;
	enum { TX_SENT, TX_MALFORMED, TX_OVERSIZED } fate;
	uint64_t frame_gpa; /* header then payload, contiguous */
	uint32_t frame_len; /* payload bytes */
};

static bool fnet_tx_header_ok(const struct virtio_net_hdr_v1 *h)
{
	if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return false;
	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !(features & F(VIRTIO_NET_F_CSUM)))
		return false;
	switch (h->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return features & F(VIRTIO_NET_F_HOST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return features & F(VIRTIO_NET_F_HOST_TSO6);
	default:
		return false;
	}
}

static void fnet_build_tx(struct fuzz_input *in, struct tx_chain *c, uint64_t *next,
			  bool may_be_large)
{
	static const uint8_t gso[] = {0, 0, 0, 0, 1, 4, 3, 5, 0x81, 0x84};
	uint8_t layout = fuzz_u8(in), how = fuzz_u8(in), seed = fuzz_u8(in);
	struct virtio_net_hdr_v1 h;
	uint32_t len, total, at = 0;
	uint8_t *p;

	memset(c, 0, sizeof(*c));
	h.flags = fuzz_u8(in);
	h.flags = h.flags < 0xf0 ? h.flags % 2 : h.flags;
	h.gso_type = gso[fuzz_u8(in) % sizeof(gso)];
	h.hdr_len = fuzz_u16(in);
	h.gso_size = fuzz_u16(in);
	h.csum_start = fuzz_u16(in);
	h.csum_offset = fuzz_u16(in);
	h.num_buffers = fuzz_u16(in);
	if (how < 0xc0)
		len = 8u * fuzz_u8(in);
	else if (how < 0xf0 || !may_be_large)
		len = fuzz_u16(in) % 9000;
	else
		len = MAX_FRAME - 1 + fuzz_u8(in) % 3; /* the largest frame and just over */
	total = HDR + len;
	/* Room for the frame, a stray buffer and an indirect table. */
	if (*next + total + 256 > TX_BUFS_END)
		return;
	c->frame_gpa = *next;
	c->frame_len = len;
	c->indirect = fuzz_u8(in) >= 0xd0;
	p = ram + c->frame_gpa;
	memcpy(p, &h, HDR);
	for (uint32_t i = 0; i < len; i++)
		p[HDR + i] = (uint8_t)(seed + i * 13);
	*next = (*next + total + 15) & ~15ULL;
	/* Layouts: header and payload apart; header split; all in one; payload in pieces. */
	switch (layout % 8) {
	case 0:
	case 1:
		c->seg[c->nseg++] = (struct seg){c->frame_gpa, HDR, false};
		c->seg[c->nseg++] = (struct seg){c->frame_gpa + HDR, len, false};
		break;
	case 2:
		c->seg[c->nseg++] = (struct seg){c->frame_gpa, 5, false};
		c->seg[c->nseg++] = (struct seg){c->frame_gpa + 5, HDR - 5 + len, false};
		break;
	case 3:
		c->seg[c->nseg++] = (struct seg){c->frame_gpa, total, false};
		break;
	case 4:
		for (uint32_t piece = (total + 2) / 3; at < total; at += piece)
			c->seg[c->nseg++] = (struct seg){
			    c->frame_gpa + at, total - at < piece ? total - at : piece, false};
		break;
	case 5: /* a short header and nothing else */
		c->seg[c->nseg++] = (struct seg){c->frame_gpa, fuzz_u8(in) % HDR, false};
		c->frame_len = 0;
		break;
	case 6: /* a stray writable buffer at the end: malformed, not broken */
		c->seg[c->nseg++] = (struct seg){c->frame_gpa, total, false};
		c->seg[c->nseg++] = (struct seg){*next, 1 + fuzz_u8(in) % 16, true};
		*next += 32;
		break;
	default: /* a writable buffer in the middle: the ring is broken */
		c->seg[c->nseg++] = (struct seg){c->frame_gpa, HDR, false};
		c->seg[c->nseg++] = (struct seg){*next, 1 + fuzz_u8(in) % 16, true};
		c->seg[c->nseg++] = (struct seg){c->frame_gpa + HDR, len, false};
		*next += 32;
		break;
	}
	if (c->indirect) {
		c->table = *next;
		*next += 16 * MAX_SEGS;
	}
	c->breaks = fnet_chain_breaks(c->seg, c->nseg, c->indirect);
	/* The fate of a chain that does not break, as the device must decide it. */
	uint64_t out = 0;
	bool nr_in = false;

	for (unsigned int i = 0; i < c->nseg; i++) {
		if (c->seg[i].write)
			nr_in |= c->seg[i].len > 0;
		else
			out += c->seg[i].len;
	}
	if (nr_in || out < HDR)
		c->fate = TX_MALFORMED;
	else if (out - HDR > MAX_FRAME)
		c->fate = TX_OVERSIZED;
	else if (!fnet_tx_header_ok(&h))
		c->fate = TX_MALFORMED;
	else
		c->fate = TX_SENT;
	if (c->fate == TX_SENT)
		c->frame_len = (uint32_t)(out - HDR);
}

static struct {
	uint16_t want;
	bool broken;
} tx_wait;

static bool fnet_tx_settled(void *arg)
{
	(void)arg;
	return tdrv_used_idx(&txq.t) == tx_wait.want && (!tx_wait.broken || fnet_needs_reset());
}

/* Checks the next datagram on the tap against chain c. */
static void fnet_check_tx_frame(const struct tx_chain *c)
{
	ssize_t n = recv(peer, recv_buf, sizeof(recv_buf), MSG_DONTWAIT);
	struct virtio_net_hdr_v1 h;

	VFUZZ_CHECK(n == HDR + (ssize_t)c->frame_len,
		    "the tap got %zd bytes for a frame of %u (+%u header)", n, c->frame_len, HDR);
	memcpy(&h, ram + c->frame_gpa, HDR);
	h.num_buffers = 0;
	VFUZZ_CHECK(!memcmp(recv_buf, &h, HDR), "the tap got a different header");
	VFUZZ_CHECK(!memcmp(recv_buf + HDR, ram + c->frame_gpa + HDR, c->frame_len),
		    "the tap got different payload bytes");
}

static void fnet_tx_batch(struct fuzz_input *in)
{
	struct tx_chain chains[TX_BATCH];
	unsigned int n = 1 + fuzz_u8(in) % TX_BATCH, posted = 0;
	unsigned long malformed = STAT(tx_malformed), oversized = STAT(tx_oversized);
	unsigned long want_malformed = malformed, want_oversized = oversized;
	uint64_t next = TX_BUFS;
	uint16_t first = tdrv_used_idx(&txq.t);
	bool broken = false;

	for (unsigned int i = 0; i < n; i++) {
		/* One large frame per batch at most: the socketpair's send buffer
		 * (about 200 KiB) must take the whole batch, or a write would wait. */
		fnet_build_tx(in, &chains[i], &next, i == 0);
		if (!chains[i].nseg || fnet_post_chain(&txq, chains[i].seg, chains[i].nseg,
						       chains[i].indirect, chains[i].table) < 0)
			break;
		posted++;
	}
	tx_wait.want = first;
	for (unsigned int i = 0; i < posted && !broken; i++) {
		if (chains[i].breaks) {
			broken = true;
			break;
		}
		tx_wait.want++;
		want_malformed += chains[i].fate == TX_MALFORMED;
		want_oversized += chains[i].fate == TX_OVERSIZED;
	}
	tx_wait.broken = broken;
	fnet_want_interrupts();
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_NET_TXQ);
	VFUZZ_CHECK(vfuzz_wait_irq(dev->call_fd, fnet_tx_settled, NULL, 5),
		    "TX stalled: used %u of %u%s", tdrv_used_idx(&txq.t), tx_wait.want,
		    broken ? " and NEEDS_RESET" : "");
	VFUZZ_CHECK(broken == fnet_needs_reset(), "NEEDS_RESET %s",
		    broken ? "missing" : "unexpected");
	VFUZZ_CHECK(STAT(tx_malformed) == want_malformed && STAT(tx_oversized) == want_oversized,
		    "TX counted %lu malformed, %lu oversized; expected %lu, %lu",
		    STAT(tx_malformed) - malformed, STAT(tx_oversized) - oversized,
		    want_malformed - malformed, want_oversized - oversized);
	for (uint16_t u = first; u != tx_wait.want; u++) {
		struct virtq_used_elem e = tdrv_used_elem(&txq.t, u);

		VFUZZ_CHECK(e.len == 0, "TX used length %u", e.len);
		VFUZZ_CHECK(e.id < QSIZE && txq.chain_ndesc[e.id], "TX used head %u not posted",
			    e.id);
		fnet_free_chain(&txq, (uint16_t)e.id);
	}
	for (unsigned int i = 0; i < posted && !chains[i].breaks; i++)
		if (chains[i].fate == TX_SENT)
			fnet_check_tx_frame(&chains[i]);
	VFUZZ_CHECK(recv(peer, recv_buf, sizeof(recv_buf), MSG_DONTWAIT) < 0,
		    "the tap got a frame no chain asked for");
	txq.used_seen = tx_wait.want;
	if (trace)
		fprintf(trace, "tx: %u chains, %u used%s\n", posted,
			(uint16_t)(tx_wait.want - first), broken ? ", broken" : "");
	if (broken)
		fnet_bring_up(features);
}

/* ---- RX ---- */

/* Settles the model: frames meet buffers in order, as the device must handle them. */
static void fnet_rx_model_settle(void)
{
	while (rx.nframes) {
		uint32_t f = rx.frames[0];
		unsigned int k = 0;
		uint64_t have = 0, descs = 0;

		if (!rx.ngood)
			return; /* no buffers: the frame waits in the tap */
		for (unsigned int i = 0; i < rx.ngood; i++) {
			have += rx.good[i].cap;
			descs += rx.good[i].ndesc;
		}
		if (!mrg)
			have = rx.good[0].cap;
		if (f < HDR) {
			rx.dropped++;
		} else if (f > (mrg ? RX_WANTED : have)) {
			rx.dropped++;
			rx.oversized++;
		} else if (f > have) {
			if (descs < QSIZE)
				return; /* waits for more buffers */
			rx.dropped++;
			rx.oversized++; /* the ring is full: it can never fit */
		} else {
			uint32_t left = f, off = 0;

			/* The fewest chains that hold it, at least one. */
			for (have = 0; k == 0 || have < f; k++)
				have += rx.good[k].cap;
			for (unsigned int i = 0; i < k; i++) {
				uint32_t n = rx.good[i].cap < left ? rx.good[i].cap : left;

				VFUZZ_CHECK(rx.nexpect < MAX_EXPECTED, "model overflow");
				rx.expect[rx.nexpect].chain = rx.good[i];
				rx.expect[rx.nexpect].len = n;
				rx.expect[rx.nexpect].offset = off;
				rx.expect[rx.nexpect].frame_len = f;
				rx.expect[rx.nexpect].num_buffers = (uint16_t)k;
				rx.expect[rx.nexpect].seed = rx.frame_seed[0];
				memcpy(rx.expect[rx.nexpect].hdr, rx.frame_hdr[0], HDR);
				rx.nexpect++;
				left -= n;
				off += n;
			}
			memmove(rx.good, rx.good + k, (rx.ngood - k) * sizeof(rx.good[0]));
			rx.ngood -= k;
		}
		memmove(rx.frames, rx.frames + 1, (rx.nframes - 1) * sizeof(rx.frames[0]));
		memmove(rx.frame_seed, rx.frame_seed + 1, rx.nframes - 1);
		memmove(rx.frame_hdr, rx.frame_hdr + 1, (rx.nframes - 1) * HDR);
		rx.nframes--;
	}
}

/* The frame's byte at offset off, as the guest must see it. */
static uint8_t fnet_rx_frame_byte(const uint8_t *hdr, uint8_t seed, uint16_t num_buffers,
				  uint32_t off)
{
	if (off == 10)
		return (uint8_t)num_buffers;
	if (off == 11)
		return (uint8_t)(num_buffers >> 8);
	if (off < HDR)
		return hdr[off];
	return (uint8_t)(seed + (off - HDR) * 29);
}

/* Consumes the RX used entries that appeared, checking each against the model. */
static void fnet_rx_check_used(void)
{
	uint16_t now = tdrv_used_idx(&rxq.t);

	for (; rxq.used_seen != now; rxq.used_seen++) {
		struct virtq_used_elem e = tdrv_used_elem(&rxq.t, rxq.used_seen);

		VFUZZ_CHECK(e.id < QSIZE && rxq.chain_ndesc[e.id], "RX used head %u not posted",
			    e.id);
		if (rx.malformed[e.id]) {
			VFUZZ_CHECK(e.len == 0, "malformed RX chain %u used with length %u", e.id,
				    e.len);
			rx.malformed[e.id] = false;
		} else {
			VFUZZ_CHECK(rx.nexpect, "RX chain %u used (length %u) with no frame for it",
				    e.id, e.len);
			VFUZZ_CHECK(rx.expect[0].chain.head == e.id && rx.expect[0].len == e.len,
				    "RX used {%u, %u}, expected {%u, %u}", e.id, e.len,
				    rx.expect[0].chain.head, rx.expect[0].len);
			const struct rx_chain *c = &rx.expect[0].chain;
			uint32_t off = rx.expect[0].offset, done = 0;

			for (unsigned int s = 0; s < c->nseg && done < e.len; s++)
				for (uint32_t b = 0; b < c->seg[s].len && done < e.len;
				     b++, done++) {
					uint32_t fo = off + done;
					uint8_t want =
					    fnet_rx_frame_byte(rx.expect[0].hdr, rx.expect[0].seed,
							       rx.expect[0].num_buffers, fo);

					VFUZZ_CHECK(
					    ram[c->seg[s].gpa + b] == want,
					    "RX frame of %u bytes: byte %u is 0x%02x, not 0x%02x",
					    rx.expect[0].frame_len, fo, ram[c->seg[s].gpa + b],
					    want);
				}
			memmove(rx.expect, rx.expect + 1, (rx.nexpect - 1) * sizeof(rx.expect[0]));
			rx.nexpect--;
		}
		fnet_free_chain(&rxq, (uint16_t)e.id);
	}
}

static bool fnet_rx_settled(void *arg)
{
	(void)arg;
	fnet_rx_check_used();
	return !rx.nexpect && STAT(rx_dropped) == rx.dropped && STAT(rx_oversized) == rx.oversized;
}

static void fnet_rx_wait(const char *what)
{
	fnet_want_interrupts();
	VFUZZ_CHECK(vfuzz_wait_irq(dev->call_fd, fnet_rx_settled, NULL, 5),
		    "RX stalled after %s: %u deliveries owed, dropped %lu/%lu, oversized %lu/%lu",
		    what, rx.nexpect, STAT(rx_dropped), rx.dropped, STAT(rx_oversized),
		    rx.oversized);
	VFUZZ_CHECK(!fnet_needs_reset(), "NEEDS_RESET after %s", what);
}

static void fnet_rx_post(struct fuzz_input *in)
{
	unsigned int n = 1 + fuzz_u8(in) % RX_PER_POST;

	for (unsigned int i = 0; i < n; i++) {
		uint8_t kind = fuzz_u8(in), nseg = 1 + fuzz_u8(in) % 3;
		bool indirect = fuzz_u8(in) >= 0xd0;
		struct rx_chain c = {0};
		uint16_t d;
		int head;

		/* Writable buffers; perhaps a readable one first (malformed), or after (broken). */
		if (kind >= 0xf0 && kind < 0xf8)
			c.seg[c.nseg++] = (struct seg){0, 1 + fuzz_u8(in) % 16, false};
		for (unsigned int s = 0; s < nseg; s++) {
			uint8_t how = fuzz_u8(in);
			uint32_t len = how < 0xc0
					   ? 64 + (uint32_t)(fuzz_u8(in) * 4) % (RX_SEG_MAX - 63)
				       : how < 0xe0 ? fuzz_u16(in) % (RX_SEG_MAX + 1)
						    : fuzz_u8(in) % HDR;

			c.seg[c.nseg++] = (struct seg){0, len, true};
		}
		if (kind >= 0xf8) {
			c.seg[0].len = c.seg[0].len ? c.seg[0].len : 1;
			c.seg[c.nseg++] = (struct seg){0, 1, false};
		}
		if (!fnet_alloc_descs(&rxq, 1, &d)) /* peek at the head the chain will get */
			return;
		rxq.busy[d] = false;
		for (unsigned int s = 0; s < c.nseg; s++) {
			c.seg[s].gpa = RX_BUFS + d * (uint64_t)RX_CHAIN_AREA + s * RX_SEG_MAX;
			memset(ram + c.seg[s].gpa, 0xcc, c.seg[s].len);
		}
		/* A chain that breaks the ring only when the device holds no buffer,
		 * so it does pop it at once. */
		if (fnet_chain_breaks(c.seg, c.nseg, indirect) && (rx.ngood || rx.nframes))
			continue;
		head = fnet_post_chain(&rxq, c.seg, c.nseg, indirect,
				       RX_BUFS + d * (uint64_t)RX_CHAIN_AREA + 6 * RX_SEG_MAX);
		if (head < 0)
			return;
		VFUZZ_CHECK(head == d, "descriptor allocation changed");
		if (fnet_chain_breaks(c.seg, c.nseg, indirect)) {
			tmmio_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_NET_RXQ);
			fnet_want_interrupts();
			VFUZZ_CHECK(vfuzz_wait(fnet_needs_reset_cb, NULL, 5),
				    "a broken RX chain did not put the device in NEEDS_RESET");
			if (trace)
				fprintf(trace, "rx: broken chain, reset\n");
			fnet_bring_up(features);
			return;
		}
		c.head = (uint16_t)head;
		c.ndesc = indirect ? 1 : (uint8_t)c.nseg;
		for (unsigned int s = 0; s < c.nseg; s++)
			c.cap += c.seg[s].len;
		if (c.seg[0].write == false || c.cap < HDR) {
			rx.malformed[head] = true;
		} else {
			/* Empty buffers carry nothing: the model skips them too. */
			unsigned int k = 0;

			for (unsigned int s = 0; s < c.nseg; s++)
				if (c.seg[s].len)
					c.seg[k++] = c.seg[s];
			c.nseg = k;
			rx.good[rx.ngood++] = c;
		}
	}
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_NET_RXQ);
	fnet_rx_model_settle();
	fnet_rx_wait("posting RX buffers");
}

static void fnet_rx_frame(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in), seed = fuzz_u8(in);
	uint32_t len;

	if (how < 0xc0)
		len = HDR + 4u * fuzz_u8(in);
	else if (how < 0xe0)
		len = 1 + fuzz_u16(in) % 4096;
	else if (how < 0xf0)
		len = 1 + fuzz_u8(in) % HDR;
	else
		len = RX_WANTED - 1 + fuzz_u8(in) % 3;
	if (rx.nframes == MAX_FRAMES)
		return;
	fuzz_input_bytes(in, frame_buf, HDR);
	for (uint32_t i = HDR; i < len; i++)
		frame_buf[i] = (uint8_t)(seed + (i - HDR) * 29);
	if (send(peer, frame_buf, len, MSG_DONTWAIT) != (ssize_t)len)
		return; /* the tap's queue is full */
	rx.frames[rx.nframes] = len;
	rx.frame_seed[rx.nframes] = seed;
	memcpy(rx.frame_hdr[rx.nframes], frame_buf, HDR);
	rx.nframes++;
	fnet_rx_model_settle();
	fnet_rx_wait("a frame");
	if (trace)
		fprintf(trace, "rx: frame of %u bytes, %u waiting, %u buffers held\n", len,
			rx.nframes, rx.ngood);
}

static uint64_t fnet_pick_features(uint8_t a, uint8_t b)
{
	uint64_t f = F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS);

	if (a & 1)
		f |= F(VIRTIO_NET_F_MRG_RXBUF);
	if (a & 2)
		f |= F(VIRTIO_F_INDIRECT_DESC);
	if (a & 4)
		f |= F(VIRTIO_F_EVENT_IDX);
	if (a & 8)
		f |= F(VIRTIO_NET_F_CSUM);
	if (a & 16)
		f |= F(VIRTIO_NET_F_GUEST_CSUM);
	if (b & 1)
		f |= F(VIRTIO_NET_F_HOST_TSO4);
	if (b & 2)
		f |= F(VIRTIO_NET_F_HOST_TSO6);
	if (b & 4)
		f |= F(VIRTIO_NET_F_GUEST_TSO4);
	if (b & 8)
		f |= F(VIRTIO_NET_F_GUEST_TSO6);
	return f;
}

/* After the input: reset, a plain bring-up, one frame each way. */
static void fnet_check_both_ways(void)
{
	static const uint8_t nothing[1];
	struct fuzz_input none = fuzz_input_init(nothing, 0); /* all decisions 0 */

	fnet_bring_up(F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC));
	fnet_tx_batch(&none); /* one chain: an empty frame with a plain header */
	fnet_rx_post(&none);  /* one chain of 64 bytes */
	frame_buf[0] = 0;
	fnet_rx_frame(&none); /* a frame of 12 bytes */
	VFUZZ_CHECK(rx.nframes == 0 && rx.ngood == 0, "the closing frame was not delivered");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct net_config cfg = {.tap = "fuzztap0", .model = NET_MODEL_VIRTIO};
	struct tap tap;
	int sv[2];

	(void)argc;
	(void)argv;
	vfuzz_quiet_logs();
	trace = vfuzz_trace_stream();
	vm = fake_vm_create(RAM_SIZE);
	ram = guest_mem_ptr(&vm->mem, 0, RAM_SIZE);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		abort();
	peer = sv[1];
	tapfd = sv[0];
	tap_init_fd(&tap, sv[0], "fuzztap0", true);
	if (virtio_net_create_on_tap(vm, &cfg, 0, &tap, &fake_ops, &net))
		abort();
	dev = virtio_net_device(net);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_init(data, size);
	unsigned int ops = 0;
	uint8_t a = fuzz_u8(&in), b = fuzz_u8(&in);
	uint64_t f = fnet_pick_features(a, b);
	uint64_t bad = (F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6));
	uint32_t st;

	/* TSO needs its checksum feature (virtio 1.2, 5.1.3.1): refused without. */
	tmmio_write(dev, VIRTIO_MMIO_STATUS, 0);
	memset(ram, 0, RAM_SIZE);
	st = tmmio_negotiate(dev, f);
	if (((f & bad) && !(f & F(VIRTIO_NET_F_GUEST_CSUM))) ||
	    ((f & (F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6))) &&
	     !(f & F(VIRTIO_NET_F_CSUM)))) {
		VFUZZ_CHECK(!(st & VIRTIO_STATUS_FEATURES_OK), "TSO without CSUM accepted");
		f &= ~(bad | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6));
	}
	fnet_bring_up(f);
	while (!fuzz_input_done(&in) && ops++ < 32) {
		switch (fuzz_u8(&in) % 4) {
		case 0:
			fnet_tx_batch(&in);
			break;
		case 1:
		case 2:
			fnet_rx_post(&in);
			break;
		default:
			fnet_rx_frame(&in);
			break;
		}
	}
	fnet_check_both_ways();
	return 0;
}
