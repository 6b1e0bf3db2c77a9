/* PCI host bridge: configuration mechanism #1, BARs, command register, INTx. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "devices/pci.h"
#include "fake_vm.h"
#include "helpers.h"

static struct vm *vm;
static struct pci_device *dev;

/* What the test device's BAR handlers saw. */
static struct {
	uint64_t offset;
	uint32_t len, value;
	bool is_write;
	unsigned int calls;
} seen[2];

static void bar_handler(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	unsigned int i = (unsigned int)(uintptr_t)opaque;

	seen[i].offset = offset;
	seen[i].len = len;
	seen[i].is_write = is_write;
	seen[i].calls++;
	if (is_write)
		memcpy(&seen[i].value, data, len < 4 ? len : 4);
	else
		memset(data, 0x5a, len);
}

static struct pci_device_desc test_desc(void)
{
	struct pci_device_desc d = {
	    .name = "test",
	    .vendor_id = 0x1234,
	    .device_id = 0xabcd,
	    .subsys_vendor_id = 0x1af4,
	    .subsys_id = 0x0042,
	    .revision = 7,
	    .class_code = 0x020000,
	    .intx = true,
	};

	d.bars[0] = (struct pci_bar){PCI_BAR_MEM32, 0x20000, bar_handler, (void *)0};
	d.bars[1] = (struct pci_bar){PCI_BAR_IO, 0x40, bar_handler, (void *)1};
	return d;
}

static void setup(void)
{
	struct pci_device_desc d = test_desc();

	memset(seen, 0, sizeof(seen));
	vm = fake_vm_create(1 << 20);
	ck_assert_int_eq(pci_init(vm), 0);
	ck_assert_int_eq(pci_register_device(vm, &d, &dev), 0);
}

static void teardown(void)
{
	pci_destroy(vm);
	fake_vm_destroy(vm);
}

