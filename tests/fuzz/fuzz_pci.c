/*
 * PCI bus 0 against a hostile guest: accesses of any width and value to
 * the configuration ports 0xCF8-0xCFF, BAR programming (sizing, moving,
 * overlapping), the command register, and accesses through the MMIO and
 * I/O windows, with the host bridge and two fake devices (one with
 * device-specific registers at 0x40-0xFF and INTA#, one with neither).
 *
 * Input: up to 1000 operations, each a byte (low 2 bits: configuration
 * port access, window access, BAR sizing, INTA# level; higher bits:
 * direction, port, window) and its decisions.
 *
 * Invariants, after every access:
 * - the read-only header fields of every function (IDs, revision, class,
 *   header type, BIST, subsystem IDs, ROM, capability pointer, interrupt
 *   pin, reserved bytes) never change; the command register holds only its
 *   writable bits; status changes only in its interrupt bit, which follows
 *   INTA#; the IOAPIC line is INTA# unless INTx is disabled;
 * - every BAR reads back aligned to its size, with its type bits (I/O: 1,
 *   memory: 0), an absent BAR reads 0, and the address dispatch uses is
 *   the one the BAR reads back;
 * - the address register keeps exactly what a dword write put there (bits
 *   31, 23-2); other accesses to 0xCF8-0xCFB read all ones;
 * - accesses to absent functions (empty slot, function 1-7, bus 1-255,
 *   enable bit clear) read all ones and reach no device; registers
 *   0x40-0xFF reach a device's own hooks with the exact offset and width,
 *   and read 0 on a device without them;
 * - a window access reaches the handler of the first enabled BAR (by slot,
 *   then BAR) covering it, at the right offset and width, and nothing else;
 *   an access no BAR covers, or one straddling a BAR's end, reads all ones.
 */
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "devices/pci.h"
#include "device_fuzz_support.h"
#include "fake_vm.h"
#include "fuzz_input.h"
#include "util.h"

#define NR_FUNCS 3 /* host bridge (slot 0), device A (1), device B (2) */

static struct vm *vm;
static struct pci_device *devs[NR_FUNCS]; /* [0] unused: the host bridge has no handle */
static struct pci_device_desc descs[NR_FUNCS];
static uint8_t initial[NR_FUNCS][64], current[NR_FUNCS][64];
static uint32_t config_address; /* what the address register should hold */

/* The last BAR handler call of an access. */
static struct {
	unsigned int calls;
	unsigned int dev, bar;
	uint64_t offset;
	uint32_t len;
	bool is_write;
} seen;

/* Device A's registers at 0x40-0xFF: what its hooks saw. */
static struct {
	unsigned int calls;
	uint32_t offset, len;
} seen_cfg;

static void pci_fuzz_bar_handler(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
				 bool is_write)
{
	uintptr_t id = (uintptr_t)opaque;

	seen.calls++;
	seen.dev = (unsigned int)(id >> 8);
	seen.bar = (unsigned int)(id & 0xff);
	seen.offset = offset;
	seen.len = len;
	seen.is_write = is_write;
	if (!is_write)
		memset(data, 0x5a, len);
}

static void pci_fuzz_cfg_read(void *opaque, uint32_t offset, uint8_t *data, uint32_t len)
{
	(void)opaque;
	seen_cfg.calls++;
	seen_cfg.offset = offset;
	seen_cfg.len = len;
	memset(data, 0x3c, len);
}

static void pci_fuzz_cfg_write(void *opaque, uint32_t offset, const uint8_t *data, uint32_t len)
{
	(void)opaque;
	(void)data;
	seen_cfg.calls++;
	seen_cfg.offset = offset;
	seen_cfg.len = len;
}

#define BAR_ID(dev, bar) ((void *)(uintptr_t)((dev) << 8 | (bar)))

