/*
 * The test frames the NIC guests (e1000, virtio-net) exchange with the host,
 * and the helpers both guests share.  Frame k of each direction:
 *   length 60 + (k * MUL) % 1455, dst, src, ethertype, k as 16-bit BE,
 *   then byte i = (k * SEED + i * 7 + (i >> 8)) & 0xff.
 * TX: MUL 331, SEED 31, ethertype 0x88b5, dst broadcast, src the guest's MAC.
 * RX: MUL 557, SEED 17, ethertype 0x88b6, dst the guest's MAC, src 02:00:00:00:00:01.
 * tests/integration/lib/frames.py generates and checks the same frames on
 * the host side (keep them in sync).
 */
#ifndef NET_FRAMES_H
#define NET_FRAMES_H

#include "rt.h"

/* The longest test frame (without FCS). */
#define NET_FRAME_MAX 1514

/* Write TX frame k from mac into f; returns its length. */
uint32_t net_tx_frame(uint8_t *f, uint32_t k, const uint8_t mac[6]);
/* Write the RX frame k the host sends to mac into f; returns its length. */
uint32_t net_rx_frame(uint8_t *f, uint32_t k, const uint8_t mac[6]);

/* ---- the benchmark guests' frames (net_bench.c, docs/benchmark-guests.md) ---- */

#define NET_BENCH_ETHERTYPE 0x88b5

/* The benchmarks' frame: broadcast from mac, ethertype 0x88b5, byte i = i. */
void net_bench_frame(uint8_t *f, uint32_t size, const uint8_t mac[6]);

/* A TSO packet: Ethernet, IPv4 and TCP headers without options, then payload. */
#define NET_TSO_HDR_LEN	 54
#define NET_TSO_IP_OFF	 14 /* IPv4 header */
#define NET_TSO_TCP_OFF	 34 /* TCP header */
#define NET_TSO_CSUM_OFF 50 /* TCP checksum field */
#define NET_TSO_MSS	 1460
#define NET_TSO_MAX_SIZE (14 + 65535) /* the IPv4 total length is 16 bits */

/*
 * The TSO benchmark's packet, size bytes (Ethernet header included) from mac
 * to 02:00:00:00:00:01: IPv4 10.0.0.2 -> 10.0.0.1 with DF and a valid header
 * checksum, TCP 40000 -> 5001 with ACK|PSH, payload byte i = i.  The TCP
 * checksum field holds the pseudo-header sum that checksum offload expects,
 * folded but not inverted: over addresses and protocol only (the e1000's
 * convention, Linux's e1000 driver does the same) or, with with_len, also
 * over the TCP length of the whole packet (virtio-net's NEEDS_CSUM, i.e. a
 * Linux CHECKSUM_PARTIAL skb).  size must be NET_TSO_HDR_LEN..NET_TSO_MAX_SIZE.
 */
void net_bench_tso_frame(uint8_t *f, uint32_t size, const uint8_t mac[6], bool with_len);

/*
 * The copy both benchmark guests use for every frame, TX (prepared frame to
 * descriptor buffer) and RX (buffer to a local copy): 8 bytes at a time,
 * then the tail byte by byte, like a simple driver's copy into or out of an
 * skb.  (The runtime's memcpy goes byte by byte.)  The areas must not overlap.
 */
void net_frame_copy(void *dst, const void *src, uint32_t len);

/*
 * RX in both benchmark guests: copy the len-byte frame at buf into copy
 * (net_frame_copy) and check it is the frame the host injected: want_len
 * long, ethertype NET_BENCH_ETHERTYPE, last byte as net_bench_frame wrote it.
 */
bool net_bench_frame_take(uint8_t *copy, const uint8_t *buf, uint32_t len, uint32_t want_len);

/* If the command line has key=52:54:00:12:34:56 (either case), asserts that mac is that address. */
void net_check_mac(const char *key, const uint8_t mac[6]);

/* A NIC driver's transmit side, as the functional tests of both NICs drive it. */
struct net_tx_ops {
	bool (*queue)(void *nic, const void *frame, uint32_t len); /* false: ring full */
	void (*kick)(void *nic);
	unsigned int (*reclaim)(void *nic); /* returns the frames still in flight */
};

/*
 * Sends TX frames 0..count-1 from mac, kicking every 5 frames (so that the
 * ring wraps and there are several kicks), and waits until all are
 * reclaimed.  Returns 0, or once the TSC passes deadline 1 (the ring stayed
 * full) or 2 (frames stayed in flight).  Runs at CPL3.
 */
uint64_t net_send_frames(const struct net_tx_ops *ops, void *nic, const uint8_t mac[6],
			 uint32_t count, uint64_t deadline);

#endif
