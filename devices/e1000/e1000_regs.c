/*
 * The e1000's registers: one table row per register with its reset value,
 * writable bits and the hooks that give it behaviour; the Microwire EEPROM
 * behind EECD/EERD, the PHY behind MDIC, and the interrupt registers (ICR,
 * ICS, IMS, IMC, ITR).  Everything here runs under the NIC lock.
 */
#include <pthread.h>
#include <string.h>

#include "byteorder.h"
#include "devices/e1000/e1000_internal.h"
#include "devices/pci.h"
#include "util.h"

#define EECD_FWE_DISABLED     (1u << 4)
#define MICROWIRE_READ_OPCODE 0x6 /* start bit + "10" */
#define MICROWIRE_ADDR_BITS   6
#define MICROWIRE_OPCODE_BITS 3

#define PHY_CTRL_RESET	    0x8000
#define PHY_CTRL_RESTART_AN 0x0200

#define STATS_BASE 0x4000

static uint32_t e1000_read_zero(struct e1000 *e, uint32_t off);
static void e1000_write_ignore(struct e1000 *e, uint32_t off, uint32_t val);
static void e1000_ctrl_write(struct e1000 *e, uint32_t off, uint32_t val);
static uint32_t e1000_eecd_read(struct e1000 *e, uint32_t off);
static void e1000_eecd_write(struct e1000 *e, uint32_t off, uint32_t val);
static void e1000_eerd_write(struct e1000 *e, uint32_t off, uint32_t val);
static void e1000_mdic_write(struct e1000 *e, uint32_t off, uint32_t val);
static uint32_t e1000_icr_read(struct e1000 *e, uint32_t off);
static void e1000_icr_write(struct e1000 *e, uint32_t off, uint32_t val);
static void e1000_ics_write(struct e1000 *e, uint32_t off, uint32_t val);
static uint32_t e1000_ims_read(struct e1000 *e, uint32_t off);
static void e1000_ims_write(struct e1000 *e, uint32_t off, uint32_t val);
static void e1000_imc_write(struct e1000 *e, uint32_t off, uint32_t val);
static uint32_t e1000_stats_read(struct e1000 *e, uint32_t off);

#define RD_ZERO	  e1000_read_zero /* write-only registers */
#define WR_IGNORE e1000_write_ignore

