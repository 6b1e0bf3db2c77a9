/*
 * The e1000's transmit ring.  A write to TDT (or TCTL) processes the
 * descriptors from TDH towards TDT in the vCPU thread that trapped on it,
 * under the NIC lock: each descriptor is copied once, buffers are gathered
 * into one packet, offloads (checksums, TSO, VLAN tag) applied with
 * devices/net/offload.h, and each frame written to the tap without
 * blocking.  One such turn does at most E1000_TX_BUDGET_* of work (the
 * guest chooses how long the ring is and how small TSO segments are); the
 * I/O thread does the rest, one budget per turn, with no further write.
 */
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "devices/e1000/e1000_internal.h"
#include "devices/net/offload.h"
#include "devices/pci.h"
#include "guest_mem.h"
#include "vm.h"

int e1000_tx_alloc(struct e1000_tx *tx)
{
	tx->buf = e1000_alloc(E1000_TX_BUF_SIZE);
	tx->seg_buf = e1000_alloc(E1000_MAX_FRAME + NET_VLAN_HLEN);
	tx->vlan_buf = e1000_alloc(E1000_MAX_FRAME + NET_VLAN_HLEN);
	return tx->buf && tx->seg_buf && tx->vlan_buf ? 0 : -1;
}

void e1000_tx_free(struct e1000_tx *tx)
{
	free(tx->buf);
	free(tx->seg_buf);
	free(tx->vlan_buf);
}

void e1000_tx_reset(struct e1000_tx *tx)
{
	memset(&tx->ctx, 0, sizeof(tx->ctx));
	tx->len = 0;
	tx->state = E1000_TX_IDLE; /* drops the segments of a packet being cut */
}

static bool e1000_tx_budget_left(const struct e1000_tx_budget *b)
{
	return b->descs && b->frames && b->bytes;
}

static void e1000_tx_budget_bytes(struct e1000_tx_budget *b, uint32_t n)
{
	b->bytes = n < b->bytes ? b->bytes - n : 0;
}

/* One finished frame to the tap: VLAN tag, padding, counters. */
static void e1000_tx_frame(struct e1000 *e, const uint8_t *frame, uint32_t len)
{
	uint8_t padded[NET_ETH_ZLEN];

	if (e->tx.budget.frames)
		e->tx.budget.frames--;
	e1000_tx_budget_bytes(&e->tx.budget, len);
	if (e->tx.vle && (E1000_REG(e, E1000_CTRL) & E1000_CTRL_VME) && len >= NET_VLAN_TAG_OFF &&
	    len <= E1000_MAX_FRAME) {
		len = (uint32_t)net_vlan_insert(e->tx.vlan_buf, frame, len,
						E1000_REG(e, E1000_VET) & 0xffff, e->tx.vlan);
		frame = e->tx.vlan_buf;
	}
	if (len < NET_ETH_ZLEN && (E1000_REG(e, E1000_TCTL) & E1000_TCTL_PSP)) {
		memset(padded, 0, sizeof(padded));
		memcpy(padded, frame, len);
		frame = padded;
		len = NET_ETH_ZLEN;
	}
	if (tap_write(&e->tap, frame, len) != (ssize_t)len) {
		/* A full tap queue drops the frame: the vCPU never waits for the host. */
		counter_add(&e->counters.tx_tap_errors, 1);
		return;
	}
	counter_add(&e->counters.tx_packets, 1);
	counter_add(&e->counters.tx_bytes, len);
	e1000_stat_frame(e, &e1000_stat_tx, frame, len + NET_ETH_FCS_LEN);
}

/* The context descriptor's view of the packet, for net_tso_segment(). */
static struct net_tso e1000_tx_tso_desc(const struct e1000_tx *tx)
{
	const struct e1000_tx_context *c = &tx->ctx;

	return (struct net_tso){
	    .hdr_len = c->hdr_len,
	    .mss = c->mss,
	    .ipcss = c->ipcss,
	    .ipcso = c->ipcso,
	    .ipcse = c->ipcse,
	    .tucss = c->tucss,
	    .tucso = c->tucso,
	    .ipv4 = c->tucmd & (E1000_TXD_CMD_IP >> 24),
	    .tcp = c->tucmd & (E1000_TXD_CMD_TCP >> 24),
	    .ip_csum = tx->popts & E1000_TXD_POPTS_IXSM,
	    .l4_csum = tx->popts & E1000_TXD_POPTS_TXSM,
	};
}

/*
 * SEGMENTING: send the packet's next MSS-sized pieces, each a frame of its
 * own with the header fixed up, while the turn's budget lasts; the packet
 * is done (IDLE) when its last piece has gone.
 */
