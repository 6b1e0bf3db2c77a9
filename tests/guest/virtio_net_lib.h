/*
 * A minimal polled virtio-net driver over virtio-mmio for the test guests
 * (functional test and benchmark).  Meant to run at CPL3: it touches only
 * its rings, buffers and the device's registers.  One RX and one TX queue;
 * every chain is a single descriptor (header and frame together).
 */
#ifndef VIRTIO_NET_LIB_H
#define VIRTIO_NET_LIB_H

#include <stdbool.h>
#include <stdint.h>

#define MINIVMM_FREESTANDING
#include "../../virtio/net.h"
#include "net_frames.h"
#include "virtio_mmio.h"

#define VNET_QSIZE  256
#define VNET_HDR    12
#define VNET_TX_BUF 2048

struct vnet_ring {
	struct vring vq;
	uint16_t published; /* avail idx at the last kick check */
	uint16_t used_seen; /* used entries consumed */
	unsigned int queue;
	uint64_t kicks; /* QueueNotify writes */
};

struct vnet {
	uint64_t base;
	uint32_t irq;
	uint64_t features; /* negotiated */
	uint8_t mac[6];
	uint16_t status;
	uint32_t rx_buf_size;
	struct vnet_ring rx, tx;
	uint16_t tx_free[VNET_QSIZE]; /* descriptor ids not in flight */
	unsigned int tx_nfree;
};

/* The first virtio-mmio device with device ID 1 on the command line; false if none. */
bool vnet_find(struct vnet *n);
/*
 * Reset, negotiate want & offered (VERSION_1 is always asked for), set up
 * both queues, post every RX buffer (rx_buf_size bytes each, header
 * included) and set DRIVER_OK.  false if the device refused.
 */
bool vnet_up(struct vnet *n, uint64_t want, uint32_t rx_buf_size);
bool vnet_has(const struct vnet *n, unsigned int feature);

/* Copy a frame into a free TX buffer behind a zero header; false if none is free. */
bool vnet_tx_queue(struct vnet *n, const void *frame, uint32_t len);
/*
 * For the benchmark: copy frame into every TX buffer once, so that
 * vnet_tx_queue_filled() sends it without a copy per packet (like a host
 * process writing the same buffer again and again).
 */
void vnet_tx_prefill(struct vnet *n, const void *frame, uint32_t len);
bool vnet_tx_queue_filled(struct vnet *n, uint32_t len);
/* Publish queued frames; notify the device only if it asked (EVENT_IDX) or always without it. */
void vnet_tx_kick(struct vnet *n);
/* Take back sent buffers; returns how many frames are still in flight. */
unsigned int vnet_tx_reclaim(struct vnet *n);
/*
 * For net_send_frames(): vnet_tx_queue, vnet_tx_kick, and vnet_tx_reclaim
 * that also asks for an interrupt at the next completion while frames are
 * in flight (the functional test counts TX interrupts).
 */
extern const struct net_tx_ops vnet_tx_ops;

/*
 * The next received packet: its header and first-buffer data.  With
 * MRG_RXBUF the frame is gathered (copied) into `frame` across
 * num_buffers buffers; without it, copied from the single buffer.
 * Returns the frame length, 0 if nothing arrived, -1 if malformed.
 */
int vnet_rx(struct vnet *n, struct virtio_net_hdr_v1 *hdr, uint8_t *frame, uint32_t max);
/* Count-only receive for the benchmark: consumes one packet, returns its frame length. */
int vnet_rx_discard(struct vnet *n);
/* Give consumed RX buffers back to the device (one avail update, kick if asked). */
void vnet_rx_refill(struct vnet *n);

/* With EVENT_IDX: ask for an interrupt at the next used entry, or for none at all. */
void vnet_want_interrupts(struct vnet *n, bool on);

#endif
