/*
 * The e1000 model against a hostile guest: any register access through
 * BAR0 (any offset and width) and the I/O BAR, rings and buffers the input
 * places in fake RAM, frames arriving on the tap (a socketpair), the
 * receive and transmit continuations driven by hand (no I/O thread).
 *
 * Input: 6 bytes choosing the checked frames (TX length, pieces, RX length,
 * seed), then up to 400 operations, each a byte (low 4 bits: which) and
 * its decisions: register writes and reads, I/O BAR accesses, RAM writes,
 * ring set-ups, descriptors, frames arriving, plain and offloaded (TSO,
 * checksum, VLAN) packets queued, receive and transmit turns, PCI command
 * writes, the ITR clock moving.
 *
 * Invariants:
 * - the device writes guest RAM only where the guest let it: the status
 *   byte of TX descriptors it consumed (setting DD only), the write-back
 *   half (bytes 8-15) of RX descriptors it consumed, and the buffers those
 *   RX descriptors named, RCTL's buffer size long (a shadow copy of RAM,
 *   updated by the harness's own guest writes, is compared after every
 *   access that may transmit or receive); it consumes only descriptors
 *   the guest handed over (from the head up to the tail);
 * - afterwards a reset through the I/O BAR (as Linux does it) and a normal
 *   set-up bring it back: one plain frame the guest queues (split over
 *   legacy descriptors) reaches the tap byte for byte, padded to 60 bytes,
 *   and one frame from the tap lands in an RX buffer byte for byte with the
 *   FCS room zeroed: the device never stalls for good.
 * ASan and UBSan check the host side.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "byteorder.h"
#include "devices/e1000/e1000.h"
#include "devices/e1000/e1000_internal.h"
#include "devices/net/tap.h"
#include "devices/pci.h"
#include "device_fuzz_support.h"
#include "fake_vm.h"
#include "fuzz_input.h"
#include "guest_mem.h"
#include "util.h"

/* Small: the input reaches every address, and comparing with the shadow is cheap. */
#define RAM_SIZE  0x10000u
#define MAX_OPS	  400
#define MAX_FRAME (E1000_MAX_FRAME + 64) /* a little over, to see oversized frames dropped */

/* The final, checked set-up. */
#define SANE_TX_RING 0x0000
#define SANE_RX_RING 0x0100
#define SANE_TX_BUF  0x1000
#define SANE_RX_BUF  0x4000
#define SANE_RING_N  8
#define SANE_BUF     2048

static const uint8_t e1000_fuzz_mac[6] = {0x52, 0x54, 0x00, 0xaa, 0xbb, 0xcc};

static struct vm *vm;
static struct e1000 *nic;
static int peer;
static uint8_t *ram;
static uint8_t shadow[RAM_SIZE]; /* what RAM holds but for the device's writes */
static uint32_t bar0_home, bar1_home;
static uint64_t fake_now;

static uint64_t e1000_fuzz_clock(void)
{
	return fake_now;
}

/* ---- guest accesses ---- */

static void e1000_fuzz_wr(uint32_t off, uint32_t v)
{
	uint64_t val = v;

	dfuzz_mmio(vm, pci_bar_address(e1000_pci_device(nic), 0) + off, 4, true, &val);
}

/* TX ring of tn and RX ring of rn descriptors at those addresses, both
 * empty for the device to fill (RX: every descriptor handed over but one),
 * transmit enabled. */
