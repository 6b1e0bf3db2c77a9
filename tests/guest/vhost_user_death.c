/*
 * A vhost-user back-end dies during I/O (tests/integration/vhost_user_blk.sh
 * and vhost_user_net.sh): brings up the first virtio-mmio device on the
 * command line, virtio-blk or virtio-net, and keeps I/O going (blk: 4 KiB
 * reads, one at a time; net: TX frames) while it polls the Status register.
 * Once death.flowing (default 200) requests have completed it prints
 * "vhost_user_death: I/O flowing": the host's cue to kill the back-end.  It
 * passes when it sees DEVICE_NEEDS_RESET (what minivmm sets when the
 * back-end is gone) and fails if that has not happened within
 * death.timeout seconds (default 60).  With death.stay=1 it does not end
 * there but idles until the timeout, for the host to stop minivmm with
 * SIGTERM.  Polls; takes no interrupts.  Runs at CPL3 (CPL0 is emulated on
 * kvm_pvm hosts).
 */
#include "net_frames.h"
#include "rt.h"
#include "virtio_blk_lib.h"
#include "virtio_net_lib.h"

/* How often the loops read Status (an MMIO exit) while I/O flows. */
#define STATUS_POLL_MS 1

enum death_result {
	DEATH_NEEDS_RESET = 0,
	DEATH_TIMEOUT = 1,
	DEATH_REFUSED = 2,
};

struct death_job {
	uint64_t base;
	uint64_t flowing;    /* completions before the cue line */
	uint64_t timeout_ms; /* from start to NEEDS_RESET */
	uint64_t done;	     /* requests completed */
	bool announced;
};

static struct vblk blk;
static struct vnet nic;
static uint8_t blk_buf[4096] __attribute__((aligned(4096)));
static uint8_t frame[NET_FRAME_MAX];
static uint64_t next_status_poll;

/*
 * True once the device has DEVICE_NEEDS_RESET; reads Status at most every
 * STATUS_POLL_MS so that the polling does not crowd out the I/O it watches.
 */
static bool death_needs_reset(const struct death_job *j, uint64_t now)
{
	if (now < next_status_poll)
		return false;
	next_status_poll = now + STATUS_POLL_MS * tsc_per_ms();
	return vmmio_read32(j->base, VMMIO_STATUS) & VST_NEEDS_RESET;
}

/* Counts one completed request; prints the host's cue once. */
static void death_completed(struct death_job *j, uint64_t n)
{
	j->done += n;
	if (!j->announced && j->done >= j->flowing) {
		j->announced = true;
		printf("vhost_user_death: I/O flowing (%lu requests)\n", (unsigned long)j->done);
	}
}

static uint64_t death_blk_loop(void *arg)
{
	struct death_job *j = arg;
	uint64_t deadline = rdtsc() + j->timeout_ms * tsc_per_ms(), span;

	if (!vblk_negotiate(&blk, j->base, BIT(VF_VERSION_1) | BIT(VF_EVENT_IDX)) ||
	    !vblk_start(&blk, 0))
		return DEATH_REFUSED;
	/* Polling: ask for no interrupts (used_event far behind). */
	vring_set_used_event(&blk.vq, 0x8000);
	printf("vhost_user_death: virtio-blk up, %lu sectors\n", (unsigned long)blk.capacity);
	span = blk.capacity > 8 ? blk.capacity / 8 : 1;
	for (;;) {
		uint16_t target = (uint16_t)(vring_used_idx(&blk.vq) + 1);
		uint64_t now;

		vblk_queue(&blk, 0, VIRTIO_BLK_T_IN, blk.capacity > 8 ? (j->done % span) * 8 : 0,
			   blk_buf, blk.capacity > 8 ? 4096 : 512, true);
		vblk_kick(&blk);
		/* A dead back-end never completes the request: watch Status meanwhile. */
		while (vring_used_idx(&blk.vq) != target) {
			now = rdtsc();
			if (death_needs_reset(j, now))
				return DEATH_NEEDS_RESET;
			if (now > deadline)
				return DEATH_TIMEOUT;
			cpu_relax();
		}
		death_completed(j, 1);
		now = rdtsc();
		if (death_needs_reset(j, now))
			return DEATH_NEEDS_RESET;
		if (now > deadline)
			return DEATH_TIMEOUT;
	}
}

