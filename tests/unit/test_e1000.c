/*
 * e1000 register model against fake guest memory, with a SOCK_SEQPACKET
 * socketpair standing in for the tap (one datagram = one frame).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "devices/e1000/e1000.h"
#include "devices/pci.h"
#include "fake_vm.h"
#include "devices/net/offload.h"
#include "devices/net/tap.h"
#include "helpers.h"
#include "net_csum.h"

#define RAM	      (4u << 20)
#define TX_RING	      0x10000
#define TX_BUFS	      0x20000
#define RX_RING	      0x30000
#define RX_BUFS	      0x40000
#define RX_BUF_STRIDE 0x4000
#define GSI	      (arch_pci_slot_irq(1))

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};
static struct vm *vm;
static struct e1000 *e;
static int peer;
static int dev_fd; /* the device's end of the socketpair */
static uint64_t bar;
static uint8_t *ram;

static void wr(uint32_t off, uint32_t v)
{
	ck_assert(bus_dispatch(&vm->mmio, bar + off, (uint8_t *)&v, 4, true));
}

static uint32_t rd(uint32_t off)
{
	uint32_t v = 0;

	ck_assert(bus_dispatch(&vm->mmio, bar + off, (uint8_t *)&v, 4, false));
	return v;
}

static void socket_tap(struct tap *tap, int *other)
{
	int sv[2], big = 1 << 20;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	for (int i = 0; i < 2; i++) {
		fcntl(sv[i], F_SETFL, O_NONBLOCK);
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	}
	tap_init_fd(tap, sv[0], "sock", false);
	dev_fd = sv[0];
	*other = sv[1];
}

static void enable_pci(unsigned int slot, uint16_t cmd)
{
	fake_vm_pio_write(vm, 0xCF8, 0x80000000u | slot << 11 | 0x04, 4);
	fake_vm_pio_write(vm, 0xCFC, cmd, 2);
}

static void setup(void)
{
	struct tap tap;

	vm = fake_vm_create(RAM);
	ram = vm->mem.regions[0].host;
	ck_assert_int_eq(pci_init(vm), 0);
	socket_tap(&tap, &peer);
	ck_assert_int_eq(e1000_create_on_tap(vm, 0, mac, &tap, false, &e), 0);
	enable_pci(1, PCI_CMD_MEMORY | PCI_CMD_IO | PCI_CMD_MASTER);
	bar = pci_bar_address(e1000_pci_device(e), 0);
}

static void teardown(void)
{
	e1000_destroy(e);
	if (peer >= 0)
		close(peer);
	pci_destroy(vm);
	fake_vm_destroy(vm);
}

/* ---- descriptor helpers ---- */

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *txd(unsigned int i)
{
	return ram + TX_RING + 16 * i;
}

static uint8_t *rxd(unsigned int i)
{
	return ram + RX_RING + 16 * i;
}

static void tx_legacy(unsigned int i, uint64_t addr, uint16_t len, uint8_t cmd)
{
	memset(txd(i), 0, 16);
	put_le(txd(i), addr, 8);
	put_le(txd(i) + 8, len, 2);
	txd(i)[11] = cmd;
}

static void tx_context(unsigned int i, uint8_t ipcss, uint8_t ipcso, uint16_t ipcse, uint8_t tucss,
		       uint8_t tucso, uint16_t tucse, uint32_t paylen, uint32_t tucmd,
		       uint8_t hdr_len, uint16_t mss)
{
	uint8_t *d = txd(i);

	d[0] = ipcss;
	d[1] = ipcso;
	put_le(d + 2, ipcse, 2);
	d[4] = tucss;
	d[5] = tucso;
	put_le(d + 6, tucse, 2);
	put_le(d + 8, paylen | tucmd | E1000_TXD_CMD_DEXT, 4);
	d[12] = 0;
	d[13] = hdr_len;
	put_le(d + 14, mss, 2);
}

static void tx_data(unsigned int i, uint64_t addr, uint32_t len, uint32_t dcmd, uint8_t popts)
{
	uint8_t *d = txd(i);

	put_le(d, addr, 8);
	put_le(d + 8, len | dcmd | E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_DATA, 4);
	d[12] = 0;
	d[13] = popts;
	put_le(d + 14, 0, 2);
}

static void tx_setup(unsigned int n)
{
	memset(ram + TX_RING, 0, 16 * n);
	wr(E1000_TDBAL, TX_RING);
	wr(E1000_TDBAH, 0);
	wr(E1000_TDLEN, 16 * n);
	wr(E1000_TDH, 0);
	wr(E1000_TDT, 0);
	wr(E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
}

static void rx_setup(unsigned int n, uint32_t rctl_extra)
{
	memset(ram + RX_RING, 0, 16 * n);
	for (unsigned int i = 0; i < n; i++)
		put_le(rxd(i), RX_BUFS + i * RX_BUF_STRIDE, 8);
	wr(E1000_RDBAL, RX_RING);
	wr(E1000_RDBAH, 0);
	wr(E1000_RDLEN, 16 * n);
	wr(E1000_RDH, 0);
	wr(E1000_RDT, n - 1);
	wr(E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | rctl_extra);
}

static ssize_t recv_frame(uint8_t *buf, size_t len)
{
	return recv(peer, buf, len, MSG_DONTWAIT);
}

static void fill_frame(uint8_t *f, size_t len, const uint8_t *dst, uint8_t seed)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = 0x88;
	f[13] = 0xb5; /* local experimental ethertype */
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(seed + i * 7);
}

/* A test frame (fill_frame) in f, and a copy in guest memory at TX_BUFS. */
static void stage_tx_frame(uint8_t *f, size_t len, const uint8_t *dst, uint8_t seed)
{
	fill_frame(f, len, dst, seed);
	memcpy(ram + TX_BUFS, f, len);
}

/* ---- checksum checks (net_csum.h: independent of the model's) ---- */

static uint32_t pseudo_sum(const uint8_t *ip, uint8_t proto, uint32_t l4len)
{
	return ref_csum_add(ip + 12, 8, 0) + proto + l4len;
}

/* An IPv4 frame (14 + 20 + l4hdr + payload) with zeroed checksums. */
static size_t ipv4_frame(uint8_t *f, uint8_t proto, size_t payload, uint16_t id)
{
	size_t l4hdr = proto == 6 ? 20 : 8, len = 14 + 20 + l4hdr + payload;
	uint8_t *ip = f + 14, *l4 = ip + 20;

	memset(f, 0, len);
	memcpy(f, "\x02\x11\x22\x33\x44\x55\x52\x54\x00\xaa\xbb\xcc\x08\x00", 14);
	ip[0] = 0x45;
	ip[2] = (uint8_t)((len - 14) >> 8);
	ip[3] = (uint8_t)(len - 14);
	ip[4] = (uint8_t)(id >> 8);
	ip[5] = (uint8_t)id;
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	l4[0] = 0x12;
	l4[1] = 0x34;
	l4[2] = 0x56;
	l4[3] = 0x78;
	if (proto == 6) {
		memcpy(l4 + 4, "\x11\x22\x33\x44", 4); /* seq */
		l4[12] = 5 << 4;
		l4[13] = 0x19; /* FIN PSH ACK */
		l4[14] = 0xff;
	} else {
		l4[4] = (uint8_t)((8 + payload) >> 8);
		l4[5] = (uint8_t)(8 + payload);
	}
	for (size_t i = 0; i < payload; i++)
		l4[l4hdr + i] = (uint8_t)(i * 13 + 1);
	return len;
}

/*
 * What Linux leaves in the TCP or UDP checksum field of a frame it hands
 * over for checksum offload: the pseudo-header sum, over l4len bytes (0
 * for TSO, whose segments each get their own length).
 */
static void put_pseudo_csum(uint8_t *f, uint32_t l4len)
{
	uint8_t proto = f[14 + 9];

	put_be16(f + 34 + (proto == 6 ? 16 : 6), ref_csum_fold(pseudo_sum(f + 14, proto, l4len)));
}

static bool ip_csum_ok(const uint8_t *f)
{
	return ref_csum_ok(f + 14, 20, 0);
}

static bool l4_csum_ok(const uint8_t *f, size_t len, uint8_t proto)
{
	return ref_csum_ok(f + 34, len - 34, pseudo_sum(f + 14, proto, (uint32_t)(len - 34)));
}

/* ---- EEPROM, PHY, basic registers ---- */