static void e1000_fuzz_rings(uint32_t tbase, uint32_t tn, uint32_t rbase, uint32_t rn)
{
	e1000_fuzz_wr(E1000_TDBAL, tbase);
	e1000_fuzz_wr(E1000_TDBAH, 0);
	e1000_fuzz_wr(E1000_TDLEN, 16 * tn);
	e1000_fuzz_wr(E1000_TDH, 0);
	e1000_fuzz_wr(E1000_TDT, 0);
	e1000_fuzz_wr(E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
	e1000_fuzz_wr(E1000_RDBAL, rbase);
	e1000_fuzz_wr(E1000_RDBAH, 0);
	e1000_fuzz_wr(E1000_RDLEN, 16 * rn);
	e1000_fuzz_wr(E1000_RDH, 0);
	e1000_fuzz_wr(E1000_RDT, rn - 1);
}

static uint32_t e1000_fuzz_rd(uint32_t off)
{
	uint64_t val = 0;

	dfuzz_mmio(vm, pci_bar_address(e1000_pci_device(nic), 0) + off, 4, false, &val);
	return (uint32_t)val;
}

static void e1000_fuzz_put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/* The guest writes RAM: the shadow follows. */
static void e1000_fuzz_ram_write(uint32_t gpa, const void *src, uint32_t len)
{
	if (gpa >= RAM_SIZE)
		return;
	if (len > RAM_SIZE - gpa)
		len = RAM_SIZE - gpa;
	memcpy(ram + gpa, src, len);
	memcpy(shadow + gpa, src, len);
}

/* ---- where the device may write ---- */

struct e1000_fuzz_rings {
	uint64_t tbase, rbase;
	uint32_t tn, tdh, tdt, rn, rdh, rdt, bufsize;
};

/* Buffer size by RCTL.BSIZE/BSEX, as the 8254x manual gives it (BSEX 00: reserved, 2048). */
static uint32_t e1000_fuzz_bufsize(uint32_t rctl)
{
	static const uint32_t sizes[2][4] = {{2048, 1024, 512, 256}, {2048, 16384, 8192, 4096}};

	return sizes[!!(rctl & E1000_RCTL_BSEX)][(rctl >> E1000_RCTL_BSIZE_SHIFT) & 3];
}

static struct e1000_fuzz_rings e1000_fuzz_snap(void)
{
	return (struct e1000_fuzz_rings){
	    .tbase =
		(uint64_t)E1000_REG(nic, E1000_TDBAH) << 32 | (E1000_REG(nic, E1000_TDBAL) & ~0xfu),
	    .rbase =
		(uint64_t)E1000_REG(nic, E1000_RDBAH) << 32 | (E1000_REG(nic, E1000_RDBAL) & ~0xfu),
	    .tn = E1000_REG(nic, E1000_TDLEN) / 16,
	    .tdh = E1000_REG(nic, E1000_TDH),
	    .tdt = E1000_REG(nic, E1000_TDT),
	    .rn = E1000_REG(nic, E1000_RDLEN) / 16,
	    .rdh = E1000_REG(nic, E1000_RDH),
	    .rdt = E1000_REG(nic, E1000_RDT),
	    .bufsize = e1000_fuzz_bufsize(E1000_REG(nic, E1000_RCTL)),
	};
}

/* Slots from head 'from' to 'to' in a ring of n: how many the device consumed. */
static uint32_t e1000_fuzz_consumed(uint32_t from, uint32_t to, uint32_t n)
{
	if (n == 0 || from >= n || to >= n)
		return 0;
	return (to + n - from) % n;
}

/* Is slot s of a ring of n one of the count slots from 'from' on? */
DFUZZ_NO_COVERAGE static bool e1000_fuzz_in_range(uint32_t s, uint32_t from, uint32_t count,
						  uint32_t n)
{
	return ((s + n - from) % n) < count;
}

/* Does the buffer named by the RX descriptor at desc_gpa (as mem holds it) cover a? */
DFUZZ_NO_COVERAGE static bool e1000_fuzz_in_buffer(const uint8_t *mem, uint64_t desc_gpa,
						   uint32_t bufsize, uint32_t a)
{
	uint64_t addr;

	if (desc_gpa >= RAM_SIZE || RAM_SIZE - desc_gpa < 8)
		return false;
	addr = get_le64(mem + desc_gpa);
	return a >= addr && a - addr < bufsize;
}

/* May the device have changed byte a (from old to new) in this step? */
DFUZZ_NO_COVERAGE static bool e1000_fuzz_may_write(const struct e1000_fuzz_rings *pre,
						   const struct e1000_fuzz_rings *post, uint32_t a,
						   uint32_t tcount, uint32_t rcount)
{
	uint32_t rn = post->rn, tn = post->tn;

	if (rn && a >= post->rbase && a - post->rbase < 16ull * rn) {
		uint64_t o = a - post->rbase;

		if (o % 16 >= 8 && e1000_fuzz_in_range((uint32_t)(o / 16), pre->rdh, rcount, rn))
			return true;
	}
	if (tn && a >= post->tbase && a - post->tbase < 16ull * tn) {
		uint64_t o = a - post->tbase;

		if (o % 16 == 12 && ram[a] == (shadow[a] | E1000_TXD_STAT_DD) &&
		    e1000_fuzz_in_range((uint32_t)(o / 16), pre->tdh, tcount, tn))
			return true;
	}
	for (uint32_t i = 0; i < rcount; i++) {
		uint64_t d = post->rbase + 16ull * ((pre->rdh + i) % rn);

		if (e1000_fuzz_in_buffer(shadow, d, pre->bufsize, a) ||
		    e1000_fuzz_in_buffer(ram, d, post->bufsize, a))
			return true;
	}
	return false;
}

/*
 * After one guest access or one turn of the receiver or transmitter: every
 * byte of RAM the device changed must be one it may write, given the rings
 * before (pre) and after (post).  Then the shadow catches up.
 */
DFUZZ_NO_COVERAGE static void e1000_fuzz_check_ram(const struct e1000_fuzz_rings *pre)
{
	struct e1000_fuzz_rings post = e1000_fuzz_snap();
	uint32_t tcount, rcount;

	if (!memcmp(ram, shadow, RAM_SIZE))
		return;
	tcount = e1000_fuzz_consumed(pre->tdh, post.tdh, post.tn);
	rcount = e1000_fuzz_consumed(pre->rdh, post.rdh, post.rn);
	/*
	 * RAM changed, so this step was the device's (a guest register write
	 * that moves a head writes no RAM): it consumed only descriptors the
	 * guest had handed over, from the head up to the tail.
	 */
	FUZZ_CHECK(tcount <= e1000_fuzz_consumed(pre->tdh, post.tdt, post.tn),
		   "TX head moved %u -> %u past the tail %u", pre->tdh, post.tdh, post.tdt);
	FUZZ_CHECK(rcount <= e1000_fuzz_consumed(pre->rdh, post.rdt, post.rn),
		   "RX head moved %u -> %u past the tail %u", pre->rdh, post.rdh, post.rdt);
	for (uint32_t block = 0; block < RAM_SIZE; block += 256) {
		if (!memcmp(ram + block, shadow + block, 256))
			continue;
		for (uint32_t a = block; a < block + 256; a++) {
			if (ram[a] == shadow[a])
				continue;
			FUZZ_CHECK(e1000_fuzz_may_write(pre, &post, a, tcount, rcount),
				   "device wrote guest RAM at 0x%x (0x%02x -> 0x%02x) outside its "
				   "rings and buffers (TX ring 0x%llx n %u head %u->%u; RX ring "
				   "0x%llx n %u head %u->%u, buffers %u)",
				   a, shadow[a], ram[a], (unsigned long long)post.tbase, post.tn,
				   pre->tdh, post.tdh, (unsigned long long)post.rbase, post.rn,
				   pre->rdh, post.rdh, post.bufsize);
		}
	}
	memcpy(shadow, ram, RAM_SIZE);
}

/* ---- the fuzzed sequence ---- */

static const uint32_t e1000_fuzz_regs[] = {
    E1000_CTRL,	  E1000_STATUS, E1000_EECD,   E1000_EERD, E1000_MDIC,	E1000_VET,    E1000_ICR,
    E1000_ITR,	  E1000_ICS,	E1000_IMS,    E1000_IMC,  E1000_RCTL,	E1000_TCTL,   E1000_RDBAL,
    E1000_RDBAH,  E1000_RDLEN,	E1000_RDH,    E1000_RDT,  E1000_TDBAL,	E1000_TDBAH,  E1000_TDLEN,
    E1000_TDH,	  E1000_TDT,	E1000_RXCSUM, E1000_MTA,  E1000_RAL(0), E1000_RAH(0), E1000_RAL(1),
    E1000_RAH(1), E1000_VFTA,	E1000_GORCH,  E1000_TOTL, E1000_TSCTFC,
};

/* A BAR0 offset: mostly a register the model has, sometimes anything (even past the BAR). */
static uint32_t e1000_fuzz_offset(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);

	if (how < 200)
		return e1000_fuzz_regs[how % ARRAY_SIZE(e1000_fuzz_regs)];
	if (how < 250)
		return fuzz_u32(in) % E1000_MMIO_SIZE & ~3u;
	return fuzz_u32(in) % (E1000_MMIO_SIZE + 16);
}

