/*
 * e1000 benchmark guest (bench/compare drives it; virtio_netbench.c is its
 * virtio-net twin).  The loop, the command line (bench.mode, count, size,
 * batch, tso) and the "bench:" result line are net_bench.c's, shared with
 * the twin; this file is the e1000's half of each step (docs/benchmark-guests.md
 * compares the two).  Everything runs at CPL3 and polls: IMS stays 0, so
 * the device raises no interrupt and the loop's VM exits are its doorbell
 * writes alone (the loop reads no register).
 *
 * TX, per frame: a free descriptor (the gap between tx_tail and tx_clean,
 *   the driver's own copies: no TDH read), the prepared frame copied into
 *   that descriptor's slot buffer with net_frame_copy, the descriptor written
 *   (legacy: address, length, EOP|IFCS|RS), tx_tail advanced.  bench.tso=1:
 *   a context descriptor (header offsets, MSS, TSE|IP|TCP) goes in front of
 *   each packet's data descriptor (extended, TSE, IXSM|TXSM), as Linux's
 *   e1000 driver does it: two descriptors per packet, and the model cuts the
 *   packet into MSS-sized frames itself (devices/net/offload.c), writing each
 *   to the tap.
 * TX, per batch: one TDT write, an MMIO exit in which the model sends every
 *   descriptor up to TDT to the tap, in the vCPU thread, before it returns.
 * TX, ring full: a TDT write if frames are pending, then reclaim: walk the
 *   DD bits from tx_clean (memory only).
 * RX, per frame: the next descriptor's DD bit (memory), the frame copied
 *   out and checked with net_bench_frame_take, its status cleared.  RCTL.SECRC
 *   is set, so lengths exclude the FCS, as virtio-net's do.
 * RX, per batch, and whenever nothing is waiting while descriptors are
 *   held: one RDT write (an MMIO exit) handing back every consumed
 *   descriptor; it wakes the model's I/O thread if the ring had run full.
 * doorbells= counts TDT or RDT writes: every one is an exit.
 */
#include "e1000_lib.h"
#include "net_bench.h"
#include "net_frames.h"

static struct nic nic;
/* Descriptors per TX packet: 2 with TSO (context + data), else 1. */
static unsigned int e1000bench_descs = 1;

static uint64_t e1000bench_up(void *arg)
{
	(void)arg;
	return nic_up(&nic, E1000_RCTL_SECRC);
}

static uint8_t *e1000bench_tx_slot(void *n, const struct net_bench *b)
{
	uint32_t free = (nic.tx_clean + NIC_TX_DESCS - nic.tx_tail - 1) % NIC_TX_DESCS;

	(void)n;
	if (free < e1000bench_descs)
		return NULL;
	/* The buffer belongs to the data descriptor, the packet's last. */
	return net_bench_slot(b, (nic.tx_tail + e1000bench_descs - 1) % NIC_TX_DESCS) +
	       NET_BENCH_FRAME_OFF;
}

/* Descriptor i of the TX ring: two 8-byte stores. */
static void e1000bench_tx_desc(uint32_t i, uint64_t lo, uint64_t hi)
{
	volatile uint64_t *d = (volatile uint64_t *)(nic.tx_ring + 16 * i);

	d[0] = lo;
	d[1] = hi;
}

/*
 * TSO: the context descriptor in front of each packet.  IPv4 header from
 * ipcss to ipcse with its checksum at ipcso, TCP header from tucss with its
 * checksum at tucso, summed to the end (tucse 0); paylen bytes of payload
 * after hdr_len bytes of headers, cut into mss-byte pieces.  RS so that
 * reclaim, which walks every descriptor's DD bit, gets past it.
 */
