#include "virtio_net_lib.h"

#include "rt.h"

#define RX_BUF_MAX 2048

/* Rings and buffers are not in .bss (cleared at CPL0, i.e. emulated): vnet_up clears the rings. */
#define NOCLEAR __attribute__((section(".bss.noclear"), aligned(4096)))
static struct vdesc ring_desc[2][VNET_QSIZE] NOCLEAR;
static uint16_t ring_avail[2][2048] NOCLEAR;
static uint32_t ring_used[2][1024 + 4] NOCLEAR;
static uint8_t rx_bufs[VNET_QSIZE][RX_BUF_MAX] NOCLEAR;
static uint8_t tx_bufs[VNET_QSIZE][VNET_TX_BUF] NOCLEAR;
/* RX descriptor ids consumed and not yet given back. */
static uint16_t rx_done[VNET_QSIZE];
static unsigned int rx_ndone;

bool vnet_has(const struct vnet *n, unsigned int feature)
{
	return (n->features >> feature) & 1;
}

bool vnet_find(struct vnet *n)
{
	struct virtio_mmio_dev dev;

	if (!vmmio_find(VMMIO_ID_NET, &dev))
		return false;
	n->base = dev.base;
	n->irq = dev.irq;
	return true;
}

static bool vnet_setup_ring(struct vnet *n, struct vnet_ring *r, unsigned int q)
{
	uint16_t max = vmmio_queue_select(n->base, q);

	r->vq = (struct vring){max < VNET_QSIZE ? max : VNET_QSIZE, ring_desc[q], ring_avail[q],
			       ring_used[q], 0};
	r->queue = q;
	r->published = r->used_seen = 0;
	r->kicks = 0;
	memset(ring_desc[q], 0, sizeof(ring_desc[q]));
	memset(ring_avail[q], 0, sizeof(ring_avail[q]));
	memset(ring_used[q], 0, sizeof(ring_used[q]));
	return vmmio_queue_enable(n->base, &r->vq);
}

/* Publish the avail index; notify if the device asked for it. */
static void vnet_publish(struct vnet *n, struct vnet_ring *r)
{
	uint16_t old = r->published;

	if (old == r->vq.avail_idx)
		return;
	vring_publish(&r->vq);
	r->published = r->vq.avail_idx;
	if (vring_should_kick(&r->vq, vnet_has(n, VF_EVENT_IDX), old)) {
		vmmio_write32(n->base, VMMIO_QUEUE_NOTIFY, r->queue);
		r->kicks++;
	}
}

bool vnet_up(struct vnet *n, uint64_t want, uint32_t rx_buf_size)
{
	if (rx_buf_size > RX_BUF_MAX || rx_buf_size < VNET_HDR)
		return false;
	n->rx_buf_size = rx_buf_size;
	if (!vmmio_negotiate(n->base, want | BIT(VF_VERSION_1), &n->features))
		return false;
	for (unsigned int i = 0; i < 6; i++)
		n->mac[i] = mmio_read8(n->base + VMMIO_CONFIG + i);
	n->status = mmio_read16(n->base + VMMIO_CONFIG + 6);
	if (!vnet_setup_ring(n, &n->rx, VIRTIO_NET_RXQ) ||
	    !vnet_setup_ring(n, &n->tx, VIRTIO_NET_TXQ))
		return false;
	for (uint16_t i = 0; i < n->rx.vq.size; i++) {
		n->rx.vq.desc[i] =
		    (struct vdesc){(uint64_t)(uintptr_t)rx_bufs[i], rx_buf_size, VD_WRITE, 0};
		vring_post(&n->rx.vq, i);
	}
	vring_publish(&n->rx.vq);
	n->rx.published = n->rx.vq.avail_idx;
	rx_ndone = 0;
	n->tx_nfree = n->tx.vq.size;
	for (uint16_t i = 0; i < n->tx.vq.size; i++)
		n->tx_free[i] = i;
	return vmmio_driver_ok(n->base);
}

bool vnet_tx_queue(struct vnet *n, const void *frame, uint32_t len)
{
	uint16_t id;

	if (!n->tx_nfree || len + VNET_HDR > VNET_TX_BUF)
		return false;
	id = n->tx_free[--n->tx_nfree];
	memset(tx_bufs[id], 0, VNET_HDR);
	memcpy(tx_bufs[id] + VNET_HDR, frame, len);
	n->tx.vq.desc[id] = (struct vdesc){(uint64_t)(uintptr_t)tx_bufs[id], len + VNET_HDR, 0, 0};
	vring_post(&n->tx.vq, id);
	return true;
}

void vnet_tx_prefill(struct vnet *n, const void *frame, uint32_t len)
{
	for (uint16_t id = 0; id < n->tx.vq.size && len + VNET_HDR <= VNET_TX_BUF; id++) {
		memset(tx_bufs[id], 0, VNET_HDR);
		memcpy(tx_bufs[id] + VNET_HDR, frame, len);
	}
}

