/*
 * virtio-blk benchmark guest (bench/blk runs it): N random 4 KiB reads or
 * writes at queue depth QD, from CPL3, polling the used ring (no
 * interrupts: used_event is kept out of reach), kicking only when the
 * device's avail_event asks for it (EVENT_IDX).
 * Command line: bench.n=N bench.qd=QD bench.write=0|1
 * Prints one line: "blkbench: rw=.. qd=.. n=.. us=.. iops=.. kicks=.. kick_cycles=..":
 * kick_cycles is the TSC time the vCPU spent in QueueNotify writes.
 */
#include "rt.h"
#include "virtio_blk_lib.h"

#define MAX_QD 32

static uint8_t bufs[MAX_QD][4096] __attribute__((aligned(4096)));
static struct vblk blk;
static struct virtio_mmio_dev dev;

struct bench {
	uint64_t n, qd, write, kicks, kick_cycles, done, us, cycles;
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_sector(uint64_t blocks)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (rng % blocks) * 8;
}

/* Publish new avail entries; kick only if the device asked (EVENT_IDX). */
static void publish(struct bench *b, uint16_t old)
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

static uint64_t run(void *arg)
{
	struct bench *b = arg;
	uint64_t blocks = blk.capacity / 8, submitted = 0, t0, t1;
	uint16_t used_seen = 0;
	uint32_t type = b->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;

	t0 = rdtsc();
	for (unsigned int s = 0; s < b->qd && submitted < b->n; s++, submitted++)
		vblk_queue(&blk, s, type, next_sector(blocks), bufs[s], 4096, !b->write);
	publish(b, 0);
	while (b->done < b->n) {
		uint16_t used = vring_used_idx(&blk.vq), old = blk.vq.avail_idx;

		if (used == used_seen) {
			cpu_relax();
			continue;
		}
		while (used_seen != used) {
			unsigned int slot = vring_used_id(&blk.vq, used_seen) / 3;

			used_seen++;
			if (blk.status[slot] != VIRTIO_BLK_S_OK)
				return 1;
			b->done++;
			if (submitted < b->n) {
				vblk_queue(&blk, slot, type, next_sector(blocks), bufs[slot], 4096,
					   !b->write);
				submitted++;
			}
		}
		/* Keep interrupts off: used_event always half a ring-wrap away. */
		vring_set_used_event(&blk.vq, (uint16_t)(used_seen + 0x7fff));
		if (blk.vq.avail_idx != old)
			publish(b, old);
	}
	t1 = rdtsc();
	b->cycles = t1 - t0;
	b->us = b->cycles * 1000 / tsc_per_ms();
	return 0;
}

int main(void)
{
	struct bench b = {.n = 10000, .qd = 1};

	TEST_ASSERT_EQ(cmdline_virtio_mmio(&dev, 1, NULL), 1);
	cmdline_get_u64("bench.n", &b.n);
	cmdline_get_u64("bench.qd", &b.qd);
	cmdline_get_u64("bench.write", &b.write);
	TEST_ASSERT(b.qd >= 1 && b.qd <= MAX_QD);
	TEST_ASSERT(vblk_negotiate(&blk, dev.base, BIT(VF_VERSION_1) | BIT(VF_EVENT_IDX)));
	TEST_ASSERT(blk.features & BIT(VF_EVENT_IDX));
	TEST_ASSERT(vblk_start(&blk, 0));
	vring_set_used_event(&blk.vq, 0x7fff);
	TEST_ASSERT_EQ(run_at_cpl3(run, &b), 0);
	/* cycles: TSC ticks; bench/blk converts them with the host's TSC rate
	 * when the guest's rate is only assumed (tsc_exact=0). */
	printf("blkbench: rw=%s qd=%lu n=%lu us=%lu iops=%lu kicks=%lu kick_cycles=%lu "
	       "tsc_exact=%d cycles=%lu\n",
	       b.write ? "randwrite" : "randread", (unsigned long)b.qd, (unsigned long)b.done,
	       (unsigned long)b.us, (unsigned long)(b.us ? b.done * 1000000 / b.us : 0),
	       (unsigned long)b.kicks, (unsigned long)b.kick_cycles, tsc_khz_is_exact(),
	       (unsigned long)b.cycles);
	return 0;
}
