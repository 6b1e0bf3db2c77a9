#include "e1000_lib.h"

bool nic_find(struct nic *n)
{
	memset(n, 0, sizeof(*n));
	for (unsigned int slot = 0; slot < 32; slot++) {
		uint32_t id = pci_cfg_read32(slot, 0), irq;

		if (id != ((uint32_t)E1000_DEVICE_ID << 16 | E1000_VENDOR_ID))
			continue;
		n->slot = slot;
		n->mmio = pci_cfg_read32(slot, 0x10) & ~0xfu;
		n->io = (uint16_t)(pci_cfg_read32(slot, 0x14) & ~3u);
		irq = pci_cfg_read32(slot, 0x3c);
		n->irq_line = irq & 0xff;
		n->irq_pin = (irq >> 8) & 0xff;
		/* Memory space, I/O space, bus master. */
		pci_cfg_write32(slot, 0x04, (pci_cfg_read32(slot, 0x04) & 0xffff0000u) | 0x7);
		return true;
	}
	return false;
}

static void ee_write(const struct nic *n, uint32_t eecd)
{
	nic_wr(n, E1000_EECD, eecd);
}

static void ee_shift_out(const struct nic *n, uint32_t *eecd, uint16_t data, int bits)
{
	for (int i = bits - 1; i >= 0; i--) {
		*eecd = (*eecd & ~E1000_EECD_DI) | ((data >> i) & 1 ? E1000_EECD_DI : 0);
		ee_write(n, *eecd);
		ee_write(n, *eecd | E1000_EECD_SK);
		ee_write(n, *eecd);
	}
	*eecd &= ~E1000_EECD_DI;
	ee_write(n, *eecd);
}

uint16_t nic_eeprom_read(const struct nic *n, unsigned int word)
{
	uint32_t eecd = (nic_rd(n, E1000_EECD) | E1000_EECD_REQ) & ~(E1000_EECD_DO);
	uint16_t v = 0;

	ee_write(n, eecd);
	if (!(nic_rd(n, E1000_EECD) & E1000_EECD_GNT))
		return 0xdead;
	eecd &= ~(E1000_EECD_DI | E1000_EECD_SK);
	ee_write(n, eecd);
	eecd |= E1000_EECD_CS;
	ee_write(n, eecd);
	ee_shift_out(n, &eecd, 0x6, 3); /* READ opcode with start bit */
	ee_shift_out(n, &eecd, (uint16_t)word, 6);
	for (int i = 0; i < 16; i++) {
		ee_write(n, eecd | E1000_EECD_SK);
		v = (uint16_t)(v << 1 | !!(nic_rd(n, E1000_EECD) & E1000_EECD_DO));
		ee_write(n, eecd);
	}
	eecd &= ~(E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_REQ);
	ee_write(n, eecd);
	return v;
}

uint16_t nic_phy_read(const struct nic *n, unsigned int reg)
{
	uint32_t v;

	nic_wr(n, E1000_MDIC,
	       E1000_MDIC_OP_READ | E1000_PHY_ADDR << E1000_MDIC_PHY_SHIFT |
		   reg << E1000_MDIC_REG_SHIFT);
	for (int i = 0; i < 100; i++) {
		v = nic_rd(n, E1000_MDIC);
		if (v & E1000_MDIC_READY)
			return (v & E1000_MDIC_ERROR) ? 0xffff : (uint16_t)v;
	}
	return 0xffff;
}