static uint32_t e1000_fuzz_width(struct fuzz_input *in)
{
	static const uint32_t widths[] = {4, 4, 4, 4, 1, 2, 8, 4};

	return widths[fuzz_u8(in) % ARRAY_SIZE(widths)];
}

/* A ring the way a driver sets one up, with base and size from the input. */
static void e1000_fuzz_setup_rings(struct fuzz_input *in)
{
	uint32_t tbase = fuzz_u16(in) % RAM_SIZE & ~0xfu, rbase = fuzz_u16(in) % RAM_SIZE & ~0xfu;
	uint32_t tn = 8 * (1 + fuzz_below(in, 8)), rn = 8 * (1 + fuzz_below(in, 8));
	uint32_t rctl = fuzz_u32(in) & (E1000_RCTL_UPE | E1000_RCTL_MPE | E1000_RCTL_LPE |
					E1000_RCTL_SECRC | E1000_RCTL_BSEX | 3u << 16 | 3u << 8);
	uint32_t rbuf = fuzz_u16(in) % RAM_SIZE;

	for (uint32_t i = 0; i < rn; i++) {
		uint8_t d[16] = {0};

		e1000_fuzz_put_le64(d, rbuf + i * e1000_fuzz_bufsize(rctl));
		e1000_fuzz_ram_write(rbase + 16 * i, d, 16);
	}
	dfuzz_pci_write(vm, pci_device_slot(e1000_pci_device(nic)), PCI_CFG_COMMAND,
			PCI_CMD_MEMORY | PCI_CMD_IO | PCI_CMD_MASTER, 2);
	e1000_fuzz_rings(tbase, tn, rbase, rn);
	e1000_fuzz_wr(E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM | rctl);
}