/* {offset, dwords, name, reset, wmask, read hook, write hook} */
const struct e1000_reg e1000_regs[] = {
    {0, 0, "other", 0, 0, e1000_read_zero, WR_IGNORE},
    {E1000_CTRL, 1, "CTRL", E1000_CTRL_FD | E1000_CTRL_SLU | 0x200, 0xffffffff, NULL,
     e1000_ctrl_write},
    {E1000_STATUS, 1, "STATUS", 0, 0, NULL, NULL},
    {E1000_EECD, 1, "EECD", 0, 0, e1000_eecd_read, e1000_eecd_write},
    {E1000_EERD, 1, "EERD", 0, 0, NULL, e1000_eerd_write},
    {E1000_CTRL_EXT, 1, "CTRL_EXT", 0, 0xffffffff, NULL, NULL},
    {0x001C, 1, "FLA", 0, 0xffffffff, NULL, NULL},
    {E1000_MDIC, 1, "MDIC", 0, 0, NULL, e1000_mdic_write},
    {0x0028, 1, "FCAL", 0, 0xffffffff, NULL, NULL},
    {0x002C, 1, "FCAH", 0, 0xffff, NULL, NULL},
    {0x0030, 1, "FCT", 0, 0xffff, NULL, NULL},
    {E1000_VET, 1, "VET", 0x8100, 0xffff, NULL, NULL},
    {E1000_ICR, 1, "ICR", 0, 0, e1000_icr_read, e1000_icr_write},
    {E1000_ITR, 1, "ITR", 0, 0xffff, NULL, NULL},
    {E1000_ICS, 1, "ICS", 0, 0, RD_ZERO, e1000_ics_write},
    {E1000_IMS, 1, "IMS", 0, 0, e1000_ims_read, e1000_ims_write},
    {E1000_IMC, 1, "IMC", 0, 0, RD_ZERO, e1000_imc_write},
    {E1000_RCTL, 1, "RCTL", 0, 0x07fffffe, NULL, e1000_rx_write_ring},
    {0x0170, 1, "FCTTV", 0, 0xffff, NULL, NULL},
    {0x0178, 1, "TXCW", 0, 0xffffffff, NULL, NULL},
    {0x0180, 1, "RXCW", 0, 0, NULL, NULL},
    {E1000_TCTL, 1, "TCTL", E1000_TCTL_PSP, 0xffffffff, NULL, e1000_tx_write_doorbell},
    {E1000_TIPG, 1, "TIPG", 0, 0xffffffff, NULL, NULL},
    {0x0458, 1, "AIT", 0, 0xffff, NULL, NULL},
    {0x0E00, 1, "LEDCTL", 0x07068302, 0xffffffff, NULL, NULL},
    {0x1000, 1, "PBA", 0x00100030, 0xffff, NULL, NULL},
    {0x2160, 1, "FCRTL", 0, 0x8000fff8, NULL, NULL},
    {0x2168, 1, "FCRTH", 0, 0xfff8, NULL, NULL},
    {E1000_RDBAL, 1, "RDBAL", 0, 0xfffffff0, NULL, NULL},
    {E1000_RDBAH, 1, "RDBAH", 0, 0xffffffff, NULL, NULL},
    {E1000_RDLEN, 1, "RDLEN", 0, 0x000fff80, NULL, e1000_rx_write_ring},
    {E1000_RDH, 1, "RDH", 0, 0xffff, NULL, e1000_rx_write_ring},
    {E1000_RDT, 1, "RDT", 0, 0xffff, NULL, e1000_rx_write_ring},
    {E1000_RDTR, 1, "RDTR", 0, 0x8000ffff, NULL, NULL},
    {0x2828, 1, "RXDCTL", 0x00010000, 0xffffffff, NULL, NULL},
    {0x282C, 1, "RADV", 0, 0xffff, NULL, NULL},
    {0x2C00, 1, "RSRPD", 0, 0xfff, NULL, NULL},
    {E1000_TDBAL, 1, "TDBAL", 0, 0xfffffff0, NULL, NULL},
    {E1000_TDBAH, 1, "TDBAH", 0, 0xffffffff, NULL, NULL},
    {E1000_TDLEN, 1, "TDLEN", 0, 0x000fff80, NULL, NULL},
    {E1000_TDH, 1, "TDH", 0, 0xffff, NULL, NULL},
    {E1000_TDT, 1, "TDT", 0, 0xffff, NULL, e1000_tx_write_doorbell},
    {E1000_TIDV, 1, "TIDV", 0, 0xffff, NULL, NULL},
    {0x3828, 1, "TXDCTL", 0x00010000, 0xffffffff, NULL, NULL},
    {0x382C, 1, "TADV", 0, 0xffff, NULL, NULL},
    {0x3830, 1, "TSPMT", 0x01000400, 0xffffffff, NULL, NULL},
    {STATS_BASE, 64, "STATS", 0, 0, e1000_stats_read, WR_IGNORE},
    {E1000_RXCSUM, 1, "RXCSUM", 0x300, 0x7ff, NULL, NULL},
    {E1000_MTA, 128, "MTA", 0, 0xffffffff, NULL, NULL},
    {0x5400, 32, "RA", 0, 0xffffffff, NULL, NULL},
    {E1000_VFTA, 128, "VFTA", 0, 0xffffffff, NULL, NULL},
    {0x5800, 1, "WUC", 0, 0xffffffff, NULL, NULL},
    {0x5808, 1, "WUFC", 0, 0xffffffff, NULL, NULL},
    {0x5810, 1, "WUS", 0, 0, NULL, NULL},
    {0x5820, 1, "MANC", 0, 0xffffffff, NULL, NULL},
    {0x5838, 1, "IPAV", 0, 0xffffffff, NULL, NULL},
};

