/*
 * The e1000's receive ring.  The receiver (the I/O thread, or the caller of
 * e1000_rx_poll) reads one frame at a time from the tap and delivers it in
 * three steps, under the NIC lock:
 *
 *   classify   accept or drop it (size, address filters), and plan its
 *              delivery: VLAN tag to strip, bytes with FCS, descriptors
 *   reserve    check the ring has that many descriptors free; if not, the
 *              frame is held, unchanged, until the guest frees some (or
 *              dropped if the ring can never hold it)
 *   write back copy the frame, as planned, into the buffers, fill in the
 *              descriptors (status and DD last), advance RDH, raise RXT0
 *
 * The frame itself is never modified, so a held frame is retried exactly as
 * it arrived.  The state machine is described in e1000_internal.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "devices/e1000/e1000_internal.h"
#include "devices/net/offload.h"
#include "devices/pci.h"
#include "guest_mem.h"
#include "log.h"
#include "vm.h"

/* How one accepted frame goes into the ring. */
struct e1000_rx_plan {
	bool untag;	  /* strip the 802.1Q tag (CTRL.VME) into the descriptors' special */
	uint16_t special; /* the tag's TCI */
	uint32_t len;	  /* the frame as delivered: untagged, without FCS */
	uint32_t total;	  /* bytes written to buffers: len plus FCS room unless SECRC */
	uint32_t bufsize; /* RCTL.BSIZE/BSEX */
	uint32_t need;	  /* descriptors */
};

enum e1000_rx_verdict { E1000_RX_DELIVER, E1000_RX_DROP, E1000_RX_WAIT };

int e1000_rx_alloc(struct e1000_rx *rx)
{
	rx->buf = e1000_alloc(E1000_MAX_FRAME);
	return rx->buf ? 0 : -1;
}

void e1000_rx_free(struct e1000_rx *rx)
{
	free(rx->buf);
}

/* ---- the state machine (lock held) ---- */

void e1000_rx_reset(struct e1000 *e)
{
	if (e->rx.state != E1000_RX_STOPPED)
		e->rx.state = E1000_RX_NO_ROOM;
	e->rx.held_len = 0;
}

void e1000_rx_wake(struct e1000 *e)
{
	switch (e->rx.state) {
	case E1000_RX_NO_ROOM:
		e->rx.state = E1000_RX_READING;
		e1000_kick_io(e);
		break;
	case E1000_RX_HOLDING:
		e->rx.state = E1000_RX_RETRY;
		e1000_kick_io(e);
		break;
	default:
		break; /* it reads anyway, or has a wake-up coming, or has stopped */
	}
}

void e1000_rx_write_ring(struct e1000 *e, uint32_t off, uint32_t val)
{
	e1000_reg_store(e, off, val);
	e1000_rx_wake(e);
}

/* ---- classify ---- */

static uint32_t e1000_rx_buffer_size(uint32_t rctl)
{
	static const uint32_t sizes[2][4] = {{2048, 1024, 512, 256}, {0, 16384, 8192, 4096}};
	uint32_t s = sizes[!!(rctl & E1000_RCTL_BSEX)][(rctl >> E1000_RCTL_BSIZE_SHIFT) & 3];

	return s ? s : 2048; /* BSEX with size 00 is reserved */
}

static uint32_t e1000_mta_hash(uint32_t rctl, const uint8_t *mac)
{
	unsigned int shift = 4 - ((rctl >> E1000_RCTL_MO_SHIFT) & 3);

	return ((mac[4] >> shift) | (uint32_t)mac[5] << (8 - shift)) & 0xfff;
}

/* The destination address passes the filters: RA, broadcast, MTA, promiscuous. */
static bool e1000_rx_accept(struct e1000 *e, const uint8_t *frame)
{
	uint32_t rctl = E1000_REG(e, E1000_RCTL);

	for (unsigned int i = 0; i < 16; i++) {
		uint32_t rah = E1000_REG(e, E1000_RAH(i));

		if ((rah & E1000_RAH_AV) && get_le32(frame) == E1000_REG(e, E1000_RAL(i)) &&
		    get_le16(frame + 4) == (rah & 0xffff))
			return true;
	}
	if (e1000_is_broadcast(frame))
		return rctl & (E1000_RCTL_BAM | E1000_RCTL_MPE);
	if (frame[0] & 1) {
		uint32_t h = e1000_mta_hash(rctl, frame);

		return (rctl & E1000_RCTL_MPE) ||
		       (E1000_REG(e, E1000_MTA + 4 * (h >> 5)) >> (h & 31)) & 1;
	}
	return rctl & E1000_RCTL_UPE;
}

/* Accept or drop the frame (counted), and plan its delivery. */
static enum e1000_rx_verdict e1000_rx_classify(struct e1000 *e, const uint8_t *frame, size_t len,
					       struct e1000_rx_plan *p)
{
	uint32_t rctl = E1000_REG(e, E1000_RCTL);

