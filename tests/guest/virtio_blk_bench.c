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
 *   bench.queues=Q   request queues, 1..8 (default 1).  Q > 1 negotiates
 *                    VIRTIO_BLK_F_MQ and needs Q vCPUs (--cpus Q): CPU i
 *                    drives queue i with QD requests in flight and its own
 *                    offset sequence; the N requests are shared out.  The
 *                    clock runs from one common start until the last CPU
 *                    is done.
 *
 * Prints one line:
 *   blkbench: rw=randread|randwrite qd=.. n=.. us=.. iops=.. kicks=..
 *             kick_cycles=.. tsc_exact=0|1 cycles=.. bs=.. seed=.. doorbells=..
 *             queues=..
 * n: requests completed (all queues); cycles: TSC ticks of the timed loop, us the same in
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
#define MAX_QUEUES 8
#define MIN_BS	   VIRTIO_BLK_SECTOR_SIZE
#define MAX_BS	   (1024 * 1024)
#define DEFAULT_BS 4096
#define PAGE_SIZE  4096
#define POOL_ALIGN 0x200000 /* the runtime's identity map uses 2 MiB pages */
/* The generator state of seed 0, the one fixed state of older runs. */
#define SEED0_STATE 0x9e3779b97f4a7c15ULL

extern uint8_t __image_end[];

static struct virtio_mmio_dev dev;

/* What CPU i does with queue i; written by that CPU only while timed. */
struct bench_queue {
	struct vblk blk;
	const struct bench *b;
	uint64_t n, done, kicks, kick_cycles;
	uint64_t rng;	    /* xorshift64 state, never 0 */
	uint8_t *pool;	    /* qd data buffers, stride apart */
	uint64_t end;	    /* TSC when its last request completed */
	volatile int state; /* QUEUE_* */
};

enum { QUEUE_IDLE, QUEUE_READY, QUEUE_DONE, QUEUE_FAILED };

struct bench {
	uint64_t n, qd, write, bs, seed, queues, kicks, kick_cycles, done, us, cycles;
	uint64_t blocks;	 /* bs-sized blocks in the disk */
	uint64_t stride;	 /* bs rounded up to a page: every buffer page-aligned */
	uint8_t *mem;		 /* queue memory, then the queues' buffers */
	volatile uint64_t start; /* TSC of the common start; 0 until then */
	struct bench_queue q[MAX_QUEUES];
};

static struct bench bench = {.n = 10000, .qd = 1, .bs = DEFAULT_BS, .queues = 1};

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

static uint64_t blkbench_next_sector(struct bench_queue *q)
{
	q->rng ^= q->rng << 13;
	q->rng ^= q->rng >> 7;
	q->rng ^= q->rng << 17;
	return (q->rng % q->b->blocks) * (q->b->bs / VIRTIO_BLK_SECTOR_SIZE);
}

static bool blkbench_parse(struct bench *b)
{
	if (!cmdline_get_u64_in("bench.n", 0, UINT64_MAX, &b->n) ||
	    !cmdline_get_u64_in("bench.qd", 1, MAX_QD, &b->qd) ||
	    !cmdline_get_u64_in("bench.write", 0, 1, &b->write) ||
	    !cmdline_get_u64_in("bench.seed", 0, UINT64_MAX, &b->seed) ||
	    !cmdline_get_u64_in("bench.queues", 1, MAX_QUEUES, &b->queues))
		return false;
	if (cmdline_get("bench.bs", NULL, 0) >= 0 &&
	    (!cmdline_get_u64("bench.bs", &b->bs) || b->bs < MIN_BS || b->bs > MAX_BS ||
	     b->bs % VIRTIO_BLK_SECTOR_SIZE)) {
		printf("bench: bench.bs must be a multiple of %d bytes from %d to %d (4096, 65536, "
		       "...)\n",
		       VIRTIO_BLK_SECTOR_SIZE, MIN_BS, MAX_BS);
		return false;
	}
	for (unsigned int i = 0; i < b->queues; i++) {
		struct bench_queue *q = &b->q[i];

		/* Queue 0 keeps the one-queue sequence; the others get their own. */
		q->rng = SEED0_STATE ^ blkbench_mix(b->seed) ^ (i ? blkbench_mix(i) : 0);
		if (!q->rng) { /* the one seed xorshift cannot start from */
			printf("bench: bench.seed=%lu gives the generator state 0; use another "
			       "seed\n",
			       (unsigned long)b->seed);
			return false;
		}
		q->b = b;
		q->n = b->n / b->queues + (i < b->n % b->queues);
	}
	return true;
}

