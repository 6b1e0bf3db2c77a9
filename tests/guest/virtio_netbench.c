/*
 * virtio-net benchmark guest (bench/compare drives it; e1000bench.c is its
 * e1000 twin).  The loop, the command line (bench.mode, count, size, batch,
 * tso) and the "bench:" result line are net_bench.c's, shared with the twin;
 * this file is virtio-net's half of each step (docs/benchmark-guests.md
 * compares the two).  Everything runs at CPL3 and polls.  Negotiated:
 * VERSION_1, MAC, STATUS, EVENT_IDX, MRG_RXBUF, and with bench.tso=1 CSUM and
 * HOST_TSO4.  Interrupts are suppressed with EVENT_IDX (used_event kept one
 * behind what was consumed), so the only register the loop writes is
 * QueueNotify, and only when the device asks for it through avail_event.
 *
 * TX, per frame: a free descriptor id (the driver's free list), the
 *   12-byte virtio-net header written in front of the frame's place in that
 *   id's slot buffer, the prepared frame copied there with net_frame_copy,
 *   the descriptor written (address, header + frame length) and its id put
 *   in the avail ring (not yet published).  bench.tso=1: the header says
 *   NEEDS_CSUM (TCP checksum from 34 at offset 16) and GSO_TCPV4 with MSS
 *   1460; the device hands the whole packet to the tap with that header,
 *   and the host kernel segments it only if it forwards it somewhere that
 *   needs segments.
 * TX, per batch: the avail index published (memory, then a fence) and, if
 *   the device asked (its avail_event lies in what was just published:
 *   only when its I/O thread went idle), one QueueNotify write, which KVM
 *   turns into an ioeventfd signal without an exit to minivmm.
 * TX, ring full: the same publish if frames are pending, then reclaim: the
 *   used ring from used_seen to the used index, ids back on the free list,
 *   used_event moved along (memory only).
 * RX, per frame: the used ring's next entry (memory), the frame after its
 *   header copied out and checked with net_bench_frame_take, its id put back
 *   in the avail ring.
 * RX, per batch, and whenever nothing is waiting while buffers are held:
 *   the avail index published, QueueNotify only if the device asked (it does
 *   when it ran out of buffers).
 * doorbells= and kicks= both count QueueNotify writes.
 */
#include "net_bench.h"
#include "net_frames.h"
#include "rt.h"
#include "virtio_net_lib.h"

static struct vnet nic;
/* The header every TX packet carries (per frame, copied into its buffer). */
static struct virtio_net_hdr_v1 vnetbench_tx_hdr;
/* The RX descriptor id rx_peek returned (VNET_QSIZE: a malformed used entry). */
static uint32_t vnetbench_rx_id;

static uint64_t vnetbench_up(void *want)
{
	if (!vnet_up(&nic, *(uint64_t *)want, 2048))
		return 0;
	vnet_want_interrupts(&nic, false);
	return 1;
}

static uint8_t *vnetbench_tx_slot(void *n, const struct net_bench *b)
{
	(void)n;
	if (!nic.tx_nfree)
		return NULL;
	return net_bench_slot(b, nic.tx_free[nic.tx_nfree - 1]) + NET_BENCH_FRAME_OFF;
}

static void vnetbench_tx_post(void *n, const struct net_bench *b)
{
	uint16_t id = nic.tx_free[--nic.tx_nfree];
	uint8_t *hdr = net_bench_slot(b, id) + NET_BENCH_FRAME_OFF - VNET_HDR;

	(void)n;
	*(struct virtio_net_hdr_v1 *)hdr = vnetbench_tx_hdr;
	nic.tx.vq.desc[id] = (struct vdesc){(uint64_t)(uintptr_t)hdr, b->size + VNET_HDR, 0, 0};
	vring_post(&nic.tx.vq, id);
}

static unsigned int vnetbench_tx_doorbell(void *n)
{
	uint64_t before = nic.tx.kicks;

	(void)n;
	vnet_tx_kick(&nic); /* publish; QueueNotify if asked */
	return (unsigned int)(nic.tx.kicks - before);
}

