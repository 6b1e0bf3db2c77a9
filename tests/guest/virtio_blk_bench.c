/*
 * virtio-blk benchmark guest (bench/compare runs it): N random reads or
 * writes of BS bytes at queue depth QD, from CPL3, polling the used ring (no
 * interrupts: used_event is kept out of reach), kicking only when the
 * device's avail_event asks for it (EVENT_IDX).
 *
 * Command line (an invalid value: a "bench: ..." message, exit status 1):
 *   bench.n=N        requests (default 10000)
 *   bench.qd=QD      requests in flight, 1..32 (default 1)
 *   bench.write=0|1  random reads (default) or random writes
 *   bench.bs=BYTES   request size: a multiple of 512 from 512 to 1 MiB
 *                    (default 4096).  Every request starts at a multiple of
 *                    BS and ends inside the disk (capacity from the device's
 *                    config space).
 *   bench.seed=S     seeds the offset generator, 0..2^64-1 (default 0: the
 *                    sequence every run used before the option existed).
 *                    Different seeds give unrelated offset sequences, so
 *                    rounds need not re-read what the last one left in the
 *                    host's page cache.  (One seed, 7741216867112901387,
 *                    would zero the xorshift state and is refused.)
 *
 * Prints one line:
 *   blkbench: rw=randread|randwrite qd=.. n=.. us=.. iops=.. kicks=..
 *             kick_cycles=.. tsc_exact=0|1 cycles=.. bs=.. seed=.. doorbells=..
 * n: requests completed; cycles: TSC ticks of the timed loop, us the same in
 * microseconds at the guest's TSC rate (only assumed when tsc_exact=0);
 * kicks = doorbells: QueueNotify writes (both names: bench/compare reads
 * doorbells=, or kicks= where that is missing); kick_cycles: the TSC time
 * the vCPU spent in those writes.
 * There is no irqs= field: the guest polls with interrupts masked and never
 * receives one (minivmm's --stats counts what the device raised).
 */
#include "rt.h"
#include "virtio_blk_lib.h"

#define MAX_QD	   32
#define MIN_BS	   VIRTIO_BLK_SECTOR_SIZE
#define MAX_BS	   (1024 * 1024)
#define DEFAULT_BS 4096
#define PAGE_SIZE  4096
#define POOL_ALIGN 0x200000 /* the runtime's identity map uses 2 MiB pages */
/* The generator state of seed 0, the one fixed state of older runs. */
#define SEED0_STATE 0x9e3779b97f4a7c15ULL

extern uint8_t __image_end[];

static struct vblk blk;
static struct virtio_mmio_dev dev;

struct bench {
	uint64_t n, qd, write, bs, seed, kicks, kick_cycles, done, us, cycles;
	uint64_t rng;	 /* xorshift64 state, never 0 */
	uint64_t blocks; /* bs-sized blocks in the disk */
	uint8_t *pool;	 /* qd data buffers, stride apart */
	uint64_t stride; /* bs rounded up to a page: every buffer page-aligned */
};

/*
 * Spreads the seed over all 64 bits (splitmix64's finaliser, a bijection
 * with 0 -> 0), so that seeds 1, 2, 3 ... give unrelated sequences: xorshift
 * is linear, and nearby raw states would give correlated offsets.
 */
static uint64_t blkbench_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t blkbench_next_sector(struct bench *b)
{
	b->rng ^= b->rng << 13;
	b->rng ^= b->rng >> 7;
	b->rng ^= b->rng << 17;
	return (b->rng % b->blocks) * (b->bs / VIRTIO_BLK_SECTOR_SIZE);
}

/* key=N within [min, max] into *v; absent keeps *v.  False, with a message, if invalid. */
static bool blkbench_number(const char *key, uint64_t min, uint64_t max, uint64_t *v)
{
	uint64_t n;

	if (cmdline_get(key, NULL, 0) < 0)
		return true;
	if (!cmdline_get_u64(key, &n) || n < min || n > max) {
		printf("bench: %s must be a number from %lu to %lu\n", key, (unsigned long)min,
		       (unsigned long)max);
		return false;
	}
	*v = n;
	return true;
}

static bool blkbench_parse(struct bench *b)
{
	if (!blkbench_number("bench.n", 0, UINT64_MAX, &b->n) ||
	    !blkbench_number("bench.qd", 1, MAX_QD, &b->qd) ||
	    !blkbench_number("bench.write", 0, 1, &b->write) ||
	    !blkbench_number("bench.seed", 0, UINT64_MAX, &b->seed))
		return false;
	if (cmdline_get("bench.bs", NULL, 0) >= 0 &&
	    (!cmdline_get_u64("bench.bs", &b->bs) || b->bs < MIN_BS || b->bs > MAX_BS ||
	     b->bs % VIRTIO_BLK_SECTOR_SIZE)) {
		printf("bench: bench.bs must be a multiple of %d bytes from %d to %d (4096, 65536, "
		       "...)\n",
		       VIRTIO_BLK_SECTOR_SIZE, MIN_BS, MAX_BS);
		return false;
	}
	b->rng = SEED0_STATE ^ blkbench_mix(b->seed);
	if (!b->rng) { /* the one seed xorshift cannot start from */
		printf("bench: bench.seed=%lu gives the generator state 0; use another seed\n",
		       (unsigned long)b->seed);
		return false;
	}
	return true;
}