START_TEST(eeprom_image_checksum)
{
	uint16_t w[E1000_EEPROM_WORDS], sum = 0;

	e1000_eeprom_image(mac, w);
	for (int i = 0; i < E1000_EEPROM_WORDS; i++)
		sum += w[i];
	ck_assert_uint_eq(sum, E1000_EEPROM_SUM);
	ck_assert_uint_eq(w[0], 0x5452);
	ck_assert_uint_eq(w[1], 0xaa00);
	ck_assert_uint_eq(w[2], 0xccbb);
}
END_TEST

/* The Microwire sequence of Linux's e1000_read_eeprom() for the 82540. */
static void ee_clock(uint32_t *eecd, bool up)
{
	*eecd = up ? *eecd | E1000_EECD_SK : *eecd & ~E1000_EECD_SK;
	wr(E1000_EECD, *eecd);
}

static void ee_shift_out(uint32_t *eecd, uint16_t data, int count)
{
	for (int i = count - 1; i >= 0; i--) {
		*eecd &= ~E1000_EECD_DI;
		if (data >> i & 1)
			*eecd |= E1000_EECD_DI;
		wr(E1000_EECD, *eecd);
		ee_clock(eecd, true);
		ee_clock(eecd, false);
	}
	*eecd &= ~E1000_EECD_DI;
	wr(E1000_EECD, *eecd);
}

static uint16_t ee_shift_in(uint32_t *eecd)
{
	uint16_t data = 0;

	*eecd &= ~(E1000_EECD_DO | E1000_EECD_DI);
	for (int i = 0; i < 16; i++) {
		ee_clock(eecd, true);
		data = (uint16_t)(data << 1 | !!(rd(E1000_EECD) & E1000_EECD_DO));
		ee_clock(eecd, false);
	}
	return data;
}

static uint16_t ee_read_word(unsigned int addr)
{
	uint32_t eecd = rd(E1000_EECD) | E1000_EECD_REQ;
	uint16_t v;

	wr(E1000_EECD, eecd);
	ck_assert(rd(E1000_EECD) & E1000_EECD_GNT);
	eecd &= ~(E1000_EECD_DI | E1000_EECD_SK);
	wr(E1000_EECD, eecd);
	eecd |= E1000_EECD_CS;
	wr(E1000_EECD, eecd);
	ee_shift_out(&eecd, 0x6, 3);
	ee_shift_out(&eecd, (uint16_t)addr, 6);
	v = ee_shift_in(&eecd);
	/* release */
	eecd &= ~(E1000_EECD_CS | E1000_EECD_DI);
	wr(E1000_EECD, eecd);
	ee_clock(&eecd, true);
	ee_clock(&eecd, false);
	eecd &= ~E1000_EECD_REQ;
	wr(E1000_EECD, eecd);
	return v;
}

START_TEST(eeprom_microwire_bitbang)
{
	uint16_t sum = 0;

	ck_assert(rd(E1000_EECD) & E1000_EECD_PRES);
	ck_assert(!(rd(E1000_EECD) & 0x200)); /* 64-word part, 6 address bits */
	for (unsigned int i = 0; i < E1000_EEPROM_WORDS; i++) {
		uint16_t w = ee_read_word(i);

		if (i < 3)
			ck_assert_uint_eq(w, mac[2 * i] | mac[2 * i + 1] << 8);
		sum += w;
	}
	ck_assert_uint_eq(sum, E1000_EEPROM_SUM);
	ck_assert(!(rd(E1000_EECD) & E1000_EECD_GNT));
}
END_TEST

START_TEST(eeprom_eerd)
{
	wr(E1000_EERD, E1000_EERD_START | 1 << E1000_EERD_ADDR_SHIFT);
	ck_assert_uint_eq(rd(E1000_EERD), 0xaa00u << 16 | 1 << 8 | E1000_EERD_DONE);
	/* Out of range: done, data 0, no out-of-bounds read. */
	wr(E1000_EERD, E1000_EERD_START | 0xff << E1000_EERD_ADDR_SHIFT);
	ck_assert_uint_eq(rd(E1000_EERD) >> 16, 0);
	ck_assert(rd(E1000_EERD) & E1000_EERD_DONE);
}
END_TEST

static uint32_t mdic(uint32_t op, unsigned int phy, unsigned int reg, uint16_t data)
{
	wr(E1000_MDIC, op | phy << E1000_MDIC_PHY_SHIFT | reg << E1000_MDIC_REG_SHIFT | data);
	return rd(E1000_MDIC);
}

START_TEST(phy_through_mdic)
{
	uint32_t v;

	v = mdic(E1000_MDIC_OP_READ, 1, E1000_PHY_ID1, 0);
	ck_assert(v & E1000_MDIC_READY);
	ck_assert(!(v & E1000_MDIC_ERROR));
	ck_assert_uint_eq(v & 0xffff, E1000_PHY_ID >> 16);
	ck_assert_uint_eq(mdic(E1000_MDIC_OP_READ, 1, E1000_PHY_ID2, 0) & 0xfff0,
			  E1000_PHY_ID & 0xfff0);
	v = mdic(E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0);
	ck_assert_uint_eq(v & 0x24, 0x24); /* link up, autoneg complete */
	ck_assert_uint_eq(mdic(E1000_MDIC_OP_READ, 1, 17, 0) & 0x0400, 0x0400);

	/* Writable register round-trips; status is read-only. */
	mdic(E1000_MDIC_OP_WRITE, 1, 4, 0x01e1);
	ck_assert_uint_eq(mdic(E1000_MDIC_OP_READ, 1, 4, 0) & 0xffff, 0x01e1);
	mdic(E1000_MDIC_OP_WRITE, 1, E1000_PHY_STATUS, 0);
	ck_assert_uint_eq(mdic(E1000_MDIC_OP_READ, 1, E1000_PHY_STATUS, 0) & 0x24, 0x24);
	/* Reset and autoneg restart self-clear; reset restores defaults. */
	mdic(E1000_MDIC_OP_WRITE, 1, E1000_PHY_CTRL, 0x8000 | 0x1000 | 0x0200);
	ck_assert_uint_eq(mdic(E1000_MDIC_OP_READ, 1, E1000_PHY_CTRL, 0) & 0x8200, 0);
	ck_assert_uint_eq(mdic(E1000_MDIC_OP_READ, 1, 4, 0) & 0xffff, 0x0DE1);

	/* Another PHY address and a reserved opcode fail. */
	ck_assert(mdic(E1000_MDIC_OP_READ, 2, 2, 0) & E1000_MDIC_ERROR);
	ck_assert(mdic(0, 1, 2, 0) & E1000_MDIC_ERROR);
	/* Completion interrupt on request. */
	wr(E1000_IMS, E1000_ICR_MDAC);
	mdic(E1000_MDIC_OP_READ | E1000_MDIC_INT_EN, 1, 2, 0);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 1);
	ck_assert_uint_eq(rd(E1000_ICR), E1000_ICR_MDAC);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0);
}
END_TEST

START_TEST(status_link_and_reset)
{
	uint32_t st = rd(E1000_STATUS);

	ck_assert_uint_eq(st & (E1000_STATUS_LU | E1000_STATUS_FD),
			  E1000_STATUS_LU | E1000_STATUS_FD);
	ck_assert_uint_eq(st & 0xc0, E1000_STATUS_SPEED_1000);
	wr(E1000_STATUS, 0); /* read-only */
	ck_assert_uint_eq(rd(E1000_STATUS), st);
	ck_assert_uint_eq(rd(E1000_RAL(0)), 0xaa005452);
	ck_assert_uint_eq(rd(E1000_RAH(0)), 0xccbb | E1000_RAH_AV);

	wr(E1000_RDLEN, 4096);
	wr(E1000_IMS, 0xff);
	wr(E1000_RAL(0), 0);
	wr(E1000_ICS, E1000_ICR_LSC);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 1);
	wr(E1000_CTRL, rd(E1000_CTRL) | E1000_CTRL_RST);
	ck_assert_uint_eq(rd(E1000_CTRL) & E1000_CTRL_RST, 0);
	ck_assert_uint_eq(rd(E1000_RDLEN), 0);
	ck_assert_uint_eq(rd(E1000_IMS), 0);
	ck_assert_uint_eq(rd(E1000_ICR), 0);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0);
	ck_assert_uint_eq(rd(E1000_RAL(0)), 0xaa005452); /* reloaded from EEPROM */
	ck_assert_uint_eq(rd(E1000_VET), 0x8100);
}
END_TEST

