/*
 * virtio-net functional test guest: finds the device from the
 * `virtio_mmio.device=` entries, checks its MAC and link status, brings it
 * up, sends vnet.tx=N frames that the host checks byte for byte on the tap,
 * then receives vnet.rx=N frames the host injects and checks them here.
 * Interrupts (irqfd, edge, through the IOAPIC) must arrive for both
 * directions.  vnet.mrg=1 negotiates MRG_RXBUF and posts 256-byte RX
 * buffers, so every full-size frame spans several of them.  The frames of
 * both directions are those of net_frames.h.
 */
#include "net_frames.h"
#include "rt.h"
#include "virtio_net_lib.h"

#define IRQ_VECTOR 0x41
#define TIMEOUT_MS 60000

static struct vnet nic;
static volatile uint32_t irq_count;

/* Interrupts are asynchronous to the polling loops: wait (bounded) for one. */
static bool irq_count_above(void *arg)
{
	return irq_count > *(uint32_t *)arg;
}

static void nic_irq(struct trap_frame *f)
{
	(void)f;
	/* Edge-triggered: acknowledging is bookkeeping, not needed to drop a line. */
	vmmio_write32(nic.base, VMMIO_INTERRUPT_ACK,
		      vmmio_read32(nic.base, VMMIO_INTERRUPT_STATUS));
	irq_count++;
}

struct job {
	uint64_t mrg;
	uint32_t count, done;
};

static uint64_t bring_up(void *arg)
{
	struct job *j = arg;
	uint64_t want = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | BIT(VF_EVENT_IDX);

	if (j->mrg)
		want |= BIT(VIRTIO_NET_F_MRG_RXBUF);
	return vnet_up(&nic, want, j->mrg ? 256 : VNET_HDR + 1514);
}

static uint64_t send_frames(void *arg)
{
	struct job *j = arg;
	uint64_t deadline = rdtsc() + TIMEOUT_MS * tsc_per_ms(), ret;

	vnet_want_interrupts(&nic, true);
	ret = net_send_frames(&vnet_tx_ops, &nic, nic.mac, j->count, deadline);
	if (!ret)
		j->done = j->count;
	return ret;
}

static uint64_t receive_frames(void *arg)
{
	struct job *j = arg;
	static uint8_t want[NET_FRAME_MAX], got[2048];
	uint64_t deadline = rdtsc() + TIMEOUT_MS * tsc_per_ms();
	struct virtio_net_hdr_v1 hdr;

	vnet_want_interrupts(&nic, true);
	while (j->done < j->count) {
		uint32_t wlen;
		int len = vnet_rx(&nic, &hdr, got, sizeof(got));

		if (len == 0) {
			if (rdtsc() > deadline)
				return 1;
			cpu_relax();
			continue;
		}
		vnet_rx_refill(&nic);
		vnet_want_interrupts(&nic, true);
		if (len < 0) {
			printf("virtio-net: malformed rx packet after %u frames\n", j->done);
			return 2;
		}
		/* The namespace's own stack may send something; only ours count. */
		if (len < 16 || got[12] != 0x88 || got[13] != 0xb6)
			continue;
		wlen = net_rx_frame(want, j->done, nic.mac);
		if ((uint32_t)len != wlen || memcmp(got, want, wlen) != 0 ||
		    (j->mrg && hdr.num_buffers < (wlen + VNET_HDR + 255) / 256)) {
			printf("virtio-net: rx frame %u wrong: len %d (want %u) seq %u "
			       "num_buffers %u\n",
			       j->done, len, wlen, got[14] << 8 | got[15], hdr.num_buffers);
			return 3;
		}
		j->done++;
	}
	return 0;
}

int main(void)
{
	uint64_t ntx = 32, nrx = 16, v;
	struct job tx = {0}, rx = {0};
	uint32_t irqs_before;

	cmdline_get_u64("vnet.tx", &ntx);
	cmdline_get_u64("vnet.rx", &nrx);
	cmdline_get_u64("vnet.mrg", &tx.mrg);
	rx.mrg = tx.mrg;
	if (!vnet_find(&nic)) {
		printf("virtio-net: no virtio-mmio device with ID 1 on the command line\n");
		return RT_EXIT_FAIL;
	}
	printf("virtio-net: found at 0x%lx irq %u\n", nic.base, nic.irq);
	TEST_ASSERT_EQ(nic.irq, 16 + (nic.base - 0xd0000000) / 0x1000);
	if (!run_at_cpl3(bring_up, &tx)) {
		printf("virtio-net: the device refused the driver\n");
		return RT_EXIT_FAIL;
	}
	printf("virtio-net: mac %02x:%02x:%02x:%02x:%02x:%02x, features 0x%lx, status %u\n",
	       nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3], nic.mac[4], nic.mac[5], nic.features,
	       nic.status);
	TEST_ASSERT(vnet_has(&nic, VIRTIO_NET_F_MAC));
	TEST_ASSERT(vnet_has(&nic, VF_EVENT_IDX));
	TEST_ASSERT_EQ(vnet_has(&nic, VIRTIO_NET_F_MRG_RXBUF), tx.mrg != 0);
	TEST_ASSERT_EQ(nic.status & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
	net_check_mac("vnet.mac", nic.mac);

	set_trap_handler(IRQ_VECTOR, nic_irq);
	ioapic_route(nic.irq, IRQ_VECTOR, lapic_id(), 0);
	sti();

	tx.count = (uint32_t)ntx;
	v = run_at_cpl3(send_frames, &tx);
	if (v) {
		printf("virtio-net: transmit timed out (%lu)\n", v);
		return RT_EXIT_FAIL;
	}
	irqs_before = 0;
	spin_until(irq_count_above, &irqs_before, 2000);
	printf("virtio-net: sent %u frames, %lu kicks, %u interrupts\n", tx.done, nic.tx.kicks,
	       irq_count);
	TEST_ASSERT(irq_count > 0);

	irqs_before = irq_count;
	rx.count = (uint32_t)nrx;
	printf("virtio-net: ready for rx\n");
	v = run_at_cpl3(receive_frames, &rx);
	if (v) {
		printf("virtio-net: receive failed (%lu) after %u of %u frames\n", v, rx.done,
		       rx.count);
		return RT_EXIT_FAIL;
	}
	spin_until(irq_count_above, &irqs_before, 2000);
	cli();
	printf("virtio-net: received %u frames ok, %u interrupts\n", rx.done,
	       irq_count - irqs_before);
	TEST_ASSERT(irq_count > irqs_before);
	return RT_EXIT_PASS;
}
