#include "e1000.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "vm_config.h"
#include "guest_mem.h"
#include "log.h"
#include "pci.h"
#include "devices/net/tap.h"
#include "vm.h"

#define NREGS	  (E1000_MMIO_SIZE / 4)
#define DESC_SIZE 16

/* Largest frame the device accepts from the guest or the tap (jumbo 16 KiB). */
#define MAX_FRAME 16384
/* A TSO packet (headers + up to 64 KiB of payload) is assembled whole. */
#define TX_BUF_SIZE (65536 + 256)
#define ETH_HLEN    14
#define ETH_ZLEN    60
#define ETH_FCS_LEN 4
#define VLAN_HLEN   4
/* Without RCTL.LPE frames longer than a VLAN-tagged standard frame are dropped. */
#define MAX_STD_FRAME 1522

#define EECD_FWE_DISABLED     (1u << 4)
#define MICROWIRE_READ_OPCODE 0x6 /* start bit + "10" */
#define MICROWIRE_ADDR_BITS   6
#define MICROWIRE_OPCODE_BITS 3

#define PHY_REGS	    32
#define PHY_CTRL_RESET	    0x8000
#define PHY_CTRL_RESTART_AN 0x0200

/*
 * The registers minivmm models, one row per register (or register array),
 * named for the --stats exit counts.  Offsets not listed read as 0 and
 * ignore writes.
 */
struct reg_desc {
	uint32_t offset;
	uint32_t count; /* dwords */
	const char *name;
	uint32_t reset;
	uint32_t wmask; /* writable bits for plain storage registers */
	bool read_clear;
};

enum { REG_UNKNOWN = 0 };

static const struct reg_desc reg_descs[] = {
    {0, 0, "other", 0, 0, false},
    {E1000_CTRL, 1, "CTRL", E1000_CTRL_FD | E1000_CTRL_SLU | 0x200, 0xffffffff, false},
    {E1000_STATUS, 1, "STATUS", 0, 0, false},
    {E1000_EECD, 1, "EECD", 0, 0, false},
    {E1000_EERD, 1, "EERD", 0, 0, false},
    {E1000_CTRL_EXT, 1, "CTRL_EXT", 0, 0xffffffff, false},
    {0x001C, 1, "FLA", 0, 0xffffffff, false},
    {E1000_MDIC, 1, "MDIC", 0, 0, false},
    {0x0028, 1, "FCAL", 0, 0xffffffff, false},
    {0x002C, 1, "FCAH", 0, 0xffff, false},
    {0x0030, 1, "FCT", 0, 0xffff, false},
    {E1000_VET, 1, "VET", 0x8100, 0xffff, false},
    {E1000_ICR, 1, "ICR", 0, 0, false},
    {E1000_ITR, 1, "ITR", 0, 0xffff, false},
    {E1000_ICS, 1, "ICS", 0, 0, false},
    {E1000_IMS, 1, "IMS", 0, 0, false},
    {E1000_IMC, 1, "IMC", 0, 0, false},
    {E1000_RCTL, 1, "RCTL", 0, 0x07fffffe, false},
    {0x0170, 1, "FCTTV", 0, 0xffff, false},
    {0x0178, 1, "TXCW", 0, 0xffffffff, false},
    {0x0180, 1, "RXCW", 0, 0, false},
    {E1000_TCTL, 1, "TCTL", E1000_TCTL_PSP, 0xffffffff, false},
    {E1000_TIPG, 1, "TIPG", 0, 0xffffffff, false},
    {0x0458, 1, "AIT", 0, 0xffff, false},
    {0x0E00, 1, "LEDCTL", 0x07068302, 0xffffffff, false},
    {0x1000, 1, "PBA", 0x00100030, 0xffff, false},
    {0x2160, 1, "FCRTL", 0, 0x8000fff8, false},
    {0x2168, 1, "FCRTH", 0, 0xfff8, false},
    {E1000_RDBAL, 1, "RDBAL", 0, 0xfffffff0, false},
    {E1000_RDBAH, 1, "RDBAH", 0, 0xffffffff, false},
    {E1000_RDLEN, 1, "RDLEN", 0, 0x000fff80, false},
    {E1000_RDH, 1, "RDH", 0, 0xffff, false},
    {E1000_RDT, 1, "RDT", 0, 0xffff, false},
    {E1000_RDTR, 1, "RDTR", 0, 0x8000ffff, false},
    {0x2828, 1, "RXDCTL", 0x00010000, 0xffffffff, false},
    {0x282C, 1, "RADV", 0, 0xffff, false},
    {0x2C00, 1, "RSRPD", 0, 0xfff, false},
    {E1000_TDBAL, 1, "TDBAL", 0, 0xfffffff0, false},
    {E1000_TDBAH, 1, "TDBAH", 0, 0xffffffff, false},
    {E1000_TDLEN, 1, "TDLEN", 0, 0x000fff80, false},
    {E1000_TDH, 1, "TDH", 0, 0xffff, false},
    {E1000_TDT, 1, "TDT", 0, 0xffff, false},
    {E1000_TIDV, 1, "TIDV", 0, 0xffff, false},
    {0x3828, 1, "TXDCTL", 0x00010000, 0xffffffff, false},
    {0x382C, 1, "TADV", 0, 0xffff, false},
    {0x3830, 1, "TSPMT", 0x01000400, 0xffffffff, false},
    {0x4000, 64, "STATS", 0, 0, true},
    {E1000_RXCSUM, 1, "RXCSUM", 0x300, 0x7ff, false},
    {E1000_MTA, 128, "MTA", 0, 0xffffffff, false},
    {0x5400, 32, "RA", 0, 0xffffffff, false},
    {E1000_VFTA, 128, "VFTA", 0, 0xffffffff, false},
    {0x5800, 1, "WUC", 0, 0xffffffff, false},
    {0x5808, 1, "WUFC", 0, 0xffffffff, false},
    {0x5810, 1, "WUS", 0, 0, false},
    {0x5820, 1, "MANC", 0, 0xffffffff, false},
    {0x5838, 1, "IPAV", 0, 0xffffffff, false},
};

#define NR_REG_DESCS (sizeof(reg_descs) / sizeof(reg_descs[0]))

/* dword index -> row of reg_descs (0: unknown), built once. */
static uint8_t reg_index[NREGS];
static pthread_once_t reg_index_once = PTHREAD_ONCE_INIT;

