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

/* The benchmarks' frame: broadcast from mac, ethertype 0x88b5, byte i = i. */
void net_bench_frame(uint8_t *f, uint32_t size, const uint8_t mac[6]);

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