static void pci_fuzz_descs(void)
{
	memset(descs, 0, sizeof(descs));
	descs[1] = (struct pci_device_desc){
	    .name = "fuzz-a",
	    .vendor_id = 0x1234,
	    .device_id = 0xabcd,
	    .subsys_vendor_id = 0x1af4,
	    .subsys_id = 0x0042,
	    .revision = 7,
	    .class_code = 0x020000,
	    .intx = true,
	    .cfg_read = pci_fuzz_cfg_read,
	    .cfg_write = pci_fuzz_cfg_write,
	};
	descs[1].bars[0] =
	    (struct pci_bar){PCI_BAR_MEM32, 0x1000, pci_fuzz_bar_handler, BAR_ID(1, 0)};
	descs[1].bars[1] = (struct pci_bar){PCI_BAR_IO, 0x40, pci_fuzz_bar_handler, BAR_ID(1, 1)};
	descs[1].bars[2] =
	    (struct pci_bar){PCI_BAR_MEM32, 0x20, pci_fuzz_bar_handler, BAR_ID(1, 2)};
	descs[2] = (struct pci_device_desc){
	    .name = "fuzz-b",
	    .vendor_id = 0x1af4,
	    .device_id = 0x1000,
	    .revision = 1,
	    .class_code = 0x010000,
	};
	descs[2].bars[0] = (struct pci_bar){PCI_BAR_IO, 4, pci_fuzz_bar_handler, BAR_ID(2, 0)};
	descs[2].bars[5] =
	    (struct pci_bar){PCI_BAR_MEM32, 0x100000, pci_fuzz_bar_handler, BAR_ID(2, 5)};
}

/* ---- the reference model ---- */

static bool pci_fuzz_present(uint32_t addr, unsigned int *slot)
{
	unsigned int s = (addr >> 11) & 0x1f;

	*slot = s;
	return (addr & 0x80000000u) && ((addr >> 16) & 0xff) == 0 && ((addr >> 8) & 7) == 0 &&
	       s < NR_FUNCS;
}

/* Bytes of the header the guest may change (the BARs aside). */
static uint8_t pci_fuzz_wmask(unsigned int f, unsigned int off)
{
	uint16_t cmd = PCI_CMD_IO | PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_PARITY |
		       PCI_CMD_SERR | PCI_CMD_INTX_DISABLE;

	switch (off) {
	case PCI_CFG_COMMAND:
		return (uint8_t)cmd;
	case PCI_CFG_COMMAND + 1:
		return (uint8_t)(cmd >> 8);
	case PCI_CFG_CACHE_LINE:
	case PCI_CFG_LATENCY:
		return 0xff;
	case PCI_CFG_INT_LINE:
		return descs[f].intx ? 0xff : 0;
	}
	return 0;
}

/* Read the header of every function through the ports; check it; leave 0xCF8 as it was. */
DFUZZ_NO_COVERAGE static void pci_fuzz_read_headers(uint8_t out[NR_FUNCS][64])
{
	for (unsigned int f = 0; f < NR_FUNCS; f++)
		for (unsigned int r = 0; r < 64; r += 4)
			put_le32(out[f] + r, dfuzz_pci_read(vm, f, r, 4));
	dfuzz_pio(vm, 0xCF8, 4, true, &config_address);
}

