/*
 * Multi-queue virtio-net transmit benchmark guest (bench/scaling --net): Q
 * vCPUs each send frames on their own transmit queue, polling, from one
 * common start.  With Q > 1 it negotiates MQ and the control queue and
 * turns on Q queue pairs (VQ_PAIRS_SET); vCPU i uses transmitq i (queue
 * 2i+1).  Each transmit buffer holds the same frame from the start (the
 * host process the figures are compared with writes one buffer again and
 * again too), so a frame costs a descriptor, an avail entry and, when the
 * device asks (EVENT_IDX), a doorbell per batch; sent buffers are taken
 * back when the ring is full.  Interrupts stay off (used_event out of
 * reach).  The receive queues are set up empty: the device needs them
 * ready, nothing is received.
 *
 * Command line (an invalid value: a "bench: ..." message, exit status 1):
 *   bench.pairs=Q   queue pairs and vCPUs, 1..8 (default 1; needs --cpus Q
 *                   and --net ...,queues=Q for Q > 1)
 *   bench.count=N   frames in all, shared out over the queues (default 100000)
 *   bench.size=S    frame bytes, 60..1514 (default 64)
 *   bench.batch=B   frames per doorbell check, 1..256 (default 32)
 *
 * Prints one line:
 *   netmq: pairs=.. n=.. size=.. batch=.. cycles=.. us=.. pps=.. kicks=.. tsc_exact=0|1
 * cycles: TSC ticks from the common start until the last vCPU had every
 * frame back; us: the same at the guest's TSC rate; kicks: QueueNotify
 * writes on all queues.
 */
#include "net_frames.h"
#include "rt.h"

#define MINIVMM_FREESTANDING
#include "../../virtio/net.h"
#include "virtio_mmio.h"

#define MAX_PAIRS 8
#define QSIZE	  256
#define HDR	  12 /* virtio_net_hdr_v1 */
#define BUF	  2048
#define NQ	  (2 * MAX_PAIRS + 1)
#define NOCLEAR	  __attribute__((section(".bss.noclear"), aligned(4096)))

static struct vdesc ring_desc[NQ][QSIZE] NOCLEAR;
static uint16_t ring_avail[NQ][3 + QSIZE] NOCLEAR;
static uint32_t ring_used[NQ][2 + 2 * QSIZE] NOCLEAR;
static uint8_t tx_buf[MAX_PAIRS][QSIZE][BUF] NOCLEAR;
static uint8_t ctrl_cmd[8] __attribute__((aligned(64)));
static volatile uint8_t ctrl_ack;

enum { SENDER_IDLE, SENDER_READY, SENDER_DONE, SENDER_FAILED };

/* What vCPU i does with transmitq i; written by that vCPU only while timed. */
struct sender {
	struct vring *vq;
	unsigned int queue;
	uint64_t n, sent, done, kicks, end;
	uint16_t used_seen;
	uint16_t free_ids[QSIZE]; /* descriptors not in flight */
	unsigned int nfree;
	volatile int state;
};

static struct {
	uint64_t pairs, count, size, batch;
	uint64_t base;
	volatile uint64_t start; /* TSC of the common start; 0 until then */
	struct vring vq[NQ];
	struct sender s[MAX_PAIRS];
} mq = {.pairs = 1, .count = 100000, .size = 64, .batch = 32};

static bool netmq_setup_queue(unsigned int q)
{
	if (vmmio_queue_select(mq.base, q) < QSIZE)
		return false;
	memset(ring_desc[q], 0, sizeof(ring_desc[q]));
	memset(ring_avail[q], 0, sizeof(ring_avail[q]));
	memset(ring_used[q], 0, sizeof(ring_used[q]));
	mq.vq[q] = (struct vring){QSIZE, ring_desc[q], ring_avail[q], ring_used[q], 0};
	return vmmio_queue_enable(mq.base, &mq.vq[q]);
}

static bool netmq_used_reached(void *arg)
{
	const struct vring *r = arg;

	return vring_used_idx(r) == r->avail_idx;
}