static void build_reg_index(void)
{
	for (unsigned int r = 1; r < NR_REG_DESCS; r++)
		for (uint32_t i = 0; i < reg_descs[r].count; i++)
			reg_index[reg_descs[r].offset / 4 + i] = r;
}

struct tx_context {
	uint8_t ipcss, ipcso, tucss, tucso;
	uint16_t ipcse, tucse;
	uint32_t paylen;
	uint8_t tucmd; /* TUCMD byte: TCP, IP, TSE */
	uint8_t hdr_len;
	uint16_t mss;
};

struct e1000 {
	struct vm *vm;
	struct pci_device *pci;
	struct tap tap;
	uint8_t mac[6];
	char name[16];

	pthread_mutex_t lock; /* everything below; vCPU threads vs RX thread */
	uint32_t regs[NREGS];
	uint32_t icr, ims;
	int irq_level;
	bool irq_deferred; /* held back by ITR */
	uint64_t last_irq_ns;
	uint64_t (*now_ns)(void);
	uint16_t eeprom[E1000_EEPROM_WORDS];
	uint16_t phy[PHY_REGS];
	uint32_t io_addr; /* IOADDR of the I/O BAR */

	/* Microwire EEPROM bit-banging state. */
	struct {
		uint32_t eecd; /* SK, CS, DI, REQ as last written */
		uint32_t in_bits, in_count;
		bool reading;
		unsigned int addr, out_bit;
		int dout;
	} mw;

	/* Transmit: the packet being gathered from descriptors. */
	struct tx_context ctx;
	uint8_t *tx_buf;
	uint32_t tx_len;
	bool tx_in_packet, tx_bad;
	uint8_t tx_popts;
	bool tx_tse, tx_vle, tx_legacy_ic;
	uint8_t tx_css, tx_cso;
	uint16_t tx_vlan;
	uint8_t *seg_buf;
	uint8_t *vlan_buf;

	/* Receive. */
	uint8_t *rx_buf;
	size_t rx_pending; /* bytes of a frame read but not yet delivered */
	bool rx_blocked;   /* the RX thread waits for descriptors */
	bool rx_dead;	   /* reading the tap failed for good */

	/* I/O thread. */
	bool has_thread;
	pthread_t thread;
	int wake_fd;
	bool stopping;

	/* --stats */
	uint64_t reads[NR_REG_DESCS], writes[NR_REG_DESCS];
	uint64_t tx_packets, tx_bytes, tx_segments, tx_dropped, tx_desc_errors, tx_tap_errors;
	uint64_t rx_packets, rx_bytes, rx_dropped, rx_filtered, rx_desc_errors, irqs;
	uint64_t irqs_throttled;
	uint64_t bad_accesses;
};

#define REG(e, off) ((e)->regs[(off) / 4])

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

static void microwire_reset(struct e1000 *e)
{
	e->mw.in_bits = e->mw.in_count = 0;
	e->mw.reading = false;
	e->mw.dout = 1; /* DO idles high (ready) between commands */
}

/*
 * Linux drives the 82540EM's Microwire EEPROM by toggling EECD bits: with
 * CS high, each rising SK edge shifts DI in (3 opcode bits, 6 address bits)
 * and then shifts the addressed word out on DO, MSB first.  Reads continue
 * into the next word; dropping CS ends the command.
 */
static void eecd_write(struct e1000 *e, uint32_t val)
{
	uint32_t old = e->mw.eecd;
	bool rising = !(old & E1000_EECD_SK) && (val & E1000_EECD_SK);

	e->mw.eecd = val & (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | E1000_EECD_REQ);
	if (!(val & E1000_EECD_CS)) {
		microwire_reset(e);
		return;
	}
	if (!rising)
		return;
	if (e->mw.reading) {
		uint16_t word = e->eeprom[e->mw.addr];

		e->mw.dout = (word >> (15 - e->mw.out_bit)) & 1;
		if (++e->mw.out_bit == 16) {
			e->mw.out_bit = 0;
			e->mw.addr = (e->mw.addr + 1) % E1000_EEPROM_WORDS;
		}
		return;
	}
	e->mw.in_bits = (e->mw.in_bits << 1) | !!(val & E1000_EECD_DI);
	e->mw.in_count++;
	if (e->mw.in_count == MICROWIRE_OPCODE_BITS + MICROWIRE_ADDR_BITS) {
		if ((e->mw.in_bits >> MICROWIRE_ADDR_BITS) == MICROWIRE_READ_OPCODE) {
			e->mw.reading = true;
			e->mw.addr = e->mw.in_bits & ((1u << MICROWIRE_ADDR_BITS) - 1);
			e->mw.out_bit = 0;
			e->mw.dout = 0; /* the dummy zero before the data */
		} else {
			/* Writes/erases are not supported: the EEPROM is read-only. */
			e->mw.in_bits = e->mw.in_count = 0;
		}
	}
}

static uint32_t eecd_read(struct e1000 *e)
{
	uint32_t v = e->mw.eecd | E1000_EECD_PRES | EECD_FWE_DISABLED;

	if (v & E1000_EECD_REQ)
		v |= E1000_EECD_GNT; /* no firmware competes for the EEPROM */
	if (e->mw.dout)
		v |= E1000_EECD_DO;
	return v;
}

static void eerd_write(struct e1000 *e, uint32_t val)
{
	unsigned int addr = (val >> E1000_EERD_ADDR_SHIFT) & 0xff;
	uint16_t data = addr < E1000_EEPROM_WORDS ? e->eeprom[addr] : 0;

	if (!(val & E1000_EERD_START)) {
		REG(e, E1000_EERD) = val & ~E1000_EERD_DONE;
		return;
	}
	REG(e, E1000_EERD) = (uint32_t)data << E1000_EERD_DATA_SHIFT |
			     addr << E1000_EERD_ADDR_SHIFT | E1000_EERD_DONE;
}

/* ---- PHY (Marvell 88E1011 behind MDIC) ---- */

