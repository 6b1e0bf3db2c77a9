/*
 * The virtio-net control queue and multi-queue (virtio/net.c, virtio 1.2,
 * 5.1.6.5 and 5.1.6.5.5) through the mmio transport and the device's real
 * I/O threads.  One device per queue-pair count N = 2..8 (queues=N), each
 * tap queue a socketpair and TUNSETQUEUE a fake that records, per tap
 * queue, whether it is in the rotation.  The input picks N, the features
 * (CTRL_VQ, MQ, indirect descriptors, EVENT_IDX), which pairs' queues the
 * driver makes ready, which tap queues refuse to be attached, and then a
 * sequence of:
 *  - batches of control chains: class, command and data (well-formed
 *    VQ_PAIRS_SET of any count, wrong data sizes, other classes and
 *    commands, too short, too long, far too long), laid out in one buffer,
 *    split or in pieces with empty buffers between, with one ack byte, a
 *    larger writable buffer, an empty writable buffer or none, directly or
 *    in an indirect table, and now and then a chain that breaks the ring
 *    (readable after writable, a buffer outside guest RAM, an indirect
 *    table not negotiated); some posted before DRIVER_OK;
 *  - a frame on one pair's transmit queue;
 *  - device resets and bring-ups with other queues ready, some while a
 *    batch is in flight.
 * A model of the device predicts every answer.
 *
 * Invariants:
 *  - every command that does not break the ring is used exactly once, in
 *    order, with length 1 when it has a writable byte (that byte holding
 *    the answer, every other writable byte untouched) and 0 without one
 *    (nothing written);
 *  - the answer is VIRTIO_NET_OK exactly for a 4-byte VQ_PAIRS_SET with MQ
 *    negotiated, 1 <= n <= N, the queues of pairs 0..n-1 ready and the tap
 *    queues to add attached without error; VIRTIO_NET_ERR otherwise;
 *  - virtio_net_active_pairs() follows the model: 1 after a reset and at
 *    DRIVER_OK, changed only by an OK;
 *  - the tap queues in the rotation are exactly those of pairs below it;
 *    the first pair's is never touched; no TUNSETQUEUE repeats a state;
 *  - ctrl_commands, ctrl_refused and ctrl_malformed count as the model;
 *  - a frame sent on an active pair reaches that pair's tap queue
 *    byte-exact; on another pair it is dropped (tx_inactive_pair); no other
 *    tap queue sees it;
 *  - only a chain that breaks the ring sets NEEDS_RESET (and the chains
 *    before it are answered); without CTRL_VQ no command is ever used;
 *  - nothing stalls: every batch settles within seconds.
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

#define RAM_SIZE   (2u << 20)
#define QSIZE	   64
#define RING_BASE  0x1000u /* queue q's rings at RING_BASE + q * RING_AREA */
#define RING_AREA  0x2000u
#define OUT_BUFS   0x40000u /* chain c's readable bytes at OUT_BUFS + c * 0x800 */
#define IN_BUFS	   0x60000u /* its writable buffers at IN_BUFS + c * 0x100 */
#define TABLES	   0x70000u /* its indirect table at TABLES + c * 0x400 */
#define HUGE_BUF   0x100000u
#define TX_BUFS	   0x80000u /* pair i's TX frame at TX_BUFS + i * 0x100 */
#define TX_PAYLOAD 20
#define MAX_SEGS   12
#define MAX_BATCH  4
#define CTRL_MAX   64 /* VNET_CTRL_MAX_BYTES in virtio/net.c */
#define POISON	   0xee
#define MIN_PAIRS  2
#define MAX_OPS	   24
#define FD_LIMIT   4096
#define WAIT_SECS  5

#define F(bit) (1ULL << (bit))

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* What the fake TUNSETQUEUE saw for one tap queue. */
struct fake_tapq {
	bool attached;
	bool fail_attach; /* the input's choice: attaching it fails (-EIO) */
	unsigned int calls, repeated;
};

struct dev_slot {
	struct virtio_net *net;
	struct virtio_device *dev;
	struct fake_tapq tapq[VIRTIO_NET_MAX_PAIRS];
	int peer[VIRTIO_NET_MAX_PAIRS];
};

