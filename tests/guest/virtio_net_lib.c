#include "virtio_net_lib.h"

#include "rt.h"

#define VN_MAGIC	       0x000
#define VN_VERSION	       0x004
#define VN_DEVICE_ID	       0x008
#define VN_DEVICE_FEATURES     0x010
#define VN_DEVICE_FEATURES_SEL 0x014
#define VN_DRIVER_FEATURES     0x020
#define VN_DRIVER_FEATURES_SEL 0x024
#define VN_QUEUE_SEL	       0x030
#define VN_QUEUE_NUM_MAX       0x034
#define VN_QUEUE_NUM	       0x038
#define VN_QUEUE_READY	       0x044
#define VN_QUEUE_NOTIFY	       0x050
#define VN_STATUS	       0x070
#define VN_QUEUE_DESC	       0x080
#define VN_QUEUE_DRIVER	       0x090
#define VN_QUEUE_DEVICE	       0x0a0
#define VN_CONFIG	       0x100

#define ST_ACK	       1
#define ST_DRIVER      2
#define ST_DRIVER_OK   4
#define ST_FEATURES_OK 8
#define ST_NEEDS_RESET 64

#define F_EVENT_IDX	 29
#define F_VERSION_1	 32
#define D_WRITE		 2
#define USED_F_NO_NOTIFY 1
#define RX_BUF_MAX	 2048

struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

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

uint32_t vnet_read32(const struct vnet *n, uint32_t reg)
{
	return mmio_read32(n->base + reg);
}

void vnet_write32(const struct vnet *n, uint32_t reg, uint32_t v)
{
	mmio_write32(n->base + reg, v);
}

bool vnet_has(const struct vnet *n, unsigned int feature)
{
	return (n->features >> feature) & 1;
}

bool vnet_find(struct vnet *n)
{
	struct virtio_mmio_dev devs[8];
	int count = cmdline_virtio_mmio(devs, 8, NULL);

	for (int i = 0; i < count; i++) {
		n->base = devs[i].base;
		if (vnet_read32(n, VN_MAGIC) == 0x74726976 && vnet_read32(n, VN_VERSION) == 2 &&
		    vnet_read32(n, VN_DEVICE_ID) == 1) {
			n->irq = devs[i].irq;
			return true;
		}
	}
	return false;
}

static volatile struct vdesc *desc(struct vnet_ring *r, uint16_t i)
{
	return (volatile struct vdesc *)&((struct vdesc *)r->desc)[i];
}

static uint16_t used_idx(const struct vnet_ring *r)
{
	return ((volatile uint16_t *)r->used)[1];
}

static uint32_t used_id(const struct vnet_ring *r, uint16_t i)
{
	return r->used[1 + 2 * (i % r->size)];
}

static uint32_t used_len(const struct vnet_ring *r, uint16_t i)
{
	return r->used[2 + 2 * (i % r->size)];
}

static uint16_t avail_event(const struct vnet_ring *r)
{
	return ((volatile uint16_t *)r->used)[2 + 4 * r->size];
}

static void write64(const struct vnet *n, uint32_t reg, uint64_t v)
{
	vnet_write32(n, reg, (uint32_t)v);
	vnet_write32(n, reg + 4, (uint32_t)(v >> 32));
}

static bool setup_ring(struct vnet *n, struct vnet_ring *r, unsigned int q)
{
	uint16_t max;

	vnet_write32(n, VN_QUEUE_SEL, q);
	max = (uint16_t)vnet_read32(n, VN_QUEUE_NUM_MAX);
	r->size = max < VNET_QSIZE ? max : VNET_QSIZE;
	r->queue = q;
	r->desc = (volatile uint64_t *)ring_desc[q];
	r->avail = ring_avail[q];
	r->used = ring_used[q];
	r->avail_idx = r->published = r->used_seen = 0;
	r->kicks = 0;
	memset(ring_desc[q], 0, sizeof(ring_desc[q]));
	memset(ring_avail[q], 0, sizeof(ring_avail[q]));
	memset(ring_used[q], 0, sizeof(ring_used[q]));
	vnet_write32(n, VN_QUEUE_NUM, r->size);
	write64(n, VN_QUEUE_DESC, (uint64_t)(uintptr_t)ring_desc[q]);
	write64(n, VN_QUEUE_DRIVER, (uint64_t)(uintptr_t)ring_avail[q]);
	write64(n, VN_QUEUE_DEVICE, (uint64_t)(uintptr_t)ring_used[q]);
	vnet_write32(n, VN_QUEUE_READY, 1);
	return vnet_read32(n, VN_QUEUE_READY) == 1;
}