/* A descriptor the input makes, written into slot i of the current TX or RX ring. */
static void e1000_fuzz_descriptor(struct fuzz_input *in, bool tx)
{
	uint64_t base = tx ? (uint64_t)E1000_REG(nic, E1000_TDBAL) & ~0xfu
			   : (uint64_t)E1000_REG(nic, E1000_RDBAL) & ~0xfu;
	uint32_t slot = fuzz_u8(in) % 64;
	uint8_t d[16];

	fuzz_input_bytes(in, d, sizeof(d));
	/* Mostly a buffer in RAM; the length and command bytes stay as given. */
	if (d[7] < 0xf0)
		e1000_fuzz_put_le64(d, get_le16(d) % RAM_SIZE);
	if (tx && (d[15] & 1))
		d[9] &= 0x07; /* mostly frame-sized lengths */
	else if (!tx)
		memset(d + 8, 0, 8);
	e1000_fuzz_ram_write((uint32_t)(base + 16 * slot), d, 16);
}

/* A frame arrives on the tap: to us, broadcast, multicast or anyone, any length. */
static void e1000_fuzz_inject(struct fuzz_input *in)
{
	static uint8_t frame[MAX_FRAME];
	uint8_t kind = fuzz_u8(in);
	uint32_t len = fuzz_u16(in);
	uint8_t seed = fuzz_u8(in);

	/* At least a byte: an empty datagram is the socket's end of file, which stops RX for good.
	 */
	len = 1 + (kind & 0x80 ? len % MAX_FRAME : len % 1600);
	for (uint32_t i = 0; i < len; i++)
		frame[i] = (uint8_t)(seed + i * 13);
	if (len >= 6) {
		switch (kind & 3) {
		case 0:
			memcpy(frame, e1000_fuzz_mac, 6);
			break;
		case 1:
			memset(frame, 0xff, 6);
			break;
		case 2:
			frame[0] |= 1;
			break;
		}
	}
	if (len >= 16 && (kind & 0x40)) {
		frame[12] = 0x81; /* an 802.1Q tag, for VLAN stripping */
		frame[13] = 0x00;
	}
	send(peer, frame, len, MSG_DONTWAIT);
}