static const uint16_t phy_reset_values[PHY_REGS] = {
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
static bool phy_read_only(unsigned int reg)
{
	return reg == 1 || reg == 2 || reg == 3 || reg == 5 || reg == 6 || reg == 10 || reg == 15 ||
	       reg == 17 || reg == 19 || reg == 21;
}

static void phy_reset(struct e1000 *e)
{
	memcpy(e->phy, phy_reset_values, sizeof(e->phy));
}

static void update_irq(struct e1000 *e);

static void mdic_write(struct e1000 *e, uint32_t val)
{
	unsigned int reg = (val >> E1000_MDIC_REG_SHIFT) & 0x1f;
	unsigned int phy = (val >> E1000_MDIC_PHY_SHIFT) & 0x1f;
	uint32_t op = val & (E1000_MDIC_OP_READ | E1000_MDIC_OP_WRITE);
	uint32_t result = val & ~(E1000_MDIC_READY | E1000_MDIC_ERROR);

	if (phy != E1000_PHY_ADDR || (op != E1000_MDIC_OP_READ && op != E1000_MDIC_OP_WRITE)) {
		result |= E1000_MDIC_ERROR;
	} else if (op == E1000_MDIC_OP_READ) {
		result = (result & ~0xffffu) | e->phy[reg];
	} else if (!phy_read_only(reg)) {
		uint16_t v = val & 0xffff;

		if (reg == E1000_PHY_CTRL) {
			if (v & PHY_CTRL_RESET)
				phy_reset(e);
			/* Reset and autoneg restart complete at once: the link is virtual. */
			v &= ~(PHY_CTRL_RESET | PHY_CTRL_RESTART_AN);
		}
		e->phy[reg] = v;
	}
	/* The access completes immediately; the driver polls READY once. */
	REG(e, E1000_MDIC) = result | E1000_MDIC_READY;
	if (val & E1000_MDIC_INT_EN) {
		e->icr |= E1000_ICR_MDAC;
		update_irq(e);
	}
}

/* ---- interrupts ---- */

static uint64_t monotonic_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void kick_thread(struct e1000 *e)
{
	uint64_t one = 1;

	if (e->wake_fd >= 0 && write(e->wake_fd, &one, sizeof(one)) < 0)
		e->bad_accesses++; /* eventfd counter full: the thread is woken anyway */
}

/* ITR: minimum interval between interrupt assertions, in 256 ns units. */
static uint64_t itr_interval_ns(struct e1000 *e)
{
	return (uint64_t)(REG(e, E1000_ITR) & 0xffff) * 256;
}

/*
 * Drive INTA# from ICR & IMS.  A new assertion sooner than ITR allows after
 * the previous one is deferred; the I/O thread (or e1000_rx_poll) delivers
 * it when the interval has passed, if a cause is still pending then.
 */
static void update_irq(struct e1000 *e)
{
	int level = (e->icr & e->ims) != 0;
	uint64_t interval = itr_interval_ns(e), now = 0;

	if (!level) {
		e->irq_deferred = false;
	} else if (!e->irq_level && interval && e->irqs) {
		now = e->now_ns();
		if (now - e->last_irq_ns < interval) {
			if (!e->irq_deferred) {
				e->irq_deferred = true;
				e->irqs_throttled++;
				kick_thread(e); /* it recomputes its poll timeout */
			}
			return;
		}
	}
	if (level != e->irq_level) {
		e->irq_level = level;
		if (level) {
			e->irqs++;
			e->last_irq_ns = now ? now : e->now_ns();
			e->irq_deferred = false;
		}
		pci_set_irq(e->pci, level);
	}
}

/* Nanoseconds until a deferred interrupt is due (0: due now), or -1 if none. */
static int64_t deferred_irq_wait(struct e1000 *e)
{
	uint64_t due, now;

	if (!e->irq_deferred)
		return -1;
	due = e->last_irq_ns + itr_interval_ns(e);
	now = e->now_ns();
	if (now >= due) {
		e->irq_deferred = false;
		if ((e->icr & e->ims) && !e->irq_level) {
			e->irq_level = 1;
			e->irqs++;
			e->last_irq_ns = now;
			pci_set_irq(e->pci, 1);
		}
		return -1;
	}
	return (int64_t)(due - now);
}

static void raise_cause(struct e1000 *e, uint32_t cause)
{
	e->icr |= cause;
	update_irq(e);
}

/* ---- statistics ---- */

static void stat_add(struct e1000 *e, uint32_t off, uint32_t n)
{
	uint32_t *r = &REG(e, off);

	/* Counters saturate instead of wrapping, as the 8254x's do. */
	*r = *r > UINT32_MAX - n ? UINT32_MAX : *r + n;
}

static void stat_add64(struct e1000 *e, uint32_t low, uint64_t n)
{
	uint64_t v = REG(e, low) | (uint64_t)REG(e, low + 4) << 32;

	v += n;
	REG(e, low) = (uint32_t)v;
	REG(e, low + 4) = (uint32_t)(v >> 32);
}

/* PRC64/PTC64 and the five size bins after them. */
static void stat_size_bin(struct e1000 *e, uint32_t bin64, uint32_t len)
{
	static const uint32_t limits[] = {64, 127, 255, 511, 1023, 1522};

	for (unsigned int i = 0; i < 6; i++) {
		if (len <= limits[i]) {
			stat_add(e, bin64 + 4 * i, 1);
			return;
		}
	}
}

static bool is_broadcast(const uint8_t *mac)
{
	static const uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	return !memcmp(mac, bc, 6);
}

/* ---- device reset ---- */

static void load_mac_filter(struct e1000 *e)
{
	REG(e, E1000_RAL(0)) = get_le32(e->mac);
	REG(e, E1000_RAH(0)) = get_le16(e->mac + 4) | E1000_RAH_AV;
}

static void device_reset(struct e1000 *e)
{
	memset(e->regs, 0, sizeof(e->regs));
	for (unsigned int r = 1; r < NR_REG_DESCS; r++)
		REG(e, reg_descs[r].offset) = reg_descs[r].reset;
	REG(e, E1000_STATUS) = E1000_STATUS_FD | E1000_STATUS_LU | E1000_STATUS_SPEED_1000;
	/* Like the real chip, reset reloads the station address from the EEPROM. */
	load_mac_filter(e);
	e->icr = 0;
	e->ims = 0;
	update_irq(e);
	phy_reset(e);
	microwire_reset(e);
	e->mw.eecd = 0;
	memset(&e->ctx, 0, sizeof(e->ctx));
	e->tx_len = 0;
	e->tx_in_packet = e->tx_bad = false;
	e->rx_pending = 0;
}

/* ---- checksums ---- */

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get_be16(p + i);
	if (len & 1)
		sum += p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/*
 * Insert ~sum(frame[start..end]) at offset `at`, as the context (or legacy)
 * descriptor asks; end == 0 means the end of the frame.  Extra is added to
 * the sum (TSO adds each segment's L4 length to the pseudo header).  False
 * if the offsets do not fit the frame; the frame then goes out unchanged.
 */
static bool insert_csum(uint8_t *frame, uint32_t len, uint32_t start, uint32_t end, uint32_t at,
			uint32_t extra, bool zero_field)
{
	uint32_t last = end ? end : len - 1;
	uint16_t c;

	if (start > last || last >= len || at + 2 > len || at < start)
		return false;
	if (zero_field)
		put_be16(frame + at, 0);
	c = ~csum_fold(csum_add(extra, frame + start, last - start + 1));
	put_be16(frame + at, c);
	return true;
}

/* ---- transmit ---- */

static void tx_frame(struct e1000 *e, const uint8_t *frame, uint32_t len)
{
	uint8_t *tagged = e->vlan_buf;
	uint8_t padded[ETH_ZLEN];
	ssize_t n;

	if (e->tx_vle && (REG(e, E1000_CTRL) & E1000_CTRL_VME) && len >= 12 && len <= MAX_FRAME) {
		memcpy(tagged, frame, 12);
		put_be16(tagged + 12, REG(e, E1000_VET) & 0xffff);
		put_be16(tagged + 14, e->tx_vlan);
		memcpy(tagged + 16, frame + 12, len - 12);
		frame = tagged;
		len += VLAN_HLEN;
	}
	if (len < ETH_ZLEN && (REG(e, E1000_TCTL) & E1000_TCTL_PSP)) {
		memset(padded, 0, sizeof(padded));
		memcpy(padded, frame, len);
		frame = padded;
		len = ETH_ZLEN;
	}
	n = tap_write(&e->tap, frame, len);
	if (n != (ssize_t)len) {
		/* A full tap queue drops the frame: the vCPU never waits for the host. */
		e->tx_tap_errors++;
		return;
	}
	e->tx_packets++;
	e->tx_bytes += len;
	stat_add(e, E1000_GPTC, 1);
	stat_add(e, E1000_TPT, 1);
	stat_add64(e, E1000_GOTCL, len + ETH_FCS_LEN);
	stat_add64(e, E1000_TOTL, len + ETH_FCS_LEN);
	stat_size_bin(e, E1000_PTC64, len + ETH_FCS_LEN);
	if (frame[0] & 1)
		stat_add(e, is_broadcast(frame) ? E1000_BPTC : E1000_MPTC, 1);
}

static void tx_offload_csums(struct e1000 *e, uint8_t *frame, uint32_t len)
{
	const struct tx_context *c = &e->ctx;

	if (e->tx_popts & E1000_TXD_POPTS_IXSM)
		insert_csum(frame, len, c->ipcss, c->ipcse, c->ipcso, 0, true);
	if (e->tx_popts & E1000_TXD_POPTS_TXSM)
		insert_csum(frame, len, c->tucss, c->tucse, c->tucso, 0, false);
}

/*
 * TCP segmentation: the packet is one header of hdr_len bytes plus payload;
 * each segment gets the header with IP length/ID, TCP sequence number and
 * flags fixed up, and fresh checksums.  The driver leaves in the TCP
 * checksum field the pseudo-header sum without the length, which differs
 * per segment and is added here.
 */
static void tx_tso(struct e1000 *e)
{
	const struct tx_context *c = &e->ctx;
	uint32_t hdr = c->hdr_len, mss = c->mss, total = e->tx_len;
	bool ipv4 = c->tucmd & (E1000_TXD_CMD_IP >> 24), tcp = c->tucmd & (E1000_TXD_CMD_TCP >> 24);
	uint32_t off, seq = 0, pseudo;
	uint16_t ip_id = 0;
	uint8_t *seg = e->seg_buf;

	if (hdr == 0 || mss == 0 || hdr > total || hdr + mss > MAX_FRAME || c->ipcss + 20u > hdr ||
	    c->tucss + (tcp ? 20u : 8u) > hdr || c->tucso + 2u > hdr || c->tucso < c->tucss ||
	    (ipv4 && c->ipcso + 2u > hdr) || c->tucss < c->ipcss) {
		stat_add(e, E1000_TSCTFC, 1);
		e->tx_dropped++;
		return;
	}
	stat_add(e, E1000_TSCTC, 1);
	if (tcp)
		seq = get_be32(e->tx_buf + c->tucss + 4);
	if (ipv4)
		ip_id = get_be16(e->tx_buf + c->ipcss + 4);
	pseudo = get_be16(e->tx_buf + c->tucso);
	off = hdr;
	do {
		uint32_t chunk = total - off < mss ? total - off : mss;
		uint32_t len = hdr + chunk, l4len = len - c->tucss;
		bool last = off + chunk >= total;

		memcpy(seg, e->tx_buf, hdr);
		memcpy(seg + hdr, e->tx_buf + off, chunk);
		if (ipv4) {
			put_be16(seg + c->ipcss + 2, len - c->ipcss);
			put_be16(seg + c->ipcss + 4, ip_id++);
		} else {
			/* IPv6 payload length excludes the 40-byte fixed header. */
			put_be16(seg + c->ipcss + 4, len - c->ipcss - 40);
		}
		if (tcp) {
			put_be32(seg + c->tucss + 4, seq + (off - hdr));
			if (!last)
				seg[c->tucss + 13] &= ~0x09; /* FIN and PSH only on the last */
		} else {
			put_be16(seg + c->tucss + 4, l4len);
		}
		if (ipv4 && (e->tx_popts & E1000_TXD_POPTS_IXSM))
			insert_csum(seg, len, c->ipcss, c->ipcse, c->ipcso, 0, true);
		if (e->tx_popts & E1000_TXD_POPTS_TXSM) {
			put_be16(seg + c->tucso, 0);
			insert_csum(seg, len, c->tucss, 0, c->tucso, pseudo + l4len, false);
		}
		tx_frame(e, seg, len);
		e->tx_segments++;
		off += chunk;
	} while (off < total);
}

static void tx_finish_packet(struct e1000 *e)
{
	if (e->tx_bad || e->tx_len == 0) {
		e->tx_dropped++;
	} else if (e->tx_tse) {
		tx_tso(e);
	} else if (e->tx_len > MAX_FRAME) {
		e->tx_dropped++;
	} else {
		if (e->tx_legacy_ic)
			insert_csum(e->tx_buf, e->tx_len, e->tx_css, 0, e->tx_cso, 0, false);
		else
			tx_offload_csums(e, e->tx_buf, e->tx_len);
		tx_frame(e, e->tx_buf, e->tx_len);
	}
	e->tx_len = 0;
	e->tx_in_packet = e->tx_bad = false;
}

static void tx_gather(struct e1000 *e, uint64_t addr, uint32_t len)
{
	const void *src;

	if (len == 0 || e->tx_bad)
		return;
	if (len > TX_BUF_SIZE - e->tx_len) {
		e->tx_bad = true;
		return;
	}
	src = guest_mem_ptr(&e->vm->mem, addr, len);
	if (!src) {
		e->tx_desc_errors++;
		e->tx_bad = true;
		return;
	}
	memcpy(e->tx_buf + e->tx_len, src, len);
	e->tx_len += len;
}

static void tx_context_desc(struct e1000 *e, const uint8_t *d)
{
	struct tx_context *c = &e->ctx;
	uint32_t cmd_len = get_le32(d + 8);

	c->ipcss = d[0];
	c->ipcso = d[1];
	c->ipcse = get_le16(d + 2);
	c->tucss = d[4];
	c->tucso = d[5];
	c->tucse = get_le16(d + 6);
	c->paylen = cmd_len & E1000_TXD_LEN_MASK;
	c->tucmd = cmd_len >> 24;
	c->hdr_len = d[13];
	c->mss = get_le16(d + 14);
}

/* Consume one descriptor; returns whether it asked for status write-back. */
static bool tx_desc(struct e1000 *e, const uint8_t *d)
{
	uint32_t cmd_len = get_le32(d + 8);
	bool first = !e->tx_in_packet;

	if (!(cmd_len & E1000_TXD_CMD_DEXT)) {
		/* Legacy: length 15:0, CSO, CMD, status, CSS, special. */
		if (first) {
			e->tx_legacy_ic = cmd_len & E1000_TXD_CMD_IC;
			e->tx_cso = d[10];
			e->tx_css = d[13];
			e->tx_tse = false;
			e->tx_popts = 0;
		}
		e->tx_in_packet = true;
		tx_gather(e, get_le64(d), cmd_len & 0xffff);
	} else if (!(cmd_len & E1000_TXD_DTYP_DATA)) {
		tx_context_desc(e, d);
		return cmd_len & E1000_TXD_CMD_RS;
	} else {
		if (first) {
			e->tx_legacy_ic = false;
			e->tx_popts = d[13];
			e->tx_tse = cmd_len & E1000_TXD_CMD_TSE;
		}
		e->tx_in_packet = true;
		tx_gather(e, get_le64(d), cmd_len & E1000_TXD_LEN_MASK);
	}
	if (cmd_len & E1000_TXD_CMD_EOP) {
		e->tx_vle = cmd_len & E1000_TXD_CMD_VLE;
		e->tx_vlan = get_le16(d + 14);
		tx_finish_packet(e);
	}
	return cmd_len & E1000_TXD_CMD_RS;
}

static uint64_t ring_base(struct e1000 *e, uint32_t bal)
{
	return (uint64_t)REG(e, bal + 4) << 32 | (REG(e, bal) & ~0xfu);
}

/* Process descriptors from TDH up to TDT; in the vCPU thread writing TDT. */
static void tx_run(struct e1000 *e)
{
	uint32_t n = REG(e, E1000_TDLEN) / DESC_SIZE;
	uint64_t base = ring_base(e, E1000_TDBAL);
	uint32_t head = REG(e, E1000_TDH), tail = REG(e, E1000_TDT);
	uint32_t cause = 0, done = 0;

	if (!(REG(e, E1000_TCTL) & E1000_TCTL_EN) || !pci_bus_master_enabled(e->pci) || n == 0)
		return;
	if (head >= n || tail >= n) {
		/* A hostile or broken driver: stall the queue, as hardware would. */
		e->tx_desc_errors++;
		return;
	}
	while (head != tail) {
		uint8_t *slot =
		    guest_mem_ptr(&e->vm->mem, base + (uint64_t)head * DESC_SIZE, DESC_SIZE);
		uint8_t d[DESC_SIZE];

		if (!slot) {
			e->tx_desc_errors++;
			break;
		}
		/* One copy: the guest may rewrite the descriptor while we look at it. */
		memcpy(d, slot, DESC_SIZE);
		if (tx_desc(e, d)) {
			slot[12] |= E1000_TXD_STAT_DD;
			cause |= E1000_ICR_TXDW;
		}
		head = (head + 1) % n;
		REG(e, E1000_TDH) = head;
		done++;
	}
	if (done && head == tail)
		cause |= E1000_ICR_TXQE;
	raise_cause(e, cause);
}

/* ---- receive ---- */

static uint32_t rx_buffer_size(uint32_t rctl)
{
	static const uint32_t sizes[2][4] = {{2048, 1024, 512, 256}, {0, 16384, 8192, 4096}};
	uint32_t s = sizes[!!(rctl & E1000_RCTL_BSEX)][(rctl >> E1000_RCTL_BSIZE_SHIFT) & 3];

	return s ? s : 2048; /* BSEX with size 00 is reserved */
}

static uint32_t mta_hash(uint32_t rctl, const uint8_t *mac)
{
	unsigned int shift = 4 - ((rctl >> E1000_RCTL_MO_SHIFT) & 3);

	return ((mac[4] >> shift) | (uint32_t)mac[5] << (8 - shift)) & 0xfff;
}

static bool rx_accept(struct e1000 *e, const uint8_t *frame)
{
	uint32_t rctl = REG(e, E1000_RCTL);

	for (unsigned int i = 0; i < 16; i++) {
		uint32_t rah = REG(e, E1000_RAH(i));

		if ((rah & E1000_RAH_AV) && get_le32(frame) == REG(e, E1000_RAL(i)) &&
		    get_le16(frame + 4) == (rah & 0xffff))
			return true;
	}
	if (is_broadcast(frame))
		return rctl & (E1000_RCTL_BAM | E1000_RCTL_MPE);
	if (frame[0] & 1) {
		uint32_t h = mta_hash(rctl, frame);

		return (rctl & E1000_RCTL_MPE) ||
		       (REG(e, E1000_MTA + 4 * (h >> 5)) >> (h & 31)) & 1;
	}
	return rctl & E1000_RCTL_UPE;
}

static uint32_t rx_free_descs(struct e1000 *e, uint32_t n)
{
	uint32_t head = REG(e, E1000_RDH), tail = REG(e, E1000_RDT);

	if (n == 0 || head >= n || tail >= n)
		return 0;
	return (tail + n - head) % n;
}

static bool rx_ready(struct e1000 *e)
{
	return (REG(e, E1000_RCTL) & E1000_RCTL_EN) && pci_bus_master_enabled(e->pci) &&
	       rx_free_descs(e, REG(e, E1000_RDLEN) / DESC_SIZE) > 0;
}

enum rx_result { RX_DELIVERED, RX_DROPPED, RX_NO_ROOM };

/*
 * Deliver one frame from the tap into the RX ring.  RX_NO_ROOM leaves the
 * frame for later (the caller stops reading the tap until RDT moves).
 */
static enum rx_result rx_deliver(struct e1000 *e, uint8_t *frame, size_t len)
{
	uint32_t rctl = REG(e, E1000_RCTL), n = REG(e, E1000_RDLEN) / DESC_SIZE;
	uint32_t bufsize = rx_buffer_size(rctl), total, need, free_descs, head;
	uint64_t base = ring_base(e, E1000_RDBAL);
	uint16_t special = 0;
	uint8_t status_extra = 0;
	uint32_t thresh;

	if (!(rctl & E1000_RCTL_EN))
		return RX_NO_ROOM;
	if (len < ETH_HLEN) {
		stat_add(e, 0x40A4 /* RUC */, 1);
		e->rx_dropped++;
		return RX_DROPPED;
	}
	if (!rx_accept(e, frame)) {
		e->rx_filtered++;
		return RX_DROPPED;
	}
	if ((REG(e, E1000_CTRL) & E1000_CTRL_VME) && len >= ETH_HLEN + VLAN_HLEN &&
	    get_be16(frame + 12) == (REG(e, E1000_VET) & 0xffff)) {
		special = get_be16(frame + 14);
		memmove(frame + 12, frame + 16, len - 16);
		len -= VLAN_HLEN;
		status_extra = E1000_RXD_STAT_VP;
	}
	/* Linux strips the FCS itself unless SECRC; the tap gives none, so add zeros. */
	total = len + ((rctl & E1000_RCTL_SECRC) ? 0 : ETH_FCS_LEN);
	if ((!(rctl & E1000_RCTL_LPE) && len + ETH_FCS_LEN > MAX_STD_FRAME) || total > MAX_FRAME) {
		stat_add(e, E1000_ROC, 1);
		e->rx_dropped++;
		return RX_DROPPED;
	}
	if (total > len)
		memset(frame + len, 0, total - len);
	need = (total + bufsize - 1) / bufsize;
	free_descs = rx_free_descs(e, n);
	if (need > free_descs) {
		stat_add(e, E1000_RNBC, 1);
		return RX_NO_ROOM;
	}
	head = REG(e, E1000_RDH);
	for (uint32_t off = 0, i = 0; i < need; i++) {
		uint8_t *d =
		    guest_mem_ptr(&e->vm->mem, base + (uint64_t)head * DESC_SIZE, DESC_SIZE);
		uint32_t chunk = total - off < bufsize ? total - off : bufsize;
		uint8_t errors = 0;
		void *dst;

		if (!d) {
			/* The ring itself is outside RAM: nothing can be written back. */
			e->rx_desc_errors++;
			e->rx_dropped++;
			return RX_DROPPED;
		}
		dst = guest_mem_ptr(&e->vm->mem, get_le64(d), chunk);
		if (dst) {
			memcpy(dst, frame + off, chunk);
		} else {
			e->rx_desc_errors++;
			errors = E1000_RXD_ERR_RXE;
		}
		put_le16(d + 8, chunk);
		put_le16(d + 10, 0);
		d[13] = errors;
		put_le16(d + 14, special);
		/* Status last: DD hands the descriptor to the driver. */
		__atomic_store_n(&d[12],
				 (uint8_t)(E1000_RXD_STAT_DD | E1000_RXD_STAT_IXSM | status_extra |
					   (i + 1 == need ? E1000_RXD_STAT_EOP : 0)),
				 __ATOMIC_RELEASE);
		off += chunk;
		head = (head + 1) % n;
		REG(e, E1000_RDH) = head;
	}
	e->rx_packets++;
	e->rx_bytes += len;
	stat_add(e, E1000_GPRC, 1);
	stat_add(e, E1000_TPR, 1);
	stat_add64(e, E1000_GORCL, len + ETH_FCS_LEN);
	stat_add64(e, E1000_TORL, len + ETH_FCS_LEN);
	stat_size_bin(e, E1000_PRC64, len + ETH_FCS_LEN);
	if (frame[0] & 1)
		stat_add(e, is_broadcast(frame) ? E1000_BPRC : E1000_MPRC, 1);
	/* RDMTS: free descriptors at or below 1/2, 1/4 or 1/8 of the ring. */
	thresh = n >> (1 + ((rctl >> E1000_RCTL_RDMTS_SHIFT) & 3));
	raise_cause(e, E1000_ICR_RXT0 | (rx_free_descs(e, n) <= thresh ? E1000_ICR_RXDMT0 : 0));
	return RX_DELIVERED;
}

int e1000_rx_poll(struct e1000 *e)
{
	int delivered = 0;

	pthread_mutex_lock(&e->lock);
	deferred_irq_wait(e);
	pthread_mutex_unlock(&e->lock);
	for (;;) {
		bool ready;

		pthread_mutex_lock(&e->lock);
		ready = rx_ready(e);
		if (ready && e->rx_pending) {
			enum rx_result r = rx_deliver(e, e->rx_buf, e->rx_pending);

			if (r == RX_NO_ROOM) {
				ready = false;
			} else {
				e->rx_pending = 0;
				delivered += r == RX_DELIVERED;
			}
		}
		e->rx_blocked = !ready;
		ready = ready && !e->rx_dead;
		pthread_mutex_unlock(&e->lock);
		if (!ready)
			break;

		ssize_t n = tap_read(&e->tap, e->rx_buf, MAX_FRAME);

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			/*
			 * The tap is gone (deleted, or EOF on a test socket): stop
			 * polling it, or poll() would report it ready forever.
			 */
			log_error("%s: reading tap %s: %s; receive stopped", e->name, e->tap.ifname,
				  n ? strerror((int)-n) : "end of file");
			pthread_mutex_lock(&e->lock);
			e->rx_dead = true;
			pthread_mutex_unlock(&e->lock);
			break;
		}
		/* Delivered on the next iteration, under the lock, or kept if no room. */
		pthread_mutex_lock(&e->lock);
		e->rx_pending = (size_t)n;
		pthread_mutex_unlock(&e->lock);
	}
	return delivered;
}