START_TEST(plain_registers_and_masks)
{
	wr(E1000_RDLEN, 0xffffffff);
	ck_assert_uint_eq(rd(E1000_RDLEN), 0x000fff80);
	wr(E1000_TDBAL, 0x12345678);
	ck_assert_uint_eq(rd(E1000_TDBAL), 0x12345670);
	wr(E1000_ITR, 0x1234);
	ck_assert_uint_eq(rd(E1000_ITR), 0x1234);
	wr(E1000_MTA + 4 * 127, 0xdeadbeef);
	ck_assert_uint_eq(rd(E1000_MTA + 4 * 127), 0xdeadbeef);
	wr(E1000_RAH(15), 0x8000ffff);
	ck_assert_uint_eq(rd(E1000_RAH(15)), 0x8000ffff);
	/* Unknown offsets read 0 and ignore writes. */
	wr(0x1ff00, 0xffffffff);
	ck_assert_uint_eq(rd(0x1ff00), 0);
	ck_assert_uint_eq(rd(E1000_IMC), 0);
	ck_assert_uint_eq(rd(E1000_ICS), 0);
}
END_TEST

START_TEST(odd_access_sizes_ignored)
{
	uint16_t v16 = 0xffff;
	uint64_t v64 = ~0ull;
	uint8_t b = 0xff;

	bus_dispatch(&vm->mmio, bar + E1000_IMS, (uint8_t *)&v16, 2, true);
	bus_dispatch(&vm->mmio, bar + E1000_IMS, (uint8_t *)&v64, 8, true);
	bus_dispatch(&vm->mmio, bar + E1000_IMS + 1, &b, 1, true);
	ck_assert_uint_eq(rd(E1000_IMS), 0);
	bus_dispatch(&vm->mmio, bar + E1000_STATUS, (uint8_t *)&v16, 2, false);
	ck_assert_uint_eq(v16, 0);
	/* Misaligned dword. */
	uint32_t v = 0xffffffff;

	bus_dispatch(&vm->mmio, bar + E1000_IMS + 2, (uint8_t *)&v, 4, true);
	ck_assert_uint_eq(rd(E1000_IMS), 0);
}
END_TEST

START_TEST(io_bar_window)
{
	uint16_t io = (uint16_t)pci_bar_address(e1000_pci_device(e), 1);

	fake_vm_pio_write(vm, io, E1000_STATUS, 4);
	ck_assert_uint_eq(fake_vm_pio_read(vm, io, 4), E1000_STATUS);
	ck_assert_uint_eq(fake_vm_pio_read(vm, io + 4, 4), rd(E1000_STATUS));
	wr(E1000_IMS, 0xff);
	/* Linux resets the 82540 through the I/O window. */
	fake_vm_pio_write(vm, io, E1000_CTRL, 4);
	fake_vm_pio_write(vm, io + 4, E1000_CTRL_RST, 4);
	ck_assert_uint_eq(rd(E1000_IMS), 0);
	/* IOADDR is confined to the register space. */
	fake_vm_pio_write(vm, io, 0xfffffffc, 4);
	ck_assert_uint_lt(fake_vm_pio_read(vm, io, 4), E1000_MMIO_SIZE);
	fake_vm_pio_read(vm, io + 4, 4);
}
END_TEST

/* ---- interrupts ---- */

START_TEST(icr_read_to_clear_and_masking)
{
	wr(E1000_ICS, E1000_ICR_RXT0);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0); /* masked */
	wr(E1000_IMS, E1000_ICR_RXT0 | E1000_ICR_TXDW);
	ck_assert_uint_eq(rd(E1000_IMS), E1000_ICR_RXT0 | E1000_ICR_TXDW);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 1); /* pending cause now unmasked */
	ck_assert_uint_eq(rd(E1000_ICR), E1000_ICR_RXT0);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0);
	ck_assert_uint_eq(rd(E1000_ICR), 0);

	wr(E1000_ICS, E1000_ICR_TXDW | E1000_ICR_LSC);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 1);
	wr(E1000_IMC, E1000_ICR_TXDW);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0);
	ck_assert_uint_eq(rd(E1000_IMS), E1000_ICR_RXT0);
	/* Write-1-to-clear leaves other causes. */
	wr(E1000_ICR, E1000_ICR_TXDW);
	ck_assert_uint_eq(rd(E1000_ICR), E1000_ICR_LSC);
	ck_assert_uint_eq(fake_vm.irq_raises[GSI], 2);
}
END_TEST

static uint64_t fake_ns;

static uint64_t fake_clock(void)
{
	return fake_ns;
}

START_TEST(itr_throttles_assertions)
{
	e1000_set_clock(e, fake_clock);
	fake_ns = 1000000;
	wr(E1000_ITR, 1000); /* 256 us between assertions */
	wr(E1000_IMS, E1000_ICR_RXT0);
	wr(E1000_ICS, E1000_ICR_RXT0);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 1); /* the first one is immediate */
	rd(E1000_ICR);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0);
	fake_ns += 100000;
	wr(E1000_ICS, E1000_ICR_RXT0);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0); /* too soon: held back */
	e1000_rx_poll(e);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0);
	fake_ns += 156000;
	e1000_rx_poll(e);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 1); /* delivered when due */
	ck_assert_uint_eq(rd(E1000_ICR), E1000_ICR_RXT0);

	/* A held-back cause that the driver clears meanwhile is never delivered. */
	fake_ns += 1000;
	wr(E1000_ICS, E1000_ICR_RXT0);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0);
	wr(E1000_ICR, E1000_ICR_RXT0);
	fake_ns += 300000;
	e1000_rx_poll(e);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0);
	ck_assert_uint_eq(fake_vm.irq_raises[GSI], 2);

	/* ITR 0: no throttling. */
	wr(E1000_ITR, 0);
	wr(E1000_ICS, E1000_ICR_RXT0);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 1);
	rd(E1000_ICR);
	wr(E1000_ICS, E1000_ICR_RXT0);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 1);
}
END_TEST

/* ---- transmit ---- */

START_TEST(tx_legacy_single)
{
	uint8_t f[100], got[200];

	stage_tx_frame(f, sizeof(f), (const uint8_t *)"\x02\x11\x22\x33\x44\x55", 1);
	tx_setup(8);
	wr(E1000_IMS, E1000_ICR_TXDW);
	tx_legacy(0, TX_BUFS, sizeof(f), 0x0b); /* EOP IFCS RS */
	ck_assert_int_eq(recv_frame(got, sizeof(got)), -1);
	wr(E1000_TDT, 1);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), sizeof(f));
	ck_assert_mem_eq(got, f, sizeof(f));
	ck_assert_uint_eq(txd(0)[12] & E1000_TXD_STAT_DD, E1000_TXD_STAT_DD);
	ck_assert_uint_eq(rd(E1000_TDH), 1);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 1);
	ck_assert_uint_eq(rd(E1000_ICR) & (E1000_ICR_TXDW | E1000_ICR_TXQE),
			  E1000_ICR_TXDW | E1000_ICR_TXQE);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 0);
	/* Counters: read-to-clear, octets include the FCS. */
	ck_assert_uint_eq(rd(E1000_GPTC), 1);
	ck_assert_uint_eq(rd(E1000_GPTC), 0);
	ck_assert_uint_eq(rd(E1000_TPT), 1);
	ck_assert_uint_eq(rd(E1000_GOTCL), sizeof(f) + 4);
	ck_assert_uint_eq(rd(E1000_GOTCL), sizeof(f) + 4); /* low half alone doesn't clear */
	ck_assert_uint_eq(rd(E1000_GOTCH), 0);
	ck_assert_uint_eq(rd(E1000_GOTCL), 0);
	ck_assert_uint_eq(rd(E1000_PTC64 + 4), 1); /* 65..127 bin */
}
END_TEST

START_TEST(tx_multi_descriptor_and_short_padding)
{
	uint8_t f[1500], got[2000];
	uint8_t dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	fill_frame(f, sizeof(f), dst, 9);
	memcpy(ram + TX_BUFS, f, 500);
	memcpy(ram + TX_BUFS + 0x1000, f + 500, 700);
	memcpy(ram + TX_BUFS + 0x3000, f + 1200, 300);
	tx_setup(8);
	tx_legacy(0, TX_BUFS, 500, 0x02);
	tx_legacy(1, TX_BUFS + 0x1000, 700, 0x02);
	tx_legacy(2, TX_BUFS + 0x3000, 300, 0x0b);
	/* A 40-byte frame is padded to 60 (TCTL.PSP). */
	tx_legacy(3, TX_BUFS, 40, 0x0b);
	wr(E1000_TDT, 4);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), sizeof(f));
	ck_assert_mem_eq(got, f, sizeof(f));
	ck_assert_int_eq(recv_frame(got, sizeof(got)), 60);
	ck_assert_mem_eq(got, f, 40);
	ck_assert_uint_eq(got[59], 0);
	ck_assert_uint_eq(rd(E1000_BPTC), 2);
	ck_assert_uint_eq(rd(E1000_TDH), 4);
}
END_TEST