/* A plain packet over a few legacy descriptors from TDT on, then TDT moves past it. */
static void e1000_fuzz_queue_packet(struct fuzz_input *in)
{
	uint64_t base = (uint64_t)E1000_REG(nic, E1000_TDBAL) & ~0xfu;
	uint32_t n = E1000_REG(nic, E1000_TDLEN) / 16, tail = E1000_REG(nic, E1000_TDT);
	uint32_t parts = 1 + fuzz_below(in, 4);

	if (n == 0 || tail >= n)
		return;
	for (uint32_t i = 0; i < parts; i++) {
		uint8_t d[16] = {0};
		uint8_t cmd = fuzz_u8(in);

		e1000_fuzz_put_le64(d, fuzz_u16(in) % RAM_SIZE);
		put_le16(d + 8, fuzz_u16(in) % 2048);
		d[11] = (uint8_t)((i + 1 == parts ? 0x01 : 0) | (cmd & 0xfe)); /* EOP on the last */
		e1000_fuzz_ram_write((uint32_t)(base + 16 * tail), d, 16);
		tail = (tail + 1) % n;
	}
	e1000_fuzz_wr(E1000_TDT, tail);
}

/*
 * A TCP/IPv4 packet with offloads, as Linux queues one: a context
 * descriptor (header offsets, MSS, TSE) and a data descriptor asking for
 * segmentation and/or checksums, over headers that are sane unless the
 * input says otherwise.
 */
