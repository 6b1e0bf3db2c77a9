/*
 * A hostile e1000 driver: rings and buffers outside RAM (past its end, in
 * the MMIO hole, on the NIC's own registers), indices beyond the ring,
 * absurd lengths, broken TSO contexts, odd access sizes.  minivmm must
 * survive all of it, keep the VM running, and after a device reset the NIC
 * must work normally: one good frame goes out (the integration test sees
 * it) and the statistics agree.
 */
#include "e1000_lib.h"

static struct nic nic;

static volatile uint8_t *txd(unsigned int i)
{
	return nic.tx_ring + 16 * i;
}

static void put_desc(unsigned int i, uint64_t addr, uint32_t cmd_len, uint8_t b12, uint8_t b13,
		     uint16_t b14)
{
	volatile uint8_t *d = txd(i);

	memcpy((void *)d, &addr, 8);
	memcpy((void *)(d + 8), &cmd_len, 4);
	d[12] = b12;
	d[13] = b13;
	memcpy((void *)(d + 14), &b14, 2);
}

static uint64_t attack(void *arg)
{
	const uint32_t legacy_eop_rs = E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS;
	const uint32_t data = E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_DATA;
	uint32_t *fail = arg;

	/* Odd access sizes to the registers. */
	mmio_write8(nic.mmio + E1000_IMS, 0xff);
	mmio_write16(nic.mmio + E1000_TDT + 2, 0xffff);
	mmio_write64(nic.mmio + E1000_RDT, ~0ull);
	(void)mmio_read8(nic.mmio + E1000_ICR);
	(void)mmio_read64(nic.mmio + E1000_STATUS);
	if (nic_rd(&nic, E1000_IMS) != 0)
		*fail |= 1;

	/* TX ring on the NIC's own registers, then past the end of RAM. */
	nic_wr(&nic, E1000_TDBAL, (uint32_t)nic.mmio);
	nic_wr(&nic, E1000_TDT, 3);
	nic_wr(&nic, E1000_TDBAL, 0xfffff000);
	nic_wr(&nic, E1000_TDBAH, 0x7fffffff);
	nic_wr(&nic, E1000_TDT, 5);
	if (nic_rd(&nic, E1000_TDH) != 0)
		*fail |= 2;

	/* A valid ring full of bad descriptors. */
	nic_wr(&nic, E1000_TDBAL, (uint32_t)(uint64_t)nic.tx_ring);
	nic_wr(&nic, E1000_TDBAH, 0);
	put_desc(0, 0xfffffffffffff000ull, 0xffff | legacy_eop_rs, 0, 0, 0); /* wraps */
	put_desc(1, nic.mmio, 1500 | legacy_eop_rs, 0, 0, 0);		     /* MMIO */
	put_desc(2, 0xFEC00000, 64 | legacy_eop_rs, 0, 0, 0);		     /* IOAPIC */
	put_desc(3, NIC_DMA_BASE, 0 | legacy_eop_rs, 0, 0, 0);		     /* empty */
	put_desc(4, NIC_DMA_BASE, 0xfffff | data | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0, 0,
		 0); /* 1 MiB */
	/* TSO with MSS 0, then with a header longer than the packet. */
	put_desc(5, 0, E1000_TXD_CMD_DEXT | E1000_TXD_CMD_TSE | E1000_TXD_CMD_TCP, 0, 54, 0);
	put_desc(6, NIC_DMA_BASE, 100 | data | E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, 0, 3, 0);
	put_desc(7, 0, E1000_TXD_CMD_DEXT | E1000_TXD_CMD_TSE | E1000_TXD_CMD_TCP, 0, 255, 1);
	put_desc(8, NIC_DMA_BASE, 100 | data | E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, 0, 3, 0);
	/* A descriptor type that does not exist. */
	put_desc(9, NIC_DMA_BASE, 100 | E1000_TXD_CMD_DEXT | 0x00e00000 | E1000_TXD_CMD_EOP, 0, 0,
		 0);
	nic_wr(&nic, E1000_TDT, 10);
	nic_wr(&nic, E1000_TDT, 1000); /* beyond the ring: ignored */
	nic_wr(&nic, E1000_TDH, 5000);
	nic_wr(&nic, E1000_TDT, 0);

	/* RX ring past RAM, in the MMIO hole, and indices beyond it. */
	nic_wr(&nic, E1000_RDBAL, 0xfffff000);
	nic_wr(&nic, E1000_RDBAH, 0x1);
	nic_wr(&nic, E1000_RDT, 7);
	nic_wr(&nic, E1000_RDBAL, 0xe0000000);
	nic_wr(&nic, E1000_RDBAH, 0);
	nic_wr(&nic, E1000_RDT, 9000);
	nic_wr(&nic, E1000_RDLEN, 0xffffffff);

	/* EEPROM: a write command and clocking without chip select. */
	for (int i = 0; i < 200; i++)
		nic_wr(&nic, E1000_EECD, (i & 1) | (i & 4));
	nic_wr(&nic, E1000_EERD, 0xffffffff);
	/* PHY: another address, a reserved opcode. */
	nic_wr(&nic, E1000_MDIC, 0xffffffff);
	nic_wr(&nic, E1000_MDIC, 0x0c000000 | 7 << E1000_MDIC_PHY_SHIFT);
	/* The I/O window with a wild address is not for us from CPL3; MMIO suffices. */
	return 0;
}

static uint64_t send_one(void *arg)
{
	static uint8_t f[100];
	uint64_t deadline = rdtsc() + 10000 * tsc_per_ms();

	(void)arg;
	memset(f, 0xff, 6);
	memcpy(f + 6, nic.mac, 6);
	f[12] = 0x88;
	f[13] = 0xb7;
	for (unsigned int i = 14; i < sizeof(f); i++)
		f[i] = (uint8_t)(i ^ 0x5a);
	if (!nic_tx_queue(&nic, f, sizeof(f)))
		return 1;
	nic_tx_kick(&nic);
	while (nic_tx_reclaim(&nic))
		if (rdtsc() > deadline)
			return 2;
	return nic_rd(&nic, E1000_GPTC) == 1 ? 0 : 3;
}

int main(void)
{
	uint32_t fail = 0;
	uint64_t r;

	if (!nic_find(&nic) || !run_at_cpl3(nic_up_cpl3, &nic))
		return RT_EXIT_FAIL;
	run_at_cpl3(attack, &fail);
	printf("e1000hostile: attacks done, flags 0x%x\n", fail);
	TEST_ASSERT_EQ(fail, 0);
	/* Nothing of the above was sent. */
	TEST_ASSERT(run_at_cpl3(nic_up_cpl3, &nic));
	r = run_at_cpl3(send_one, NULL);
	printf("e1000hostile: after reset, one good frame: %s (%lu)\n", r ? "FAILED" : "ok", r);
	TEST_ASSERT_EQ(r, 0);
	return RT_EXIT_PASS;
}