_Static_assert(ARRAY_SIZE(e1000_regs) == E1000_NR_REG_ROWS,
	       "E1000_NR_REG_ROWS is the table's size");
_Static_assert(E1000_NR_REG_ROWS < 256, "e1000_reg_index holds rows as uint8_t");

/* dword index -> row of e1000_regs (0: not modelled), built once. */
static uint8_t e1000_reg_index[E1000_NREGS];
static pthread_once_t e1000_reg_index_once = PTHREAD_ONCE_INIT;

static void e1000_build_reg_index(void)
{
	for (unsigned int r = 1; r < E1000_NR_REG_ROWS; r++)
		for (uint32_t i = 0; i < e1000_regs[r].count; i++)
			e1000_reg_index[e1000_regs[r].offset / 4 + i] = (uint8_t)r;
}

uint32_t e1000_reg_read(struct e1000 *e, uint32_t off)
{
	unsigned int r = e1000_reg_index[off / 4];

	e->reads[r]++;
	counter_add(&e->counters.register_exits, 1);
	if (e1000_regs[r].read)
		return e1000_regs[r].read(e, off);
	return E1000_REG(e, off);
}

void e1000_reg_write(struct e1000 *e, uint32_t off, uint32_t val)
{
	unsigned int r = e1000_reg_index[off / 4];

	e->writes[r]++;
	counter_add(&e->counters.register_exits, 1);
	if (e1000_regs[r].write)
		e1000_regs[r].write(e, off, val);
	else
		e1000_reg_store(e, off, val);
}

void e1000_reg_store(struct e1000 *e, uint32_t off, uint32_t val)
{
	uint32_t wmask = e1000_regs[e1000_reg_index[off / 4]].wmask;

	E1000_REG(e, off) = (E1000_REG(e, off) & ~wmask) | (val & wmask);
}

static uint32_t e1000_read_zero(struct e1000 *e, uint32_t off)
{
	(void)e;
	(void)off;
	return 0;
}

static void e1000_write_ignore(struct e1000 *e, uint32_t off, uint32_t val)
{
	(void)e;
	(void)off;
	(void)val;
}

/* ---- EEPROM ---- */

void e1000_eeprom_image(const uint8_t mac[6], uint16_t w[E1000_EEPROM_WORDS])
{
	uint16_t sum = 0;

	memset(w, 0, E1000_EEPROM_WORDS * sizeof(w[0]));
	for (int i = 0; i < 3; i++)
		w[i] = get_le16(mac + 2 * i);
	w[0x08] = 0x2000; /* part number, shown by ethtool only */
	w[0x0A] = 0x4408; /* init control 1: defaults for a copper 82540EM */
	w[0x0B] = 0x0000; /* subsystem ID */
	w[0x0C] = 0x8086; /* subsystem vendor */
	w[0x0D] = E1000_DEVICE_ID;
	w[0x0E] = E1000_VENDOR_ID;
	w[0x0F] = 0x0000; /* init control 2: no flow control (pause) */
	for (int i = 0; i < E1000_EEPROM_WORDS - 1; i++)
		sum += w[i];
	w[E1000_EEPROM_WORDS - 1] = (uint16_t)(E1000_EEPROM_SUM - sum);
}

static void e1000_microwire_reset(struct e1000_microwire *mw)
{
	mw->in_bits = mw->in_count = 0;
	mw->reading = false;
	mw->dout = 1; /* DO idles high (ready) between commands */
}