/* Publish the avail index; notify if the device asked for it. */
static void publish(struct vnet *n, struct vnet_ring *r)
{
	uint16_t old = r->published, new = r->avail_idx;
	bool kick;

	if (old == new)
		return;
	barrier(); /* ring entries before the index (x86 keeps stores in order) */
	r->avail[1] = new;
	r->published = new;
	mb(); /* the index before reading the device's suppression fields */
	if (vnet_has(n, F_EVENT_IDX))
		kick = (uint16_t)(new - avail_event(r) - 1) < (uint16_t)(new - old);
	else
		kick = !(((volatile uint16_t *)r->used)[0] & USED_F_NO_NOTIFY);
	if (kick) {
		vnet_write32(n, VN_QUEUE_NOTIFY, r->queue);
		r->kicks++;
	}
}

bool vnet_up(struct vnet *n, uint64_t want, uint32_t rx_buf_size)
{
	uint64_t offered;

	if (rx_buf_size > RX_BUF_MAX || rx_buf_size < VNET_HDR)
		return false;
	n->rx_buf_size = rx_buf_size;
	vnet_write32(n, VN_STATUS, 0);
	vnet_write32(n, VN_STATUS, ST_ACK);
	vnet_write32(n, VN_STATUS, ST_ACK | ST_DRIVER);
	vnet_write32(n, VN_DEVICE_FEATURES_SEL, 0);
	offered = vnet_read32(n, VN_DEVICE_FEATURES);
	vnet_write32(n, VN_DEVICE_FEATURES_SEL, 1);
	offered |= (uint64_t)vnet_read32(n, VN_DEVICE_FEATURES) << 32;
	n->features = offered & (want | 1ULL << F_VERSION_1);
	vnet_write32(n, VN_DRIVER_FEATURES_SEL, 0);
	vnet_write32(n, VN_DRIVER_FEATURES, (uint32_t)n->features);
	vnet_write32(n, VN_DRIVER_FEATURES_SEL, 1);
	vnet_write32(n, VN_DRIVER_FEATURES, (uint32_t)(n->features >> 32));
	vnet_write32(n, VN_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK);
	if (!(vnet_read32(n, VN_STATUS) & ST_FEATURES_OK))
		return false;
	for (unsigned int i = 0; i < 6; i++)
		n->mac[i] = mmio_read8(n->base + VN_CONFIG + i);
	n->status = mmio_read16(n->base + VN_CONFIG + 6);
	if (!setup_ring(n, &n->rx, VIRTIO_NET_RXQ) || !setup_ring(n, &n->tx, VIRTIO_NET_TXQ))
		return false;
	for (uint16_t i = 0; i < n->rx.size; i++) {
		*desc(&n->rx, i) =
		    (struct vdesc){(uint64_t)(uintptr_t)rx_bufs[i], rx_buf_size, D_WRITE, 0};
		n->rx.avail[2 + i] = i;
	}
	n->rx.avail_idx = n->rx.size;
	barrier();
	n->rx.avail[1] = n->rx.avail_idx;
	n->rx.published = n->rx.avail_idx;
	rx_ndone = 0;
	n->tx_nfree = n->tx.size;
	for (uint16_t i = 0; i < n->tx.size; i++)
		n->tx_free[i] = i;
	vnet_write32(n, VN_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK);
	return (vnet_read32(n, VN_STATUS) & (ST_DRIVER_OK | ST_NEEDS_RESET)) == ST_DRIVER_OK;
}