static struct vm *vm;
static uint8_t *ram;
static struct dev_slot slots[VIRTIO_NET_MAX_PAIRS + 1]; /* by N */
static struct {
	int8_t n, pair; /* n == 0: not a tap of ours */
} fd_owner[FD_LIMIT];
static FILE *trace;

/* ---- the input's device and the model ---- */
static struct dev_slot *cur;
static struct virtio_device *dev;
static struct virtio_net *net;
static unsigned int npairs;
static uint64_t features;
static bool ctrl_vq, mq;
static unsigned int ctrl_q; /* where commands go: the control queue, or 2N (a decoy) without one */
static struct tdrv ctrlq;
static uint16_t used_seen;
static struct tdrv txq[VIRTIO_NET_MAX_PAIRS]; /* the transmit queues made ready */
static uint16_t tx_used_seen[VIRTIO_NET_MAX_PAIRS];
static bool rx_ready[VIRTIO_NET_MAX_PAIRS], tx_ready[VIRTIO_NET_MAX_PAIRS];
static unsigned int active; /* the model's active pairs */
static unsigned long want_commands, want_refused, want_malformed;
static unsigned int decoy_posted; /* commands posted without CTRL_VQ */

/* Called from the thread serving the control queue, or by reset with the threads stopped. */
static int fctl_fake_set_queue_enabled(struct tap *tap, bool enabled)
{
	struct fake_tapq *q;

	VFUZZ_CHECK(tap->fd >= 0 && tap->fd < FD_LIMIT && fd_owner[tap->fd].n,
		    "set_queue_enabled on an unknown tap fd %d", tap->fd);
	q = &slots[fd_owner[tap->fd].n].tapq[fd_owner[tap->fd].pair];
	q->calls++;
	if (enabled && q->fail_attach)
		return -EIO;
	if (q->attached == enabled) {
		q->repeated++; /* the kernel's EINVAL */
		return -EINVAL;
	}
	q->attached = enabled;
	return 0;
}

static const struct virtio_net_tap_ops fake_ops = {
    .set_vnet_hdr_size = vfuzz_tap_set_vnet_hdr_size,
    .set_offload = vfuzz_tap_set_offload,
    .set_queue_enabled = fctl_fake_set_queue_enabled,
};

#define STAT(name) counter_get(&virtio_net_counters(net)->name)