static void wake_rx(struct e1000 *e)
{
	if (e->rx_blocked) {
		e->rx_blocked = false;
		kick_thread(e);
	}
}

static void *rx_thread(void *opaque)
{
	struct e1000 *e = opaque;

	for (;;) {
		struct pollfd pfd[2] = {{e->wake_fd, POLLIN, 0}, {e->tap.fd, 0, 0}};
		struct timespec ts, *timeout = NULL;
		int64_t wait_ns;
		uint64_t v;
		bool stop;

		pthread_mutex_lock(&e->lock);
		stop = e->stopping;
		/* With no free descriptors the tap is not polled: no busy loop. */
		pfd[1].events = e->rx_blocked || e->rx_dead ? 0 : POLLIN;
		/* Sleep at most until a throttled interrupt is due. */
		wait_ns = deferred_irq_wait(e);
		pthread_mutex_unlock(&e->lock);
		if (stop)
			break;
		if (wait_ns >= 0) {
			ts.tv_sec = wait_ns / 1000000000;
			ts.tv_nsec = wait_ns % 1000000000;
			timeout = &ts;
		}
		if (ppoll(pfd, 2, timeout, NULL) < 0)
			continue;
		if (pfd[0].revents & POLLIN) {
			if (read(e->wake_fd, &v, sizeof(v)) < 0)
				v = 0;
		}
		e1000_rx_poll(e);
	}
	return NULL;
}