START_TEST(tx_ring_wrap)
{
	uint8_t f[64], got[128];
	unsigned int tail = 0;

	tx_setup(8);
	for (unsigned int n = 0; n < 30; n++) {
		fill_frame(f, sizeof(f), mac, (uint8_t)n);
		memcpy(ram + TX_BUFS + tail * 0x100, f, sizeof(f));
		tx_legacy(tail, TX_BUFS + tail * 0x100, sizeof(f), 0x09);
		tail = (tail + 1) % 8;
		/* Batches of 3, crossing the ring's end. */
		if (n % 3 == 2) {
			wr(E1000_TDT, tail);
			for (unsigned int k = n - 2; k <= n; k++) {
				fill_frame(f, sizeof(f), mac, (uint8_t)k);
				ck_assert_int_eq(recv_frame(got, sizeof(got)), sizeof(f));
				ck_assert_mem_eq(got, f, sizeof(f));
			}
			ck_assert_uint_eq(rd(E1000_TDH), tail);
		}
	}
	ck_assert_uint_eq(rd(E1000_GPTC), 30);
}
END_TEST

START_TEST(tx_needs_enable_and_bus_master)
{
	uint8_t f[64], got[128];

	stage_tx_frame(f, sizeof(f), mac, 3);
	tx_setup(8);
	tx_legacy(0, TX_BUFS, sizeof(f), 0x09);
	enable_pci(1, PCI_CMD_MEMORY); /* no bus mastering */
	wr(E1000_TDT, 1);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), -1);
	ck_assert_uint_eq(rd(E1000_TDH), 0);
	enable_pci(1, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	wr(E1000_TCTL, 0);
	wr(E1000_TDT, 1);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), -1);
	/* Enabling the transmitter sends what is queued. */
	wr(E1000_TCTL, E1000_TCTL_EN);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), sizeof(f));
}
END_TEST

START_TEST(tx_malformed_descriptors)
{
	uint8_t f[64], got[128];

	stage_tx_frame(f, sizeof(f), mac, 5);
	tx_setup(8);
	/* Buffer outside RAM: dropped, but the descriptor completes. */
	tx_legacy(0, RAM - 10, 64, 0x09);
	tx_legacy(1, 0xffffffffffffff00ull, 0x200, 0x09); /* wraps the address space */
	/* Data descriptor claiming a ~1 MiB buffer inside RAM: too large, dropped. */
	tx_data(2, 0, 0xfffff, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	tx_legacy(3, TX_BUFS, sizeof(f), 0x09); /* a good one after them */
	wr(E1000_TDT, 4);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), sizeof(f));
	ck_assert_mem_eq(got, f, sizeof(f));
	ck_assert_int_eq(recv_frame(got, sizeof(got)), -1);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(txd(i)[12] & E1000_TXD_STAT_DD, E1000_TXD_STAT_DD);
	ck_assert_uint_eq(rd(E1000_TDH), 4);

	/* TDT beyond the ring: ignored. */
	wr(E1000_TDT, 100);
	ck_assert_uint_eq(rd(E1000_TDH), 4);
	/* Ring outside RAM: the queue stalls, nothing crashes. */
	wr(E1000_TDBAL, RAM + 0x1000);
	wr(E1000_TDH, 0);
	wr(E1000_TDT, 2);
	ck_assert_uint_eq(rd(E1000_TDH), 0);
	/* Ring straddling the end of RAM: stops at the first unreachable slot. */
	wr(E1000_TDBAL, RAM - 32);
	tx_legacy(0, TX_BUFS, sizeof(f), 0x09);
	memcpy(ram + RAM - 32, txd(0), 16);
	memcpy(ram + RAM - 16, txd(0), 16);
	wr(E1000_TDH, 0);
	wr(E1000_TDT, 3);
	ck_assert_uint_eq(rd(E1000_TDH), 2);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), sizeof(f));
	ck_assert_int_eq(recv_frame(got, sizeof(got)), sizeof(f));
}
END_TEST

START_TEST(tx_tap_full_drops_without_blocking)
{
	uint8_t f[1400];
	unsigned int sent = 0;
	int small = 4096;

	setsockopt(dev_fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	stage_tx_frame(f, sizeof(f), mac, 1);
	tx_setup(64);
	for (unsigned int i = 0; i < 63; i++)
		tx_legacy(i, TX_BUFS, sizeof(f), 0x09);
	wr(E1000_TDT, 63);
	ck_assert_uint_eq(rd(E1000_TDH), 63);
	sent = rd(E1000_GPTC);
	ck_assert_uint_lt(sent, 63); /* the rest were dropped, the vCPU never blocked */
}
END_TEST

START_TEST(tx_checksum_offload_udp)
{
	uint8_t f[200], got[256];
	size_t len = ipv4_frame(f, 17, 100, 7);

	put_pseudo_csum(f, (uint32_t)(len - 34)); /* as for CHECKSUM_PARTIAL */
	memcpy(ram + TX_BUFS, f, len);
	tx_setup(8);
	tx_context(0, 14, 24, 33, 34, 40, 0, 0, 0x02000000 /* IP */, 0, 0);
	tx_data(1, TX_BUFS, (uint32_t)len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
	wr(E1000_TDT, 2);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), len);
	ck_assert(ip_csum_ok(got));
	ck_assert(l4_csum_ok(got, len, 17));
	ck_assert_mem_eq(got + 42, f + 42, len - 42);
}
END_TEST

START_TEST(tx_legacy_checksum_insert)
{
	uint8_t f[200], got[256];
	size_t len = ipv4_frame(f, 17, 50, 1);

	put_pseudo_csum(f, (uint32_t)(len - 34));
	memcpy(ram + TX_BUFS, f, len);
	tx_setup(8);
	tx_legacy(0, TX_BUFS, (uint16_t)len, 0x0d); /* EOP IC RS */
	txd(0)[10] = 40;			    /* CSO */
	txd(0)[13] = 34;			    /* CSS */
	wr(E1000_TDT, 1);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), len);
	ck_assert(l4_csum_ok(got, len, 17));
}
END_TEST

START_TEST(tx_tso_tcp_ipv4)
{
	static uint8_t f[4000], got[2000];
	const uint32_t payload = 2500, mss = 1000, hdr = 54;
	size_t len = ipv4_frame(f, 6, payload, 0x100);
	uint32_t seq0 = get_be32(f + 38);

	/* What Linux's e1000_tso() leaves: IP length and checksum 0, pseudo sum without length. */
	f[16] = f[17] = 0;
	put_pseudo_csum(f, 0);
	memcpy(ram + TX_BUFS, f, 1000);
	memcpy(ram + TX_BUFS + 0x2000, f + 1000, len - 1000);
	tx_setup(8);
	tx_context(0, 14, 24, 33, 34, 50, 0, payload,
		   E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP | E1000_TXD_CMD_TSE, (uint8_t)hdr,
		   (uint16_t)mss);
	tx_data(1, TX_BUFS, 1000, E1000_TXD_CMD_TSE, E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
	tx_data(2, TX_BUFS + 0x2000, (uint32_t)len - 1000,
		E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
	wr(E1000_TDT, 3);
	for (uint32_t i = 0, off = 0; off < payload; i++, off += mss) {
		uint32_t chunk = payload - off < mss ? payload - off : mss;
		ssize_t n = recv_frame(got, sizeof(got));

		ck_assert_int_eq(n, hdr + chunk);
		ck_assert_uint_eq(get_be16(got + 16), 20 + 20 + chunk);
		ck_assert_uint_eq(get_be16(got + 18), 0x100 + i);
		ck_assert_uint_eq(get_be32(got + 38), seq0 + off);
		ck_assert(ip_csum_ok(got));
		ck_assert(l4_csum_ok(got, (size_t)n, 6));
		/* FIN and PSH only on the last segment; ACK on all. */
		ck_assert_uint_eq(got[47], off + chunk >= payload ? 0x19 : 0x10);
		ck_assert_mem_eq(got + hdr, f + hdr + off, chunk);
	}
	ck_assert_int_eq(recv_frame(got, sizeof(got)), -1);
	ck_assert_uint_eq(rd(E1000_TSCTC), 1);
	ck_assert_uint_eq(rd(E1000_GPTC), 3);
}
END_TEST

START_TEST(tx_tso_bad_context)
{
	uint8_t f[400], got[512];
	size_t len = ipv4_frame(f, 6, 300, 1);

	memcpy(ram + TX_BUFS, f, len);
	tx_setup(8);
	/* mss 0, then a header longer than the packet, then tucss past the header. */
	tx_context(0, 14, 24, 33, 34, 50, 0, 300, E1000_TXD_CMD_TCP | E1000_TXD_CMD_TSE, 54, 0);
	tx_data(1, TX_BUFS, (uint32_t)len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, 0);
	tx_context(2, 14, 24, 33, 34, 50, 0, 300, E1000_TXD_CMD_TCP | E1000_TXD_CMD_TSE, 250, 100);
	tx_data(3, TX_BUFS, 100, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, 0);
	tx_context(4, 14, 24, 33, 250, 255, 0, 300, E1000_TXD_CMD_TCP | E1000_TXD_CMD_TSE, 54, 100);
	tx_data(5, TX_BUFS, (uint32_t)len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, 0);
	wr(E1000_TDT, 6);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), -1);
	ck_assert_uint_eq(rd(E1000_TSCTFC), 3);
	ck_assert_uint_eq(rd(E1000_TDH), 6);
}
END_TEST