/* The data buffers: free RAM above the image, not .bss (clearing it at CPL0 is emulated). */
static bool blkbench_place_buffers(struct bench *b)
{
	uint64_t base =
	    ((uint64_t)(uintptr_t)__image_end + POOL_ALIGN - 1) & ~(uint64_t)(POOL_ALIGN - 1);
	uint64_t end;

	b->stride = (b->bs + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	end = base + b->qd * b->stride;
	if (!e820_covers(base, end)) {
		printf("bench: the data buffers 0x%lx..0x%lx (bench.qd x bench.bs) are not in RAM "
		       "(--mem too small?)\n",
		       (unsigned long)base, (unsigned long)end);
		return false;
	}
	b->pool = (uint8_t *)(uintptr_t)base;
	return true;
}

static void *blkbench_buf(const struct bench *b, unsigned int slot)
{
	return b->pool + slot * b->stride;
}

/* Publish new avail entries; kick only if the device asked (EVENT_IDX). */
static void blkbench_publish(struct bench *b, uint16_t old)
{
	vring_publish(&blk.vq);
	if (vring_should_kick(&blk.vq, true, old)) {
		/* Timed: on hosts that trap guest MMIO expensively (kvm_pvm)
		 * the kick itself is a large part of a request's cost. */
		uint64_t t0 = rdtsc();

		vmmio_write32(blk.base, VMMIO_QUEUE_NOTIFY, 0);
		b->kick_cycles += rdtsc() - t0;
		b->kicks++;
	}
}

static void blkbench_queue(struct bench *b, unsigned int slot)
{
	vblk_queue(&blk, slot, b->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
		   blkbench_next_sector(b), blkbench_buf(b, slot), (uint32_t)b->bs, !b->write);
}

static uint64_t blkbench_run(void *arg)
{
	struct bench *b = arg;
	uint64_t submitted = 0, t0, t1;
	uint16_t used_seen = 0;

	/* Touch every buffer before the clock starts (the host faults its
	 * pages in here, not inside the timed loop).  Zeros: writes send the
	 * same data as before the buffers moved out of .bss. */
	memset(b->pool, 0, b->qd * b->stride);
	t0 = rdtsc();
	for (unsigned int s = 0; s < b->qd && submitted < b->n; s++, submitted++)
		blkbench_queue(b, s);
	blkbench_publish(b, 0);
	while (b->done < b->n) {
		uint16_t used = vring_used_idx(&blk.vq), old = blk.vq.avail_idx;

		if (used == used_seen) {
			cpu_relax();
			continue;
		}
		while (used_seen != used) {
			unsigned int slot = vring_used_id(&blk.vq, used_seen) / 3;

			used_seen++;
			if (slot >= b->qd || blk.status[slot] != VIRTIO_BLK_S_OK)
				return 1;
			b->done++;
			if (submitted < b->n) {
				blkbench_queue(b, slot);
				submitted++;
			}
		}
		/* Keep interrupts off: used_event always half a ring-wrap away. */
		vring_set_used_event(&blk.vq, (uint16_t)(used_seen + 0x7fff));
		if (blk.vq.avail_idx != old)
			blkbench_publish(b, old);
	}
	t1 = rdtsc();
	b->cycles = t1 - t0;
	b->us = b->cycles * 1000 / tsc_per_ms();
	return 0;
}

int main(void)
{
	struct bench b = {.n = 10000, .qd = 1, .bs = DEFAULT_BS};

	if (!blkbench_parse(&b))
		return RT_EXIT_FAIL;
	TEST_ASSERT_EQ(cmdline_virtio_mmio(&dev, 1, NULL), 1);
	TEST_ASSERT(vblk_negotiate(&blk, dev.base, BIT(VF_VERSION_1) | BIT(VF_EVENT_IDX)));
	TEST_ASSERT(blk.features & BIT(VF_EVENT_IDX));
	TEST_ASSERT(vblk_start(&blk, 0));
	b.blocks = blk.capacity / (b.bs / VIRTIO_BLK_SECTOR_SIZE);
	if (!b.blocks) {
		printf("bench: the disk (%lu sectors) is smaller than one bench.bs=%lu request\n",
		       (unsigned long)blk.capacity, (unsigned long)b.bs);
		return RT_EXIT_FAIL;
	}
	if (!blkbench_place_buffers(&b))
		return RT_EXIT_FAIL;
	vring_set_used_event(&blk.vq, 0x7fff);
	TEST_ASSERT_EQ(run_at_cpl3(blkbench_run, &b), 0);
	/* cycles: TSC ticks; bench/compare converts them with the host's TSC
	 * rate (us= assumes a rate when tsc_exact=0).  New fields go at the
	 * end, so the old ones keep their places. */
	printf("blkbench: rw=%s qd=%lu n=%lu us=%lu iops=%lu kicks=%lu kick_cycles=%lu "
	       "tsc_exact=%d cycles=%lu bs=%lu seed=%lu doorbells=%lu\n",
	       b.write ? "randwrite" : "randread", (unsigned long)b.qd, (unsigned long)b.done,
	       (unsigned long)b.us, (unsigned long)(b.us ? b.done * 1000000 / b.us : 0),
	       (unsigned long)b.kicks, (unsigned long)b.kick_cycles, tsc_khz_is_exact(),
	       (unsigned long)b.cycles, (unsigned long)b.bs, (unsigned long)b.seed,
	       (unsigned long)b.kicks);
	return 0;
}