/* ---- register access ---- */

static uint32_t reg_read(struct e1000 *e, uint32_t off)
{
	unsigned int r = reg_index[off / 4];
	uint32_t v;

	e->reads[r]++;
	switch (off) {
	case E1000_ICR:
		/* Read-to-clear: the driver's read acknowledges every cause. */
		v = e->icr;
		e->icr = 0;
		update_irq(e);
		return v;
	case E1000_IMS:
		return e->ims;
	case E1000_ICS:
	case E1000_IMC:
		return 0; /* write-only */
	case E1000_EECD:
		return eecd_read(e);
	}
	if (r == REG_UNKNOWN)
		return 0;
	v = REG(e, off);
	if (reg_descs[r].read_clear) {
		REG(e, off) = 0;
		/* 64-bit counters: reading the high half clears both halves. */
		if (off == E1000_GORCH || off == E1000_GOTCH || off == E1000_TORH ||
		    off == E1000_TOTH)
			REG(e, off - 4) = 0;
		else if (off == E1000_GORCL || off == E1000_GOTCL || off == E1000_TORL ||
			 off == E1000_TOTL)
			REG(e, off) = v;
	}
	return v;
}

static void reg_write(struct e1000 *e, uint32_t off, uint32_t val)
{
	unsigned int r = reg_index[off / 4];

	e->writes[r]++;
	switch (off) {
	case E1000_CTRL:
		if (val & E1000_CTRL_RST) {
			device_reset(e);
			wake_rx(e);
			return;
		}
		if (val & E1000_CTRL_PHY_RST)
			phy_reset(e);
		REG(e, off) = val & ~(E1000_CTRL_RST | E1000_CTRL_PHY_RST);
		return;
	case E1000_EECD:
		eecd_write(e, val);
		return;
	case E1000_EERD:
		eerd_write(e, val);
		return;
	case E1000_MDIC:
		mdic_write(e, val);
		return;
	case E1000_ICR:
		e->icr &= ~val; /* write-1-to-clear */
		update_irq(e);
		return;
	case E1000_ICS:
		raise_cause(e, val);
		return;
	case E1000_IMS:
		e->ims |= val;
		update_irq(e);
		return;
	case E1000_IMC:
		e->ims &= ~val;
		update_irq(e);
		return;
	}
	if (r == REG_UNKNOWN || reg_descs[r].read_clear)
		return;
	REG(e, off) = (REG(e, off) & ~reg_descs[r].wmask) | (val & reg_descs[r].wmask);
	switch (off) {
	case E1000_RCTL:
	case E1000_RDT:
	case E1000_RDLEN:
	case E1000_RDH:
		wake_rx(e);
		break;
	case E1000_TDT:
	case E1000_TCTL:
		tx_run(e);
		break;
	}
}