bool vnet_tx_queue(struct vnet *n, const void *frame, uint32_t len)
{
	uint16_t id;

	if (!n->tx_nfree || len + VNET_HDR > VNET_TX_BUF)
		return false;
	id = n->tx_free[--n->tx_nfree];
	memset(tx_bufs[id], 0, VNET_HDR);
	memcpy(tx_bufs[id] + VNET_HDR, frame, len);
	*desc(&n->tx, id) = (struct vdesc){(uint64_t)(uintptr_t)tx_bufs[id], len + VNET_HDR, 0, 0};
	n->tx.avail[2 + n->tx.avail_idx % n->tx.size] = id;
	n->tx.avail_idx++;
	return true;
}

void vnet_tx_prefill(struct vnet *n, const void *frame, uint32_t len)
{
	for (uint16_t id = 0; id < n->tx.size && len + VNET_HDR <= VNET_TX_BUF; id++) {
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
	*desc(&n->tx, id) = (struct vdesc){(uint64_t)(uintptr_t)tx_bufs[id], len + VNET_HDR, 0, 0};
	n->tx.avail[2 + n->tx.avail_idx % n->tx.size] = id;
	n->tx.avail_idx++;
	return true;
}

void vnet_tx_kick(struct vnet *n)
{
	publish(n, &n->tx);
}

unsigned int vnet_tx_reclaim(struct vnet *n)
{
	uint16_t end = used_idx(&n->tx);

	barrier();
	while (n->tx.used_seen != end) {
		uint32_t id = used_id(&n->tx, n->tx.used_seen);

		if (id < n->tx.size && n->tx_nfree < n->tx.size)
			n->tx_free[n->tx_nfree++] = (uint16_t)id;
		n->tx.used_seen++;
	}
	return n->tx.size - n->tx_nfree;
}

/* Consume one packet; copy up to max frame bytes into frame (NULL: count only). */
static int rx_take(struct vnet *n, struct virtio_net_hdr_v1 *hdr_out, uint8_t *frame, uint32_t max)
{
	struct vnet_ring *r = &n->rx;
	uint16_t avail = (uint16_t)(used_idx(r) - r->used_seen), nb = 1;
	struct virtio_net_hdr_v1 hdr;
	uint32_t id, len, total = 0;
	bool bad = false;

	if (!avail)
		return 0;
	barrier();
	id = used_id(r, r->used_seen);
	len = used_len(r, r->used_seen);
	if (id >= r->size || len < VNET_HDR || len > n->rx_buf_size)
		bad = true;
	else
		memcpy(&hdr, rx_bufs[id], VNET_HDR);
	if (!bad && (n->features >> VIRTIO_NET_F_MRG_RXBUF) & 1) {
		nb = hdr.num_buffers;
		if (nb == 0 || nb > r->size)
			bad = true;
		else if (avail < nb)
			return 0; /* the rest of the packet is not published yet */
	}
	if (bad) {
		if (id < r->size)
			rx_done[rx_ndone++] = (uint16_t)id;
		r->used_seen++;
		return -1;
	}
	for (uint16_t i = 0; i < nb; i++) {
		uint32_t bid = used_id(r, r->used_seen), blen = used_len(r, r->used_seen);
		uint32_t off = i == 0 ? VNET_HDR : 0;

		if (bid >= r->size || blen > n->rx_buf_size || blen < off) {
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
	return rx_take(n, hdr, frame, max);
}

int vnet_rx_discard(struct vnet *n)
{
	return rx_take(n, NULL, NULL, 0);
}

void vnet_rx_refill(struct vnet *n)
{
	struct vnet_ring *r = &n->rx;

	for (unsigned int i = 0; i < rx_ndone; i++) {
		r->avail[2 + r->avail_idx % r->size] = rx_done[i];
		r->avail_idx++;
	}
	rx_ndone = 0;
	publish(n, r);
}

void vnet_want_interrupts(struct vnet *n, bool on)
{
	struct vnet_ring *rings[2] = {&n->rx, &n->tx};

	for (int i = 0; i < 2; i++) {
		struct vnet_ring *r = rings[i];

		/* used_event: interrupt when the device passes this entry.  One
		 * behind what was seen means "not before 64 K more entries". */
		r->avail[2 + r->size] = on ? r->used_seen : (uint16_t)(r->used_seen - 1);
		if (!vnet_has(n, F_EVENT_IDX))
			r->avail[0] = on ? 0 : 1;
	}
	mb();
}