static void e1000_tx_segments(struct e1000 *e)
{
	struct e1000_tx *tx = &e->tx;
	struct net_tso t = e1000_tx_tso_desc(tx);

	/* A packet of header only is still one frame: the first goes out whatever its size. */
	while ((tx->seg_index == 0 || tx->seg_off < tx->len) && e1000_tx_budget_left(&tx->budget)) {
		size_t len = net_tso_segment(&t, tx->buf, tx->len, tx->seg_off, tx->seg_index++,
					     tx->seg_buf);

		e1000_tx_frame(e, tx->seg_buf, (uint32_t)len);
		counter_add(&e->counters.tx_tso_segments, 1);
		tx->seg_off += t.mss;
	}
	if (tx->seg_index > 0 && tx->seg_off >= tx->len) {
		tx->len = 0;
		tx->state = E1000_TX_IDLE;
	}
}

/*
 * TCP segmentation, as the chip does it: a context that does not fit the
 * packet (or asks for an MSS below NET_TSO_MIN_MSS) drops it (TSCTFC),
 * else the packet is cut into segments, over as many turns as it takes.
 * Returns whether it is being cut (SEGMENTING).
 */
static bool e1000_tx_tso(struct e1000 *e)
{
	struct net_tso t = e1000_tx_tso_desc(&e->tx);

	if (!net_tso_valid(&t, e->tx.len, E1000_MAX_FRAME)) {
		e1000_stat_add(e, E1000_TSCTFC, 1);
		counter_add(&e->counters.tx_dropped, 1);
		return false;
	}
	e1000_stat_add(e, E1000_TSCTC, 1);
	e->tx.state = E1000_TX_SEGMENTING;
	e->tx.seg_off = t.hdr_len;
	e->tx.seg_index = 0;
	e1000_tx_segments(e);
	return true;
}

/* Checksums a data (or legacy) descriptor asked for, into the packet. */
static void e1000_tx_csums(struct e1000_tx *tx)
{
	const struct e1000_tx_context *c = &tx->ctx;

	if (tx->legacy_ic) {
		net_csum_insert(tx->buf, tx->len, tx->css, 0, tx->cso, 0, false);
		return;
	}
	if (tx->popts & E1000_TXD_POPTS_IXSM)
		net_csum_insert(tx->buf, tx->len, c->ipcss, c->ipcse, c->ipcso, 0, true);
	if (tx->popts & E1000_TXD_POPTS_TXSM)
		net_csum_insert(tx->buf, tx->len, c->tucss, c->tucse, c->tucso, 0, false);
}

/* EOP: send the gathered packet (or drop it), then gather the next. */
static void e1000_tx_finish_packet(struct e1000 *e)
{
	struct e1000_tx *tx = &e->tx;

	if (tx->state == E1000_TX_DISCARDING || tx->len == 0) {
		counter_add(&e->counters.tx_dropped, 1);
	} else if (tx->tse) {
		if (e1000_tx_tso(e))
			return; /* e1000_tx_segments() ends the packet */
	} else if (tx->len > E1000_MAX_FRAME) {
		counter_add(&e->counters.tx_dropped, 1);
	} else {
		e1000_tx_csums(tx);
		e1000_tx_frame(e, tx->buf, tx->len);
	}
	tx->len = 0;
	tx->state = E1000_TX_IDLE;
}

static void e1000_tx_gather(struct e1000 *e, uint64_t addr, uint32_t len)
{
	struct e1000_tx *tx = &e->tx;
	const void *src;

	if (tx->state == E1000_TX_IDLE)
		tx->state = E1000_TX_GATHERING;
	if (len == 0 || tx->state == E1000_TX_DISCARDING)
		return;
	if (len > E1000_TX_BUF_SIZE - tx->len) {
		tx->state = E1000_TX_DISCARDING;
		return;
	}
	src = guest_mem_ptr(&e->vm->mem, addr, len);
	if (!src) {
		counter_add(&e->counters.tx_desc_errors, 1);
		tx->state = E1000_TX_DISCARDING;
		return;
	}
	memcpy(tx->buf + tx->len, src, len);
	tx->len += len;
	e1000_tx_budget_bytes(&tx->budget, len);
}

static void e1000_tx_context_desc(struct e1000_tx *tx, const uint8_t *d)
{
	struct e1000_tx_context *c = &tx->ctx;
	uint32_t cmd_len = get_le32(d + 8);

	c->ipcss = d[0];
	c->ipcso = d[1];
	c->ipcse = get_le16(d + 2);
	c->tucss = d[4];
	c->tucso = d[5];
	c->tucse = get_le16(d + 6);
	c->paylen = cmd_len & E1000_TXD_LEN_MASK;
	c->tucmd = cmd_len >> 24;
	c->hdr_len = d[13];
	c->mss = get_le16(d + 14);
}