static void e1000_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct e1000 *e = opaque;

	pthread_mutex_lock(&e->lock);
	/* The 8254x registers are 32-bit; other widths are ignored (reads give 0). */
	if (len != 4 || (offset & 3) || offset >= E1000_MMIO_SIZE) {
		e->bad_accesses++;
		if (!is_write)
			memset(data, 0, len);
	} else if (is_write) {
		reg_write(e, (uint32_t)offset, get_le32(data));
	} else {
		put_le32(data, reg_read(e, (uint32_t)offset));
	}
	pthread_mutex_unlock(&e->lock);
}

/*
 * The I/O BAR: IOADDR (offset 0) selects a register, IODATA (offset 4)
 * accesses it.  Linux resets the 82540EM through here because the chip
 * cannot acknowledge a memory write that resets it.
 */
static void e1000_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct e1000 *e = opaque;
	uint32_t addr;

	if (len != 4 || (offset != 0 && offset != 4)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (offset == 0) {
		pthread_mutex_lock(&e->lock);
		if (is_write)
			e->io_addr = get_le32(data) & (E1000_MMIO_SIZE - 4);
		else
			put_le32(data, e->io_addr);
		pthread_mutex_unlock(&e->lock);
		return;
	}
	pthread_mutex_lock(&e->lock);
	addr = e->io_addr;
	pthread_mutex_unlock(&e->lock);
	e1000_mmio(e, addr, data, len, is_write);
}

