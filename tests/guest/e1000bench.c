/*
 * e1000 benchmark guest (bench/net drives it).  Command line:
 *   bench.mode=tx|rx  bench.count=N  bench.size=BYTES (frame length without FCS)
 *   bench.batch=B     TX: TDT write every B frames; RX: RDT write every B frames
 * TX sends N frames as fast as the ring allows; RX receives until N frames
 * arrived or none came for 3 s.  Everything runs at CPL3 and polls (no
 * interrupts: IMS stays 0), so the VM exits are the register accesses alone.
 * Prints one line: "bench: MODE frames=N size=S batch=B ticks=T usec=U pps=P"; the
 * TSC rate the guest assumes may be a guess (tsc_exact=0), so bench/net
 * converts ticks with the host's TSC rate.
 */
#include "e1000_lib.h"
#include "net_frames.h"

#define IDLE_MS 3000

static struct nic nic;

struct bench {
	bool rx;
	uint32_t count, size, batch;
	uint32_t done;
	uint64_t ticks;
};

static uint64_t run_tx(void *arg)
{
	struct bench *b = arg;
	static uint8_t f[NIC_BUF_SIZE];
	uint64_t t0;
	uint32_t queued = 0;

	net_bench_frame(f, b->size, nic.mac);
	t0 = rdtsc();
	while (b->done < b->count) {
		uint32_t n = 0;

		while (n < b->batch && queued < b->count && nic_tx_queue(&nic, f, b->size))
			n++, queued++;
		if (n)
			nic_tx_kick(&nic);
		nic_tx_reclaim(&nic);
		b->done = queued - ((nic.tx_tail + NIC_TX_DESCS - nic.tx_clean) % NIC_TX_DESCS);
	}
	b->ticks = rdtsc() - t0;
	return 0;
}

static uint64_t run_rx(void *arg)
{
	struct bench *b = arg;
	uint64_t t0 = 0, last = rdtsc(), idle = IDLE_MS * tsc_per_ms();
	uint32_t since_kick = 0;

	while (b->done < b->count) {
		uint32_t len;
		uint8_t status, errors;

		if (!nic_rx_peek(&nic, &len, &status, &errors)) {
			if (since_kick) {
				/* Nothing pending: hand back what we hold before waiting. */
				nic_wr(&nic, E1000_RDT,
				       (nic.rx_next + NIC_RX_DESCS - 1) % NIC_RX_DESCS);
				since_kick = 0;
			}
			if (rdtsc() - last > (b->done ? idle : 20 * idle))
				break;
			cpu_relax();
			continue;
		}
		last = rdtsc();
		if (!b->done)
			t0 = last;
		b->done++;
		since_kick++;
		nic_rx_release(&nic, since_kick >= b->batch);
		if (since_kick >= b->batch)
			since_kick = 0;
	}
	b->ticks = b->done > 1 ? last - t0 : 0;
	return 0;
}

int main(void)
{
	struct bench b = {.count = 100000, .size = 1500, .batch = 1};
	char mode[8] = "tx";
	uint64_t v, usec;

	if (cmdline_get("bench.mode", mode, sizeof(mode)) >= 0)
		b.rx = strcmp(mode, "rx") == 0;
	if (cmdline_get_u64("bench.count", &v))
		b.count = (uint32_t)v;
	if (cmdline_get_u64("bench.size", &v) && v >= 60 && v <= 1514)
		b.size = (uint32_t)v;
	if (cmdline_get_u64("bench.batch", &v) && v >= 1 && v < NIC_TX_DESCS)
		b.batch = (uint32_t)v;
	if (!nic_find(&nic) || !run_at_cpl3(nic_up_cpl3, &nic))
		return RT_EXIT_FAIL;
	printf("bench: ready\n");
	run_at_cpl3(b.rx ? run_rx : run_tx, &b);
	usec = b.ticks * 1000 / tsc_per_ms();
	printf("bench: %s frames=%u size=%u batch=%u ticks=%lu usec=%lu pps=%lu tsc_exact=%d\n",
	       b.rx ? "rx" : "tx", b.done, b.size, b.batch, b.ticks, usec,
	       usec ? (uint64_t)b.done * 1000000 / usec : 0, tsc_khz_is_exact());
	return RT_EXIT_PASS;
}