/* One bit shifted in on DI: after opcode and address, a read starts. */
static void e1000_microwire_shift_in(struct e1000_microwire *mw, bool di)
{
	mw->in_bits = (mw->in_bits << 1) | di;
	if (++mw->in_count != MICROWIRE_OPCODE_BITS + MICROWIRE_ADDR_BITS)
		return;
	if ((mw->in_bits >> MICROWIRE_ADDR_BITS) == MICROWIRE_READ_OPCODE) {
		mw->reading = true;
		mw->addr = mw->in_bits & ((1u << MICROWIRE_ADDR_BITS) - 1);
		mw->out_bit = 0;
		mw->dout = 0; /* the dummy zero before the data */
	} else {
		/* Writes/erases are not supported: the EEPROM is read-only. */
		mw->in_bits = mw->in_count = 0;
	}
}

/*
 * Linux drives the 82540EM's Microwire EEPROM by toggling EECD bits: with
 * CS high, each rising SK edge shifts DI in (3 opcode bits, 6 address bits)
 * and then shifts the addressed word out on DO, MSB first.  Reads continue
 * into the next word; dropping CS ends the command.
 */
static void e1000_eecd_write(struct e1000 *e, uint32_t off, uint32_t val)
{
	struct e1000_microwire *mw = &e->mw;
	bool rising = !(mw->eecd & E1000_EECD_SK) && (val & E1000_EECD_SK);

	(void)off;
	mw->eecd = val & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_REQ);
	if (!(val & E1000_EECD_CS)) {
		e1000_microwire_reset(mw);
		return;
	}
	if (!rising)
		return;
	if (!mw->reading) {
		e1000_microwire_shift_in(mw, val & E1000_EECD_DI);
		return;
	}
	mw->dout = (e->eeprom[mw->addr] >> (15 - mw->out_bit)) & 1;
	if (++mw->out_bit == 16) {
		mw->out_bit = 0;
		mw->addr = (mw->addr + 1) % E1000_EEPROM_WORDS;
	}
}

static uint32_t e1000_eecd_read(struct e1000 *e, uint32_t off)
{
	uint32_t v = e->mw.eecd | E1000_EECD_PRES | EECD_FWE_DISABLED;

	(void)off;
	if (v & E1000_EECD_REQ)
		v |= E1000_EECD_GNT; /* no firmware competes for the EEPROM */
	if (e->mw.dout)
		v |= E1000_EECD_DO;
	return v;
}

static void e1000_eerd_write(struct e1000 *e, uint32_t off, uint32_t val)
{
	unsigned int addr = (val >> E1000_EERD_ADDR_SHIFT) & 0xff;
	uint16_t data = addr < E1000_EEPROM_WORDS ? e->eeprom[addr] : 0;

	(void)off;
	if (!(val & E1000_EERD_START)) {
		E1000_REG(e, E1000_EERD) = val & ~E1000_EERD_DONE;
		return;
	}
	E1000_REG(e, E1000_EERD) = (uint32_t)data << E1000_EERD_DATA_SHIFT |
				   addr << E1000_EERD_ADDR_SHIFT | E1000_EERD_DONE;
}

/* ---- PHY (Marvell 88E1011 behind MDIC) ---- */

static const uint16_t e1000_phy_reset_values[E1000_PHY_REGS] = {
    [0] = 0x1140, /* autoneg on, full duplex, 1000 Mb/s */
    [1] = 0x796D, /* link up, autoneg complete, capabilities */
    [2] = E1000_PHY_ID >> 16,
    [3] = E1000_PHY_ID & 0xffff,
    [4] = 0x0DE1, /* advertised abilities */
    [5] = 0x45E1, /* link partner abilities */
    [6] = 0x000F,
    [9] = 0x0E00,  /* 1000BASE-T control */
    [10] = 0x3C00, /* 1000BASE-T status: partner full/half, receivers OK */
    [15] = 0x3000, /* extended status: 1000BASE-T capable */
    [16] = 0x0068, /* M88 specific control */
    [17] = 0xAC00, /* M88 specific status: 1000/full, resolved, link up */
    [20] = 0x0C60, /* M88 extended specific control */
};