/* A packet's first descriptor chooses its offloads. */
static void e1000_tx_first_desc(struct e1000_tx *tx, const uint8_t *d, uint32_t cmd_len)
{
	if (!(cmd_len & E1000_TXD_CMD_DEXT)) {
		/* Legacy: length 15:0, CSO, CMD, status, CSS, special. */
		tx->legacy_ic = cmd_len & E1000_TXD_CMD_IC;
		tx->cso = d[10];
		tx->css = d[13];
		tx->tse = false;
		tx->popts = 0;
	} else {
		tx->legacy_ic = false;
		tx->popts = d[13];
		tx->tse = cmd_len & E1000_TXD_CMD_TSE;
	}
}

/* Consume one descriptor; returns whether it asked for status write-back. */
static bool e1000_tx_desc(struct e1000 *e, const uint8_t *d)
{
	uint32_t cmd_len = get_le32(d + 8);
	bool legacy = !(cmd_len & E1000_TXD_CMD_DEXT);

	if (!legacy && !(cmd_len & E1000_TXD_DTYP_DATA)) {
		e1000_tx_context_desc(&e->tx, d);
		return cmd_len & E1000_TXD_CMD_RS;
	}
	if (e->tx.state == E1000_TX_IDLE)
		e1000_tx_first_desc(&e->tx, d, cmd_len);
	e1000_tx_gather(e, get_le64(d), cmd_len & (legacy ? 0xffff : E1000_TXD_LEN_MASK));
	if (cmd_len & E1000_TXD_CMD_EOP) {
		e->tx.vle = cmd_len & E1000_TXD_CMD_VLE;
		e->tx.vlan = get_le16(d + 14);
		e1000_tx_finish_packet(e);
	}
	return cmd_len & E1000_TXD_CMD_RS;
}

static uint64_t e1000_tx_ring_base(struct e1000 *e)
{
	return (uint64_t)E1000_REG(e, E1000_TDBAH) << 32 | (E1000_REG(e, E1000_TDBAL) & ~0xfu);
}

/*
 * One turn: the rest of a packet being cut, then descriptors from TDH
 * towards TDT in a ring of n, while the budget lasts; raise TXDW/TXQE.
 * Returns whether work is left for another turn.
 */
static bool e1000_tx_run(struct e1000 *e, uint32_t n)
{
	uint64_t base = e1000_tx_ring_base(e);
	uint32_t head = E1000_REG(e, E1000_TDH), tail = E1000_REG(e, E1000_TDT);
	uint32_t cause = 0, done = 0;
	bool resumed = e->tx.state == E1000_TX_SEGMENTING;

	e->tx.budget = (struct e1000_tx_budget){E1000_TX_BUDGET_DESCS, E1000_TX_BUDGET_FRAMES,
						E1000_TX_BUDGET_BYTES};
	if (resumed) {
		e1000_tx_segments(e);
		if (e->tx.state == E1000_TX_SEGMENTING)
			return true;
	}
	if (head >= n || tail >= n) {
		/* A hostile or broken driver: stall the queue, as hardware would. */
		counter_add(&e->counters.tx_desc_errors, 1);
		return false;
	}
	while (head != tail && e->tx.state != E1000_TX_SEGMENTING &&
	       e1000_tx_budget_left(&e->tx.budget)) {
		uint8_t *slot = guest_mem_ptr(&e->vm->mem, base + (uint64_t)head * E1000_DESC_SIZE,
					      E1000_DESC_SIZE);
		uint8_t d[E1000_DESC_SIZE];

		if (!slot) {
			counter_add(&e->counters.tx_desc_errors, 1);
			break;
		}
		/* One copy: the guest may rewrite the descriptor while we look at it. */
		memcpy(d, slot, E1000_DESC_SIZE);
		if (e1000_tx_desc(e, d)) {
			slot[12] |= E1000_TXD_STAT_DD;
			cause |= E1000_ICR_TXDW;
		}
		head = (head + 1) % n;
		E1000_REG(e, E1000_TDH) = head;
		done++;
		e->tx.budget.descs--;
	}
	if (e->tx.state == E1000_TX_SEGMENTING || head != tail) {
		/* Out of budget (a slot outside RAM stops the ring for good instead). */
		e1000_irq_raise(e, cause);
		return e->tx.state == E1000_TX_SEGMENTING || !e1000_tx_budget_left(&e->tx.budget);
	}
	e1000_irq_raise(e, done || resumed ? cause | E1000_ICR_TXQE : cause);
	return false;
}

bool e1000_tx_process(struct e1000 *e)
{
	uint32_t n = E1000_REG(e, E1000_TDLEN) / E1000_DESC_SIZE;
	bool more = false;

	if ((E1000_REG(e, E1000_TCTL) & E1000_TCTL_EN) && pci_bus_master_enabled(e->pci) && n)
		more = e1000_tx_run(e, n);
	if (more)
		e1000_kick_io(e); /* the I/O thread does the next turn */
	return more;
}

void e1000_tx_write_doorbell(struct e1000 *e, uint32_t off, uint32_t val)
{
	e1000_reg_store(e, off, val);
	e1000_tx_process(e);
}