/* Cuts a TCP/IPv4 packet of payload bytes with this MSS; returns the frames that came out. */
static unsigned int tso_with_mss(uint32_t payload, uint16_t mss)
{
	static uint8_t f[4000], got[2000];
	size_t len = ipv4_frame(f, 6, payload, 1);
	unsigned int frames = 0;

	memcpy(ram + TX_BUFS, f, len);
	tx_setup(8);
	tx_context(0, 14, 24, 33, 34, 50, 0, payload,
		   E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP | E1000_TXD_CMD_TSE | E1000_TXD_CMD_RS, 54,
		   mss);
	tx_data(1, TX_BUFS, (uint32_t)len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
	wr(E1000_TDT, 2);
	/* Refused or not, the ring moves on: both descriptors are done. */
	ck_assert_uint_eq(rd(E1000_TDH), 2);
	ck_assert_uint_eq(txd(0)[12] & E1000_TXD_STAT_DD, E1000_TXD_STAT_DD);
	ck_assert_uint_eq(txd(1)[12] & E1000_TXD_STAT_DD, E1000_TXD_STAT_DD);
	while (recv_frame(got, sizeof(got)) > 0)
		frames++;
	return frames;
}

/* An MSS below the minimum (one byte: 2000 frames of one byte each) drops the packet, counted. */
START_TEST(tx_tso_tiny_mss_refused)
{
	ck_assert_uint_eq(tso_with_mss(2000, 1), 0);
	ck_assert_uint_eq(rd(E1000_TSCTFC), 1);
	ck_assert_uint_eq(rd(E1000_TSCTC), 0);
	ck_assert_uint_eq(rd(E1000_GPTC), 0);
	ck_assert_uint_eq(tso_with_mss(2000, NET_TSO_MIN_MSS - 1), 0);
	ck_assert_uint_eq(rd(E1000_TSCTFC), 1);
	/* The smallest MSS a real stack sends is accepted. */
	ck_assert_uint_eq(tso_with_mss(2000, NET_TSO_MIN_MSS),
			  (2000 + NET_TSO_MIN_MSS - 1) / NET_TSO_MIN_MSS);
	ck_assert_uint_eq(rd(E1000_TSCTFC), 0);
	ck_assert_uint_eq(rd(E1000_TSCTC), 1);
}
END_TEST

/* Frames waiting at the peer, checked against fill_frame(seed first, first + 1, ...). */
static unsigned int recv_numbered_frames(unsigned int first, size_t len)
{
	uint8_t f[256], got[256];
	unsigned int n = 0;
	ssize_t r;

	while ((r = recv_frame(got, sizeof(got))) > 0) {
		fill_frame(f, len, mac, (uint8_t)(first + n));
		ck_assert_int_eq(r, (ssize_t)len);
		ck_assert_mem_eq(got, f, len);
		n++;
	}
	return n;
}

/*
 * One TDT write covering more descriptors than the budget: the write
 * itself does at most the budget; the rest goes out on later turns (the
 * I/O thread's, here e1000_tx_poll), in order, byte-exact, without another
 * guest write.
 */
START_TEST(tx_one_write_does_a_bounded_turn)
{
	const unsigned int ring = 1024, count = 600;
	const size_t len = 64;
	unsigned int sent, turns = 0;
	uint8_t f[64];

	tx_setup(ring);
	for (unsigned int i = 0; i < count; i++) {
		fill_frame(f, len, mac, (uint8_t)i);
		memcpy(ram + TX_BUFS + i * 64, f, len);
		tx_legacy(i, TX_BUFS + i * 64, (uint16_t)len, 0x09); /* EOP RS */
	}
	wr(E1000_IMS, E1000_ICR_TXQE);
	wr(E1000_TDT, count);
	sent = recv_numbered_frames(0, len);
	ck_assert_uint_le(sent, E1000_TX_BUDGET_DESCS);
	ck_assert_uint_le(rd(E1000_TDH), E1000_TX_BUDGET_DESCS);
	ck_assert_uint_eq(rd(E1000_TDH), sent);
	ck_assert_uint_eq(rd(E1000_ICR) & E1000_ICR_TXQE, 0); /* not empty yet */
	while (e1000_tx_poll(e)) {
		unsigned int head = rd(E1000_TDH), got = recv_numbered_frames(sent, len);

		ck_assert_uint_le(got, E1000_TX_BUDGET_DESCS);
		sent += got;
		ck_assert_uint_eq(head, sent);
		ck_assert_uint_lt(++turns, count);
	}
	sent += recv_numbered_frames(sent, len);
	ck_assert_uint_eq(sent, count);
	ck_assert_uint_eq(rd(E1000_TDH), count);
	ck_assert_uint_eq(rd(E1000_ICR) & E1000_ICR_TXQE, E1000_ICR_TXQE);
	for (unsigned int i = 0; i < count; i++)
		ck_assert_uint_eq(txd(i)[12] & E1000_TXD_STAT_DD, E1000_TXD_STAT_DD);
	ck_assert(!e1000_tx_poll(e)); /* nothing left */
}
END_TEST

/*
 * A TSO packet with the smallest MSS (1250 segments) is cut over several
 * turns, at most E1000_TX_BUDGET_FRAMES segments each; the segments come
 * out in order and byte-exact, and a packet queued behind it follows them.
 */
START_TEST(tx_tso_segments_spread_over_turns)
{
	static uint8_t f[70000], got[2000], next[64];
	const uint32_t payload = 60000, mss = NET_TSO_MIN_MSS, hdr = 54;
	const uint64_t pkt = 0x100000, after = 0x200000;
	size_t len = ipv4_frame(f, 6, payload, 0x200);
	uint32_t seq0 = get_be32(f + 38), off = 0, segs = 0;
	bool more = true;
	ssize_t n;

	f[16] = f[17] = 0;
	put_pseudo_csum(f, 0);
	memcpy(ram + pkt, f, len);
	stage_tx_frame(next, sizeof(next), mac, 77);
	memcpy(ram + after, next, sizeof(next));
	tx_setup(8);
	tx_context(0, 14, 24, 33, 34, 50, 0, payload,
		   E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP | E1000_TXD_CMD_TSE, (uint8_t)hdr,
		   (uint16_t)mss);
	tx_data(1, pkt, (uint32_t)len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
	tx_legacy(2, after, sizeof(next), 0x09);
	wr(E1000_TDT, 3);
	for (unsigned int turn = 0; off < payload; turn++) {
		unsigned int this_turn = 0;

		while (off < payload && (n = recv_frame(got, sizeof(got))) > 0) {
			uint32_t chunk = payload - off < mss ? payload - off : mss;

			ck_assert_int_eq(n, hdr + chunk);
			ck_assert_uint_eq(get_be32(got + 38), seq0 + off);
			ck_assert_uint_eq(get_be16(got + 18), (uint16_t)(0x200 + segs));
			ck_assert(ip_csum_ok(got));
			ck_assert(l4_csum_ok(got, (size_t)n, 6));
			ck_assert_mem_eq(got + hdr, f + hdr + off, chunk);
			off += chunk;
			segs++;
			this_turn++;
		}
		ck_assert_uint_le(this_turn, E1000_TX_BUDGET_FRAMES);
		ck_assert_uint_lt(turn, 1000);
		if (off < payload) {
			ck_assert(more);
			more = e1000_tx_poll(e);
		}
	}
	ck_assert_uint_eq(segs, (payload + mss - 1) / mss);
	/* The packet behind it, after every segment. */
	while (more)
		more = e1000_tx_poll(e);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), sizeof(next));
	ck_assert_mem_eq(got, next, sizeof(next));
	ck_assert_int_eq(recv_frame(got, sizeof(got)), -1);
	ck_assert_uint_eq(rd(E1000_TDH), 3);
	ck_assert_uint_eq(rd(E1000_TSCTC), 1);
}
END_TEST

