/*
 * virtio-net (virtio 1.2, section 5.1) on the virtio-mmio transport, backed
 * by a tap and served by one io_uring I/O thread per queue pair (one pair
 * unless --net ...,queues=N; multi-queue in docs/virtio-net.md).
 *
 * The protocol definitions at the top depend only on <stdint.h>, so the
 * freestanding test guests share them.
 */
#ifndef MINIVMM_VIRTIO_NET_H
#define MINIVMM_VIRTIO_NET_H

#include <stdint.h>

#define VIRTIO_NET_F_CSUM	0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU	3
#define VIRTIO_NET_F_MAC	5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN	9
#define VIRTIO_NET_F_GUEST_UFO	10
#define VIRTIO_NET_F_HOST_TSO4	11
#define VIRTIO_NET_F_HOST_TSO6	12
#define VIRTIO_NET_F_HOST_ECN	13
#define VIRTIO_NET_F_HOST_UFO	14
#define VIRTIO_NET_F_MRG_RXBUF	15
#define VIRTIO_NET_F_STATUS	16
#define VIRTIO_NET_F_CTRL_VQ	17
#define VIRTIO_NET_F_MQ		22

#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2

#define VIRTIO_NET_HDR_GSO_NONE	  0
#define VIRTIO_NET_HDR_GSO_TCPV4  1
#define VIRTIO_NET_HDR_GSO_UDP	  3
#define VIRTIO_NET_HDR_GSO_TCPV6  4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#define VIRTIO_NET_HDR_GSO_ECN	  0x80

/*
 * Queue indices of the first pair.  With VIRTIO_NET_F_MQ pair i has
 * receiveq 2i and transmitq 2i + 1 and the control queue follows the last
 * pair (2 * max_virtqueue_pairs); without MQ (but with CTRL_VQ) it is 2.
 */
#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1

/* Most queue pairs of one device (--net ...,queues=N). */
#define VIRTIO_NET_MAX_PAIRS 8

/*
 * The control queue (virtio 1.2, 5.1.6.5): every command is class, command
 * and its data (device-readable), then the ack byte (device-writable).
 * Only the multi-queue class is implemented.
 */
#define VIRTIO_NET_OK			0
#define VIRTIO_NET_ERR			1
#define VIRTIO_NET_CTRL_MQ		4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0 /* data: le16 virtqueue_pairs, 1..max */

/*
 * The header in front of every frame in both directions.  With
 * VIRTIO_F_VERSION_1 it always includes num_buffers (12 bytes), whether or
 * not MRG_RXBUF is negotiated; the tap uses the same layout (TUNSETVNETHDRSZ 12).
 */
struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

_Static_assert(sizeof(struct virtio_net_hdr_v1) == 12, "virtio_net_hdr_v1 layout");

/* Device configuration space (little-endian). */
struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
};

_Static_assert(sizeof(struct virtio_net_config) == 12, "virtio_net_config layout");

/*
 * Largest packet in either direction, excluding the virtio-net header: a
 * 64 KiB TSO/GSO payload plus an Ethernet header.  Larger TX chains are
 * dropped; with MRG_RXBUF the device gathers RX buffers for this much
 * before reading from the tap, and a frame that outgrows the buffers the
 * guest has posted waits (in the device) for more.
 */
#define VIRTIO_NET_MAX_FRAME 65550

#ifndef MINIVMM_FREESTANDING
#include <stdbool.h>

#include "counters.h"

struct vm;
struct net_config;
struct tap;
struct virtio_net;
struct virtio_device;

/*
 * The tap ioctls the device issues, factored out so unit tests can stand a
 * socketpair in for the tap and record what would have been configured.
 */
struct virtio_net_tap_ops {
	int (*set_vnet_hdr_size)(struct tap *tap, int size);
	int (*set_offload)(struct tap *tap, unsigned int tun_f_flags);
	/* Multi-queue only (tap_set_queue_enabled); may be NULL with one pair. */
	int (*set_queue_enabled)(struct tap *tap, bool enabled);
	/*
	 * The backend takes and gives plain, fully checksummed frames behind
	 * an all-zero header (user-mode networking): the device offers the
	 * guest no checksum or segmentation offload.
	 */
	bool no_offloads;
};