static uint64_t death_net_loop(void *arg)
{
	struct death_job *j = arg;
	uint64_t deadline = rdtsc() + j->timeout_ms * tsc_per_ms(), queued = 0;
	uint32_t len;

	if (!vnet_up(&nic, BIT(VIRTIO_NET_F_MAC) | BIT(VF_EVENT_IDX), VNET_HDR + NET_FRAME_MAX))
		return DEATH_REFUSED;
	vnet_want_interrupts(&nic, false);
	printf("vhost_user_death: virtio-net up, features 0x%lx\n", (unsigned long)nic.features);
	len = net_tx_frame(frame, 0, nic.mac);
	for (;;) {
		uint64_t now, sent;

		/* Fill the ring, publish (kicking if asked), take back what went out. */
		while (vnet_tx_queue(&nic, frame, len))
			queued++;
		vnet_tx_kick(&nic);
		sent = queued - vnet_tx_reclaim(&nic);
		if (sent > j->done)
			death_completed(j, sent - j->done);
		now = rdtsc();
		if (death_needs_reset(j, now))
			return DEATH_NEEDS_RESET;
		if (now > deadline)
			return DEATH_TIMEOUT;
		cpu_relax();
	}
}

static bool death_never(void *arg)
{
	(void)arg;
	return false;
}

/* death.stay=1: the VM runs on after the device failed, until stopped. */
static uint64_t death_idle(void *arg)
{
	spin_until(death_never, NULL, *(uint64_t *)arg);
	return 0;
}

int main(void)
{
	struct virtio_mmio_dev dev;
	struct death_job job = {0};
	uint64_t secs = 60, stay = 0, r;
	uint32_t id;

	job.flowing = 200;
	cmdline_get_u64("death.flowing", &job.flowing);
	cmdline_get_u64("death.timeout", &secs);
	cmdline_get_u64("death.stay", &stay);
	job.timeout_ms = secs * 1000;
	if (cmdline_virtio_mmio(&dev, 1, NULL) != 1) {
		printf("vhost_user_death: no virtio_mmio.device= on the command line\n");
		return RT_EXIT_FAIL;
	}
	job.base = dev.base;
	nic.base = dev.base;
	nic.irq = dev.irq;
	id = vmmio_read32(dev.base, VMMIO_DEVICE_ID);
	if (id == VMMIO_ID_BLOCK)
		r = run_at_cpl3(death_blk_loop, &job);
	else if (id == VMMIO_ID_NET)
		r = run_at_cpl3(death_net_loop, &job);
	else {
		printf("vhost_user_death: device ID %u is neither blk nor net\n", id);
		return RT_EXIT_FAIL;
	}
	switch (r) {
	case DEATH_NEEDS_RESET:
		printf("vhost_user_death: device needs reset after %lu requests\n",
		       (unsigned long)job.done);
		if (stay) {
			printf("vhost_user_death: staying up until stopped\n");
			run_at_cpl3(death_idle, &job.timeout_ms);
			printf("vhost_user_death: not stopped within %lu s\n", (unsigned long)secs);
			return RT_EXIT_TIMEOUT;
		}
		printf("vhost_user_death: PASS\n");
		return RT_EXIT_PASS;
	case DEATH_REFUSED:
		printf("vhost_user_death: the device refused the driver\n");
		return RT_EXIT_FAIL;
	default:
		printf("vhost_user_death: no DEVICE_NEEDS_RESET within %lu s (%lu requests done)\n",
		       (unsigned long)secs, (unsigned long)job.done);
		return RT_EXIT_TIMEOUT;
	}
}