START_TEST(tx_vlan_insertion)
{
	uint8_t f[80], got[128];

	stage_tx_frame(f, sizeof(f), mac, 2);
	tx_setup(8);
	wr(E1000_CTRL, rd(E1000_CTRL) | E1000_CTRL_VME);
	tx_legacy(0, TX_BUFS, sizeof(f), 0x49); /* EOP RS VLE */
	put_le(txd(0) + 14, 0x2005, 2);
	wr(E1000_TDT, 1);
	ck_assert_int_eq(recv_frame(got, sizeof(got)), sizeof(f) + 4);
	ck_assert_mem_eq(got, f, 12);
	ck_assert_uint_eq(get_be16(got + 12), 0x8100);
	ck_assert_uint_eq(get_be16(got + 14), 0x2005);
	ck_assert_mem_eq(got + 16, f + 12, sizeof(f) - 12);
}
END_TEST

/* ---- receive ---- */

static void inject(const uint8_t *f, size_t len)
{
	ck_assert_int_eq(send(peer, f, len, 0), (ssize_t)len);
}

/* A test frame (fill_frame) in f, sent to the device from the tap's side. */
static void inject_new_frame(uint8_t *f, size_t len, const uint8_t *dst, uint8_t seed)
{
	fill_frame(f, len, dst, seed);
	inject(f, len);
}

START_TEST(rx_single_frame)
{
	uint8_t f[300];

	fill_frame(f, sizeof(f), mac, 4);
	rx_setup(8, 0);
	wr(E1000_IMS, E1000_ICR_RXT0);
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	ck_assert_uint_eq(rxd(0)[12], E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP | E1000_RXD_STAT_IXSM);
	ck_assert_uint_eq(rxd(0)[13], 0);
	/* Length includes the 4 FCS bytes Linux strips (RCTL.SECRC clear). */
	ck_assert_uint_eq(rxd(0)[8] | rxd(0)[9] << 8, sizeof(f) + 4);
	ck_assert_mem_eq(ram + RX_BUFS, f, sizeof(f));
	ck_assert_uint_eq(rd(E1000_RDH), 1);
	ck_assert_int_eq(fake_vm.irq_level[GSI], 1);
	ck_assert_uint_eq(rd(E1000_ICR) & E1000_ICR_RXT0, E1000_ICR_RXT0);
	ck_assert_uint_eq(rd(E1000_GPRC), 1);
	ck_assert_uint_eq(rd(E1000_TPR), 1);
	ck_assert_uint_eq(rd(E1000_GORCL), sizeof(f) + 4);
	ck_assert_int_eq(e1000_rx_poll(e), 0);

	/* With SECRC the length is the frame's own. */
	wr(E1000_RCTL, rd(E1000_RCTL) | E1000_RCTL_SECRC);
	inject(f, 100);
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	ck_assert_uint_eq(rxd(1)[8] | rxd(1)[9] << 8, 100);
}
END_TEST

START_TEST(rx_address_filters)
{
	uint8_t f[64];
	const uint8_t other[6] = {0x02, 0, 0, 0, 0, 9},
		      bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb};
	uint32_t h;

	rx_setup(16, 0);
	wr(E1000_RCTL, E1000_RCTL_EN); /* no BAM */
	inject_new_frame(f, sizeof(f), other, 1);
	inject_new_frame(f, sizeof(f), bcast, 1);
	inject_new_frame(f, sizeof(f), mcast, 1);
	inject_new_frame(f, sizeof(f), mac, 1);
	ck_assert_int_eq(e1000_rx_poll(e), 1); /* only our unicast */
	ck_assert_uint_eq(rd(E1000_RDH), 1);

	/* Broadcast with BAM, multicast through the MTA hash (MO = 0), other unicast with UPE. */
	h = ((mcast[4] >> 4) | (uint32_t)mcast[5] << 4) & 0xfff;
	wr(E1000_MTA + 4 * (h >> 5), 1u << (h & 31));
	wr(E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM);
	inject_new_frame(f, sizeof(f), bcast, 1);
	inject_new_frame(f, sizeof(f), mcast, 1);
	inject_new_frame(f, sizeof(f), other, 1);
	ck_assert_int_eq(e1000_rx_poll(e), 2);
	ck_assert_uint_eq(rd(E1000_BPRC), 1);
	ck_assert_uint_eq(rd(E1000_MPRC), 1);
	wr(E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_UPE);
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	/* A second exact filter (RA[1]) and promiscuous multicast. */
	wr(E1000_RCTL, E1000_RCTL_EN);
	wr(E1000_RAL(1), 0x00000002);
	wr(E1000_RAH(1), 0x0900 | E1000_RAH_AV);
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	wr(E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_MPE);
	inject_new_frame(f, sizeof(f), (const uint8_t *)"\x33\x33\x00\x00\x00\x01", 1);
	ck_assert_int_eq(e1000_rx_poll(e), 1);
}
END_TEST

START_TEST(rx_waits_for_descriptors)
{
	uint8_t f[64];

	rx_setup(8, 0);
	wr(E1000_RDT, 0); /* no free descriptors */
	inject_new_frame(f, sizeof(f), mac, 1);
	inject_new_frame(f, sizeof(f), mac, 2);
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	wr(E1000_RDT, 1); /* one free */
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	ck_assert_uint_eq(ram[RX_BUFS + 20], (uint8_t)(1 + 20 * 7));
	ck_assert_int_eq(e1000_rx_poll(e), 0); /* second frame waits, not dropped */
	wr(E1000_RDT, 3);
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	ck_assert_uint_eq(ram[RX_BUFS + RX_BUF_STRIDE + 20], (uint8_t)(2 + 20 * 7));
	ck_assert_uint_eq(rd(E1000_RDH), 2);
	/* RX disabled: nothing is read. */
	wr(E1000_RCTL, 0);
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	wr(E1000_RCTL, E1000_RCTL_EN);
	ck_assert_int_eq(e1000_rx_poll(e), 1);
}
END_TEST

START_TEST(rx_ring_wrap)
{
	uint8_t f[128];
	unsigned int head = 0;

	rx_setup(8, 0);
	for (unsigned int n = 0; n < 40; n++) {
		inject_new_frame(f, sizeof(f), mac, (uint8_t)n);
		ck_assert_int_eq(e1000_rx_poll(e), 1);
		ck_assert(rxd(head)[12] & E1000_RXD_STAT_DD);
		ck_assert_mem_eq(ram + RX_BUFS + head * RX_BUF_STRIDE, f, sizeof(f));
		/* The driver hands the descriptor back. */
		rxd(head)[12] = 0;
		wr(E1000_RDT, head);
		head = (head + 1) % 8;
		ck_assert_uint_eq(rd(E1000_RDH), head);
	}
}
END_TEST

START_TEST(rx_large_frame_spans_buffers)
{
	static uint8_t f[9000];

	fill_frame(f, sizeof(f), mac, 3);
	/* 1024-byte buffers, long packets allowed. */
	rx_setup(16, E1000_RCTL_LPE | 1 << E1000_RCTL_BSIZE_SHIFT);
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	for (unsigned int i = 0; i < 9; i++) {
		uint16_t len = rxd(i)[8] | rxd(i)[9] << 8;

		ck_assert_uint_eq(len, i < 8 ? 1024 : 9004 - 8 * 1024);
		ck_assert_uint_eq(rxd(i)[12] & E1000_RXD_STAT_EOP, i == 8 ? E1000_RXD_STAT_EOP : 0);
		ck_assert_mem_eq(ram + RX_BUFS + i * RX_BUF_STRIDE, f + i * 1024,
				 i < 8 ? 1024 : sizeof(f) - 8 * 1024);
	}
	ck_assert_uint_eq(rd(E1000_RDH), 9);
	/* Without LPE a jumbo frame is dropped and counted. */
	wr(E1000_RCTL, E1000_RCTL_EN);
	inject(f, 2000);
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	ck_assert_uint_eq(rd(E1000_ROC), 1);
	/* Runt frames too. */
	inject(f, 10);
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	ck_assert_uint_eq(rd(E1000_RDH), 9);
}
END_TEST