/*
 * Free RAM above the image, not .bss (clearing it at CPL0 is emulated): each
 * queue's rings (VBLK_QUEUE_BYTES), then each queue's data buffers.
 */
static bool blkbench_place_buffers(struct bench *b)
{
	uint64_t base =
	    ((uint64_t)(uintptr_t)__image_end + POOL_ALIGN - 1) & ~(uint64_t)(POOL_ALIGN - 1);
	uint64_t rings = b->queues * VBLK_QUEUE_BYTES, end;

	b->stride = (b->bs + PAGE_SIZE - 1) & ~(uint64_t)(PAGE_SIZE - 1);
	end = base + rings + b->queues * b->qd * b->stride;
	if (!e820_covers(base, end)) {
		printf("bench: the rings and data buffers 0x%lx..0x%lx (bench.queues x bench.qd x "
		       "bench.bs) are not in RAM (--mem too small?)\n",
		       (unsigned long)base, (unsigned long)end);
		return false;
	}
	b->mem = (uint8_t *)(uintptr_t)base;
	for (unsigned int i = 0; i < b->queues; i++)
		b->q[i].pool = b->mem + rings + i * b->qd * b->stride;
	return true;
}

static void *blkbench_buf(const struct bench_queue *q, unsigned int slot)
{
	return q->pool + slot * q->b->stride;
}

/* Publish new avail entries; kick only if the device asked (EVENT_IDX). */
static void blkbench_publish(struct bench_queue *q, uint16_t old)
{
	vring_publish(&q->blk.vq);
	if (vring_should_kick(&q->blk.vq, true, old)) {
		/* Timed: on hosts that trap guest MMIO expensively (kvm_pvm)
		 * the kick itself is a large part of a request's cost. */
		uint64_t t0 = rdtsc();

		vmmio_write32(q->blk.base, VMMIO_QUEUE_NOTIFY, q->blk.index);
		q->kick_cycles += rdtsc() - t0;
		q->kicks++;
	}
}

static void blkbench_queue(struct bench_queue *q, unsigned int slot)
{
	vblk_queue(&q->blk, slot, q->b->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
		   blkbench_next_sector(q), blkbench_buf(q, slot), (uint32_t)q->b->bs,
		   !q->b->write);
}

/* Before the clock starts (at CPL3). */
static void blkbench_prepare(struct bench_queue *q)
{
	/* Touch every buffer (the host faults its pages in here, not inside
	 * the timed loop).  Zeros: writes send the same data as before the
	 * buffers moved out of .bss. */
	memset(q->pool, 0, q->b->qd * q->b->stride);
	vring_set_used_event(&q->blk.vq, 0x7fff);
	q->state = QUEUE_READY;
}

/* One CPU's timed loop on its queue, from the common start (at CPL3). */
static uint64_t blkbench_run(void *arg)
{
	struct bench_queue *q = arg;
	const struct bench *b = q->b;
	struct vring *vq = &q->blk.vq;
	uint64_t submitted = 0;
	uint16_t used_seen = 0;

	while (!b->start)
		cpu_relax();
	for (unsigned int s = 0; s < b->qd && submitted < q->n; s++, submitted++)
		blkbench_queue(q, s);
	blkbench_publish(q, 0);
	while (q->done < q->n) {
		uint16_t used = vring_used_idx(vq), old = vq->avail_idx;

		if (used == used_seen) {
			cpu_relax();
			continue;
		}
		while (used_seen != used) {
			unsigned int slot = vring_used_id(vq, used_seen) / 3;

			used_seen++;
			if (slot >= b->qd || q->blk.status[slot] != VIRTIO_BLK_S_OK) {
				q->state = QUEUE_FAILED;
				return 1;
			}
			q->done++;
			if (submitted < q->n) {
				blkbench_queue(q, slot);
				submitted++;
			}
		}
		/* Keep interrupts off: used_event always half a ring-wrap away. */
		vring_set_used_event(vq, (uint16_t)(used_seen + 0x7fff));
		if (vq->avail_idx != old)
			blkbench_publish(q, old);
	}
	q->end = rdtsc();
	q->state = QUEUE_DONE;
	return 0;
}

static uint64_t blkbench_ap_user(void *arg)
{
	blkbench_prepare(arg);
	return blkbench_run(arg);
}

/* An application processor: drive queue `cpu` (its APIC ID) at CPL3. */
static void blkbench_ap(unsigned int cpu)
{
	if (cpu < bench.queues)
		run_at_cpl3(blkbench_ap_user, &bench.q[cpu]);
}

static bool blkbench_all_ready(void *arg)
{
	const struct bench *b = arg;

	for (unsigned int i = 1; i < b->queues; i++)
		if (b->q[i].state != QUEUE_READY)
			return false;
	return true;
}