	if (!(rctl & E1000_RCTL_EN))
		return E1000_RX_WAIT;
	if (len < NET_ETH_HLEN) {
		e1000_stat_add(e, E1000_RUC, 1);
		counter_add(&e->counters.rx_dropped, 1);
		return E1000_RX_DROP;
	}
	if (!e1000_rx_accept(e, frame)) {
		counter_add(&e->counters.rx_filtered, 1);
		return E1000_RX_DROP;
	}
	p->untag = (E1000_REG(e, E1000_CTRL) & E1000_CTRL_VME) &&
		   net_vlan_tagged(frame, len, E1000_REG(e, E1000_VET) & 0xffff);
	p->special = p->untag ? net_vlan_tci(frame) : 0;
	p->len = (uint32_t)len - (p->untag ? NET_VLAN_HLEN : 0);
	/* Linux strips the FCS itself unless SECRC; the tap gives none, so add zeros. */
	p->total = p->len + ((rctl & E1000_RCTL_SECRC) ? 0 : NET_ETH_FCS_LEN);
	if ((!(rctl & E1000_RCTL_LPE) && p->len + NET_ETH_FCS_LEN > E1000_MAX_STD_FRAME) ||
	    p->total > E1000_MAX_FRAME) {
		e1000_stat_add(e, E1000_ROC, 1);
		counter_add(&e->counters.rx_dropped, 1);
		return E1000_RX_DROP;
	}
	p->bufsize = e1000_rx_buffer_size(rctl);
	p->need = (p->total + p->bufsize - 1) / p->bufsize;
	return E1000_RX_DELIVER;
}

/* ---- reserve ---- */

/* Descriptors the driver has handed over: RDH up to RDT (0 for a bad ring). */
static uint32_t e1000_rx_free_descs(struct e1000 *e, uint32_t n)
{
	uint32_t head = E1000_REG(e, E1000_RDH), tail = E1000_REG(e, E1000_RDT);

	if (n == 0 || head >= n || tail >= n)
		return 0;
	return (tail + n - head) % n;
}

static uint32_t e1000_rx_ring_size(struct e1000 *e)
{
	return E1000_REG(e, E1000_RDLEN) / E1000_DESC_SIZE;
}

/* Whether a frame may be read from the tap at all. */
static bool e1000_rx_ready(struct e1000 *e)
{
	return (E1000_REG(e, E1000_RCTL) & E1000_RCTL_EN) && pci_bus_master_enabled(e->pci) &&
	       e1000_rx_free_descs(e, e1000_rx_ring_size(e)) > 0;
}

static enum e1000_rx_verdict e1000_rx_reserve(struct e1000 *e, const struct e1000_rx_plan *p)
{
	uint32_t n = e1000_rx_ring_size(e);

	if (n && p->need > n - 1) {
		/*
		 * RDH == RDT means "none free", so a ring offers at most n - 1
		 * descriptors: waiting for more would stop receive for good.
		 */
		e1000_stat_add(e, E1000_MPC, 1);
		counter_add(&e->counters.rx_dropped, 1);
		return E1000_RX_DROP;
	}
	if (p->need > e1000_rx_free_descs(e, n)) {
		e1000_stat_add(e, E1000_RNBC, 1);
		return E1000_RX_WAIT;
	}
	return E1000_RX_DELIVER;
}

/* ---- write back ---- */

/* One buffer's share of the frame and its descriptor d; status (DD) last. */
static void e1000_rx_fill(struct e1000 *e, uint8_t *d, const uint8_t *frame, size_t len,
			  const struct e1000_rx_plan *p, uint32_t off, bool eop)
{
	uint32_t chunk = p->total - off < p->bufsize ? p->total - off : p->bufsize;
	void *dst = guest_mem_ptr(&e->vm->mem, get_le64(d), chunk);
	uint8_t errors = 0;

	if (dst) {
		net_copy_untagged(dst, frame, len, p->untag, off, chunk);
	} else {
		counter_add(&e->counters.rx_desc_errors, 1);
		errors = E1000_RXD_ERR_RXE;
	}
	put_le16(d + 8, (uint16_t)chunk);
	put_le16(d + 10, 0);
	d[13] = errors;
	put_le16(d + 14, p->special);
	/* Status last: DD hands the descriptor to the driver. */
	__atomic_store_n(&d[12],
			 (uint8_t)(E1000_RXD_STAT_DD | E1000_RXD_STAT_IXSM |
				   (p->untag ? E1000_RXD_STAT_VP : 0) |
				   (eop ? E1000_RXD_STAT_EOP : 0)),
			 __ATOMIC_RELEASE);
}

