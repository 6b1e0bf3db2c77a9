/*
 * e1000 functional test guest: finds the 82540EM on PCI, checks its
 * configuration header and interrupt routing, brings it up (reset, EEPROM
 * MAC and checksum, PHY), sends e1000.tx=N frames that the host checks byte
 * for byte on the tap, then receives e1000.rx=N frames the host injects and
 * checks them byte for byte here.  Interrupts (INTx, level, through the
 * IOAPIC) must arrive for both directions.  The frames of both directions
 * are those of net_frames.h.
 */
#include "e1000_lib.h"
#include "net_frames.h"

#define IRQ_VECTOR 0x40
#define TIMEOUT_MS 60000

static struct nic nic;
static volatile uint32_t irq_count, irq_causes;

static void nic_irq(struct trap_frame *f)
{
	(void)f;
	/* Reading ICR acknowledges every cause and drops the level-triggered line. */
	irq_causes |= nic_rd(&nic, E1000_ICR);
	irq_count++;
}

struct job {
	uint32_t count;
	uint32_t done;
	int error;
};

static uint64_t send_frames(void *arg)
{
	struct job *j = arg;
	uint64_t deadline = rdtsc() + TIMEOUT_MS * tsc_per_ms();
	uint64_t ret = net_send_frames(&nic_tx_ops, &nic, nic.mac, j->count, deadline);

	if (!ret)
		j->done = j->count;
	return ret;
}

static uint64_t receive_frames(void *arg)
{
	struct job *j = arg;
	static uint8_t want[NET_FRAME_MAX];
	uint64_t deadline = rdtsc() + TIMEOUT_MS * tsc_per_ms();

	while (j->done < j->count) {
		uint32_t len, wlen;
		uint8_t status, errors;
		const uint8_t *got = nic_rx_peek(&nic, &len, &status, &errors);

		if (!got) {
			if (rdtsc() > deadline)
				return 1;
			cpu_relax();
			continue;
		}
		wlen = net_rx_frame(want, j->done, nic.mac);
		/* RCTL.SECRC is clear, as with Linux: the length includes 4 FCS bytes. */
		if (!(status & E1000_RXD_STAT_EOP) || errors || len != wlen + 4 ||
		    memcmp(got, want, wlen) != 0) {
			printf("e1000: rx frame %u wrong: len %u (want %u) status 0x%x errors 0x%x "
			       "seq %u\n",
			       j->done, len, wlen + 4, status, errors, got[14] << 8 | got[15]);
			j->error = 1;
			return 2;
		}
		nic_rx_release(&nic, true);
		j->done++;
	}
	return 0;
}

static uint64_t read_counter(void *arg)
{
	return nic_rd(&nic, (uint32_t)(uint64_t)arg);
}

int main(void)
{
	uint64_t ntx = 32, nrx = 16, v;
	struct job tx = {0}, rx = {0};
	uint32_t irqs_before;
	static const unsigned int pci_lines[] = {0, 10, 11, 5, 9};

	cmdline_get_u64("e1000.tx", &ntx);
	cmdline_get_u64("e1000.rx", &nrx);
	if (!nic_find(&nic)) {
		printf("e1000: no 8086:100e on PCI bus 0\n");
		return RT_EXIT_FAIL;
	}
	printf("e1000: found at 00:%02x.0, BAR0 0x%lx, BAR1 I/O 0x%x, INTA# -> line %u\n", nic.slot,
	       nic.mmio, nic.io, nic.irq_line);
	TEST_ASSERT_EQ(nic.irq_pin, 1);
	/* minivmm's lines for slots 1-4: those PC firmware gives PCI. */
	TEST_ASSERT(nic.slot >= 1 && nic.slot <= 4);
	TEST_ASSERT_EQ(nic.irq_line, pci_lines[nic.slot]);
	/* Class: Ethernet controller. */
	TEST_ASSERT_EQ(pci_cfg_read32(nic.slot, 0x08) >> 8, 0x020000);
	/* The host bridge is at 00:00.0. */
	TEST_ASSERT_EQ(pci_cfg_read32(0, 0x08) >> 8, 0x060000);

	if (!run_at_cpl3(nic_up_cpl3, &nic))
		return RT_EXIT_FAIL;
	printf("e1000: mac %02x:%02x:%02x:%02x:%02x:%02x, EEPROM checksum ok, link up\n",
	       nic.mac[0], nic.mac[1], nic.mac[2], nic.mac[3], nic.mac[4], nic.mac[5]);
	net_check_mac("e1000.mac", nic.mac);

	set_trap_handler(IRQ_VECTOR, nic_irq);
	ioapic_route(nic.irq_line, IRQ_VECTOR, lapic_id(), IOAPIC_LEVEL);
	nic_wr(&nic, E1000_IMS, E1000_ICR_TXDW | E1000_ICR_RXT0);
	sti();

	tx.count = (uint32_t)ntx;
	v = run_at_cpl3(send_frames, &tx);
	if (v) {
		printf("e1000: transmit timed out (%lu)\n", v);
		return RT_EXIT_FAIL;
	}
	printf("e1000: sent %u frames\n", tx.done);
	TEST_ASSERT(irq_count > 0);
	TEST_ASSERT(irq_causes & E1000_ICR_TXDW);
	TEST_ASSERT_EQ(run_at_cpl3(read_counter, (void *)(uint64_t)E1000_GPTC), ntx);
	TEST_ASSERT_EQ(run_at_cpl3(read_counter, (void *)(uint64_t)E1000_GPTC), 0);

	irqs_before = irq_count;
	printf("e1000: ready for rx\n");
	rx.count = (uint32_t)nrx;
	v = run_at_cpl3(receive_frames, &rx);
	if (v) {
		printf("e1000: receive failed (%lu) after %u frames\n", v, rx.done);
		return RT_EXIT_FAIL;
	}
	printf("e1000: received %u frames ok\n", rx.done);
	if (nrx) {
		TEST_ASSERT(irq_count > irqs_before);
		TEST_ASSERT(irq_causes & E1000_ICR_RXT0);
	}
	TEST_ASSERT_EQ(run_at_cpl3(read_counter, (void *)(uint64_t)E1000_GPRC), nrx);
	cli();
	printf("e1000: %u interrupts\n", irq_count);
	return RT_EXIT_PASS;
}