bool nic_up(struct nic *n, uint32_t rctl_extra)
{
	uint16_t sum = 0, w;
	uint8_t *dma = (uint8_t *)NIC_DMA_BASE;

	nic_wr(n, E1000_IMC, 0xffffffff);
	nic_wr(n, E1000_CTRL, nic_rd(n, E1000_CTRL) | E1000_CTRL_RST);
	for (int i = 0; nic_rd(n, E1000_CTRL) & E1000_CTRL_RST; i++)
		if (i > 1000) {
			printf("e1000: reset did not complete\n");
			return false;
		}
	nic_wr(n, E1000_IMC, 0xffffffff);
	nic_rd(n, E1000_ICR);
	if (!(nic_rd(n, E1000_STATUS) & E1000_STATUS_LU)) {
		printf("e1000: STATUS shows no link\n");
		return false;
	}
	for (unsigned int i = 0; i < E1000_EEPROM_WORDS; i++) {
		w = nic_eeprom_read(n, i);
		if (i < 3) {
			n->mac[2 * i] = (uint8_t)w;
			n->mac[2 * i + 1] = (uint8_t)(w >> 8);
		}
		sum += w;
	}
	if (sum != E1000_EEPROM_SUM) {
		printf("e1000: EEPROM checksum 0x%x, expected 0x%x\n", sum, E1000_EEPROM_SUM);
		return false;
	}
	if (nic_rd(n, E1000_RAL(0)) != (uint32_t)(n->mac[0] | n->mac[1] << 8 | n->mac[2] << 16 |
						  (uint32_t)n->mac[3] << 24) ||
	    nic_rd(n, E1000_RAH(0)) != (uint32_t)(n->mac[4] | n->mac[5] << 8 | E1000_RAH_AV)) {
		printf("e1000: RAL0/RAH0 do not hold the EEPROM's MAC\n");
		return false;
	}
	if (nic_phy_read(n, E1000_PHY_ID1) != (E1000_PHY_ID >> 16) ||
	    (nic_phy_read(n, E1000_PHY_ID2) & 0xfff0) != (E1000_PHY_ID & 0xfff0) ||
	    !(nic_phy_read(n, E1000_PHY_STATUS) & 0x4)) {
		printf("e1000: PHY ID or link status wrong\n");
		return false;
	}

	n->tx_ring = dma;
	n->rx_ring = dma + NIC_TX_DESCS * 16;
	n->tx_bufs = dma + 0x10000;
	n->rx_bufs = n->tx_bufs + NIC_TX_DESCS * NIC_BUF_SIZE;
	memset((void *)n->tx_ring, 0, NIC_TX_DESCS * 16);
	memset((void *)n->rx_ring, 0, NIC_RX_DESCS * 16);
	for (unsigned int i = 0; i < NIC_RX_DESCS; i++) {
		uint64_t a = (uint64_t)(n->rx_bufs + i * NIC_BUF_SIZE);

		memcpy((void *)(n->rx_ring + 16 * i), &a, 8);
	}
	n->tx_tail = n->tx_clean = n->rx_next = 0;

	nic_wr(n, E1000_TDBAL, (uint32_t)(uint64_t)n->tx_ring);
	nic_wr(n, E1000_TDBAH, 0);
	nic_wr(n, E1000_TDLEN, NIC_TX_DESCS * 16);
	nic_wr(n, E1000_TDH, 0);
	nic_wr(n, E1000_TDT, 0);
	nic_wr(n, E1000_TIPG, 10 | 8 << 10 | 6 << 20);
	nic_wr(n, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP | 0x10 << 4 | 0x40 << 12);

	nic_wr(n, E1000_RDBAL, (uint32_t)(uint64_t)n->rx_ring);
	nic_wr(n, E1000_RDBAH, 0);
	nic_wr(n, E1000_RDLEN, NIC_RX_DESCS * 16);
	nic_wr(n, E1000_RDH, 0);
	nic_wr(n, E1000_RDT, NIC_RX_DESCS - 1);
	nic_wr(n, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | rctl_extra);
	return true;
}

uint64_t nic_up_cpl3(void *nic)
{
	return nic_up(nic, 0);
}

bool nic_tx_queue(struct nic *n, const void *frame, uint32_t len)
{
	uint32_t next = (n->tx_tail + 1) % NIC_TX_DESCS;
	volatile uint8_t *d = n->tx_ring + 16 * n->tx_tail;
	uint8_t *buf = n->tx_bufs + n->tx_tail * NIC_BUF_SIZE;
	uint64_t a = (uint64_t)buf;
	uint32_t cmd_len =
	    (len & 0xffff) | E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS;

	if (next == n->tx_clean || len > NIC_BUF_SIZE)
		return false;
	memcpy(buf, frame, len);
	memcpy((void *)d, &a, 8);
	memcpy((void *)(d + 8), &cmd_len, 4);
	memset((void *)(d + 12), 0, 4);
	n->tx_tail = next;
	return true;
}

void nic_tx_kick(struct nic *n)
{
	barrier();
	nic_wr(n, E1000_TDT, n->tx_tail);
}

uint32_t nic_tx_reclaim(struct nic *n)
{
	while (n->tx_clean != n->tx_tail) {
		volatile uint8_t *st = n->tx_ring + 16 * n->tx_clean + 12;

		if (!(*st & E1000_TXD_STAT_DD))
			break;
		*st = 0;
		n->tx_clean = (n->tx_clean + 1) % NIC_TX_DESCS;
	}
	return (n->tx_tail + NIC_TX_DESCS - n->tx_clean) % NIC_TX_DESCS;
}

static bool nic_tx_queue_op(void *nic, const void *frame, uint32_t len)
{
	return nic_tx_queue(nic, frame, len);
}

static void nic_tx_kick_op(void *nic)
{
	nic_tx_kick(nic);
}

static unsigned int nic_tx_reclaim_op(void *nic)
{
	return nic_tx_reclaim(nic);
}

const struct net_tx_ops nic_tx_ops = {nic_tx_queue_op, nic_tx_kick_op, nic_tx_reclaim_op};

const uint8_t *nic_rx_peek(struct nic *n, uint32_t *len, uint8_t *status, uint8_t *errors)
{
	volatile uint8_t *d = n->rx_ring + 16 * n->rx_next;

	if (!(d[12] & E1000_RXD_STAT_DD))
		return NULL;
	barrier();
	*len = d[8] | d[9] << 8;
	*status = d[12];
	*errors = d[13];
	return n->rx_bufs + n->rx_next * NIC_BUF_SIZE;
}

void nic_rx_release(struct nic *n, bool kick)
{
	volatile uint8_t *d = n->rx_ring + 16 * n->rx_next;
	uint32_t done = n->rx_next;

	d[12] = 0;
	n->rx_next = (n->rx_next + 1) % NIC_RX_DESCS;
	if (kick) {
		barrier();
		/* The device owns [RDH, RDT): handing back `done` moves the gap to it. */
		nic_wr(n, E1000_RDT, done);
	}
}