DFUZZ_NO_COVERAGE static void pci_fuzz_check_headers(void)
{
	pci_fuzz_read_headers(current);
	for (unsigned int f = 0; f < NR_FUNCS; f++) {
		const uint8_t *now = current[f], *was = initial[f];

		for (unsigned int off = 0; off < 64; off++) {
			uint8_t fixed = (uint8_t)~pci_fuzz_wmask(f, off);

			if (off >= PCI_CFG_BAR0 && off < PCI_CFG_BAR0 + 4 * PCI_NUM_BARS)
				continue;
			if (off == PCI_CFG_STATUS)
				fixed &= (uint8_t)~PCI_STATUS_INTERRUPT;
			FUZZ_CHECK((now[off] & fixed) == (was[off] & fixed),
				   "00:%02x.0 read-only byte 0x%02x changed: 0x%02x -> 0x%02x", f,
				   off, was[off], now[off]);
		}
		for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
			const struct pci_bar *bar = &descs[f].bars[i];
			uint32_t v = get_le32(now + PCI_CFG_BAR0 + 4 * i);

			if (f == 0 || bar->type == PCI_BAR_NONE) {
				FUZZ_CHECK(v == 0, "00:%02x.0 absent BAR%u reads 0x%08x", f, i, v);
				continue;
			}
			FUZZ_CHECK((v & (bar->size - 1)) == (bar->type == PCI_BAR_IO ? 1u : 0u),
				   "00:%02x.0 BAR%u reads 0x%08x: not aligned to its size 0x%x", f,
				   i, v, bar->size);
			FUZZ_CHECK(pci_bar_address(devs[f], i) == (v & ~(bar->size - 1)),
				   "00:%02x.0 BAR%u reads 0x%08x but decodes at 0x%08x", f, i, v,
				   pci_bar_address(devs[f], i));
		}
		if (f > 0 && descs[f].intx) {
			uint16_t cmd = get_le16(now + PCI_CFG_COMMAND);
			bool pending = now[PCI_CFG_STATUS] & PCI_STATUS_INTERRUPT;
			int want = pending && !(cmd & PCI_CMD_INTX_DISABLE);

			FUZZ_CHECK(fake_vm.irq_level[pci_device_gsi(devs[f])] == want,
				   "00:%02x.0 INTA# pending %d, INTx %s, but the line is %d", f,
				   pending, cmd & PCI_CMD_INTX_DISABLE ? "off" : "on",
				   fake_vm.irq_level[pci_device_gsi(devs[f])]);
		}
	}
}

/* The handler an access at addr of len should reach: 0 none, else dev << 8 | bar, + 1. */
static unsigned int pci_fuzz_route(enum pci_bar_type type, uint64_t addr, uint32_t len)
{
	uint16_t enable = type == PCI_BAR_IO ? PCI_CMD_IO : PCI_CMD_MEMORY;

	for (unsigned int f = 1; f < NR_FUNCS; f++) {
		if (!(get_le16(current[f] + PCI_CFG_COMMAND) & enable))
			continue;
		for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
			const struct pci_bar *bar = &descs[f].bars[i];
			uint64_t base =
			    get_le32(current[f] + PCI_CFG_BAR0 + 4 * i) & ~(bar->size - 1);

			if (bar->type != type || addr < base || addr - base >= bar->size)
				continue;
			if (len > bar->size - (addr - base))
				break; /* straddles the end: not this device */
			return (f << 8 | i) + 1;
		}
	}
	return 0;
}

/* ---- the accesses ---- */

static uint32_t pci_fuzz_width(struct fuzz_input *in, bool mmio)
{
	static const uint32_t widths[] = {1, 2, 4, 4, 8};

	return widths[fuzz_u8(in) % (mmio ? 5 : 4)];
}

/* Mostly a well-formed address of a function that exists, sometimes anything. */
static uint32_t pci_fuzz_address(struct fuzz_input *in)
{
	uint8_t how = fuzz_u8(in);
	uint32_t reg = fuzz_u8(in);

	if (how >= 240)
		return fuzz_u32(in);
	return 0x80000000u | (how >= 224 ? (uint32_t)fuzz_u8(in) << 16 : 0) | (how % 6) << 11 |
	       (how >= 208 ? (how & 7) << 8 : 0) | reg;
}