static bool blkbench_all_ended(void *arg)
{
	const struct bench *b = arg;

	for (unsigned int i = 1; i < b->queues; i++)
		if (b->q[i].state != QUEUE_DONE && b->q[i].state != QUEUE_FAILED)
			return false;
	return true;
}

/* The BSP: start the others together, run queue 0, wait for the rest (CPL3). */
static uint64_t blkbench_lead(void *arg)
{
	struct bench *b = arg;
	uint64_t last = 0;

	blkbench_prepare(&b->q[0]);
	if (!spin_until(blkbench_all_ready, b, 10000))
		return 2;
	b->start = rdtsc();
	if (blkbench_run(&b->q[0]))
		return 1;
	/* Generous: every queue has as much to do as queue 0 had. */
	if (!spin_until(blkbench_all_ended, b, 600000))
		return 2;
	for (unsigned int i = 0; i < b->queues; i++) {
		const struct bench_queue *q = &b->q[i];

		if (q->state != QUEUE_DONE)
			return 1;
		if (q->end > last)
			last = q->end;
		b->done += q->done;
		b->kicks += q->kicks;
		b->kick_cycles += q->kick_cycles;
	}
	b->cycles = last - b->start;
	b->us = b->cycles * 1000 / tsc_per_ms();
	return 0;
}

/* Negotiates (MQ if more than one queue) and sets up every queue. */
static bool blkbench_setup_device(struct bench *b)
{
	uint64_t want = BIT(VF_VERSION_1) | BIT(VF_EVENT_IDX);
	struct vblk dev_blk = {0};
	uint16_t num_queues = 1;

	if (b->queues > 1)
		want |= BIT(VIRTIO_BLK_F_MQ);
	TEST_ASSERT(vblk_negotiate(&dev_blk, dev.base, want));
	TEST_ASSERT(dev_blk.features & BIT(VF_EVENT_IDX));
	if (dev_blk.features & BIT(VIRTIO_BLK_F_MQ))
		num_queues = (uint16_t)(vmmio_read32(dev.base, VMMIO_CONFIG + 32) >> 16);
	if (num_queues < b->queues) {
		printf("bench: bench.queues=%lu but the device has %u request queue(s) (--disk "
		       "...,queues=%lu)\n",
		       (unsigned long)b->queues, num_queues, (unsigned long)b->queues);
		return false;
	}
	for (unsigned int i = 0; i < b->queues; i++)
		TEST_ASSERT(vblk_setup_queue(&b->q[i].blk, &dev_blk, (uint16_t)i, 0,
					     b->mem + i * VBLK_QUEUE_BYTES));
	TEST_ASSERT(vblk_driver_ok(&b->q[0].blk));
	b->blocks = b->q[0].blk.capacity / (b->bs / VIRTIO_BLK_SECTOR_SIZE);
	if (!b->blocks) {
		printf("bench: the disk (%lu sectors) is smaller than one bench.bs=%lu request\n",
		       (unsigned long)b->q[0].blk.capacity, (unsigned long)b->bs);
		return false;
	}
	return true;
}

int main(void)
{
	struct bench *b = &bench;

	if (!blkbench_parse(b))
		return RT_EXIT_FAIL;
	TEST_ASSERT_EQ(cmdline_virtio_mmio(&dev, 1, NULL), 1);
	if (!blkbench_place_buffers(b) || !blkbench_setup_device(b) ||
	    !smp_start_bench_cpus((unsigned int)b->queues, blkbench_ap, "bench.queues"))
		return RT_EXIT_FAIL;
	TEST_ASSERT_EQ(run_at_cpl3(blkbench_lead, b), 0);
	/* cycles: TSC ticks; bench/compare converts them with the host's TSC
	 * rate (us= assumes a rate when tsc_exact=0).  New fields go at the
	 * end, so the old ones keep their places. */
	printf("blkbench: rw=%s qd=%lu n=%lu us=%lu iops=%lu kicks=%lu kick_cycles=%lu "
	       "tsc_exact=%d cycles=%lu bs=%lu seed=%lu doorbells=%lu queues=%lu\n",
	       b->write ? "randwrite" : "randread", (unsigned long)b->qd, (unsigned long)b->done,
	       (unsigned long)b->us, (unsigned long)(b->us ? b->done * 1000000 / b->us : 0),
	       (unsigned long)b->kicks, (unsigned long)b->kick_cycles, tsc_khz_is_exact(),
	       (unsigned long)b->cycles, (unsigned long)b->bs, (unsigned long)b->seed,
	       (unsigned long)b->kicks, (unsigned long)b->queues);
	return 0;
}