bool vnet_tx_queue_filled(struct vnet *n, uint32_t len)
{
	uint16_t id;

	if (!n->tx_nfree || len + VNET_HDR > VNET_TX_BUF)
		return false;
	id = n->tx_free[--n->tx_nfree];
	n->tx.vq.desc[id] = (struct vdesc){(uint64_t)(uintptr_t)tx_bufs[id], len + VNET_HDR, 0, 0};
	vring_post(&n->tx.vq, id);
	return true;
}

void vnet_tx_kick(struct vnet *n)
{
	vnet_publish(n, &n->tx);
}

unsigned int vnet_tx_reclaim(struct vnet *n)
{
	uint16_t end = vring_used_idx(&n->tx.vq);

	barrier();
	while (n->tx.used_seen != end) {
		uint32_t id = vring_used_id(&n->tx.vq, n->tx.used_seen);

		if (id < n->tx.vq.size && n->tx_nfree < n->tx.vq.size)
			n->tx_free[n->tx_nfree++] = (uint16_t)id;
		n->tx.used_seen++;
	}
	return n->tx.vq.size - n->tx_nfree;
}

static bool vnet_tx_queue_op(void *nic, const void *frame, uint32_t len)
{
	return vnet_tx_queue(nic, frame, len);
}

static void vnet_tx_kick_op(void *nic)
{
	vnet_tx_kick(nic);
}

static unsigned int vnet_tx_reclaim_op(void *nic)
{
	unsigned int in_flight = vnet_tx_reclaim(nic);

	if (in_flight)
		vnet_want_interrupts(nic, true);
	return in_flight;
}

const struct net_tx_ops vnet_tx_ops = {vnet_tx_queue_op, vnet_tx_kick_op, vnet_tx_reclaim_op};

/* Consume one packet; copy up to max frame bytes into frame (NULL: count only). */
static int vnet_rx_take(struct vnet *n, struct virtio_net_hdr_v1 *hdr_out, uint8_t *frame,
			uint32_t max)
{
	struct vnet_ring *r = &n->rx;
	uint16_t avail = (uint16_t)(vring_used_idx(&r->vq) - r->used_seen), nb = 1;
	struct virtio_net_hdr_v1 hdr;
	uint32_t id, len, total = 0;
	bool bad = false;

	if (!avail)
		return 0;
	barrier();
	id = vring_used_id(&r->vq, r->used_seen);
	len = vring_used_len(&r->vq, r->used_seen);
	if (id >= r->vq.size || len < VNET_HDR || len > n->rx_buf_size)
		bad = true;
	else
		memcpy(&hdr, rx_bufs[id], VNET_HDR);
	if (!bad && (n->features >> VIRTIO_NET_F_MRG_RXBUF) & 1) {
		nb = hdr.num_buffers;
		if (nb == 0 || nb > r->vq.size)
			bad = true;
		else if (avail < nb)
			return 0; /* the rest of the packet is not published yet */
	}
	if (bad) {
		if (id < r->vq.size)
			rx_done[rx_ndone++] = (uint16_t)id;
		r->used_seen++;
		return -1;
	}
	for (uint16_t i = 0; i < nb; i++) {
		uint32_t bid = vring_used_id(&r->vq, r->used_seen),
			 blen = vring_used_len(&r->vq, r->used_seen);
		uint32_t off = i == 0 ? VNET_HDR : 0;

		if (bid >= r->vq.size || blen > n->rx_buf_size || blen < off) {
			bad = true;
		} else {
			uint32_t chunk = blen - off;

			if (frame && total + chunk <= max)
				memcpy(frame + total, rx_bufs[bid] + off, chunk);
			total += chunk;
			rx_done[rx_ndone++] = (uint16_t)bid;
		}
		r->used_seen++;
	}
	if (hdr_out)
		*hdr_out = hdr;
	if (bad || (frame && total > max))
		return -1;
	return (int)total;
}

int vnet_rx(struct vnet *n, struct virtio_net_hdr_v1 *hdr, uint8_t *frame, uint32_t max)
{
	return vnet_rx_take(n, hdr, frame, max);
}

int vnet_rx_discard(struct vnet *n)
{
	return vnet_rx_take(n, NULL, NULL, 0);
}

void vnet_rx_refill(struct vnet *n)
{
	struct vnet_ring *r = &n->rx;

	for (unsigned int i = 0; i < rx_ndone; i++) {
		vring_post(&r->vq, rx_done[i]);
	}
	rx_ndone = 0;
	vnet_publish(n, r);
}

void vnet_want_interrupts(struct vnet *n, bool on)
{
	struct vnet_ring *rings[2] = {&n->rx, &n->tx};

	for (int i = 0; i < 2; i++) {
		struct vnet_ring *r = rings[i];

		/* used_event: interrupt when the device passes this entry.  One
		 * behind what was seen means "not before 64 K more entries". */
		vring_set_used_event(&r->vq, on ? r->used_seen : (uint16_t)(r->used_seen - 1));
		if (!vnet_has(n, VF_EVENT_IDX))
			r->vq.avail[0] = on ? 0 : 1; /* VRING_AVAIL_F_NO_INTERRUPT */
	}
	mb();
}