static void pci_fuzz_config_access(struct fuzz_input *in, uint8_t op)
{
	bool is_write = op & 0x10;
	unsigned int k = fuzz_u8(in) % 4, slot;
	uint32_t len = pci_fuzz_width(in, false), v = is_write ? fuzz_u32(in) : 0;
	uint16_t port = (uint16_t)((op & 0x20 ? 0xCF8 : 0xCFC) + k);
	uint32_t ones = len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
	bool claimed;

	seen_cfg.calls = 0;
	if (port == 0xCF8 && len == 4 && is_write && (op & 0x40))
		v = pci_fuzz_address(in);
	claimed = dfuzz_pio(vm, port, len, is_write, &v);
	if (!claimed)
		return; /* past 0xCFF: no device's business */
	if (port < 0xCFC) {
		if (port == 0xCF8 && len == 4 && is_write)
			config_address = v & 0x80FFFFFCu;
		else if (port == 0xCF8 && len == 4)
			FUZZ_CHECK(v == config_address, "0xCF8 reads 0x%08x, holds 0x%08x", v,
				   config_address);
		else if (!is_write)
			FUZZ_CHECK(v == ones, "0x%x (%u bytes) reads 0x%x, not all ones", port, len,
				   v);
		return;
	}
	if (!pci_fuzz_present(config_address, &slot) || k + len > 4) {
		FUZZ_CHECK(is_write || v == ones,
			   "absent function (address 0x%08x, port 0x%x, %u bytes) reads 0x%x",
			   config_address, port, len, v);
		FUZZ_CHECK(seen_cfg.calls == 0, "absent function reached device registers");
		return;
	}
	if ((config_address & 0xfc) >= 0x40) {
		uint32_t off = (config_address & 0xfc) + k;

		if (slot == 1) {
			FUZZ_CHECK(seen_cfg.calls == 1 && seen_cfg.offset == off &&
				       seen_cfg.len == len,
				   "device registers: %u calls, offset 0x%x len %u for 0x%x/%u",
				   seen_cfg.calls, seen_cfg.offset, seen_cfg.len, off, len);
			FUZZ_CHECK(is_write || v == (0x3c3c3c3cu & ones),
				   "device register reads 0x%x", v);
		} else {
			FUZZ_CHECK(is_write || v == 0, "00:%02x.0 register 0x%x reads 0x%x", slot,
				   off, v);
		}
	}
}

/* An offset from a BAR's start: mostly near either end of it, where straddling starts. */
static uint64_t pci_fuzz_bar_offset(struct fuzz_input *in, uint32_t size)
{
	uint8_t where = fuzz_u8(in);

	if (where < 96)
		return (uint64_t)(where % 16) - 8;
	if (where < 192)
		return (uint64_t)size - 8 + where % 16;
	return fuzz_u32(in) % size;
}