/* VQ_PAIRS_SET on the control queue (2 * pairs); its ack byte. */
static uint8_t netmq_set_pairs(void)
{
	struct vring *r = &mq.vq[2 * mq.pairs];

	ctrl_cmd[0] = VIRTIO_NET_CTRL_MQ;
	ctrl_cmd[1] = VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET;
	ctrl_cmd[2] = (uint8_t)mq.pairs; /* le16 */
	ctrl_cmd[3] = 0;
	ctrl_ack = 0xff;
	r->desc[0] = (struct vdesc){(uintptr_t)ctrl_cmd, 4, VD_NEXT, 1};
	r->desc[1] = (struct vdesc){(uintptr_t)&ctrl_ack, 1, VD_WRITE, 0};
	vring_post(r, 0);
	vring_publish(r);
	vmmio_write32(mq.base, VMMIO_QUEUE_NOTIFY, 2 * mq.pairs);
	if (!spin_until(netmq_used_reached, r, 10000))
		return 0xff;
	return ctrl_ack;
}

/* Negotiates, sets up every queue, turns the pairs on; false with a message. */
static bool netmq_device_up(void)
{
	struct virtio_mmio_dev dev;
	uint64_t want = BIT(VF_VERSION_1) | BIT(VIRTIO_NET_F_MAC) | BIT(VF_EVENT_IDX), got;
	uint16_t max_pairs = 1;

	if (cmdline_virtio_mmio(&dev, 1, NULL) != 1) {
		printf("bench: no virtio_mmio.device= on the command line\n");
		return false;
	}
	mq.base = dev.base;
	if (mq.pairs > 1)
		want |= BIT(VIRTIO_NET_F_MQ) | BIT(VIRTIO_NET_F_CTRL_VQ);
	if (!vmmio_negotiate(mq.base, want, &got) || !(got & BIT(VF_EVENT_IDX))) {
		printf("bench: the device refused the features\n");
		return false;
	}
	if (got & BIT(VIRTIO_NET_F_MQ))
		max_pairs = (uint16_t)(vmmio_read32(mq.base, VMMIO_CONFIG + 8) & 0xffff);
	if (mq.pairs > 1 && (!(got & BIT(VIRTIO_NET_F_CTRL_VQ)) || max_pairs < mq.pairs)) {
		printf("bench: bench.pairs=%lu but the device has %u queue pair(s) (--net "
		       "...,queues=%lu)\n",
		       (unsigned long)mq.pairs, max_pairs, (unsigned long)mq.pairs);
		return false;
	}
	for (unsigned int q = 0; q < 2 * mq.pairs + (mq.pairs > 1); q++)
		if (!netmq_setup_queue(q)) {
			printf("bench: queue %u cannot be set up\n", q);
			return false;
		}
	if (!vmmio_driver_ok(mq.base)) {
		printf("bench: DRIVER_OK refused\n");
		return false;
	}
	if (mq.pairs > 1 && netmq_set_pairs() != VIRTIO_NET_OK) {
		printf("bench: VQ_PAIRS_SET %lu refused\n", (unsigned long)mq.pairs);
		return false;
	}
	return true;
}

/* Before the clock: every buffer of its queue holds the frame, header zeroed (CPL3). */
static void netmq_prepare(struct sender *s, unsigned int i)
{
	uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x60 + i)};

	for (unsigned int d = 0; d < QSIZE; d++) {
		memset(tx_buf[i][d], 0, HDR);
		net_tx_frame(tx_buf[i][d] + HDR, (uint32_t)d, mac);
		s->vq->desc[d] =
		    (struct vdesc){(uintptr_t)tx_buf[i][d], (uint32_t)(HDR + mq.size), 0, 0};
		s->free_ids[d] = (uint16_t)d;
	}
	s->nfree = QSIZE;
	vring_set_used_event(s->vq, 0x7fff);
	s->state = SENDER_READY;
}

/* Publishes what was posted since `old`; a doorbell only if the device asked. */
static void netmq_publish(struct sender *s, uint16_t old)
{
	vring_publish(s->vq);
	if (vring_should_kick(s->vq, true, old)) {
		vmmio_write32(mq.base, VMMIO_QUEUE_NOTIFY, s->queue);
		s->kicks++;
	}
}

