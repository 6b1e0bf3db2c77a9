/*
 * e1000 functional test, arm64: what the x86 guest (../e1000.c) does for
 * tests/integration/e1000.sh — find the 82540EM on PCI bus 0 (through
 * ECAM), check its configuration header, bring it up (reset, EEPROM MAC and
 * checksum, PHY), send e1000.tx=N frames that the host checks on the tap,
 * print "e1000: ready for rx", then receive e1000.rx=N injected frames and
 * check them.  minivmm assigns the BARs; a BAR found unassigned (as under
 * QEMU without firmware) is assigned here.  It polls and takes no
 * interrupt: instead it checks that INTA# (level, SPI 4 + slot % 4) is
 * pending in the GIC distributor after each direction, and that ICR then
 * holds that direction's cause.
 */
#include "../e1000_lib.h"
#include "../net_frames.h"

#define TIMEOUT_MS 60000
#define BAR_MEM	   0x10
#define BAR_IO	   0x14

static struct nic nic;
static unsigned int spi;

/* Size a BAR (all ones, read back) and give it the first aligned address of its window. */
static uint32_t assign_bar(unsigned int slot, unsigned int reg, uint32_t window, uint32_t flags)
{
	uint32_t mask, size;

	pci_cfg_write32(slot, reg, 0xffffffffu);
	mask = pci_cfg_read32(slot, reg) & ~flags;
	size = ~mask + 1;
	if (!mask || (size & (size - 1)))
		return 0;
	window = (window + size - 1) & ~(size - 1);
	pci_cfg_write32(slot, reg, window);
	printf("e1000: BAR at 0x%x was unassigned; assigned 0x%x (size 0x%x)\n", reg, window, size);
	return window;
}

static bool line_pending(void *arg)
{
	(void)arg;
	return gic_spi_pending(spi);
}

static uint64_t receive_frames(uint32_t count, uint32_t *done)
{
	static uint8_t want[NET_FRAME_MAX];
	uint64_t deadline = rdtsc() + TIMEOUT_MS * tsc_per_ms();

	while (*done < count) {
		uint32_t len, wlen;
		uint8_t status, errors;
		const uint8_t *got = nic_rx_peek(&nic, &len, &status, &errors);

		if (!got) {
			if (rdtsc() > deadline)
				return 1;
			cpu_relax();
			continue;
		}
		wlen = net_rx_frame(want, *done, nic.mac);
		/* RCTL.SECRC is clear, as with Linux: the length includes 4 FCS bytes. */
		if (!(status & E1000_RXD_STAT_EOP) || errors || len != wlen + 4 ||
		    memcmp(got, want, wlen) != 0) {
			printf("e1000: rx frame %u wrong: len %u (want %u) status 0x%x errors 0x%x "
			       "seq %u\n",
			       *done, len, wlen + 4, status, errors, got[14] << 8 | got[15]);
			return 2;
		}
		nic_rx_release(&nic, true);
		(*done)++;
	}
	return 0;
}

int main(void)
{
	uint64_t ntx = 32, nrx = 16, v;
	uint32_t causes, received = 0;

	cmdline_get_u64("e1000.tx", &ntx);
	cmdline_get_u64("e1000.rx", &nrx);
	if (!nic_find(&nic)) {
		printf("e1000: no 8086:100e on PCI bus 0\n");
		return RT_EXIT_FAIL;
	}
	if (!nic.mmio)
		nic.mmio = assign_bar(nic.slot, BAR_MEM, RT_PCI_MMIO_BASE, 0xf);
	if (!nic.io)
		nic.io = (uint16_t)assign_bar(nic.slot, BAR_IO, RT_PCI_IO_BASE, 0x3);
	spi = RT_PCI_INTX_SPI + nic.slot % 4;
	printf("e1000: found at 00:%02x.0, BAR0 0x%lx, BAR1 I/O 0x%x, INTA# -> SPI %u "
	       "(interrupt line register %u)\n",
	       nic.slot, nic.mmio, nic.io, spi, nic.irq_line);
	TEST_ASSERT_EQ(nic.irq_pin, 1);
	TEST_ASSERT(nic.slot >= 1 && nic.slot <= 4);
	TEST_ASSERT(nic.mmio >= RT_PCI_MMIO_BASE && nic.mmio < RT_PCI_MMIO_END);
	TEST_ASSERT(nic.io >= RT_PCI_IO_BASE && nic.io < RT_PCI_IO_END);
	/* Class: Ethernet controller. */
	TEST_ASSERT_EQ(pci_cfg_read32(nic.slot, 0x08) >> 8, 0x020000);
	/* The host bridge is at 00:00.0. */
	TEST_ASSERT_EQ(pci_cfg_read32(0, 0x08) >> 8, 0x060000);

	if (!nic_up(&nic, 0))
		return RT_EXIT_FAIL;
	printf("e1000: mac %02x:%02x:%02x:%02x:%02x:%02x, EEPROM checksum ok, link up\n",
	       nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3], nic.mac[4], nic.mac[5]);
	net_check_mac("e1000.mac", nic.mac);
	nic_wr(&nic, E1000_IMS, E1000_ICR_TXDW | E1000_ICR_RXT0);

	v = net_send_frames(&nic_tx_ops, &nic, nic.mac, (uint32_t)ntx,
			    rdtsc() + TIMEOUT_MS * tsc_per_ms());
	if (v) {
		printf("e1000: transmit timed out (%lu)\n", v);
		return RT_EXIT_FAIL;
	}
	printf("e1000: sent %u frames\n", (uint32_t)ntx);
	TEST_ASSERT(spin_until(line_pending, NULL, 2000));
	/* Reading ICR acknowledges every cause (and drops the line). */
	causes = nic_rd(&nic, E1000_ICR);
	printf("e1000: INTA# pending after TX, ICR 0x%x\n", causes);
	TEST_ASSERT(causes & E1000_ICR_TXDW);
	TEST_ASSERT_EQ(nic_rd(&nic, E1000_GPTC), ntx);
	TEST_ASSERT_EQ(nic_rd(&nic, E1000_GPTC), 0);

	printf("e1000: ready for rx\n");
	v = receive_frames((uint32_t)nrx, &received);
	if (v) {
		printf("e1000: receive failed (%lu) after %u frames\n", v, received);
		return RT_EXIT_FAIL;
	}
	printf("e1000: received %u frames ok\n", received);
	if (nrx) {
		TEST_ASSERT(spin_until(line_pending, NULL, 2000));
		causes = nic_rd(&nic, E1000_ICR);
		printf("e1000: INTA# pending after RX, ICR 0x%x\n", causes);
		TEST_ASSERT(causes & E1000_ICR_RXT0);
	}
	TEST_ASSERT_EQ(nic_rd(&nic, E1000_GPRC), nrx);
	return RT_EXIT_PASS;
}