/* ---- --stats ---- */

static void print_stats(void *opaque, FILE *out)
{
	struct e1000 *e = opaque;
	uint64_t total = 0;

	pthread_mutex_lock(&e->lock);
	for (unsigned int r = 0; r < NR_REG_DESCS; r++)
		total += e->reads[r] + e->writes[r];
	fprintf(out,
		"%s: tx_packets=%llu tx_bytes=%llu tx_tso_segments=%llu tx_dropped=%llu "
		"tx_tap_errors=%llu tx_desc_errors=%llu rx_packets=%llu rx_bytes=%llu "
		"rx_dropped=%llu rx_filtered=%llu rx_desc_errors=%llu irqs=%llu "
		"irqs_throttled=%llu register_exits=%llu bad_accesses=%llu\n",
		e->name, (unsigned long long)e->tx_packets, (unsigned long long)e->tx_bytes,
		(unsigned long long)e->tx_segments, (unsigned long long)e->tx_dropped,
		(unsigned long long)e->tx_tap_errors, (unsigned long long)e->tx_desc_errors,
		(unsigned long long)e->rx_packets, (unsigned long long)e->rx_bytes,
		(unsigned long long)e->rx_dropped, (unsigned long long)e->rx_filtered,
		(unsigned long long)e->rx_desc_errors, (unsigned long long)e->irqs,
		(unsigned long long)e->irqs_throttled, (unsigned long long)total,
		(unsigned long long)e->bad_accesses);
	fprintf(out, "%s exits by register:", e->name);
	for (unsigned int r = 0; r < NR_REG_DESCS; r++) {
		if (e->reads[r])
			fprintf(out, " %s.r=%llu", reg_descs[r].name,
				(unsigned long long)e->reads[r]);
		if (e->writes[r])
			fprintf(out, " %s.w=%llu", reg_descs[r].name,
				(unsigned long long)e->writes[r]);
	}
	fprintf(out, "\n");
	pthread_mutex_unlock(&e->lock);
}