/* Registers whose value the guest cannot change (status and IDs). */
static bool e1000_phy_read_only(unsigned int reg)
{
	return reg == 1 || reg == 2 || reg == 3 || reg == 5 || reg == 6 || reg == 10 || reg == 15 ||
	       reg == 17 || reg == 19 || reg == 21;
}

static void e1000_phy_reset(struct e1000 *e)
{
	memcpy(e->phy, e1000_phy_reset_values, sizeof(e->phy));
}

static void e1000_phy_write(struct e1000 *e, unsigned int reg, uint16_t v)
{
	if (e1000_phy_read_only(reg))
		return;
	if (reg == E1000_PHY_CTRL) {
		if (v & PHY_CTRL_RESET)
			e1000_phy_reset(e);
		/* Reset and autoneg restart complete at once: the link is virtual. */
		v &= ~(PHY_CTRL_RESET | PHY_CTRL_RESTART_AN);
	}
	e->phy[reg] = v;
}

static void e1000_mdic_write(struct e1000 *e, uint32_t off, uint32_t val)
{
	unsigned int reg = (val >> E1000_MDIC_REG_SHIFT) & 0x1f;
	unsigned int phy = (val >> E1000_MDIC_PHY_SHIFT) & 0x1f;
	uint32_t op = val & (E1000_MDIC_OP_READ | E1000_MDIC_OP_WRITE);
	uint32_t result = val & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);

	(void)off;
	if (phy != E1000_PHY_ADDR || (op != E1000_MDIC_OP_READ && op != E1000_MDIC_OP_WRITE))
		result |= E1000_MDIC_ERROR;
	else if (op == E1000_MDIC_OP_READ)
		result = (result & ~0xffffu) | e->phy[reg];
	else
		e1000_phy_write(e, reg, val & 0xffff);
	/* The access completes immediately; the driver polls READY once. */
	E1000_REG(e, E1000_MDIC) = result | E1000_MDIC_READY;
	if (val & E1000_MDIC_INT_EN)
		e1000_irq_raise(e, E1000_ICR_MDAC);
}

/* ---- interrupts ---- */

/* ITR: minimum interval between interrupt assertions, in 256 ns units. */
static uint64_t e1000_itr_interval_ns(struct e1000 *e)
{
	return (uint64_t)(E1000_REG(e, E1000_ITR) & 0xffff) * 256;
}

static void e1000_irq_assert(struct e1000 *e, uint64_t now)
{
	e->irq.level = true;
	e->irq.asserted = true;
	e->irq.last_ns = now;
	e->irq.deferred = false;
	counter_add(&e->counters.irqs, 1);
	pci_set_irq(e->pci, 1);
}

/*
 * Drive INTA# from ICR & IMS.  A new assertion sooner than ITR allows after
 * the previous one is held back; the I/O thread (or e1000_rx_poll) delivers
 * it when the interval has passed, if a cause is still pending then.
 */
static void e1000_irq_update(struct e1000 *e)
{
	bool level = (e->irq.icr & e->irq.ims) != 0;
	uint64_t interval = e1000_itr_interval_ns(e), now;

	if (!level) {
		e->irq.deferred = false;
		if (e->irq.level) {
			e->irq.level = false;
			pci_set_irq(e->pci, 0);
		}
		return;
	}
	if (e->irq.level)
		return;
	now = e->now_ns();
	if (interval && e->irq.asserted && now - e->irq.last_ns < interval) {
		if (!e->irq.deferred) {
			e->irq.deferred = true;
			counter_add(&e->counters.irqs_throttled, 1);
			e1000_kick_io(e); /* it arms its timer */
		}
		return;
	}
	e1000_irq_assert(e, now);
}

void e1000_irq_raise(struct e1000 *e, uint32_t cause)
{
	e->irq.icr |= cause;
	e1000_irq_update(e);
}