static void pci_fuzz_window_access(struct fuzz_input *in, uint8_t op)
{
	enum pci_bar_type type = op & 0x10 ? PCI_BAR_IO : PCI_BAR_MEM32;
	bool is_write = op & 0x20;
	uint32_t len = pci_fuzz_width(in, type == PCI_BAR_MEM32);
	unsigned int f = 1 + fuzz_below(in, NR_FUNCS - 1), i = fuzz_below(in, PCI_NUM_BARS);
	uint32_t size = descs[f].bars[i].size ? descs[f].bars[i].size : 16;
	uint64_t addr, v = fuzz_u64(in);
	unsigned int want;
	bool claimed;

	if (op & 0x40)
		addr = type == PCI_BAR_IO ? PCI_IO_BASE + fuzz_u16(in) % PCI_IO_SIZE
					  : ARCH_PCI_MMIO_BASE + fuzz_u32(in) % ARCH_PCI_MMIO_SIZE;
	else
		addr = pci_bar_address(devs[f], i) + pci_fuzz_bar_offset(in, size);
	if (type == PCI_BAR_IO && (addr > 0xffff || len > 4))
		return;
	want = pci_fuzz_route(type, addr, len);
	seen.calls = 0;
	if (type == PCI_BAR_IO) {
		uint32_t v32 = (uint32_t)v;

		claimed = dfuzz_pio(vm, (uint16_t)addr, len, is_write, &v32);
		v = v32;
	} else {
		claimed = dfuzz_mmio(vm, addr, len, is_write, &v);
	}
	if (!claimed || !want) {
		FUZZ_CHECK(seen.calls == 0,
			   "access at 0x%llx (%u bytes) reached BAR%u of 00:%02x.0",
			   (unsigned long long)addr, len, seen.bar, seen.dev);
		FUZZ_CHECK(is_write || !memcmp(&v, "\xff\xff\xff\xff\xff\xff\xff\xff", len),
			   "unclaimed read at 0x%llx is not all ones", (unsigned long long)addr);
		return;
	}
	want--;
	FUZZ_CHECK(seen.calls == 1 && seen.dev == want >> 8 && seen.bar == (want & 0xff),
		   "access at 0x%llx (%u bytes): %u calls, to 00:%02x.0 BAR%u, not BAR%u of "
		   "00:%02x.0",
		   (unsigned long long)addr, len, seen.calls, seen.dev, seen.bar, want & 0xff,
		   want >> 8);
	FUZZ_CHECK(seen.len == len && seen.is_write == is_write &&
		       seen.offset == addr - pci_bar_address(devs[seen.dev], seen.bar),
		   "access at 0x%llx: handler got offset 0x%llx len %u", (unsigned long long)addr,
		   (unsigned long long)seen.offset, seen.len);
}

/* Sizing as firmware does it: all ones, read back, then the address. */
static void pci_fuzz_size_bar(struct fuzz_input *in)
{
	unsigned int f = fuzz_below(in, NR_FUNCS), i = fuzz_below(in, PCI_NUM_BARS);
	const struct pci_bar *bar = &descs[f].bars[i];
	uint32_t v, restore = fuzz_u32(in);

	dfuzz_pci_write(vm, f, PCI_CFG_BAR0 + 4 * i, 0xffffffff, 4);
	v = dfuzz_pci_read(vm, f, PCI_CFG_BAR0 + 4 * i, 4);
	if (f == 0 || bar->type == PCI_BAR_NONE)
		FUZZ_CHECK(v == 0, "absent BAR%u of 00:%02x.0 sizes as 0x%08x", i, f, v);
	else
		FUZZ_CHECK(v == (~(bar->size - 1) | (bar->type == PCI_BAR_IO ? 1u : 0u)),
			   "BAR%u of 00:%02x.0 (0x%x bytes) sizes as 0x%08x", i, f, bar->size, v);
	dfuzz_pci_write(vm, f, PCI_CFG_BAR0 + 4 * i, restore, 4);
	dfuzz_pio(vm, 0xCF8, 4, true, &config_address);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_init(data, size);

	vm = fake_vm_create(1 << 16);
	pci_fuzz_descs();
	memset(&seen, 0, sizeof(seen));
	memset(&seen_cfg, 0, sizeof(seen_cfg));
	config_address = 0;
	if (pci_init(vm))
		abort();
	for (unsigned int f = 1; f < NR_FUNCS; f++)
		if (pci_register_device(vm, &descs[f], &devs[f]) || pci_device_slot(devs[f]) != f)
			abort();
	pci_fuzz_read_headers(initial);
	memcpy(current, initial, sizeof(current));

	for (unsigned int ops = 0; ops < 1000 && !fuzz_input_done(&in); ops++) {
		uint8_t op = fuzz_u8(&in);

		switch (op & 3) {
		case 0:
			pci_fuzz_config_access(&in, op);
			break;
		case 1:
			pci_fuzz_window_access(&in, op);
			break;
		case 2:
			pci_fuzz_size_bar(&in);
			break;
		case 3:
			pci_set_irq(devs[1 + (op >> 7)], op & 0x10);
			break;
		}
		pci_fuzz_check_headers();
	}
	pci_destroy(vm);
	fake_vm_destroy(vm);
	return 0;
}