/* One vCPU's timed loop: n frames on its transmit queue (CPL3). */
static uint64_t netmq_send(void *arg)
{
	struct sender *s = arg;
	struct vring *r = s->vq;

	while (!mq.start)
		cpu_relax();
	while (s->done < s->n) {
		uint16_t old = r->avail_idx, used = vring_used_idx(r);
		unsigned int posted = 0;

		/* Take back what the device has sent. */
		for (; s->used_seen != used; s->used_seen++) {
			uint32_t id = vring_used_id(r, s->used_seen);

			if (id >= QSIZE || s->nfree >= QSIZE) {
				/* The device used what was not in flight. */
				s->state = SENDER_FAILED;
				return 1;
			}
			s->free_ids[s->nfree++] = (uint16_t)id;
			s->done++;
		}
		vring_set_used_event(r, (uint16_t)(used + 0x7fff));
		while (posted < mq.batch && s->sent < s->n && s->nfree) {
			vring_post(r, s->free_ids[--s->nfree]);
			s->sent++;
			posted++;
		}
		if (posted)
			netmq_publish(s, old);
		else
			cpu_relax();
	}
	s->end = rdtsc();
	s->state = SENDER_DONE;
	return 0;
}

static uint64_t netmq_ap_user(void *arg)
{
	netmq_prepare(arg, (unsigned int)((struct sender *)arg - mq.s));
	return netmq_send(arg);
}

/* An application processor: transmitq `cpu` (its APIC ID). */
static void netmq_ap(unsigned int cpu)
{
	if (cpu < mq.pairs)
		run_at_cpl3(netmq_ap_user, &mq.s[cpu]);
}

static bool netmq_all_ready(void *arg)
{
	(void)arg;
	for (unsigned int i = 1; i < mq.pairs; i++)
		if (mq.s[i].state != SENDER_READY)
			return false;
	return true;
}

static bool netmq_all_ended(void *arg)
{
	(void)arg;
	for (unsigned int i = 1; i < mq.pairs; i++)
		if (mq.s[i].state != SENDER_DONE && mq.s[i].state != SENDER_FAILED)
			return false;
	return true;
}

/* The BSP: start everyone together, send on pair 0, wait for the rest (CPL3). */
static uint64_t netmq_lead(void *arg)
{
	uint64_t *cycles = arg, last = 0;

	netmq_prepare(&mq.s[0], 0);
	if (!spin_until(netmq_all_ready, NULL, 10000))
		return 1;
	mq.start = rdtsc();
	if (netmq_send(&mq.s[0]))
		return 1;
	if (!spin_until(netmq_all_ended, NULL, 600000))
		return 1;
	for (unsigned int i = 0; i < mq.pairs; i++) {
		if (mq.s[i].state != SENDER_DONE)
			return 1;
		if (mq.s[i].end > last)
			last = mq.s[i].end;
	}
	*cycles = last - mq.start;
	return 0;
}

int main(void)
{
	uint64_t cycles = 0, kicks = 0, done = 0, us;

	if (!cmdline_get_u64_in("bench.pairs", 1, MAX_PAIRS, &mq.pairs) ||
	    !cmdline_get_u64_in("bench.count", 1, UINT64_MAX / 2, &mq.count) ||
	    !cmdline_get_u64_in("bench.size", 60, NET_FRAME_MAX, &mq.size) ||
	    !cmdline_get_u64_in("bench.batch", 1, QSIZE, &mq.batch))
		return RT_EXIT_FAIL;
	for (unsigned int i = 0; i < mq.pairs; i++) {
		mq.s[i].queue = 2 * i + 1;
		mq.s[i].vq = &mq.vq[2 * i + 1];
		mq.s[i].n = mq.count / mq.pairs + (i < mq.count % mq.pairs);
	}
	if (!netmq_device_up() ||
	    !smp_start_bench_cpus((unsigned int)mq.pairs, netmq_ap, "bench.pairs"))
		return RT_EXIT_FAIL;
	if (run_at_cpl3(netmq_lead, &cycles)) {
		printf("bench: a sender did not get ready, failed or did not finish\n");
		return RT_EXIT_FAIL;
	}
	for (unsigned int i = 0; i < mq.pairs; i++) {
		kicks += mq.s[i].kicks;
		done += mq.s[i].done;
	}
	us = cycles * 1000 / tsc_per_ms();
	printf("netmq: pairs=%lu n=%lu size=%lu batch=%lu cycles=%lu us=%lu pps=%lu kicks=%lu "
	       "tsc_exact=%d\n",
	       (unsigned long)mq.pairs, (unsigned long)done, (unsigned long)mq.size,
	       (unsigned long)mq.batch, (unsigned long)cycles, (unsigned long)us,
	       (unsigned long)(us ? done * 1000000 / us : 0), (unsigned long)kicks,
	       tsc_khz_is_exact());
	return 0;
}