static unsigned int vnetbench_tx_reclaim(void *n)
{
	unsigned int in_flight = vnet_tx_reclaim(&nic);

	(void)n;
	vnet_want_interrupts(&nic, false);
	return in_flight;
}

static const uint8_t *vnetbench_rx_peek(void *n, uint32_t *len)
{
	static const uint8_t none[1];
	struct vring *vq = &nic.rx.vq;
	uint16_t seen = nic.rx.used_seen, nbuf;
	uint32_t id, used_len;
	const uint8_t *buf;

	(void)n;
	if (vring_used_idx(vq) == seen)
		return NULL;
	barrier();
	id = vring_used_id(vq, seen);
	used_len = vring_used_len(vq, seen);
	*len = 0;
	if (id >= vq->size) {
		vnetbench_rx_id = VNET_QSIZE;
		return none;
	}
	vnetbench_rx_id = id;
	buf = (const uint8_t *)(uintptr_t)vq->desc[id].addr;
	/* A benchmark frame fits one buffer: num_buffers (header bytes 10..11) is 1. */
	nbuf = (uint16_t)(buf[10] | buf[11] << 8);
	if (used_len >= VNET_HDR && used_len <= nic.rx_buf_size &&
	    (!vnet_has(&nic, VIRTIO_NET_F_MRG_RXBUF) || nbuf == 1))
		*len = used_len - VNET_HDR;
	return buf + VNET_HDR;
}

static void vnetbench_rx_release(void *n)
{
	(void)n;
	if (vnetbench_rx_id < nic.rx.vq.size)
		vring_post(&nic.rx.vq, (uint16_t)vnetbench_rx_id);
	nic.rx.used_seen++;
}

static unsigned int vnetbench_rx_doorbell(void *n)
{
	uint64_t before = nic.rx.kicks;

	(void)n;
	/* The buffers went back with vring_post, so the library's own list of
	 * consumed buffers is empty: this only publishes (and kicks if asked). */
	vnet_rx_refill(&nic);
	vnet_want_interrupts(&nic, false);
	return (unsigned int)(nic.rx.kicks - before);
}

static const struct net_bench_ops vnetbench_ops = {
    .tx_slot = vnetbench_tx_slot,
    .tx_post = vnetbench_tx_post,
    .tx_doorbell = vnetbench_tx_doorbell,
    .tx_reclaim = vnetbench_tx_reclaim,
    .rx_peek = vnetbench_rx_peek,
    .rx_release = vnetbench_rx_release,
    .rx_doorbell = vnetbench_rx_doorbell,
};

int main(void)
{
	/* NEEDS_CSUM wants the pseudo-header sum with the length (net_bench_tso_frame). */
	struct net_bench b = {.ops = &vnetbench_ops, .nic = &nic, .tso_csum_with_len = true};
	uint64_t want = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | BIT(VF_EVENT_IDX) |
			BIT(VIRTIO_NET_F_MRG_RXBUF);
	char kicks[32];

	if (!net_bench_parse(&b))
		return RT_EXIT_FAIL;
	if (b.tso)
		want |= BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4);
	if (!vnet_find(&nic) || !run_at_cpl3(vnetbench_up, &want)) {
		printf("bench: no usable virtio-net device\n");
		return RT_EXIT_FAIL;
	}
	if (b.tso) {
		if (!vnet_has(&nic, VIRTIO_NET_F_HOST_TSO4)) {
			printf("bench: the device does not offer HOST_TSO4\n");
			return RT_EXIT_FAIL;
		}
		vnetbench_tx_hdr = (struct virtio_net_hdr_v1){
		    .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
		    .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
		    .hdr_len = NET_TSO_HDR_LEN,
		    .gso_size = NET_TSO_MSS,
		    .csum_start = NET_TSO_TCP_OFF,
		    .csum_offset = NET_TSO_CSUM_OFF - NET_TSO_TCP_OFF,
		};
	}
	b.mac = nic.mac;
	printf("bench: ready\n");
	if (run_at_cpl3(net_bench_run, &b))
		return RT_EXIT_FAIL;
	snprintf(kicks, sizeof(kicks), "kicks=%lu ", b.rx ? nic.rx.kicks : nic.tx.kicks);
	net_bench_report(&b, kicks);
	return RT_EXIT_PASS;
}