int64_t e1000_irq_deferred_wait(struct e1000 *e)
{
	uint64_t due, now;

	if (!e->irq.deferred)
		return -1;
	due = e->irq.last_ns + e1000_itr_interval_ns(e);
	now = e->now_ns();
	if (now < due)
		return (int64_t)(due - now);
	e->irq.deferred = false;
	if ((e->irq.icr & e->irq.ims) && !e->irq.level)
		e1000_irq_assert(e, now);
	return -1;
}

/* Read-to-clear: the driver's read acknowledges every cause. */
static uint32_t e1000_icr_read(struct e1000 *e, uint32_t off)
{
	uint32_t v = e->irq.icr;

	(void)off;
	e->irq.icr = 0;
	e1000_irq_update(e);
	return v;
}

static void e1000_icr_write(struct e1000 *e, uint32_t off, uint32_t val)
{
	(void)off;
	e->irq.icr &= ~val; /* write-1-to-clear */
	e1000_irq_update(e);
}

static void e1000_ics_write(struct e1000 *e, uint32_t off, uint32_t val)
{
	(void)off;
	e1000_irq_raise(e, val);
}

static uint32_t e1000_ims_read(struct e1000 *e, uint32_t off)
{
	(void)off;
	return e->irq.ims;
}

static void e1000_ims_write(struct e1000 *e, uint32_t off, uint32_t val)
{
	(void)off;
	e->irq.ims |= val;
	e1000_irq_update(e);
}

static void e1000_imc_write(struct e1000 *e, uint32_t off, uint32_t val)
{
	(void)off;
	e->irq.ims &= ~val;
	e1000_irq_update(e);
}

/* ---- control, statistics, reset ---- */

static void e1000_ctrl_write(struct e1000 *e, uint32_t off, uint32_t val)
{
	if (val & E1000_CTRL_RST) {
		e1000_reset(e);
		e1000_rx_wake(e);
		return;
	}
	if (val & E1000_CTRL_PHY_RST)
		e1000_phy_reset(e);
	e1000_reg_store(e, off, val & ~(E1000_CTRL_RST | E1000_CTRL_PHY_RST));
}

/* Statistics are read-to-clear; a 64-bit pair clears when its high half is read. */
static uint32_t e1000_stats_read(struct e1000 *e, uint32_t off)
{
	uint32_t v = E1000_REG(e, off);

	switch (off) {
	case E1000_GORCH:
	case E1000_GOTCH:
	case E1000_TORH:
	case E1000_TOTH:
		E1000_REG(e, off - 4) = 0;
		break;
	case E1000_GORCL:
	case E1000_GOTCL:
	case E1000_TORL:
	case E1000_TOTL:
		return v; /* the low half alone does not clear */
	}
	E1000_REG(e, off) = 0;
	return v;
}

void e1000_regs_reset(struct e1000 *e)
{
	pthread_once(&e1000_reg_index_once, e1000_build_reg_index);
	memset(e->regs, 0, sizeof(e->regs));
	for (unsigned int r = 1; r < E1000_NR_REG_ROWS; r++)
		E1000_REG(e, e1000_regs[r].offset) = e1000_regs[r].reset;
	E1000_REG(e, E1000_STATUS) = E1000_STATUS_FD | E1000_STATUS_LU | E1000_STATUS_SPEED_1000;
	/* Like the real chip, reset reloads the station address from the EEPROM. */
	E1000_REG(e, E1000_RAL(0)) = get_le32(e->mac);
	E1000_REG(e, E1000_RAH(0)) = get_le16(e->mac + 4) | E1000_RAH_AV;
	e->irq.icr = 0;
	e->irq.ims = 0;
	e1000_irq_update(e);
	e1000_phy_reset(e);
	e1000_microwire_reset(&e->mw);
	e->mw.eecd = 0;
}
