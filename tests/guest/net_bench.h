/*
 * The network benchmark loop both NIC benchmark guests run (e1000bench.c,
 * virtio_netbench.c; bench/compare drives them).  The loop, the command
 * line, the frames, the copy and the result line live here once; a guest
 * supplies only its device's half of each step (struct net_bench_ops), so the
 * two do the same work per frame and per batch by construction.  What one
 * iteration does, and what remains different between the devices, is in
 * docs/benchmark-guests.md.
 *
 * Command line:
 *   bench.mode=tx|rx   bench.count=N (default 50000)
 *   bench.size=BYTES   frame length without FCS (and without virtio-net
 *                      header): 60..1514, default 1500; with bench.tso=1 the
 *                      TCP/IPv4 packet's length, 1515..65549, default 65535
 *   bench.batch=B      doorbell every B frames, 1..255, default 1
 *   bench.tso=0|1      TX only: one 64 KiB TCP packet per descriptor, which
 *                      the device (or the host) cuts into MSS-sized frames
 * Result line, printed by net_bench_report():
 *   bench: MODE frames=N size=S batch=B ticks=T usec=U pps=P doorbells=D
 *          [model fields] publishes=H tso=0|1 segments=G bad=X tsc_exact=E
 */
#ifndef NET_BENCH_H
#define NET_BENCH_H

#include "net_frames.h"
#include "rt.h"

/*
 * TX buffers: one slot per descriptor, at the same address and with the same
 * layout in both guests, above the e1000 driver's rings (16 MiB) and the
 * guest images.  The frame starts NET_BENCH_FRAME_OFF bytes into its slot in
 * both, so the copies have the same alignment; virtio-net's 12-byte header
 * sits right in front of it.
 */
#define NET_BENCH_POOL_BASE	0x2000000UL
#define NET_BENCH_SLOTS		256
#define NET_BENCH_SLOT_SIZE	2048
#define NET_BENCH_TSO_SLOT_SIZE 0x10400 /* 16 + NET_TSO_MAX_SIZE, rounded up */
#define NET_BENCH_FRAME_OFF	16
#define NET_BENCH_MAX_BATCH	255

struct net_bench;

/*
 * A device's half of the loop.  The loop calls, per TX frame: tx_slot,
 * net_frame_copy into it, tx_post; per TX batch tx_doorbell; when tx_slot
 * finds the ring full, tx_doorbell (if frames are pending) and tx_reclaim.
 * Per RX frame: rx_peek, net_bench_frame_take, rx_release; per RX batch (and
 * when nothing is pending) rx_doorbell.  Everything runs at CPL3.
 */
struct net_bench_ops {
	/* The frame buffer of the next free descriptor(s), or NULL if the ring is full. */
	uint8_t *(*tx_slot)(void *nic, const struct net_bench *b);
	/* Fill the descriptor(s) (and per-packet metadata) for the frame tx_slot gave. */
	void (*tx_post)(void *nic, const struct net_bench *b);
	/* Hand the posted descriptors to the device; returns the doorbell register writes made. */
	unsigned int (*tx_doorbell)(void *nic);
	/* Take back sent descriptors; returns how many packets are still in flight. */
	unsigned int (*tx_reclaim)(void *nic);
	/* The next received frame and its length (0 if malformed), or NULL. */
	const uint8_t *(*rx_peek)(void *nic, uint32_t *len);
	/* Give the peeked frame's buffer back (visible to the device at the next rx_doorbell). */
	void (*rx_release)(void *nic);
	/* Make released buffers visible; returns the doorbell register writes made. */
	unsigned int (*rx_doorbell)(void *nic);
};

struct net_bench {
	/* The command line (net_bench_parse). */
	bool rx, tso;
	uint32_t size, batch;
	uint64_t count;
	/* The device (set by the guest). */
	const struct net_bench_ops *ops;
	void *nic;
	const uint8_t *mac;	/* the NIC's address: TX frames come from it */
	bool tso_csum_with_len; /* the device's TSO checksum convention (net_bench_tso_frame) */
	const uint8_t *frame;	/* TX: the prepared frame */
	/* Results. */
	uint64_t done;	    /* frames sent and reclaimed, or received and checked */
	uint64_t bad;	    /* RX frames that failed the check */
	uint64_t ticks;	    /* TSC: TX first post to last reclaim; RX first to last frame */
	uint64_t doorbells; /* doorbell register writes (ops' return values) */
	uint64_t publishes; /* doorbell calls: batches handed to the device */
	bool stalled;	    /* TX: the device took nothing back for IDLE_MS */
};

/* Reads the command line into b (defaults first); false, with a "bench:" message, if invalid. */
bool net_bench_parse(struct net_bench *b);

/* TX slot i's buffer (its frame starts NET_BENCH_FRAME_OFF bytes in). */
uint8_t *net_bench_slot(const struct net_bench *b, unsigned int i);

/*
 * Runs b's mode at CPL3: run_at_cpl3(net_bench_run, &b).  TX first builds
 * the frame (net_bench_frame, or net_bench_tso_frame) and checks that the
 * buffer pool lies in RAM, above the guest image.  Returns 0, or 1 after a
 * "bench:" message if it could not start.
 */
uint64_t net_bench_run(void *b);

/* Prints the result line; model_fields (e.g. "kicks=3 ", or "") goes after doorbells=. */
void net_bench_report(const struct net_bench *b, const char *model_fields);

#endif