static void e1000bench_tx_context(const struct net_bench *b)
{
	uint64_t ipcss = NET_TSO_IP_OFF, ipcso = NET_TSO_IP_OFF + 10, ipcse = NET_TSO_TCP_OFF - 1;
	uint64_t tucss = NET_TSO_TCP_OFF, tucso = NET_TSO_CSUM_OFF, tucse = 0;
	uint64_t paylen = b->size - NET_TSO_HDR_LEN, hdr_len = NET_TSO_HDR_LEN, mss = NET_TSO_MSS;
	uint64_t cmd = E1000_TXD_CMD_DEXT | E1000_TXD_CMD_TSE | E1000_TXD_CMD_IP |
		       E1000_TXD_CMD_TCP | E1000_TXD_CMD_RS;

	e1000bench_tx_desc(
	    nic.tx_tail, ipcss | ipcso << 8 | ipcse << 16 | tucss << 32 | tucso << 40 | tucse << 48,
	    paylen | cmd | hdr_len << 40 | mss << 48);
	nic.tx_tail = (nic.tx_tail + 1) % NIC_TX_DESCS;
}

static void e1000bench_tx_post(void *n, const struct net_bench *b)
{
	uint64_t addr, cmd = b->size | E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;

	(void)n;
	if (b->tso) {
		e1000bench_tx_context(b);
		/* Extended data descriptor: segment, fill in both checksums (POPTS). */
		cmd |= E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_DATA | E1000_TXD_CMD_TSE |
		       (uint64_t)(E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM) << 40;
	}
	addr = (uint64_t)(uintptr_t)net_bench_slot(b, nic.tx_tail) + NET_BENCH_FRAME_OFF;
	e1000bench_tx_desc(nic.tx_tail, addr, cmd);
	nic.tx_tail = (nic.tx_tail + 1) % NIC_TX_DESCS;
}

static unsigned int e1000bench_tx_doorbell(void *n)
{
	(void)n;
	nic_tx_kick(&nic); /* TDT */
	return 1;
}

static unsigned int e1000bench_tx_reclaim(void *n)
{
	(void)n;
	return (nic_tx_reclaim(&nic) + e1000bench_descs - 1) / e1000bench_descs;
}

static const uint8_t *e1000bench_rx_peek(void *n, uint32_t *len)
{
	uint8_t status, errors;
	const uint8_t *buf = nic_rx_peek(&nic, len, &status, &errors);

	(void)n;
	if (buf && (errors || !(status & E1000_RXD_STAT_EOP)))
		*len = 0;
	return buf;
}

static void e1000bench_rx_release(void *n)
{
	(void)n;
	nic_rx_release(&nic, false);
}

static unsigned int e1000bench_rx_doorbell(void *n)
{
	(void)n;
	barrier();
	/* The device owns [RDH, RDT): RDT one behind rx_next hands back all we consumed. */
	nic_wr(&nic, E1000_RDT, (nic.rx_next + NIC_RX_DESCS - 1) % NIC_RX_DESCS);
	return 1;
}

static const struct net_bench_ops e1000bench_ops = {
    .tx_slot = e1000bench_tx_slot,
    .tx_post = e1000bench_tx_post,
    .tx_doorbell = e1000bench_tx_doorbell,
    .tx_reclaim = e1000bench_tx_reclaim,
    .rx_peek = e1000bench_rx_peek,
    .rx_release = e1000bench_rx_release,
    .rx_doorbell = e1000bench_rx_doorbell,
};

int main(void)
{
	/* The e1000 takes TSO checksums without the length (net_bench_tso_frame). */
	struct net_bench b = {.ops = &e1000bench_ops, .nic = &nic, .tso_csum_with_len = false};

	if (!net_bench_parse(&b))
		return RT_EXIT_FAIL;
	if (!nic_find(&nic) || !run_at_cpl3(e1000bench_up, NULL)) {
		printf("bench: no usable e1000\n");
		return RT_EXIT_FAIL;
	}
	b.mac = nic.mac;
	e1000bench_descs = b.tso ? 2 : 1;
	printf("bench: ready\n");
	if (run_at_cpl3(net_bench_run, &b))
		return RT_EXIT_FAIL;
	net_bench_report(&b, "");
	return RT_EXIT_PASS;
}