/* Scatter the frame over the reserved descriptors from RDH on.  False if the ring is not RAM. */
static bool e1000_rx_write_back(struct e1000 *e, const uint8_t *frame, size_t len,
				const struct e1000_rx_plan *p)
{
	uint32_t n = e1000_rx_ring_size(e), head = E1000_REG(e, E1000_RDH);
	uint64_t base =
	    (uint64_t)E1000_REG(e, E1000_RDBAH) << 32 | (E1000_REG(e, E1000_RDBAL) & ~0xfu);

	for (uint32_t i = 0; i < p->need; i++) {
		uint8_t *d = guest_mem_ptr(&e->vm->mem, base + (uint64_t)head * E1000_DESC_SIZE,
					   E1000_DESC_SIZE);

		if (!d) {
			/* The ring itself is outside RAM: nothing can be written back. */
			counter_add(&e->counters.rx_desc_errors, 1);
			counter_add(&e->counters.rx_dropped, 1);
			return false;
		}
		e1000_rx_fill(e, d, frame, len, p, i * p->bufsize, i + 1 == p->need);
		head = (head + 1) % n;
		E1000_REG(e, E1000_RDH) = head;
	}
	return true;
}

/* Counters, statistics registers, RXT0 and (RDMTS) RXDMT0 for a delivered frame. */
static void e1000_rx_complete(struct e1000 *e, const uint8_t *frame, const struct e1000_rx_plan *p)
{
	uint32_t rctl = E1000_REG(e, E1000_RCTL), n = e1000_rx_ring_size(e);
	/* RDMTS: free descriptors at or below 1/2, 1/4 or 1/8 of the ring. */
	uint32_t thresh = n >> (1 + ((rctl >> E1000_RCTL_RDMTS_SHIFT) & 3));

	counter_add(&e->counters.rx_packets, 1);
	counter_add(&e->counters.rx_bytes, p->len);
	e1000_stat_frame(e, &e1000_stat_rx, frame, p->len + NET_ETH_FCS_LEN);
	e1000_irq_raise(e, E1000_ICR_RXT0 |
			       (e1000_rx_free_descs(e, n) <= thresh ? E1000_ICR_RXDMT0 : 0));
}

/* classify -> reserve -> write back.  WAIT leaves the frame as it was. */
static enum e1000_rx_verdict e1000_rx_deliver(struct e1000 *e, const uint8_t *frame, size_t len)
{
	struct e1000_rx_plan p;
	enum e1000_rx_verdict v = e1000_rx_classify(e, frame, len, &p);

	if (v == E1000_RX_DELIVER)
		v = e1000_rx_reserve(e, &p);
	if (v != E1000_RX_DELIVER)
		return v;
	if (!e1000_rx_write_back(e, frame, len, &p))
		return E1000_RX_DROP;
	e1000_rx_complete(e, frame, &p);
	return E1000_RX_DELIVER;
}

/* ---- the receiver ---- */

/*
 * Lock held: deliver the held frame if the ring has room now, and say
 * whether the tap may be read next (the state becomes READING), or not
 * (NO_ROOM, HOLDING, STOPPED).
 */
static bool e1000_rx_may_read(struct e1000 *e, int *delivered)
{
	struct e1000_rx *rx = &e->rx;
	bool held = rx->state == E1000_RX_HOLDING || rx->state == E1000_RX_RETRY;

	if (rx->state == E1000_RX_STOPPED)
		return false;
	if (!e1000_rx_ready(e)) {
		rx->state = held ? E1000_RX_HOLDING : E1000_RX_NO_ROOM;
		return false;
	}
	if (held) {
		enum e1000_rx_verdict v = e1000_rx_deliver(e, rx->buf, rx->held_len);

		if (v == E1000_RX_WAIT) {
			rx->state = E1000_RX_HOLDING;
			return false;
		}
		*delivered += v == E1000_RX_DELIVER;
		rx->held_len = 0;
	}
	rx->state = E1000_RX_READING;
	return true;
}

enum e1000_rx_pass_end e1000_rx_pass(struct e1000 *e, unsigned int budget, int *delivered)
{
	*delivered = 0;
	for (;;) {
		ssize_t n;
		bool go;

		pthread_mutex_lock(&e->lock);
		go = e1000_rx_may_read(e, delivered);
		pthread_mutex_unlock(&e->lock);
		if (!go)
			return E1000_RX_PASS_WAITING;
		if (budget-- == 0)
			return E1000_RX_PASS_BUDGET;
		/* Without the lock: rx.buf is the receiver's alone. */
		n = tap_read(&e->tap, e->rx.buf, E1000_MAX_FRAME);
		if (n == -EAGAIN)
			return E1000_RX_PASS_TAP_EMPTY;
		if (n <= 0) {
			/* The tap is gone (deleted, or EOF on a test socket): stop
			 * reading it, or it would be reported readable forever. */
			log_error("%s: reading tap %s: %s; receive stopped", e->name, e->tap.ifname,
				  n ? strerror((int)-n) : "end of file");
		}
		pthread_mutex_lock(&e->lock);
		/* Delivered at the top of the loop (the state may have moved meanwhile). */
		e->rx.state = n > 0 ? E1000_RX_RETRY : E1000_RX_STOPPED;
		e->rx.held_len = n > 0 ? (size_t)n : 0;
		pthread_mutex_unlock(&e->lock);
	}
}