START_TEST(rx_frame_needing_more_buffers_than_free_waits)
{
	static uint8_t f[3000];

	fill_frame(f, sizeof(f), mac, 3);
	rx_setup(8, E1000_RCTL_LPE | 1 << E1000_RCTL_BSIZE_SHIFT); /* 1024 bytes */
	wr(E1000_RDT, 2);					   /* 2 free, 3 needed */
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	ck_assert_uint_eq(rd(E1000_RDH), 0);
	wr(E1000_RDT, 3);
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	ck_assert_uint_eq(rd(E1000_RDH), 3);
}
END_TEST

START_TEST(rx_malformed_ring)
{
	uint8_t f[64];

	fill_frame(f, sizeof(f), mac, 1);
	rx_setup(8, 0);
	/* A buffer outside RAM: the descriptor completes with an error. */
	put_le(rxd(0), RAM - 8, 8);
	put_le(rxd(1), 0xfffffffffffffff0ull, 8);
	inject(f, sizeof(f));
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 2);
	ck_assert_uint_eq(rxd(0)[13], E1000_RXD_ERR_RXE);
	ck_assert_uint_eq(rxd(1)[13], E1000_RXD_ERR_RXE);
	ck_assert(rxd(0)[12] & E1000_RXD_STAT_DD);
	/* RDH/RDT beyond the ring: treated as no descriptors. */
	wr(E1000_RDT, 200);
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	/* Ring outside RAM: the frame is dropped, nothing written. */
	wr(E1000_RDBAL, RAM + 0x10000);
	wr(E1000_RDH, 0);
	wr(E1000_RDT, 4);
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	/* Zero-length ring. */
	wr(E1000_RDLEN, 0);
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 0);
}
END_TEST

START_TEST(rx_vlan_strip_and_rdmts)
{
	uint8_t f[80];

	fill_frame(f, sizeof(f), mac, 1);
	f[12] = 0x81;
	f[13] = 0x00;
	f[14] = 0x00;
	f[15] = 0x07;
	rx_setup(8, 0); /* RDMTS = 1/2: interrupt when 4 or fewer free */
	wr(E1000_CTRL, rd(E1000_CTRL) | E1000_CTRL_VME);
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	ck_assert(rxd(0)[12] & E1000_RXD_STAT_VP);
	ck_assert_uint_eq(rxd(0)[14] | rxd(0)[15] << 8, 7);
	ck_assert_uint_eq(rxd(0)[8] | rxd(0)[9] << 8, sizeof(f) - 4 + 4);
	ck_assert_mem_eq(ram + RX_BUFS + 12, f + 16, sizeof(f) - 16);
	ck_assert_uint_eq(rd(E1000_ICR) & E1000_ICR_RXDMT0, 0);
	for (int i = 0; i < 2; i++)
		inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 2);
	ck_assert_uint_eq(rd(E1000_ICR) & E1000_ICR_RXDMT0, E1000_ICR_RXDMT0);
}
END_TEST

/*
 * A tagged frame that finds too few descriptors waits and is delivered
 * later exactly as if there had been room at once: the tag stripped into
 * the descriptors, the bytes untouched (the frame is not changed while it
 * waits).
 */
START_TEST(rx_vlan_frame_held_for_descriptors_arrives_intact)
{
	uint8_t f[300], expect[300];

	fill_frame(f, sizeof(f), mac, 5);
	memcpy(f + 12, "\x81\x00\x20\x0a", 4); /* priority 1, VLAN 10 */
	memcpy(expect, f, 12);
	memcpy(expect + 12, f + 16, sizeof(f) - 16);
	memset(expect + sizeof(f) - 4, 0, 4); /* FCS room */
	/* 256-byte buffers: 296 bytes untagged + 4 FCS span two. */
	rx_setup(8, 3 << E1000_RCTL_BSIZE_SHIFT);
	wr(E1000_CTRL, rd(E1000_CTRL) | E1000_CTRL_VME);
	wr(E1000_RDT, 1); /* one free */
	inject(f, sizeof(f));
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	ck_assert_uint_eq(rd(E1000_RDH), 0);
	ck_assert_uint_eq(rxd(0)[12], 0);
	wr(E1000_RDT, 4); /* the guest frees descriptors */
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	ck_assert_uint_eq(rd(E1000_RDH), 2);
	for (unsigned int i = 0; i < 2; i++) {
		uint8_t status = E1000_RXD_STAT_DD | E1000_RXD_STAT_IXSM | E1000_RXD_STAT_VP;

		ck_assert_uint_eq(rxd(i)[8] | rxd(i)[9] << 8, i == 0 ? 256 : 44);
		ck_assert_uint_eq(rxd(i)[12], i == 1 ? status | E1000_RXD_STAT_EOP : status);
		ck_assert_uint_eq(rxd(i)[13], 0);
		ck_assert_uint_eq(rxd(i)[14] | rxd(i)[15] << 8, 0x200a);
	}
	ck_assert_mem_eq(ram + RX_BUFS, expect, 256);
	ck_assert_mem_eq(ram + RX_BUFS + RX_BUF_STRIDE, expect + 256, 44);
	ck_assert_uint_eq(rd(E1000_GORCL), sizeof(f)); /* 296 bytes + FCS */
}
END_TEST

/*
 * A frame needing more descriptors than the ring can ever offer (n - 1:
 * RDH == RDT means none) is dropped and counted (MPC) instead of blocking
 * every frame behind it; a frame needing exactly n - 1 still waits for
 * them and gets through.
 */
START_TEST(rx_frame_larger_than_the_ring_is_dropped)
{
	static uint8_t big[3000], fits[7 * 256 - 4];
	uint8_t small[64];

	fill_frame(big, sizeof(big), mac, 6);
	fill_frame(small, sizeof(small), mac, 7);
	fill_frame(fits, sizeof(fits), mac, 8);
	rx_setup(8, E1000_RCTL_LPE | 3 << E1000_RCTL_BSIZE_SHIFT); /* 256 B: big needs 12 */
	inject(big, sizeof(big));
	inject(small, sizeof(small));
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	ck_assert_mem_eq(ram + RX_BUFS, small, sizeof(small));
	ck_assert_uint_eq(rd(E1000_MPC), 1);
	ck_assert_uint_eq(rd(E1000_RDH), 1);
	ck_assert_uint_eq(rd(E1000_GPRC), 1);

	inject(fits, sizeof(fits)); /* 7 descriptors, 6 free */
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	ck_assert_uint_eq(rd(E1000_MPC), 0);
	wr(E1000_RDT, 0); /* 7 free: the whole ring but one */
	ck_assert_int_eq(e1000_rx_poll(e), 1);
	ck_assert_uint_eq(rd(E1000_RDH), 0);
	for (unsigned int i = 0; i < 7; i++)
		ck_assert_mem_eq(ram + RX_BUFS + ((1 + i) % 8) * RX_BUF_STRIDE, fits + i * 256,
				 i < 6 ? 256 : sizeof(fits) - 6 * 256);
	ck_assert(rxd(7)[12] & E1000_RXD_STAT_EOP);
}
END_TEST

START_TEST(rx_tap_gone)
{
	rx_setup(8, 0);
	close(peer);
	peer = -1;
	/* EOF: receive stops (logged once), nothing is delivered, nothing spins. */
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	ck_assert_int_eq(e1000_rx_poll(e), 0);
	ck_assert_uint_eq(rd(E1000_RDH), 0);
	/* Transmit still completes descriptors (the frames are counted as tap errors). */
	tx_setup(8);
	tx_legacy(0, TX_BUFS, 64, 0x09);
	wr(E1000_TDT, 1);
	ck_assert_uint_eq(rd(E1000_TDH), 1);
	ck_assert_uint_eq(rd(E1000_GPTC), 0);
}
END_TEST

static int irq_level(unsigned int gsi)
{
	return __atomic_load_n(&fake_vm.irq_level[gsi], __ATOMIC_ACQUIRE);
}

/* A second NIC (slot 2) with its I/O thread; bar points at it. */
static struct e1000 *threaded_nic(int *other)
{
	struct e1000 *t;
	struct tap tap;

	socket_tap(&tap, other);
	ck_assert_int_eq(e1000_create_on_tap(vm, 0, mac, &tap, true, &t), 0);
	enable_pci(2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	bar = pci_bar_address(e1000_pci_device(t), 0);
	return t;
}

/* Wait up to 10 s for cond(); false if it never held. */
static bool wait_for(bool (*cond)(void))
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (!cond()) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= 10)
			return false;
		poll(NULL, 0, 1);
	}
	return true;
}

