/*
 * virtio-net functional test, arm64: what the x86 guest (../virtio_net.c)
 * does for tests/integration/virtio_net.sh — find the device (in the device
 * tree), check its MAC and link status, bring it up, send vnet.tx=N frames
 * that the host checks on the tap, print "virtio-net: ready for rx", then
 * receive vnet.rx=N injected frames and check them; vnet.mrg=1 negotiates
 * MRG_RXBUF with 256-byte RX buffers.  It polls and takes no interrupt:
 * instead of counting taken interrupts it watches the SPI's pending bit in
 * the GIC distributor, which the device's irqfd pulse sets (the SPI is made
 * edge-triggered first), and requires one for each direction.
 */
#include "../net_frames.h"
#include "rt.h"
#include "../virtio_net_lib.h"

#define TIMEOUT_MS 60000

static struct vnet nic;
static uint32_t irq_count;

/* An interrupt the device raised since the last look: count it, clear it, acknowledge it. */
static void poll_irq(void)
{
	if (!gic_spi_pending(nic.irq))
		return;
	gic_spi_clear_pending(nic.irq);
	vmmio_write32(nic.base, VMMIO_INTERRUPT_ACK,
		      vmmio_read32(nic.base, VMMIO_INTERRUPT_STATUS));
	irq_count++;
}

static bool irq_count_above(void *arg)
{
	poll_irq();
	return irq_count > *(uint32_t *)arg;
}

static uint64_t receive_frames(uint32_t count, bool mrg, uint32_t *done)
{
	static uint8_t want[NET_FRAME_MAX], got[2048];
	uint64_t deadline = rdtsc() + TIMEOUT_MS * tsc_per_ms();
	struct virtio_net_hdr_v1 hdr;

	vnet_want_interrupts(&nic, true);
	while (*done < count) {
		uint32_t wlen;
		int len = vnet_rx(&nic, &hdr, got, sizeof(got));

		if (len == 0) {
			if (rdtsc() > deadline)
				return 1;
			poll_irq();
			cpu_relax();
			continue;
		}
		vnet_rx_refill(&nic);
		vnet_want_interrupts(&nic, true);
		if (len < 0) {
			printf("virtio-net: malformed rx packet after %u frames\n", *done);
			return 2;
		}
		/* The namespace's own stack may send something; only ours count. */
		if (len < 16 || got[12] != 0x88 || got[13] != 0xb6)
			continue;
		wlen = net_rx_frame(want, *done, nic.mac);
		if ((uint32_t)len != wlen || memcmp(got, want, wlen) != 0 ||
		    (mrg && hdr.num_buffers < (wlen + VNET_HDR + 255) / 256)) {
			printf("virtio-net: rx frame %u wrong: len %d (want %u) seq %u "
			       "num_buffers %u\n",
			       *done, len, wlen, got[14] << 8 | got[15], hdr.num_buffers);
			return 3;
		}
		(*done)++;
	}
	return 0;
}

int main(void)
{
	uint64_t ntx = 32, nrx = 16, mrg = 0, v;
	uint64_t want = BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | BIT(VF_EVENT_IDX);
	uint32_t irqs_before, received = 0;

	cmdline_get_u64("vnet.tx", &ntx);
	cmdline_get_u64("vnet.rx", &nrx);
	cmdline_get_u64("vnet.mrg", &mrg);
	if (!vnet_find(&nic)) {
		printf("virtio-net: no virtio-mmio device with ID 1 in the device tree\n");
		return RT_EXIT_FAIL;
	}
	printf("virtio-net: found at 0x%lx irq %u\n", nic.base, nic.irq);
	/* Window n of the virtio-mmio area signals on SPI 16 + n. */
	TEST_ASSERT_EQ(nic.irq,
		       RT_VIRTIO_SPI_BASE + (nic.base - RT_VIRTIO_MMIO_BASE) / RT_VIRTIO_MMIO_SIZE);
	if (mrg)
		want |= BIT(VIRTIO_NET_F_MRG_RXBUF);
	if (!vnet_up(&nic, want, mrg ? 256 : VNET_HDR + 1514)) {
		printf("virtio-net: the device refused the driver\n");
		return RT_EXIT_FAIL;
	}
	printf("virtio-net: mac %02x:%02x:%02x:%02x:%02x:%02x, features 0x%lx, status %u\n",
	       nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3], nic.mac[4], nic.mac[5], nic.features,
	       nic.status);
	TEST_ASSERT(vnet_has(&nic, VIRTIO_NET_F_MAC));
	TEST_ASSERT(vnet_has(&nic, VF_EVENT_IDX));
	TEST_ASSERT_EQ(vnet_has(&nic, VIRTIO_NET_F_MRG_RXBUF), mrg != 0);
	TEST_ASSERT_EQ(nic.status & VIRTIO_NET_S_LINK_UP, VIRTIO_NET_S_LINK_UP);
	net_check_mac("vnet.mac", nic.mac);

	gic_spi_config_edge(nic.irq);
	gic_spi_clear_pending(nic.irq);

	vnet_want_interrupts(&nic, true);
	v = net_send_frames(&vnet_tx_ops, &nic, nic.mac, (uint32_t)ntx,
			    rdtsc() + TIMEOUT_MS * tsc_per_ms());
	if (v) {
		printf("virtio-net: transmit timed out (%lu)\n", v);
		return RT_EXIT_FAIL;
	}
	irqs_before = 0;
	spin_until(irq_count_above, &irqs_before, 2000);
	printf("virtio-net: sent %u frames, %lu kicks, %u interrupts (pending SPI seen)\n",
	       (uint32_t)ntx, nic.tx.kicks, irq_count);
	TEST_ASSERT(irq_count > 0);

	irqs_before = irq_count;
	printf("virtio-net: ready for rx\n");
	v = receive_frames((uint32_t)nrx, mrg != 0, &received);
	if (v) {
		printf("virtio-net: receive failed (%lu) after %u of %u frames\n", v, received,
		       (uint32_t)nrx);
		return RT_EXIT_FAIL;
	}
	spin_until(irq_count_above, &irqs_before, 2000);
	printf("virtio-net: received %u frames ok, %u interrupts (pending SPI seen)\n", received,
	       irq_count - irqs_before);
	if (nrx)
		TEST_ASSERT(irq_count > irqs_before);
	return RT_EXIT_PASS;
}