static bool fctl_needs_reset(void)
{
	return tmmio_read(dev, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET;
}

/* active_pairs and the tap queues as the model says; no TUNSETQUEUE repeated. */
static void fctl_check_pairs(const char *when)
{
	unsigned int got = virtio_net_active_pairs(net);

	VFUZZ_CHECK(got == active, "%s: %u pairs active, the model says %u", when, got, active);
	VFUZZ_CHECK(cur->tapq[0].calls == 0, "%s: the first tap queue was attached or detached",
		    when);
	for (unsigned int i = 0; i < npairs; i++) {
		VFUZZ_CHECK(cur->tapq[i].attached == (i < active),
			    "%s: tap queue %u %s with %u pairs active", when, i,
			    cur->tapq[i].attached ? "attached" : "detached", active);
		VFUZZ_CHECK(!cur->tapq[i].repeated, "%s: tap queue %u set to the state it was in",
			    when, i);
	}
}

static void fctl_check_counters(const char *when)
{
	VFUZZ_CHECK(STAT(ctrl_commands) == want_commands && STAT(ctrl_refused) == want_refused &&
			STAT(ctrl_malformed) == want_malformed,
		    "%s: ctrl commands/refused/malformed %lu/%lu/%lu, expected %lu/%lu/%lu", when,
		    (unsigned long)STAT(ctrl_commands), (unsigned long)STAT(ctrl_refused),
		    (unsigned long)STAT(ctrl_malformed), want_commands, want_refused,
		    want_malformed);
}

/* Device reset (Status 0): the threads stop, one pair in use, tap queues 1.. detached. */
static void fctl_reset(void)
{
	tmmio_write(dev, VIRTIO_MMIO_STATUS, 0);
	active = 1;
	fctl_check_pairs("after reset");
}

/* ---- control chains ---- */

struct cmd {
	struct seg seg[MAX_SEGS];
	unsigned int nseg;
	bool indirect;
	uint64_t table;
	uint16_t head;
	/* The model's verdict. */
	bool breaks;
	uint32_t used_len; /* 1: the answer written; 0: not run */
	uint8_t ack;
};

static struct cmd batch[MAX_BATCH];
static unsigned int batch_posted, batch_want; /* chains posted; used entries owed */
static bool batch_breaks;

static bool fctl_in_ram(uint64_t gpa, uint32_t len)
{
	return gpa < RAM_SIZE && len <= RAM_SIZE - gpa;
}

/* Would virtq_pop() refuse the chain (the device then needs a reset)? */
static bool fctl_chain_breaks(const struct cmd *c)
{
	bool seen_write = false;

	if (c->indirect && !(features & F(VIRTIO_F_INDIRECT_DESC)))
		return true;
	for (unsigned int i = 0; i < c->nseg; i++) {
		if (!c->seg[i].write && seen_write)
			return true;
		if (c->seg[i].len && !fctl_in_ram(c->seg[i].gpa, c->seg[i].len))
			return true;
		seen_write |= c->seg[i].write && c->seg[i].len;
	}
	return false;
}

/* The model's VQ_PAIRS_SET n. */
static uint8_t fctl_model_set_pairs(unsigned int n)
{
	if (!mq || n < 1 || n > npairs)
		return VIRTIO_NET_ERR;
	for (unsigned int i = 0; i < n; i++)
		if (!rx_ready[i] || !tx_ready[i])
			return VIRTIO_NET_ERR;
	for (unsigned int i = active; i < n; i++)
		if (cur->tapq[i].fail_attach)
			return VIRTIO_NET_ERR;
	active = n;
	return VIRTIO_NET_OK;
}

/* The model's answer to a chain that does not break, from what the guest wrote. */
static void fctl_model_command(struct cmd *c)
{
	uint64_t out = 0, in = 0;
	uint8_t bytes[CTRL_MAX];

	for (unsigned int i = 0; i < c->nseg; i++) {
		if (c->seg[i].write) {
			in += c->seg[i].len;
		} else {
			if (out + c->seg[i].len <= CTRL_MAX)
				memcpy(bytes + out, ram + c->seg[i].gpa, c->seg[i].len);
			out += c->seg[i].len;
		}
	}
	want_commands++;
	c->ack = VIRTIO_NET_ERR;
	c->used_len = in ? 1 : 0;
	if (!in) {
		want_malformed++; /* not run: nowhere to answer */
	} else if (out < 2 || out > CTRL_MAX) {
		want_malformed++;
	} else if (bytes[0] == VIRTIO_NET_CTRL_MQ && bytes[1] == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET) {
		if (out != 4)
			want_malformed++;
		else
			c->ack = fctl_model_set_pairs(bytes[2] | (unsigned int)bytes[3] << 8);
	}
	if (c->ack != VIRTIO_NET_OK)
		want_refused++;
}

/* Readable bytes [0, len) at gpa in pieces as layout says. */
static void fctl_add_readable(struct fuzz_input *in, struct cmd *c, uint64_t gpa, uint32_t len,
			      unsigned int layout)
{
	uint32_t piece;

	switch (layout) {
	case 0: /* all in one */
		c->seg[c->nseg++] = (struct seg){gpa, len, false};
		break;
	case 1: /* class and command, then the data (as Linux posts them) */
		if (len > 2) {
			c->seg[c->nseg++] = (struct seg){gpa, 2, false};
			c->seg[c->nseg++] = (struct seg){gpa + 2, len - 2, false};
		} else {
			c->seg[c->nseg++] = (struct seg){gpa, len, false};
		}
		break;
	case 2: /* pieces of 1 + input bytes, at most 6 of them */
		piece = 1 + fuzz_u8(in) % 4;
		if (piece * 6 < len)
			piece = (len + 5) / 6;
		for (uint32_t at = 0; at < len || at == 0; at += piece)
			c->seg[c->nseg++] =
			    (struct seg){gpa + at, len - at < piece ? len - at : piece, false};
		break;
	default: /* empty buffers around and between */
		c->seg[c->nseg++] = (struct seg){gpa, 0, false};
		c->seg[c->nseg++] = (struct seg){gpa, len / 2, false};
		c->seg[c->nseg++] = (struct seg){gpa + len / 2, 0, false};
		c->seg[c->nseg++] = (struct seg){gpa + len / 2, len - len / 2, false};
		break;
	}
}

/* Chain k of a batch: its bytes and layout from the input. */
static void fctl_build_cmd(struct fuzz_input *in, struct cmd *c, unsigned int k)
{
	uint8_t kind = fuzz_u8(in), layout = fuzz_u8(in);
	uint64_t out_gpa = OUT_BUFS + k * 0x800ULL, in_gpa = IN_BUFS + k * 0x100ULL;
	uint8_t *p = ram + out_gpa;
	uint32_t len, data;
	unsigned int n;

	memset(c, 0, sizeof(*c));
	c->table = TABLES + k * 0x400ULL;
	if (kind < 0xa0) {
		/* VQ_PAIRS_SET: mostly around 1..N, now and then any le16 */
		n = kind < 0x90 ? fuzz_u8(in) % (npairs + 2) : fuzz_u16(in);
		p[0] = VIRTIO_NET_CTRL_MQ;
		p[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
		p[2] = (uint8_t)n;
		p[3] = (uint8_t)(n >> 8);
		len = 4;
	} else if (kind < 0xb0) { /* VQ_PAIRS_SET with data of the wrong size */
		data = fuzz_u8(in) % 8;
		data = data == 2 ? 3 : data;
		p[0] = VIRTIO_NET_CTRL_MQ;
		p[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
		fuzz_input_bytes(in, p + 2, data);
		len = 2 + data;
	} else if (kind < 0xc0) { /* any class and command */
		fuzz_input_bytes(in, p, 2);
		data = fuzz_u8(in) % 8;
		fuzz_input_bytes(in, p + 2, data);
		len = 2 + data;
	} else if (kind < 0xd0) { /* the MQ class, another command (RSS, hash config, ...) */
		p[0] = VIRTIO_NET_CTRL_MQ;
		p[1] = (uint8_t)(1 + fuzz_u8(in) % 255);
		data = fuzz_u8(in) % 8;
		fuzz_input_bytes(in, p + 2, data);
		len = 2 + data;
	} else if (kind < 0xe8) { /* around the longest command the device takes */
		len = CTRL_MAX - 4 + fuzz_u8(in) % 24;
		p[0] = VIRTIO_NET_CTRL_MQ;
		p[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
		fuzz_input_bytes(in, p + 2, len - 2);
	} else if (kind < 0xf0) { /* shorter than class and command */
		len = fuzz_u8(in) % 2;
		p[0] = VIRTIO_NET_CTRL_MQ;
	} else { /* far too long, but in RAM: never read */
		len = 0;
		c->seg[c->nseg++] = (struct seg){HUGE_BUF, 0x100 + fuzz_u16(in), false};
	}
	if (len || kind < 0xf0)
		fctl_add_readable(in, c, out_gpa, len, layout & 3);
	/* The ack: one byte, a larger buffer, none, or an empty writable buffer (then maybe one).
	 */
	switch ((layout >> 2) & 3) {
	case 0:
		c->seg[c->nseg++] = (struct seg){in_gpa, 1, true};
		break;
	case 1:
		c->seg[c->nseg++] = (struct seg){in_gpa, 1 + fuzz_u8(in) % 16, true};
		break;
	case 2:
		break;
	default:
		c->seg[c->nseg++] = (struct seg){in_gpa, 0, true};
		if (fuzz_u8(in) & 1)
			c->seg[c->nseg++] = (struct seg){in_gpa + 0x20, 1 + fuzz_u8(in) % 4, true};
		break;
	}
	c->indirect = (layout & 0x30) == 0x30 && (features & F(VIRTIO_F_INDIRECT_DESC));
	if ((layout & 0xc0) == 0xc0) {
		/* Now and then a chain the ring must refuse. */
		switch (fuzz_u8(in) % 5) {
		case 0: /* readable after writable */
			c->seg[c->nseg++] = (struct seg){in_gpa + 0x40, 1, true};
			c->seg[c->nseg++] = (struct seg){out_gpa, fuzz_u8(in) % 2, false};
			break;
		case 1: /* a readable buffer running past the end of RAM */
			c->seg[0] = (struct seg){RAM_SIZE - 16, 16 + 1 + fuzz_u8(in), false};
			break;
		case 2: /* a writable buffer outside RAM */
			c->seg[c->nseg++] =
			    (struct seg){RAM_SIZE + 0x1000ULL * fuzz_u8(in), 1, true};
			break;
		case 3: /* an indirect table, negotiated or not */
			c->indirect = true;
			break;
		default: /* a far too long buffer ending just inside RAM: fine */
			c->seg[0] = (struct seg){RAM_SIZE - 0x8000, 0x8000, false};
			break;
		}
	}
	for (unsigned int i = 0; i < c->nseg; i++)
		if (c->seg[i].write && fctl_in_ram(c->seg[i].gpa, c->seg[i].len))
			memset(ram + c->seg[i].gpa, POISON, c->seg[i].len);
}

/* Writes chain c at descriptors from *next (directly or as an indirect table) and posts it. */
static void fctl_post_cmd(struct cmd *c, uint16_t *next)
{
	uint16_t first = *next;

	for (unsigned int i = 0; i < c->nseg; i++) {
		uint16_t flags = (c->seg[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				 (i + 1 < c->nseg ? VIRTQ_DESC_F_NEXT : 0);

		if (c->indirect)
			tdrv_desc_at(&ctrlq, c->table, (uint16_t)i, c->seg[i].gpa, c->seg[i].len,
				     flags, (uint16_t)(i + 1));
		else
			tdrv_desc(&ctrlq, (uint16_t)(first + i), c->seg[i].gpa, c->seg[i].len,
				  flags, (uint16_t)(first + i + 1));
	}
	if (c->indirect) {
		tdrv_desc(&ctrlq, first, c->table, 16 * c->nseg, VIRTQ_DESC_F_INDIRECT, 0);
		*next += 1;
	} else {
		*next += (uint16_t)c->nseg;
	}
	c->head = first;
	tdrv_post(&ctrlq, first);
}

/*
 * Builds and posts a batch of chains from the input, the model answering
 * each in order up to the first that breaks the ring.
 */
static void fctl_post_batch(struct fuzz_input *in)
{
	unsigned int n = 1 + fuzz_u8(in) % MAX_BATCH;
	uint16_t next = 0;

	batch_posted = batch_want = 0;
	batch_breaks = false;
	for (unsigned int k = 0; k < n; k++) {
		struct cmd *c = &batch[k];

		fctl_build_cmd(in, c, k);
		if (!c->nseg || next + (c->indirect ? 1 : c->nseg) > QSIZE)
			break;
		fctl_post_cmd(c, &next);
		batch_posted++;
		if (!ctrl_vq || batch_breaks)
			continue; /* never popped */
		c->breaks = fctl_chain_breaks(c);
		if (c->breaks) {
			batch_breaks = true;
			continue;
		}
		fctl_model_command(c);
		batch_want++;
	}
	if (!ctrl_vq)
		decoy_posted += batch_posted;
	tdrv_set_used_event(&ctrlq, used_seen);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static void fctl_kick(void)
{
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, ctrl_q);
}

static bool fctl_settled(void *arg)
{
	(void)arg;
	return (uint16_t)(tdrv_used_idx(&ctrlq) - used_seen) >= batch_want &&
	       (!batch_breaks || fctl_needs_reset());
}

/* Waits for the batch's answers and checks each against the model. */
static void fctl_settle_batch(void)
{
	uint16_t got;

	if (!ctrl_vq)
		return; /* checked once at the end of the input */
	VFUZZ_CHECK(vfuzz_wait_irq(dev->call_fd, fctl_settled, NULL, WAIT_SECS),
		    "control queue stalled: %u of %u commands used%s",
		    (uint16_t)(tdrv_used_idx(&ctrlq) - used_seen), batch_want,
		    batch_breaks ? ", NEEDS_RESET expected" : "");
	got = (uint16_t)(tdrv_used_idx(&ctrlq) - used_seen);
	VFUZZ_CHECK(got == batch_want, "%u commands used, %u expected", got, batch_want);
	VFUZZ_CHECK(fctl_needs_reset() == batch_breaks, "NEEDS_RESET %s",
		    batch_breaks ? "missing" : "unexpected");
	for (unsigned int k = 0; k < batch_want; k++) {
		const struct cmd *c = &batch[k];
		struct virtq_used_elem e = tdrv_used_elem(&ctrlq, (uint16_t)(used_seen + k));
		bool first = true;

		VFUZZ_CHECK(e.id == c->head && e.len == c->used_len,
			    "command %u used as {%u, %u}, expected {%u, %u}", k, e.id, e.len,
			    c->head, c->used_len);
		for (unsigned int i = 0; i < c->nseg; i++) {
			if (!c->seg[i].write)
				continue;
			for (uint32_t b = 0; b < c->seg[i].len; b++) {
				uint8_t want = c->used_len && first ? c->ack : POISON;

				VFUZZ_CHECK(ram[c->seg[i].gpa + b] == want,
					    "command %u: writable byte %u of buffer %u is 0x%02x, "
					    "expected 0x%02x",
					    k, b, i, ram[c->seg[i].gpa + b], want);
				first = false;
			}
		}
		if (trace)
			fprintf(trace, "ctrl: command %u: %s\n", k,
				!c->used_len		  ? "not run (no ack byte)"
				: c->ack == VIRTIO_NET_OK ? "OK"
							  : "ERR");
	}
	used_seen = (uint16_t)(used_seen + got);
	fctl_check_pairs("after a batch");
	fctl_check_counters("after a batch");
	if (trace)
		fprintf(trace, "ctrl: %u posted, %u answered%s, %u pairs active\n", batch_posted,
			batch_want, batch_breaks ? ", ring broken" : "", active);
}

/* ---- the data plane follows: a frame leaves through pair i only while it is active ---- */

static uint8_t frame_buf[256];

static void fctl_drain(int fd)
{
	while (recv(fd, frame_buf, sizeof(frame_buf), MSG_DONTWAIT) >= 0)
		;
}

static unsigned int tx_wait_pair;

static bool fctl_tx_used(void *arg)
{
	(void)arg;
	return tdrv_used_idx(&txq[tx_wait_pair]) != tx_used_seen[tx_wait_pair];
}

/*
 * A plain frame on pair i's transmit queue (if ready): on an active pair it
 * reaches tap queue i, on another it is dropped and counted; no other tap
 * queue sees anything.
 */
static void fctl_tx_probe(struct fuzz_input *in)
{
	unsigned int i = fuzz_u8(in) % npairs;
	uint8_t seed = fuzz_u8(in);
	uint64_t gpa = TX_BUFS + i * 0x100ULL;
	unsigned long sent = STAT(tx_packets), inactive = STAT(tx_inactive_pair);
	bool on = i < active;
	struct virtq_used_elem e;
	ssize_t n;

	if (!tx_ready[i])
		return;
	memset(ram + gpa, 0, 12);
	for (unsigned int b = 0; b < TX_PAYLOAD; b++)
		ram[gpa + 12 + b] = (uint8_t)(seed + b);
	tdrv_desc(&txq[i], 0, gpa, 12 + TX_PAYLOAD, 0, 0);
	tdrv_post(&txq[i], 0);
	tdrv_set_used_event(&txq[i], tx_used_seen[i]);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	tmmio_write(dev, VIRTIO_MMIO_QUEUE_NOTIFY, 2 * i + 1);
	tx_wait_pair = i;
	VFUZZ_CHECK(vfuzz_wait_irq(dev->call_fd, fctl_tx_used, NULL, WAIT_SECS),
		    "TX on pair %u stalled", i);
	e = tdrv_used_elem(&txq[i], tx_used_seen[i]);
	VFUZZ_CHECK(e.id == 0 && e.len == 0, "TX used {%u, %u}", e.id, e.len);
	tx_used_seen[i]++;
	VFUZZ_CHECK(STAT(tx_packets) == sent + on && STAT(tx_inactive_pair) == inactive + !on,
		    "a frame on pair %u with %u pairs active: sent %lu, dropped as inactive %lu", i,
		    active, (unsigned long)(STAT(tx_packets) - sent),
		    (unsigned long)(STAT(tx_inactive_pair) - inactive));
	for (unsigned int t = 0; t < npairs; t++) {
		n = recv(cur->peer[t], frame_buf, sizeof(frame_buf), MSG_DONTWAIT);
		if (t == i && on)
			VFUZZ_CHECK(n == 12 + TX_PAYLOAD &&
					!memcmp(frame_buf, ram + gpa, (size_t)n),
				    "tap queue %u got %zd bytes for pair %u's frame", t, n, i);
		else
			VFUZZ_CHECK(n < 0, "tap queue %u got a frame sent on pair %u (%u active)",
				    t, i, active);
	}
	if (trace)
		fprintf(trace, "tx: pair %u, %s\n", i, on ? "sent" : "dropped (inactive)");
}

/* ---- bring-up ---- */

static void fctl_setup_queue(unsigned int q, struct tdrv *t)
{
	struct tdrv local;

	t = t ? t : &local;
	tdrv_init(t, &vm->mem, QSIZE, RING_BASE + q * (uint64_t)RING_AREA);
	tmmio_setup_queue(dev, q, QSIZE, t->desc, t->avail, t->used);
}

/*
 * Reset, the features, the queues the input makes ready (pair 0's and the
 * control queue always), perhaps a batch posted before DRIVER_OK, DRIVER_OK.
 */
static void fctl_bring_up(struct fuzz_input *in, uint64_t f)
{
	uint16_t not_ready = fuzz_u16(in);
	uint8_t fail = fuzz_u8(in), how = fuzz_u8(in);
	uint32_t st;

	fctl_reset();
	st = tmmio_negotiate(dev, f);
	VFUZZ_CHECK(st & VIRTIO_STATUS_FEATURES_OK, "features 0x%llx refused",
		    (unsigned long long)f);
	features = f;
	ctrl_vq = f & F(VIRTIO_NET_F_CTRL_VQ);
	mq = f & F(VIRTIO_NET_F_MQ);
	ctrl_q = ctrl_vq && !mq ? 2 : 2 * npairs;
	/* Attach failures are rare: only when the byte's top bits say so. */
	for (unsigned int i = 0; i < npairs; i++)
		cur->tapq[i].fail_attach = i && fail >= 0xe0 && ((fail >> (i % 5)) & 1);
	for (unsigned int i = 0; i < npairs; i++) {
		rx_ready[i] = !i || !((not_ready >> (2 * (i - 1))) & 1);
		tx_ready[i] = !i || !((not_ready >> (2 * (i - 1) + 1)) & 1);
		if (2 * i == ctrl_q)
			rx_ready[i] = true; /* the control queue, whatever its pair wants */
		if (rx_ready[i] && 2 * i != ctrl_q)
			fctl_setup_queue(2 * i, NULL);
		if (tx_ready[i])
			fctl_setup_queue(2 * i + 1, &txq[i]);
		tx_used_seen[i] = 0;
		fctl_drain(cur->peer[i]);
	}
	fctl_setup_queue(ctrl_q, &ctrlq);
	used_seen = 0;
	want_commands = STAT(ctrl_commands);
	want_refused = STAT(ctrl_refused);
	want_malformed = STAT(ctrl_malformed);
	decoy_posted = 0;
	/* Chains available before DRIVER_OK: activation kicks every ready queue. */
	batch_posted = batch_want = 0;
	batch_breaks = false;
	if (how >= 0xc0)
		fctl_post_batch(in);
	tmmio_write(dev, VIRTIO_MMIO_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	VFUZZ_CHECK((tmmio_read(dev, VIRTIO_MMIO_STATUS) & ~VIRTIO_STATUS_NEEDS_RESET) == 0x0f,
		    "Status 0x%x after DRIVER_OK", tmmio_read(dev, VIRTIO_MMIO_STATUS));
	if (!batch_breaks)
		VFUZZ_CHECK(!fctl_needs_reset(), "NEEDS_RESET at DRIVER_OK");
	fctl_settle_batch();
	if (batch_breaks)
		fctl_bring_up(in, features);
}

static uint64_t fctl_pick_features(uint8_t b)
{
	uint64_t f = F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS);

	if (!(b & 1))
		f |= F(VIRTIO_NET_F_CTRL_VQ);
	if (!(b & 2))
		f |= F(VIRTIO_NET_F_MQ);
	if (b & 4)
		f |= F(VIRTIO_F_INDIRECT_DESC);
	if (b & 8)
		f |= F(VIRTIO_F_EVENT_IDX);
	if (b & 16)
		f |= F(VIRTIO_NET_F_MRG_RXBUF);
	return f;
}

/* Without CTRL_VQ nothing serves queue 2N: what was posted there stays unused. */
static void fctl_check_decoy(void)
{
	if (ctrl_vq || !decoy_posted)
		return;
	usleep(1000);
	VFUZZ_CHECK(tdrv_used_idx(&ctrlq) == 0 && !fctl_needs_reset(),
		    "without CTRL_VQ queue %u used %u of %u commands", ctrl_q,
		    tdrv_used_idx(&ctrlq), decoy_posted);
	fctl_check_pairs("without CTRL_VQ");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static struct net_config cfg[VIRTIO_NET_MAX_PAIRS + 1];

	(void)argc;
	(void)argv;
	vfuzz_quiet_logs();
	trace = vfuzz_trace_stream();
	vm = fake_vm_create(RAM_SIZE);
	ram = guest_mem_ptr(&vm->mem, 0, RAM_SIZE);
	for (unsigned int n = MIN_PAIRS; n <= VIRTIO_NET_MAX_PAIRS; n++) {
		struct tap taps[VIRTIO_NET_MAX_PAIRS];
		struct dev_slot *s = &slots[n];

		cfg[n] =
		    (struct net_config){.tap = "fuzztap", .model = NET_MODEL_VIRTIO, .queues = n};
		for (unsigned int i = 0; i < n; i++) {
			int sv[2];

			if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) ||
			    sv[0] >= FD_LIMIT)
				abort();
			s->peer[i] = sv[1];
			fd_owner[sv[0]].n = (int8_t)n;
			fd_owner[sv[0]].pair = (int8_t)i;
			s->tapq[i].attached = true; /* a tap queue starts in the rotation */
			tap_init_fd(&taps[i], sv[0], "fuzztap", true);
		}
		if (virtio_net_create_on_taps(vm, &cfg[n], n, taps, &fake_ops, &s->net))
			abort();
		s->dev = virtio_net_device(s->net);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_init(data, size);
	unsigned int ops = 0;
	uint8_t a = fuzz_u8(&in), b = fuzz_u8(&in);
	uint64_t f = fctl_pick_features(b);
	uint32_t st;

	npairs = MIN_PAIRS + a % (VIRTIO_NET_MAX_PAIRS - MIN_PAIRS + 1);
	cur = &slots[npairs];
	dev = cur->dev;
	net = cur->net;
	memset(ram, 0, RAM_SIZE);
	/* MQ needs CTRL_VQ (virtio 1.2, 5.1.3.1): refused without. */
	if ((f & F(VIRTIO_NET_F_MQ)) && !(f & F(VIRTIO_NET_F_CTRL_VQ))) {
		fctl_reset();
		st = tmmio_negotiate(dev, f);
		VFUZZ_CHECK(!(st & VIRTIO_STATUS_FEATURES_OK), "MQ without CTRL_VQ accepted");
		f &= ~F(VIRTIO_NET_F_MQ);
	}
	fctl_bring_up(&in, f);
	while (!fuzz_input_done(&in) && ops++ < MAX_OPS) {
		uint8_t op = fuzz_u8(&in) % 8;

		if (op < 5) {
			fctl_post_batch(&in);
			fctl_kick();
			fctl_settle_batch();
			if (batch_breaks)
				fctl_bring_up(&in, features);
		} else if (op == 5) {
			fctl_tx_probe(&in);
		} else if (op == 6) { /* reset and bring up again, with other queues ready */
			fctl_check_decoy();
			fctl_bring_up(&in, features);
		} else { /* a batch in flight when the driver resets */
			fctl_post_batch(&in);
			fctl_kick();
			fctl_reset();
			fctl_bring_up(&in, features);
		}
	}
	fctl_check_decoy();
	fctl_reset();
	return 0;
}