/* ---- creation ---- */

void e1000_set_clock(struct e1000 *e, uint64_t (*now_ns)(void))
{
	pthread_mutex_lock(&e->lock);
	e->now_ns = now_ns;
	pthread_mutex_unlock(&e->lock);
}

struct pci_device *e1000_pci_device(struct e1000 *e)
{
	return e->pci;
}

int e1000_create_on_tap(struct vm *vm, const uint8_t mac[6], const struct tap *tap, bool io_thread,
			struct e1000 **out)
{
	static unsigned int instances;
	struct pci_device_desc desc;
	struct e1000 *e;
	int ret;

	pthread_once(&reg_index_once, build_reg_index);
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->tx_buf = malloc(TX_BUF_SIZE);
	e->seg_buf = malloc(MAX_FRAME + VLAN_HLEN);
	e->vlan_buf = malloc(MAX_FRAME + VLAN_HLEN);
	e->rx_buf = malloc(MAX_FRAME + ETH_FCS_LEN);
	if (!e->tx_buf || !e->seg_buf || !e->vlan_buf || !e->rx_buf) {
		ret = -ENOMEM;
		goto fail;
	}
	e->vm = vm;
	e->tap = *tap;
	e->wake_fd = -1;
	e->now_ns = monotonic_ns;
	memcpy(e->mac, mac, 6);
	snprintf(e->name, sizeof(e->name), "e1000.%u", instances++);
	pthread_mutex_init(&e->lock, NULL);
	e1000_eeprom_image(mac, e->eeprom);

	memset(&desc, 0, sizeof(desc));
	desc.name = e->name;
	desc.vendor_id = E1000_VENDOR_ID;
	desc.device_id = E1000_DEVICE_ID;
	desc.subsys_vendor_id = E1000_VENDOR_ID;
	desc.subsys_id = 0;
	desc.revision = 3;
	desc.class_code = 0x020000; /* Ethernet controller */
	desc.intx = true;
	desc.bars[0] = (struct pci_bar){PCI_BAR_MEM32, E1000_MMIO_SIZE, e1000_mmio, e};
	desc.bars[1] = (struct pci_bar){PCI_BAR_IO, E1000_IO_SIZE, e1000_io, e};
	ret = pci_register_device(vm, &desc, &e->pci);
	if (ret)
		goto fail;
	pthread_mutex_lock(&e->lock);
	device_reset(e);
	pthread_mutex_unlock(&e->lock);

	if (io_thread) {
		e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (e->wake_fd < 0) {
			ret = -errno;
			goto fail; /* the PCI slot stays taken; minivmm exits anyway */
		}
		ret = -pthread_create(&e->thread, NULL, rx_thread, e);
		if (ret)
			goto fail;
		e->has_thread = true;
	}
	*out = e;
	return 0;
fail:
	if (e->wake_fd >= 0)
		close(e->wake_fd);
	free(e->tx_buf);
	free(e->seg_buf);
	free(e->vlan_buf);
	free(e->rx_buf);
	free(e);
	return ret;
}

void e1000_destroy(struct e1000 *e)
{
	if (e->has_thread) {
		uint64_t one = 1;

		pthread_mutex_lock(&e->lock);
		e->stopping = true;
		pthread_mutex_unlock(&e->lock);
		if (write(e->wake_fd, &one, sizeof(one)) < 0)
			log_errno("%s: waking the RX thread", e->name);
		pthread_join(e->thread, NULL);
	}
	if (e->wake_fd >= 0)
		close(e->wake_fd);
	tap_close(&e->tap);
	pthread_mutex_destroy(&e->lock);
	free(e->tx_buf);
	free(e->seg_buf);
	free(e->vlan_buf);
	free(e->rx_buf);
	free(e);
}

int e1000_create(struct vm *vm, const struct net_config *cfg, unsigned int index)
{
	uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + index)};
	struct e1000 *e;
	struct tap tap;
	char err[256];
	int ret;

	if (cfg->mac_set)
		memcpy(mac, cfg->mac, 6);
	/*
	 * No vnet header: the model segments TSO packets and computes checksums
	 * itself, as the real chip does, so the tap carries plain frames.
	 */
	ret = tap_open(&tap, cfg->tap, 0, err, sizeof(err));
	if (ret) {
		log_error("--net %s: %s", cfg->tap, err);
		return ret;
	}
	ret = e1000_create_on_tap(vm, mac, &tap, true, &e);
	if (ret) {
		log_error("--net %s: cannot create the e1000 device: %s", cfg->tap, strerror(-ret));
		tap_close(&tap);
		return ret;
	}
	vm_register_stats(vm, print_stats, e);
	log_info("%s: tap %s, MAC %02x:%02x:%02x:%02x:%02x:%02x, PCI 00:%02x.0, IRQ %u", e->name,
		 e->tap.ifname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		 pci_device_slot(e->pci), pci_device_gsi(e->pci));
	return 0;
}