/*
 * Open the tap cfg->tap (with a vnet header; cfg->queues above 1: that many
 * queues of a multi-queue tap) and create NIC number index
 * ("virtio-net.<index>") on the next virtio-mmio slot.  0 (and *out if out
 * is non-NULL) or -errno after logging one line naming the problem.
 */
int virtio_net_create(struct vm *vm, const struct net_config *cfg, unsigned int index,
		      struct virtio_net **out);

/*
 * Like virtio_net_create() on already open tap queues, taps[i] for pair i,
 * cfg->queues of them (0 meaning 1; at most VIRTIO_NET_MAX_PAIRS), taken
 * over: closed by virtio_net_destroy() or on failure.  The tap ioctls go
 * through ops (set_queue_enabled required with several pairs).
 */
int virtio_net_create_on_taps(struct vm *vm, const struct net_config *cfg, unsigned int index,
			      const struct tap *taps, const struct virtio_net_tap_ops *ops,
			      struct virtio_net **out);

/* virtio_net_create_on_taps() with one tap: one queue pair, whatever cfg->queues says. */
int virtio_net_create_on_tap(struct vm *vm, const struct net_config *cfg, unsigned int index,
			     const struct tap *tap, const struct virtio_net_tap_ops *ops,
			     struct virtio_net **out);

/* Stop the I/O thread, close the tap, free the device (teardown, tests). */
void virtio_net_destroy(struct virtio_net *net);

/* The transport half, for tests. */
struct virtio_device *virtio_net_device(struct virtio_net *net);

/* TUN_F_* offloads the tap may hand the guest, for negotiated features. */
unsigned int virtio_net_tun_offloads(uint64_t features);

/*
 * The device's counters, each named once: fields of struct
 * virtio_net_counters and keys of the --stats line, in this order (then
 * the transport's interrupts=, the I/O thread's io_loops= and tap=).
 * tests/integration/virtio_net.sh parses that line.
 */
#define VIRTIO_NET_COUNTERS(X)                                                                     \
	X(tx_packets)                                                                              \
	X(tx_bytes) /* frame bytes, without the virtio-net header */                               \
	X(tx_dropped)                                                                              \
	X(tx_malformed)                                                                            \
	X(tx_oversized)                                                                            \
	X(rx_packets)                                                                              \
	X(rx_bytes)                                                                                \
	X(rx_dropped)                                                                              \
	X(rx_malformed)                                                                            \
	X(rx_oversized)                                                                            \
	X(rx_no_buffers) /* times RX stopped reading the tap for want of buffers */                \
	X(tx_kicks)	 /* kick eventfd reads (several kicks may coalesce) */                     \
	X(rx_kicks)                                                                                \
	X(rx_reads)	    /* readv() calls on the tap, those that found it empty included */     \
	X(rx_read_iovecs)   /* iovec entries those calls carried (guest buffers + spill buffer) */ \
	X(tx_inactive_pair) /* TX frames dropped (also in tx_dropped): pair not in use */          \
	X(ctrl_commands)    /* control queue commands answered */                                  \
	X(ctrl_refused)	    /* of those, answered VIRTIO_NET_ERR */                                \
	X(ctrl_malformed)   /* too short or long, wrong data size, or no ack byte */

struct virtio_net_counters {
	VIRTIO_NET_COUNTERS(COUNTER_FIELD)
};

/* The live counters (read them with counter_get()), for tests. */
const struct virtio_net_counters *virtio_net_counters(const struct virtio_net *net);

/* True while RX (of the first pair) waits for the guest to post buffers (not reading the tap). */
bool virtio_net_rx_stalled(struct virtio_net *net);

/* Queue pairs in use: 1 after reset, then what VQ_PAIRS_SET asked for. */
unsigned int virtio_net_active_pairs(struct virtio_net *net);
#endif

#endif