/* INTA# of slot 2 as the PCI status register shows it (read under the bus's lock). */
static bool second_nic_irq(void)
{
	fake_vm_pio_write(vm, 0xCF8, 0x80000000u | 2 << 11 | 0x04, 4);
	return fake_vm_pio_read(vm, 0xCFE, 2) & PCI_STATUS_INTERRUPT;
}

/* Receive descriptor i is written back (DD), as the I/O thread publishes it. */
static bool rx_desc_done(unsigned int i)
{
	return __atomic_load_n(&rxd(i)[12], __ATOMIC_ACQUIRE) & E1000_RXD_STAT_DD;
}

static bool ring_slot0_done(void)
{
	return rx_desc_done(0);
}

static bool ring_slot1_done(void)
{
	return rx_desc_done(1);
}

START_TEST(rx_thread_delivers)
{
	uint8_t f[64];
	int other;
	struct e1000 *t = threaded_nic(&other);

	rx_setup(8, 0);
	wr(E1000_RDT, 0); /* the thread must wait for descriptors */
	fill_frame(f, sizeof(f), mac, 1);
	ck_assert_int_eq(send(other, f, sizeof(f), 0), (ssize_t)sizeof(f));
	wr(E1000_RDT, 4);
	ck_assert(wait_for(ring_slot0_done));
	ck_assert_mem_eq(ram + RX_BUFS, f, sizeof(f));
	e1000_destroy(t);
	close(other);
}
END_TEST

/* The I/O thread's timer delivers an assertion ITR held back, when it is due. */
START_TEST(itr_timer_delivers_held_back_interrupt)
{
	unsigned int gsi = arch_pci_slot_irq(2);
	struct timespec t0, t1;
	int other;
	struct e1000 *t = threaded_nic(&other);

	wr(E1000_ITR, 0xffff); /* ~16.8 ms between assertions */
	wr(E1000_IMS, E1000_ICR_LSC);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	wr(E1000_ICS, E1000_ICR_LSC);
	ck_assert_int_eq(irq_level(gsi), 1);
	ck_assert_uint_eq(rd(E1000_ICR), E1000_ICR_LSC);
	ck_assert_int_eq(irq_level(gsi), 0);
	wr(E1000_ICS, E1000_ICR_LSC);
	ck_assert(wait_for(second_nic_irq));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_eq(irq_level(gsi), 1);
	/* Not before the interval (65535 x 256 ns) has passed. */
	ck_assert_int_ge((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec),
			 65535L * 256);
	ck_assert_uint_eq(rd(E1000_ICR), E1000_ICR_LSC);
	e1000_destroy(t);
	close(other);
}
END_TEST

static unsigned int tx_flood_count;

static bool tx_flood_done(void)
{
	return __atomic_load_n(&txd(tx_flood_count - 1)[12], __ATOMIC_ACQUIRE) & E1000_TXD_STAT_DD;
}

/* The I/O thread finishes what one TDT write left, with no further write. */
START_TEST(tx_thread_continues_a_long_ring)
{
	const unsigned int count = 600;
	uint8_t f[64], got[128];
	unsigned int received = 0;
	int other;
	struct e1000 *t = threaded_nic(&other);

	tx_setup(1024);
	for (unsigned int i = 0; i < count; i++) {
		fill_frame(f, sizeof(f), mac, (uint8_t)i);
		memcpy(ram + TX_BUFS + i * 64, f, sizeof(f));
		tx_legacy(i, TX_BUFS + i * 64, sizeof(f), 0x09);
	}
	tx_flood_count = count;
	wr(E1000_TDT, count);
	ck_assert(wait_for(tx_flood_done));
	for (ssize_t n; (n = recv(other, got, sizeof(got), MSG_DONTWAIT)) > 0; received++) {
		fill_frame(f, sizeof(f), mac, (uint8_t)received);
		ck_assert_int_eq(n, sizeof(f));
		ck_assert_mem_eq(got, f, sizeof(f));
	}
	ck_assert_uint_eq(received, count);
	ck_assert_uint_eq(rd(E1000_TDH), count);
	e1000_destroy(t);
	close(other);
}
END_TEST

/* With room in the ring, the thread watches the tap: a frame is received with no register write. */
START_TEST(rx_thread_watches_the_tap)
{
	uint8_t f[64];
	int other;
	struct e1000 *t = threaded_nic(&other);

	rx_setup(8, 0); /* room for 7 */
	fill_frame(f, sizeof(f), mac, 1);
	ck_assert_int_eq(send(other, f, sizeof(f), 0), (ssize_t)sizeof(f));
	poll(NULL, 0, 20);
	fill_frame(f, sizeof(f), mac, 2);
	ck_assert_int_eq(send(other, f, sizeof(f), 0), (ssize_t)sizeof(f));
	ck_assert(wait_for(ring_slot1_done));
	ck_assert_mem_eq(ram + RX_BUFS + RX_BUF_STRIDE, f, sizeof(f));
	e1000_destroy(t);
	close(other);
}
END_TEST

/* ---- creation failures ---- */

static unsigned int alloc_calls, alloc_fail_at;

/* Fails the alloc_fail_at-th allocation (counting from 1). */
static void *failing_alloc(size_t size)
{
	return ++alloc_calls == alloc_fail_at ? NULL : calloc(1, size);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/*
 * Whichever allocation fails, creation returns -ENOMEM and closes no
 * descriptor: not fd 0 (a kick eventfd not yet made must not be closed as
 * fd 0), not the tap (the caller still owns it on failure).
 */
START_TEST(create_allocation_failure_closes_nothing)
{
	int saved_stdin = dup(0), pipefd[2];
	struct e1000 *x = NULL;
	unsigned int fail_at;

	ck_assert_int_ge(saved_stdin, 0);
	ck_assert_int_eq(pipe(pipefd), 0);
	for (fail_at = 1;; fail_at++) {
		struct tap tap;
		int other, ret;

		ck_assert_int_eq(dup2(pipefd[0], 0), 0);
		socket_tap(&tap, &other);
		alloc_calls = 0;
		alloc_fail_at = fail_at;
		e1000_set_allocator(failing_alloc);
		ret = e1000_create_on_tap(vm, 1, mac, &tap, false, &x);
		e1000_set_allocator(NULL);
		if (ret == 0) {
			e1000_destroy(x); /* every allocation has been made to fail once */
			close(other);
			break;
		}
		ck_assert_int_eq(ret, -ENOMEM);
		ck_assert_msg(fd_open(0), "allocation %u failing closed fd 0", fail_at);
		ck_assert_msg(fd_open(tap.fd), "allocation %u failing closed the tap", fail_at);
		close(tap.fd);
		close(other);
	}
	ck_assert_uint_ge(fail_at, 6); /* the device, three TX buffers, one RX buffer */
	dup2(saved_stdin, 0);
	close(saved_stdin);
	close(pipefd[0]);
	close(pipefd[1]);
}
END_TEST

Suite *e1000_suite(void)
{
	Suite *s = suite_create("e1000");

	unit_tcase(s, "registers", setup, teardown,
		   UNIT_TESTS(eeprom_image_checksum, eeprom_microwire_bitbang, eeprom_eerd,
			      phy_through_mdic, status_link_and_reset, plain_registers_and_masks,
			      odd_access_sizes_ignored, io_bar_window,
			      icr_read_to_clear_and_masking, itr_throttles_assertions,
			      create_allocation_failure_closes_nothing));
	unit_tcase(s, "tx", setup, teardown,
		   UNIT_TESTS(tx_legacy_single, tx_multi_descriptor_and_short_padding, tx_ring_wrap,
			      tx_needs_enable_and_bus_master, tx_malformed_descriptors,
			      tx_tap_full_drops_without_blocking, tx_checksum_offload_udp,
			      tx_legacy_checksum_insert, tx_tso_tcp_ipv4, tx_tso_bad_context,
			      tx_tso_tiny_mss_refused, tx_one_write_does_a_bounded_turn,
			      tx_tso_segments_spread_over_turns, tx_vlan_insertion));
	unit_tcase(
	    s, "rx", setup, teardown,
	    UNIT_TESTS(rx_single_frame, rx_address_filters, rx_waits_for_descriptors, rx_ring_wrap,
		       rx_large_frame_spans_buffers, rx_frame_needing_more_buffers_than_free_waits,
		       rx_malformed_ring, rx_vlan_strip_and_rdmts,
		       rx_vlan_frame_held_for_descriptors_arrives_intact,
		       rx_frame_larger_than_the_ring_is_dropped, rx_tap_gone, rx_thread_delivers,
		       rx_thread_watches_the_tap, itr_timer_delivers_held_back_interrupt,
		       tx_thread_continues_a_long_ring));
	return s;
}
