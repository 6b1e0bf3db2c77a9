#include "net_bench.h"

#define IDLE_MS		 3000  /* RX: end after no frame for this long; TX: give up */
#define START_TIMEOUT_MS 60000 /* RX: wait this long for the first frame */

/* The prepared TX frame; not in .bss, whose clearing at CPL0 is emulated. */
static uint8_t net_bench_tx_frame[NET_TSO_MAX_SIZE] __attribute__((section(".bss.noclear")));
static uint8_t net_bench_rx_copy[NET_FRAME_MAX];

extern uint8_t __image_end[];

/* key=N within [min, max] into *v; absent keeps *v.  False, with a message, if invalid. */
static bool net_bench_number(const char *key, uint64_t min, uint64_t max, uint64_t *v)
{
	uint64_t n;

	if (cmdline_get(key, NULL, 0) < 0)
		return true;
	if (!cmdline_get_u64(key, &n) || n < min || n > max) {
		printf("bench: %s must be a number from %lu to %lu\n", key, min, max);
		return false;
	}
	*v = n;
	return true;
}

bool net_bench_parse(struct net_bench *b)
{
	char mode[8] = "tx";
	uint64_t size, batch = 1, tso = 0, count = 50000;

	if (cmdline_get("bench.mode", mode, sizeof(mode)) >= 0 && strcmp(mode, "tx") &&
	    strcmp(mode, "rx")) {
		printf("bench: bench.mode must be tx or rx\n");
		return false;
	}
	b->rx = strcmp(mode, "rx") == 0;
	if (!net_bench_number("bench.tso", 0, 1, &tso) ||
	    !net_bench_number("bench.count", 0, UINT32_MAX, &count) ||
	    !net_bench_number("bench.batch", 1, NET_BENCH_MAX_BATCH, &batch))
		return false;
	if (tso && b->rx) {
		printf("bench: bench.tso=1 is for bench.mode=tx only\n");
		return false;
	}
	size = tso ? 65535 : 1500;
	/* TSO: the kernel refuses a GSO packet that would make a single segment. */
	if (!net_bench_number("bench.size", tso ? NET_TSO_HDR_LEN + NET_TSO_MSS + 1 : 60,
			      tso ? NET_TSO_MAX_SIZE : NET_FRAME_MAX, &size))
		return false;
	b->tso = tso;
	b->count = count;
	b->size = (uint32_t)size;
	b->batch = (uint32_t)batch;
	return true;
}

uint8_t *net_bench_slot(const struct net_bench *b, unsigned int i)
{
	uint64_t stride = b->tso ? NET_BENCH_TSO_SLOT_SIZE : NET_BENCH_SLOT_SIZE;

	return (uint8_t *)(uintptr_t)(NET_BENCH_POOL_BASE + i * stride);
}

/* TX: the frame, and room for the buffers.  At CPL3: building 64 KiB at CPL0 takes seconds. */
static bool net_bench_prepare(struct net_bench *b)
{
	uint64_t end = (uint64_t)(uintptr_t)net_bench_slot(b, NET_BENCH_SLOTS);

	if ((uint64_t)(uintptr_t)__image_end > NET_BENCH_POOL_BASE) {
		printf("bench: the guest image overlaps the TX buffers at 0x%lx\n",
		       NET_BENCH_POOL_BASE);
		return false;
	}
	if (!e820_covers(NET_BENCH_POOL_BASE, end)) {
		printf("bench: the TX buffers 0x%lx..0x%lx are not in RAM (--mem too small?)\n",
		       NET_BENCH_POOL_BASE, end);
		return false;
	}
	if (b->tso)
		net_bench_tso_frame(net_bench_tx_frame, b->size, b->mac, b->tso_csum_with_len);
	else
		net_bench_frame(net_bench_tx_frame, b->size, b->mac);
	b->frame = net_bench_tx_frame;
	return true;
}

static void net_bench_tx_doorbell(struct net_bench *b)
{
	b->doorbells += b->ops->tx_doorbell(b->nic);
	b->publishes++;
}

static void net_bench_rx_doorbell(struct net_bench *b)
{
	b->doorbells += b->ops->rx_doorbell(b->nic);
	b->publishes++;
}

