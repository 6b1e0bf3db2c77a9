/*
 * virtio-net benchmark guest (bench/net drives it, like e1000bench).
 * Command line:
 *   bench.mode=tx|rx  bench.count=N  bench.size=BYTES (frame length written to the tap)
 *   bench.batch=B     TX: publish the avail index (and kick if the device
 *                     asks) every B frames; RX: give buffers back every B frames
 * TX sends N frames as fast as the device takes them; RX receives until N
 * frames arrived or none came for 3 s.  Everything runs at CPL3 and polls;
 * interrupts are suppressed with EVENT_IDX, so the only VM exits the data
 * path needs are the kicks the device asks for (QueueNotify writes, which
 * KVM turns into ioeventfd signals without leaving the kernel: counted here
 * as kicks, since minivmm never sees them).
 * Prints one line: "bench: MODE frames=N size=S batch=B ticks=T usec=U pps=P
 * kicks=K tsc_exact=E"; bench/net converts ticks with the host's TSC rate.
 */
#include "net_frames.h"
#include "rt.h"
#include "virtio_net_lib.h"

#define IDLE_MS		 3000
#define START_TIMEOUT_MS 120000

static struct vnet nic;

struct bench {
	bool rx;
	uint64_t count, size, batch;
	uint64_t done, ticks;
};

static uint64_t bring_up(void *arg)
{
	(void)arg;
	return vnet_up(&nic,
		       BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | BIT(VF_EVENT_IDX) |
			   BIT(VIRTIO_NET_F_MRG_RXBUF),
		       2048);
}

static uint64_t tx(void *arg)
{
	struct bench *b = arg;
	static uint8_t f[NET_FRAME_MAX];
	uint64_t t0, queued = 0;

	net_bench_frame(f, (uint32_t)b->size, nic.mac);
	/* The same frame every time, written into the buffers once: the
	 * guest's byte-wise memcpy would otherwise be the bottleneck. */
	vnet_tx_prefill(&nic, f, (uint32_t)b->size);
	vnet_want_interrupts(&nic, false);
	t0 = rdtsc();
	while (queued < b->count) {
		if (vnet_tx_queue_filled(&nic, (uint32_t)b->size)) {
			if (++queued % b->batch == 0)
				vnet_tx_kick(&nic);
			continue;
		}
		/* Ring full: publish what is queued, take back what was sent. */
		vnet_tx_kick(&nic);
		vnet_tx_reclaim(&nic);
		vnet_want_interrupts(&nic, false);
	}
	vnet_tx_kick(&nic);
	while (vnet_tx_reclaim(&nic))
		cpu_relax();
	b->ticks = rdtsc() - t0;
	b->done = queued;
	return 0;
}

static uint64_t rx(void *arg)
{
	struct bench *b = arg;
	uint64_t first = 0, last = 0, idle = IDLE_MS * tsc_per_ms(), start = rdtsc();
	uint64_t pending = 0;

	vnet_want_interrupts(&nic, false);
	while (b->done < b->count) {
		int len = vnet_rx_discard(&nic);
		uint64_t now;

		if (len != 0) {
			if (len > 0) {
				last = rdtsc();
				if (!first)
					first = last;
				b->done++;
			}
			if (++pending >= b->batch) {
				vnet_rx_refill(&nic);
				vnet_want_interrupts(&nic, false);
				pending = 0;
			}
			continue;
		}
		if (pending) {
			vnet_rx_refill(&nic);
			pending = 0;
		}
		now = rdtsc();
		if (first ? now - last > idle : now - start > START_TIMEOUT_MS * tsc_per_ms())
			break;
		cpu_relax();
	}
	b->ticks = last - first;
	return 0;
}

int main(void)
{
	struct bench b = {.count = 50000, .size = 1500, .batch = 32};
	char mode[8] = "tx";

	cmdline_get("bench.mode", mode, sizeof(mode));
	cmdline_get_u64("bench.count", &b.count);
	cmdline_get_u64("bench.size", &b.size);
	cmdline_get_u64("bench.batch", &b.batch);
	b.rx = strcmp(mode, "rx") == 0;
	if (b.size < 60 || b.size > 1514 || b.batch == 0) {
		printf("bench: bench.size must be 60..1514 and bench.batch > 0\n");
		return RT_EXIT_FAIL;
	}
	if (!vnet_find(&nic) || !run_at_cpl3(bring_up, NULL)) {
		printf("bench: no usable virtio-net device\n");
		return RT_EXIT_FAIL;
	}
	if (b.rx) {
		printf("bench: ready\n");
		if (b.count)
			run_at_cpl3(rx, &b);
	} else if (b.count) {
		run_at_cpl3(tx, &b);
	}
	printf("bench: %s frames=%lu size=%lu batch=%lu ticks=%lu usec=%lu pps=%lu kicks=%lu "
	       "tsc_exact=%d\n",
	       b.rx ? "rx" : "tx", b.done, b.size, b.batch, b.ticks, b.ticks * 1000 / tsc_per_ms(),
	       b.ticks ? b.done * tsc_per_ms() * 1000 / b.ticks : 0,
	       b.rx ? nic.rx.kicks : nic.tx.kicks, tsc_khz_is_exact());
	return RT_EXIT_PASS;
}