static uint32_t cfg_addr(unsigned int bus, unsigned int slot, unsigned int fn, unsigned int reg)
{
	return 0x80000000u | bus << 16 | slot << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t cfg_read(unsigned int slot, unsigned int reg, uint32_t len)
{
	fake_vm_pio_write(vm, 0xCF8, cfg_addr(0, slot, 0, reg), 4);
	return fake_vm_pio_read(vm, 0xCFC + (reg & 3), len);
}

static void cfg_write(unsigned int slot, unsigned int reg, uint32_t v, uint32_t len)
{
	fake_vm_pio_write(vm, 0xCF8, cfg_addr(0, slot, 0, reg), 4);
	fake_vm_pio_write(vm, 0xCFC + (reg & 3), v, len);
}

static uint32_t mmio_read(uint64_t addr)
{
	uint32_t v = 0;

	bus_dispatch(&vm->mmio, addr, (uint8_t *)&v, 4, false);
	return v;
}

START_TEST(address_register_needs_dword_access)
{
	fake_vm_pio_write(vm, 0xCF8, 0x80001234, 4);
	ck_assert_uint_eq(fake_vm_pio_read(vm, 0xCF8, 4), 0x80001234 & 0x80FFFFFC);
	/* Linux's type-1 probe writes a byte to 0xCFB; it must not hit the register. */
	fake_vm_pio_write(vm, 0xCFB, 0x01, 1);
	ck_assert_uint_eq(fake_vm_pio_read(vm, 0xCF8, 4), 0x80001234 & 0x80FFFFFC);
	ck_assert_uint_eq(fake_vm_pio_read(vm, 0xCF8, 2), 0xffff);
}
END_TEST

START_TEST(host_bridge_identity)
{
	ck_assert_uint_eq(cfg_read(0, 0, 2), 0x8086);
	ck_assert_uint_eq(cfg_read(0, 0x0A, 2), 0x0600); /* host bridge class */
	ck_assert_uint_eq(cfg_read(0, 0x0E, 1), 0);	 /* header type 0 */
}
END_TEST

START_TEST(absent_functions_read_all_ones)
{
	ck_assert_uint_eq(cfg_read(2, 0, 4), 0xffffffff); /* empty slot */
	ck_assert_uint_eq(cfg_read(31, 0, 4), 0xffffffff);
	fake_vm_pio_write(vm, 0xCF8, cfg_addr(0, 1, 1, 0), 4); /* function 1 */
	ck_assert_uint_eq(fake_vm_pio_read(vm, 0xCFC, 4), 0xffffffff);
	fake_vm_pio_write(vm, 0xCF8, cfg_addr(1, 1, 0, 0), 4); /* bus 1 */
	ck_assert_uint_eq(fake_vm_pio_read(vm, 0xCFC, 4), 0xffffffff);
	fake_vm_pio_write(vm, 0xCF8, cfg_addr(0, 1, 0, 0) & 0x7fffffff, 4); /* enable bit clear */
	ck_assert_uint_eq(fake_vm_pio_read(vm, 0xCFC, 4), 0xffffffff);
	/* Writes to absent functions go nowhere. */
	cfg_write(2, 0x04, 0xffff, 2);
	ck_assert_uint_eq(cfg_read(2, 0x04, 2), 0xffff);
}
END_TEST

START_TEST(device_header_all_access_sizes)
{
	ck_assert_uint_eq(cfg_read(1, 0, 4), 0xabcd1234);
	ck_assert_uint_eq(cfg_read(1, 0, 2), 0x1234);
	ck_assert_uint_eq(cfg_read(1, 2, 2), 0xabcd);
	ck_assert_uint_eq(cfg_read(1, 1, 1), 0x12);
	ck_assert_uint_eq(cfg_read(1, 3, 1), 0xab);
	ck_assert_uint_eq(cfg_read(1, 8, 4), 0x02000007); /* class, revision */
	ck_assert_uint_eq(cfg_read(1, 0x2C, 4), 0x00421af4);
	ck_assert_uint_eq(cfg_read(1, 0x3C, 1), 10); /* the first line PC firmware gives PCI */
	ck_assert_uint_eq(cfg_read(1, 0x3D, 1), 1);  /* INTA# */
	ck_assert_uint_eq(pci_device_slot(dev), 1);
	ck_assert_uint_eq(pci_device_gsi(dev), 10);
}
END_TEST

START_TEST(read_only_fields_ignore_writes)
{
	cfg_write(1, 0, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(1, 0, 4), 0xabcd1234);
	cfg_write(1, 0x08, 0, 4);
	ck_assert_uint_eq(cfg_read(1, 0x08, 4), 0x02000007);
	cfg_write(1, 0x3D, 4, 1);
	ck_assert_uint_eq(cfg_read(1, 0x3D, 1), 1);
	cfg_write(1, 0x30, 0xffffffff, 4); /* no expansion ROM */
	ck_assert_uint_eq(cfg_read(1, 0x30, 4), 0);
	cfg_write(1, 0x18, 0xffffffff, 4); /* unused BAR2 */
	ck_assert_uint_eq(cfg_read(1, 0x18, 4), 0);
	cfg_write(1, 0x3C, 0x55, 1); /* interrupt line is scratch for the OS */
	ck_assert_uint_eq(cfg_read(1, 0x3C, 1), 0x55);
	cfg_write(1, 0x0C, 0x10, 1);
	ck_assert_uint_eq(cfg_read(1, 0x0C, 1), 0x10);
}
END_TEST

START_TEST(bar_sizing_and_preassignment)
{
	uint32_t bar0 = cfg_read(1, 0x10, 4), bar1 = cfg_read(1, 0x14, 4);

	ck_assert_uint_eq(bar0, ARCH_PCI_MMIO_BASE);
	ck_assert_uint_eq(bar0 & 0xf, 0); /* 32-bit, non-prefetchable memory */
	ck_assert_uint_eq(bar1 & 1, 1);	  /* I/O */
	ck_assert_uint_ge(bar1 & ~3u, PCI_IO_BASE);
	ck_assert_uint_lt(bar1 & ~3u, PCI_IO_BASE + PCI_IO_SIZE);

	cfg_write(1, 0x10, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(1, 0x10, 4), ~(0x20000u - 1));
	cfg_write(1, 0x14, 0xffffffff, 4);
	ck_assert_uint_eq(cfg_read(1, 0x14, 4), (~(0x40u - 1) & 0xffffffff) | 1);
	cfg_write(1, 0x10, bar0, 4);
	cfg_write(1, 0x14, bar1, 4);
	ck_assert_uint_eq(cfg_read(1, 0x10, 4), bar0);
	ck_assert_uint_eq(cfg_read(1, 0x14, 4), bar1);
	/* Unaligned addresses lose their low bits. */
	cfg_write(1, 0x10, bar0 + 0x1234, 4);
	ck_assert_uint_eq(cfg_read(1, 0x10, 4), bar0);
}
END_TEST

START_TEST(memory_enable_gates_decoding)
{
	uint32_t bar0 = pci_bar_address(dev, 0);

	ck_assert_uint_eq(mmio_read(bar0 + 8), 0xffffffff);
	ck_assert_uint_eq(seen[0].calls, 0);
	cfg_write(1, 0x04, PCI_CMD_MEMORY, 2);
	ck_assert_uint_eq(cfg_read(1, 0x04, 2), PCI_CMD_MEMORY);
	ck_assert_uint_eq(mmio_read(bar0 + 8), 0x5a5a5a5a);
	ck_assert_uint_eq(seen[0].calls, 1);
	ck_assert_uint_eq(seen[0].offset, 8);
	/* Last dword of the BAR decodes; the byte after it does not. */
	ck_assert_uint_eq(mmio_read(bar0 + 0x20000 - 4), 0x5a5a5a5a);
	ck_assert_uint_eq(mmio_read(bar0 + 0x20000), 0xffffffff);
	ck_assert_uint_eq(mmio_read(bar0 + 0x20000 - 2), 0xffffffff); /* straddles the end */
	cfg_write(1, 0x04, 0, 2);
	ck_assert_uint_eq(mmio_read(bar0 + 8), 0xffffffff);
	ck_assert_uint_eq(seen[0].calls, 2);
}
END_TEST

START_TEST(guest_can_move_a_bar)
{
	uint32_t old = pci_bar_address(dev, 0), moved = ARCH_PCI_MMIO_BASE + 0x100000;

	cfg_write(1, 0x04, PCI_CMD_MEMORY, 2);
	cfg_write(1, 0x10, moved, 4);
	ck_assert_uint_eq(pci_bar_address(dev, 0), moved);
	ck_assert_uint_eq(mmio_read(old), 0xffffffff);
	ck_assert_uint_eq(mmio_read(moved + 0x10), 0x5a5a5a5a);
	ck_assert_uint_eq(seen[0].offset, 0x10);
	/* Moved outside the window: unreachable, and nothing crashes. */
	cfg_write(1, 0x10, 0x10000000, 4);
	ck_assert_uint_eq(mmio_read(moved + 0x10), 0xffffffff);
}
END_TEST

START_TEST(io_bar_decoding)
{
	uint32_t io = pci_bar_address(dev, 1);

	ck_assert_uint_eq(fake_vm_pio_read(vm, io + 4, 4), 0xffffffff);
	cfg_write(1, 0x04, PCI_CMD_IO, 2);
	fake_vm_pio_write(vm, io + 4, 0xdeadbeef, 4);
	ck_assert_uint_eq(seen[1].calls, 1);
	ck_assert_uint_eq(seen[1].offset, 4);
	ck_assert(seen[1].is_write);
	ck_assert_uint_eq(seen[1].value, 0xdeadbeef);
	ck_assert_uint_eq(fake_vm_pio_read(vm, io, 2), 0x5a5a);
}
END_TEST

START_TEST(intx_level_and_disable)
{
	unsigned int gsi = arch_pci_slot_irq(1);

	pci_set_irq(dev, 1);
	ck_assert_int_eq(fake_vm.irq_level[gsi], 1);
	ck_assert_uint_eq(cfg_read(1, 0x06, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	cfg_write(1, 0x04, PCI_CMD_INTX_DISABLE, 2);
	ck_assert_int_eq(fake_vm.irq_level[gsi], 0);
	/* Status still shows the device's request while masked. */
	ck_assert_uint_eq(cfg_read(1, 0x06, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	cfg_write(1, 0x04, 0, 2);
	ck_assert_int_eq(fake_vm.irq_level[gsi], 1);
	ck_assert_uint_eq(fake_vm.irq_raises[gsi], 2);
	pci_set_irq(dev, 0);
	ck_assert_int_eq(fake_vm.irq_level[gsi], 0);
	ck_assert_uint_eq(cfg_read(1, 0x06, 2) & PCI_STATUS_INTERRUPT, 0);
}
END_TEST

START_TEST(bus_master_bit)
{
	ck_assert(!pci_bus_master_enabled(dev));
	cfg_write(1, 0x04, PCI_CMD_MASTER | PCI_CMD_MEMORY, 2);
	ck_assert(pci_bus_master_enabled(dev));
	/* Byte write to the command register's high byte keeps the low byte. */
	cfg_write(1, 0x05, PCI_CMD_INTX_DISABLE >> 8, 1);
	ck_assert_uint_eq(cfg_read(1, 0x04, 2),
			  PCI_CMD_MASTER | PCI_CMD_MEMORY | PCI_CMD_INTX_DISABLE);
}
END_TEST

START_TEST(slots_run_out)
{
	struct pci_device_desc d = test_desc();
	struct pci_device *more;
	unsigned int n = 1;

	/* One slot per --net (4), each on its own line that no legacy device uses. */
	static const unsigned int lines[] = {0, 10, 11, 5, 9};

	while (pci_register_device(vm, &d, &more) == 0) {
		n++;
		ck_assert_uint_le(n, 4);
		ck_assert_uint_eq(pci_device_slot(more), n);
		ck_assert_uint_eq(pci_device_gsi(more), lines[n]);
		ck_assert_uint_eq(cfg_read(n, 0x3C, 1), lines[n]);
		ck_assert_uint_ne(pci_bar_address(more, 0), pci_bar_address(dev, 0));
	}
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(pci_register_device(vm, &d, &more), -ENOSPC);
}
END_TEST

START_TEST(bad_bar_descriptions_refused)
{
	struct pci_device_desc d = test_desc();
	struct pci_device *more;

	d.bars[0].size = 0x3000; /* not a power of two */
	ck_assert_int_eq(pci_register_device(vm, &d, &more), -EINVAL);
	d = test_desc();
	d.bars[0].handler = NULL;
	ck_assert_int_eq(pci_register_device(vm, &d, &more), -EINVAL);
	d = test_desc();
	d.bars[0].size = 0x20000000; /* larger than the window */
	ck_assert_int_eq(pci_register_device(vm, &d, &more), -ENOSPC);
}
END_TEST

START_TEST(refused_device_keeps_no_slot_or_bar)
{
	struct pci_device_desc d = test_desc();
	struct pci_device *more;

	d.bars[1].size = 0x30; /* BAR1 invalid: BAR0 must not stay reserved */
	ck_assert_int_eq(pci_register_device(vm, &d, &more), -EINVAL);
	d = test_desc();
	d.bars[2] = (struct pci_bar){PCI_BAR_MEM32, 0x10000000, bar_handler, (void *)0};
	ck_assert_int_eq(pci_register_device(vm, &d, &more), -ENOSPC); /* BAR2 does not fit */
	/* The next device gets the next slot and BARs, as if nothing happened. */
	d = test_desc();
	ck_assert_int_eq(pci_register_device(vm, &d, &more), 0);
	ck_assert_uint_eq(pci_device_slot(more), 2);
	ck_assert_uint_eq(pci_device_gsi(more), 11);
	ck_assert_uint_eq(pci_bar_address(more, 0), ARCH_PCI_MMIO_BASE + 0x20000);
	ck_assert_uint_eq(pci_bar_address(more, 1), pci_bar_address(dev, 1) + 0x40);
}
END_TEST

/* A device whose owner failed to start it goes away: slot, BARs, handlers. */
START_TEST(unregistered_device_is_gone)
{
	struct pci_device_desc d = test_desc();
	struct pci_device *more, *again;
	uint32_t bar0;

	ck_assert_int_eq(pci_register_device(vm, &d, &more), 0);
	ck_assert_uint_eq(pci_device_slot(more), 2);
	bar0 = pci_bar_address(more, 0);
	cfg_write(2, 0x04, PCI_CMD_MEMORY, 2);
	pci_unregister_device(more);
	ck_assert_uint_eq(cfg_read(2, 0x00, 4), 0xffffffff);
	ck_assert_uint_eq(mmio_read(bar0), 0xffffffff);
	ck_assert_uint_eq(seen[0].calls, 0);
	/* The next device takes the same slot and BARs. */
	ck_assert_int_eq(pci_register_device(vm, &d, &again), 0);
	ck_assert_uint_eq(pci_device_slot(again), 2);
	ck_assert_uint_eq(pci_bar_address(again, 0), bar0);
}
END_TEST

START_TEST(destroy_gives_slots_and_bars_back)
{
	struct pci_device_desc d = test_desc();
	struct pci_device *more;

	ck_assert_int_eq(pci_register_device(vm, &d, &more), 0);
	ck_assert_uint_eq(vm->resources.pci_mmio.nr_used, 2);
	/* The guest moved BAR0: what goes back is the pre-assigned range. */
	cfg_write(1, 0x10, ARCH_PCI_MMIO_BASE + 0x100000, 4);
	pci_destroy(vm);
	ck_assert_uint_eq(vm->resources.pci_slots, 0);
	ck_assert_uint_eq(vm->resources.gsis, 0);
	ck_assert_uint_eq(vm->resources.pci_mmio.nr_used, 0);
	ck_assert_uint_eq(vm->resources.pci_io.nr_used, 0);
}
END_TEST

START_TEST(init_twice_and_without_init)
{
	struct vm *other = fake_vm_create(1 << 20);
	struct pci_device_desc d = test_desc();
	struct pci_device *more;

	ck_assert_int_eq(pci_init(vm), -EEXIST);
	ck_assert_int_eq(pci_register_device(other, &d, &more), -ENODEV);
	fake_vm_destroy(other);
}
END_TEST

Suite *pci_suite(void)
{
	Suite *s = suite_create("pci");

	unit_tcase(s, "config", setup, teardown,
		   UNIT_TESTS(address_register_needs_dword_access, host_bridge_identity,
			      absent_functions_read_all_ones, device_header_all_access_sizes,
			      read_only_fields_ignore_writes, bar_sizing_and_preassignment,
			      memory_enable_gates_decoding, guest_can_move_a_bar, io_bar_decoding,
			      intx_level_and_disable, bus_master_bit, slots_run_out,
			      bad_bar_descriptions_refused, refused_device_keeps_no_slot_or_bar,
			      unregistered_device_is_gone, destroy_gives_slots_and_bars_back,
			      init_twice_and_without_init));
	return s;
}