static void e1000_fuzz_queue_offload(struct fuzz_input *in)
{
	uint64_t base = (uint64_t)E1000_REG(nic, E1000_TDBAL) & ~0xfu;
	uint32_t n = E1000_REG(nic, E1000_TDLEN) / 16, tail = E1000_REG(nic, E1000_TDT);
	uint32_t buf = fuzz_u16(in) % RAM_SIZE, paylen = fuzz_u16(in) % 8192;
	uint16_t mss = fuzz_u16(in) % 2048;
	uint8_t flags = fuzz_u8(in), hdr_len = flags & 0x08 ? fuzz_u8(in) : 54;
	uint32_t tse = flags & 1 ? E1000_TXD_CMD_TSE : 0;
	static uint8_t pkt[54 + 8192];
	uint8_t ctx[16] = {0}, data[16] = {0};

	if (n < 2 || tail >= n)
		return;
	memset(pkt, 0, 54);
	memcpy(pkt, "\x02\x11\x22\x33\x44\x55\x52\x54\x00\xaa\xbb\xcc\x08\x00", 14);
	pkt[14] = 0x45;
	put_be16(pkt + 16, (uint16_t)(40 + paylen));
	pkt[22] = 64;
	pkt[23] = 6;
	memcpy(pkt + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	pkt[46] = 5 << 4;
	pkt[47] = 0x18;
	for (uint32_t i = 0; i < paylen; i++)
		pkt[54 + i] = (uint8_t)(i * 13 + flags);
	e1000_fuzz_ram_write(buf, pkt, 54 + paylen);

	ctx[0] = 14;
	ctx[1] = 24;
	put_le16(ctx + 2, flags & 0x40 ? fuzz_u16(in) : 33);
	ctx[4] = 34;
	ctx[5] = flags & 0x80 ? fuzz_u8(in) : 50;
	put_le32(ctx + 8, paylen | E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP | tse | E1000_TXD_CMD_DEXT |
			      E1000_TXD_CMD_RS);
	ctx[13] = hdr_len;
	put_le16(ctx + 14, mss);
	e1000_fuzz_ram_write((uint32_t)(base + 16 * tail), ctx, 16);
	tail = (tail + 1) % n;

	e1000_fuzz_put_le64(data, buf);
	put_le32(data + 8, (54 + paylen) | tse | E1000_TXD_CMD_DEXT | E1000_TXD_DTYP_DATA |
			       E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS |
			       (flags & 0x04 ? E1000_TXD_CMD_VLE : 0));
	data[13] = (flags >> 4) & (E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM);
	put_le16(data + 14, 0x0123);
	e1000_fuzz_ram_write((uint32_t)(base + 16 * tail), data, 16);
	tail = (tail + 1) % n;
	e1000_fuzz_wr(E1000_TDT, tail);
}

static void e1000_fuzz_op(struct fuzz_input *in)
{
	struct e1000_fuzz_rings pre = e1000_fuzz_snap();
	unsigned int slot = pci_device_slot(e1000_pci_device(nic));
	uint64_t bar0 = pci_bar_address(e1000_pci_device(nic), 0);
	uint16_t bar1 = (uint16_t)pci_bar_address(e1000_pci_device(nic), 1);
	uint8_t op = fuzz_u8(in);
	uint64_t v64;
	uint32_t v32, off, len;
	uint8_t bytes[64];

	switch (op % 16) {
	case 0:
	case 1:
	case 2: /* BAR0 write */
		off = e1000_fuzz_offset(in);
		len = e1000_fuzz_width(in);
		v64 = fuzz_u64(in);
		dfuzz_mmio(vm, bar0 + off, len, true, &v64);
		break;
	case 3: /* BAR0 read */
		off = e1000_fuzz_offset(in);
		len = e1000_fuzz_width(in);
		dfuzz_mmio(vm, bar0 + off, len, false, &v64);
		break;
	case 4: /* the I/O BAR: IOADDR/IODATA, or anything in it */
		off = fuzz_u8(in) % (E1000_IO_SIZE + 4);
		if (!(op & 0x10))
			off &= 4;
		len = e1000_fuzz_width(in) % 8;
		v32 = op & 0x20 ? e1000_fuzz_offset(in) : fuzz_u32(in);
		dfuzz_pio(vm, (uint16_t)(bar1 + off), len ? len : 4, !(op & 0x40), &v32);
		break;
	case 5: /* guest writes RAM */
		off = fuzz_u16(in) % RAM_SIZE;
		len = 1 + fuzz_below(in, sizeof(bytes));
		fuzz_input_bytes(in, bytes, len);
		e1000_fuzz_ram_write(off, bytes, len);
		break;
	case 6:
		e1000_fuzz_setup_rings(in);
		break;
	case 7:
		e1000_fuzz_descriptor(in, true);
		break;
	case 8:
		e1000_fuzz_descriptor(in, false);
		break;
	case 9:
		e1000_fuzz_inject(in);
		break;
	case 10:
		e1000_rx_poll(nic);
		break;
	case 11:
		e1000_tx_poll(nic);
		break;
	case 12: /* configuration space: the command register mostly */
		off = op & 0x10 ? fuzz_u8(in) % 0x40 : PCI_CFG_COMMAND;
		v32 = fuzz_u32(in);
		dfuzz_pci_write(vm, slot, off, v32, op & 0x20 ? 4 : 2);
		break;
	case 13:
		dfuzz_drain(peer);
		break;
	case 14:
		if (op & 0x10)
			e1000_fuzz_queue_offload(in);
		else
			e1000_fuzz_queue_packet(in);
		break;
	case 15:
		fake_now += (uint64_t)fuzz_u16(in) * 256;
		break;
	}
	/* Only a register write or a receive/transmit turn lets the device write RAM. */
	if (op % 16 != 3 && op % 16 != 5 && op % 16 != 7 && op % 16 != 8 && op % 16 != 9 &&
	    op % 16 != 13 && op % 16 != 15)
		e1000_fuzz_check_ram(&pre);
}

/* ---- the checked set-up after it ---- */

static void e1000_fuzz_reset_and_setup(void)
{
	unsigned int slot = pci_device_slot(e1000_pci_device(nic));
	uint32_t v, bar1;
	uint8_t zero[SANE_RING_N * 16] = {0};

	/* What firmware would do: BARs home, decoding and bus mastering on. */
	dfuzz_pci_write(vm, slot, PCI_CFG_BAR0, bar0_home, 4);
	dfuzz_pci_write(vm, slot, PCI_CFG_BAR0 + 4, bar1_home, 4);
	dfuzz_pci_write(vm, slot, PCI_CFG_COMMAND, PCI_CMD_MEMORY | PCI_CMD_IO | PCI_CMD_MASTER, 2);
	FUZZ_CHECK(pci_bar_address(e1000_pci_device(nic), 0) == bar0_home, "BAR0 not restored");
	bar1 = pci_bar_address(e1000_pci_device(nic), 1);
	/* Reset the way Linux does on the 82540EM: through IOADDR/IODATA. */
	v = E1000_CTRL;
	FUZZ_CHECK(dfuzz_pio(vm, (uint16_t)bar1, 4, true, &v), "I/O BAR unclaimed");
	v = E1000_CTRL_RST;
	FUZZ_CHECK(dfuzz_pio(vm, (uint16_t)(bar1 + 4), 4, true, &v), "I/O BAR unclaimed");
	FUZZ_CHECK(e1000_fuzz_rd(E1000_STATUS) & E1000_STATUS_LU, "no link after reset");
	FUZZ_CHECK(e1000_fuzz_rd(E1000_TDH) == 0 && e1000_fuzz_rd(E1000_RDH) == 0,
		   "rings not reset");
	/* Frames the fuzzed sequence sent, or left waiting on the tap, are not ours to check. */
	dfuzz_drain(peer);
	dfuzz_drain(nic->tap.fd);

	e1000_fuzz_ram_write(SANE_TX_RING, zero, sizeof(zero));
	for (uint32_t i = 0; i < SANE_RING_N; i++) {
		e1000_fuzz_put_le64(zero + 16 * i, SANE_RX_BUF + i * SANE_BUF);
		memset(zero + 16 * i + 8, 0, 8);
	}
	e1000_fuzz_ram_write(SANE_RX_RING, zero, sizeof(zero));
	e1000_fuzz_rings(SANE_TX_RING, SANE_RING_N, SANE_RX_RING, SANE_RING_N);
	e1000_fuzz_wr(E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_BAM);
}

/* One plain frame of len bytes, split over parts legacy descriptors, reaches the tap intact. */
static void e1000_fuzz_check_tx(uint32_t len, uint32_t parts, uint8_t seed)
{
	static uint8_t frame[1514], got[2048];
	struct e1000_fuzz_rings pre = e1000_fuzz_snap();
	uint32_t done = 0, want = len < 60 ? 60 : len;
	ssize_t n;

	for (uint32_t i = 0; i < len; i++)
		frame[i] = (uint8_t)(seed * 31 + i * 7);
	memcpy(frame + 6, e1000_fuzz_mac, 6);
	e1000_fuzz_ram_write(SANE_TX_BUF, frame, len);
	for (uint32_t i = 0; i < parts; i++) {
		uint32_t piece = i + 1 == parts ? len - done : len / parts;
		uint8_t d[16] = {0};

		e1000_fuzz_put_le64(d, SANE_TX_BUF + done);
		put_le16(d + 8, (uint16_t)piece);
		d[11] = (uint8_t)((E1000_TXD_CMD_RS | E1000_TXD_CMD_IFCS |
				   (i + 1 == parts ? E1000_TXD_CMD_EOP : 0)) >>
				  24);
		e1000_fuzz_ram_write(SANE_TX_RING + 16 * i, d, 16);
		done += piece;
	}
	e1000_fuzz_wr(E1000_TDT, parts);
	for (int turns = 0; turns < 4 && e1000_tx_poll(nic); turns++)
		;
	e1000_fuzz_check_ram(&pre);
	FUZZ_CHECK(E1000_REG(nic, E1000_TDH) == parts, "TX stalled after reset: TDH %u, TDT %u",
		   E1000_REG(nic, E1000_TDH), parts);
	for (uint32_t i = 0; i < parts; i++)
		FUZZ_CHECK(ram[SANE_TX_RING + 16 * i + 12] & E1000_TXD_STAT_DD,
			   "TX descriptor %u not done", i);
	n = recv(peer, got, sizeof(got), MSG_DONTWAIT);
	FUZZ_CHECK(n == (ssize_t)want, "tap got %zd bytes, the guest sent %u (padded %u)", n, len,
		   want);
	FUZZ_CHECK(!memcmp(got, frame, len), "TX frame differs from the guest's bytes");
	for (uint32_t i = len; i < want; i++)
		FUZZ_CHECK(got[i] == 0, "TX padding byte %u is 0x%02x", i, got[i]);
	FUZZ_CHECK(recv(peer, got, sizeof(got), MSG_DONTWAIT) < 0, "more than one TX frame");
}

/* One frame from the tap lands in the first RX buffer intact. */
static void e1000_fuzz_check_rx(uint32_t len, uint8_t seed)
{
	static uint8_t frame[1514];
	struct e1000_fuzz_rings pre = e1000_fuzz_snap();
	const uint8_t *d = ram + SANE_RX_RING;
	int got;

	for (uint32_t i = 0; i < len; i++)
		frame[i] = (uint8_t)(seed * 17 + i * 11 + 1);
	memcpy(frame, e1000_fuzz_mac, 6);
	frame[12] = 0x88; /* not a VLAN tag */
	FUZZ_CHECK(send(peer, frame, len, MSG_DONTWAIT) == (ssize_t)len, "cannot inject");
	got = e1000_rx_poll(nic);
	e1000_fuzz_check_ram(&pre);
	FUZZ_CHECK(got == 1, "RX stalled after reset: %d frames delivered", got);
	FUZZ_CHECK(E1000_REG(nic, E1000_RDH) == 1, "RDH %u after one frame",
		   E1000_REG(nic, E1000_RDH));
	FUZZ_CHECK(get_le16(d + 8) == len + 4, "RX length %u for a frame of %u (+ FCS)",
		   get_le16(d + 8), len);
	FUZZ_CHECK((d[12] & (E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP)) ==
			   (E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP) &&
		       d[13] == 0,
		   "RX status 0x%02x errors 0x%02x", d[12], d[13]);
	FUZZ_CHECK(!memcmp(ram + SANE_RX_BUF, frame, len), "RX buffer differs from the frame");
	for (uint32_t i = len; i < len + 4; i++)
		FUZZ_CHECK(ram[SANE_RX_BUF + i] == 0, "FCS room byte %u is 0x%02x", i - len,
			   ram[SANE_RX_BUF + i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_init(data, size);
	struct tap tap;
	/* The checked frames' shapes come first, so the fuzzed sequence can be any length. */
	uint32_t tx_len = 14 + fuzz_u16(&in) % (1514 - 14 + 1);
	uint32_t tx_parts = 1 + fuzz_below(&in, 3);
	uint32_t rx_len = 14 + fuzz_u16(&in) % (1514 - 14 + 1);
	uint8_t seed = fuzz_u8(&in);

	vm = fake_vm_create(RAM_SIZE);
	ram = vm->mem.regions[0].host;
	memset(shadow, 0, sizeof(shadow));
	fake_now = 1000000;
	if (pci_init(vm))
		abort();
	dfuzz_socket_tap(&tap, &peer);
	if (e1000_create_on_tap(vm, 0, e1000_fuzz_mac, &tap, false, &nic))
		abort();
	e1000_set_clock(nic, e1000_fuzz_clock);
	bar0_home = pci_bar_address(e1000_pci_device(nic), 0);
	bar1_home = pci_bar_address(e1000_pci_device(nic), 1);
	dfuzz_pci_write(vm, pci_device_slot(e1000_pci_device(nic)), PCI_CFG_COMMAND,
			PCI_CMD_MEMORY | PCI_CMD_IO | PCI_CMD_MASTER, 2);

	for (unsigned int ops = 0; ops < MAX_OPS && !fuzz_input_done(&in); ops++)
		e1000_fuzz_op(&in);

	e1000_fuzz_reset_and_setup();
	e1000_fuzz_check_tx(tx_len, tx_parts, seed);
	e1000_fuzz_check_rx(rx_len, seed);

	e1000_destroy(nic);
	close(peer);
	pci_destroy(vm);
	fake_vm_destroy(vm);
	return 0;
}