/* Has the ring been full since *since (0: not yet) for longer than IDLE_MS? */
static bool net_bench_stuck(uint64_t *since)
{
	uint64_t now = rdtsc();

	if (!*since)
		*since = now;
	return now - *since > IDLE_MS * tsc_per_ms();
}

/*
 * Per frame: a free slot, the prepared frame copied into it, its descriptor
 * posted; per batch frames a doorbell.  A full ring rings the doorbell for
 * what is pending and reclaims.  Timed from the first post until every
 * frame is reclaimed.
 */
static void net_bench_tx(struct net_bench *b)
{
	const struct net_bench_ops *ops = b->ops;
	uint64_t queued = 0, full_since = 0, t0 = rdtsc();
	uint32_t pending = 0;
	unsigned int in_flight;

	while (queued < b->count) {
		uint8_t *buf = ops->tx_slot(b->nic, b);

		if (buf) {
			net_frame_copy(buf, b->frame, b->size);
			ops->tx_post(b->nic, b);
			queued++;
			full_since = 0;
			if (++pending == b->batch) {
				net_bench_tx_doorbell(b);
				pending = 0;
			}
			continue;
		}
		if (pending) {
			net_bench_tx_doorbell(b);
			pending = 0;
		}
		ops->tx_reclaim(b->nic);
		if (net_bench_stuck(&full_since)) {
			b->stalled = true;
			break;
		}
	}
	if (pending)
		net_bench_tx_doorbell(b);
	full_since = 0;
	while ((in_flight = ops->tx_reclaim(b->nic)) && !b->stalled) {
		if (net_bench_stuck(&full_since))
			b->stalled = true;
		cpu_relax();
	}
	b->ticks = rdtsc() - t0;
	b->done = queued - in_flight;
}

/*
 * Per frame: peek, copy out and check, release; per batch frames (and
 * whenever nothing is waiting while buffers are held) a doorbell.  Timed
 * from the first frame to the last.
 */
static void net_bench_rx(struct net_bench *b)
{
	const struct net_bench_ops *ops = b->ops;
	uint64_t seen = 0, first = 0, last = 0, start = rdtsc();
	uint32_t pending = 0;

	while (seen < b->count) {
		uint32_t len;
		const uint8_t *buf = ops->rx_peek(b->nic, &len);

		if (!buf) {
			uint64_t now;

			if (pending) {
				/* Nothing waiting: hand back what we hold before polling on. */
				net_bench_rx_doorbell(b);
				pending = 0;
			}
			now = rdtsc();
			if (seen ? now - last > IDLE_MS * tsc_per_ms()
				 : now - start > START_TIMEOUT_MS * tsc_per_ms())
				break;
			cpu_relax();
			continue;
		}
		last = rdtsc();
		if (!seen++)
			first = last;
		if (net_bench_frame_take(net_bench_rx_copy, buf, len, b->size))
			b->done++;
		else
			b->bad++;
		ops->rx_release(b->nic);
		if (++pending == b->batch) {
			net_bench_rx_doorbell(b);
			pending = 0;
		}
	}
	b->ticks = seen > 1 ? last - first : 0;
}

uint64_t net_bench_run(void *arg)
{
	struct net_bench *b = arg;

	if (b->rx) {
		net_bench_rx(b);
	} else {
		if (!net_bench_prepare(b))
			return 1;
		net_bench_tx(b);
	}
	return 0;
}

void net_bench_report(const struct net_bench *b, const char *model_fields)
{
	uint64_t per_ms = tsc_per_ms();
	uint64_t segments =
	    b->tso ? (b->size - NET_TSO_HDR_LEN + NET_TSO_MSS - 1) / NET_TSO_MSS : 1;

	if (b->stalled)
		printf("bench: tx stalled: the device took nothing back for %u ms\n", IDLE_MS);
	printf("bench: %s frames=%lu size=%u batch=%u ticks=%lu usec=%lu pps=%lu doorbells=%lu "
	       "%spublishes=%lu tso=%d segments=%lu bad=%lu tsc_exact=%d\n",
	       b->rx ? "rx" : "tx", b->done, b->size, b->batch, b->ticks, b->ticks * 1000 / per_ms,
	       b->ticks ? b->done * per_ms * 1000 / b->ticks : 0, b->doorbells, model_fields,
	       b->publishes, b->tso, b->done * segments, b->bad, tsc_khz_is_exact());
}
