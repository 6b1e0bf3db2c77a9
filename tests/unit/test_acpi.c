/*
 * The x86 ACPI tables (arch/x86/acpi.c), built into a fake guest's memory
 * and read back the way a guest does: scan the BIOS area for the RSDP,
 * follow it to the XSDT, each table and the DSDT, checking signatures,
 * lengths and checksums on the way, then what each table says.
 */
#include <check.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "devices/acpi_power.h"
#include "fake_vm.h"
#include "helpers.h"

#define RAM_SIZE (2ULL << 20)

static struct vm *vm;

static void acpi_setup(void)
{
	vm = fake_vm_create(RAM_SIZE);
}

static void acpi_teardown(void)
{
	fake_vm_destroy(vm);
}

static uint8_t sum_bytes(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return s;
}

static size_t build(const struct x86_acpi_machine *m)
{
	uint8_t *buf = guest_mem_ptr(&vm->mem, ARCH_ACPI_TABLES_ADDR, ARCH_ACPI_TABLES_SIZE);

	ck_assert_ptr_nonnull(buf);
	return x86_build_acpi(buf, ARCH_ACPI_TABLES_SIZE, ARCH_ACPI_TABLES_ADDR, m);
}

/* As Linux's acpi_find_root_pointer(): "RSD PTR " on a 16-byte boundary of 0xE0000-0xFFFFF. */
static const struct acpi_rsdp *find_rsdp(void)
{
	for (uint64_t gpa = 0xE0000; gpa < 0x100000; gpa += 16) {
		const struct acpi_rsdp *r = guest_mem_ptr(&vm->mem, gpa, sizeof(*r));

		if (r && !memcmp(r->signature, "RSD PTR ", 8) && sum_bytes(r, 20) == 0)
			return r;
	}
	return NULL;
}

/* The table at gpa: its signature, a length inside guest RAM, and a zero checksum. */
static const struct acpi_table_header *table_at(uint64_t gpa, const char *sig)
{
	const struct acpi_table_header *h = guest_mem_ptr(&vm->mem, gpa, sizeof(*h));

	ck_assert_msg(h != NULL, "%s: address 0x%llx outside RAM", sig, (unsigned long long)gpa);
	ck_assert_msg(!memcmp(h->signature, sig, 4), "expected %s at 0x%llx, found %.4s", sig,
		      (unsigned long long)gpa, h->signature);
	ck_assert_uint_ge(h->length, sizeof(*h));
	ck_assert_msg(guest_mem_ptr(&vm->mem, gpa, h->length) != NULL, "%s runs past RAM", sig);
	ck_assert_msg(sum_bytes(h, h->length) == 0, "%s checksum", sig);
	ck_assert(!memcmp(h->oem_id, "MINIVM", 6));
	return h;
}

struct found {
	const struct acpi_fadt *fadt;
	const struct acpi_madt *madt;
	const struct acpi_table_header *dsdt;
};

/* RSDP -> XSDT -> FADT, MADT; FADT -> DSDT. */
static struct found walk(void)
{
	const struct acpi_rsdp *rsdp = find_rsdp();
	const struct acpi_table_header *xsdt;
	struct found f = {0};
	unsigned int entries;

	ck_assert_ptr_nonnull(rsdp);
	ck_assert_uint_eq(rsdp->revision, 2);
	ck_assert_uint_eq(rsdp->length, sizeof(*rsdp));
	ck_assert_uint_eq(sum_bytes(rsdp, sizeof(*rsdp)), 0);
	xsdt = table_at(rsdp->xsdt_address, "XSDT");
	entries = (unsigned int)((xsdt->length - sizeof(*xsdt)) / sizeof(uint64_t));
	ck_assert_uint_eq((xsdt->length - sizeof(*xsdt)) % sizeof(uint64_t), 0);
	ck_assert_uint_eq(entries, 2);
	for (unsigned int i = 0; i < entries; i++) {
		uint64_t gpa;
		const struct acpi_table_header *h;

		memcpy(&gpa, (const uint8_t *)(xsdt + 1) + i * sizeof(gpa), sizeof(gpa));
		h = guest_mem_ptr(&vm->mem, gpa, sizeof(*h));
		ck_assert_ptr_nonnull(h);
		if (!memcmp(h->signature, "FACP", 4))
			f.fadt = (const void *)table_at(gpa, "FACP");
		else
			f.madt = (const void *)table_at(gpa, "APIC");
	}
	ck_assert_ptr_nonnull(f.fadt);
	ck_assert_ptr_nonnull(f.madt);
	ck_assert_uint_eq(f.fadt->header.length, sizeof(struct acpi_fadt));
	ck_assert_uint_eq(f.fadt->dsdt, 0); /* X_DSDT only: no 32/64-bit mismatch to resolve */
	f.dsdt = table_at(f.fadt->x_dsdt, "DSDT");
	/* Everything lies in the area that boot_params and the e820 map point at. */
	ck_assert_uint_ge(f.fadt->x_dsdt, ARCH_ACPI_TABLES_ADDR);
	ck_assert_uint_le(f.fadt->x_dsdt + f.dsdt->length,
			  ARCH_ACPI_TABLES_ADDR + ARCH_ACPI_TABLES_SIZE);
	return f;
}

/* Occurrences of the len bytes of needle in the DSDT's AML. */
static unsigned int dsdt_count(const struct acpi_table_header *dsdt, const void *needle, size_t len)
{
	const uint8_t *p = (const uint8_t *)dsdt;
	unsigned int n = 0;

	for (size_t i = sizeof(*dsdt); i + len <= dsdt->length; i++)
		n += !memcmp(p + i, needle, len);
	return n;
}

static unsigned int dsdt_count_str(const struct acpi_table_header *dsdt, const char *s)
{
	return dsdt_count(dsdt, s, strlen(s));
}

/* The EISA ID integer of a PNP ID as the AML holds it (DWordPrefix, 4 bytes). */
static unsigned int dsdt_count_eisaid(const struct acpi_table_header *dsdt, uint32_t le_value)
{
	uint8_t enc[5] = {0x0c};

	memcpy(enc + 1, &le_value, 4);
	return dsdt_count(dsdt, enc, sizeof(enc));
}

#define EISA_PNP0A03 0x030AD041U
#define EISA_PNP0C0C 0x0C0CD041U
#define EISA_PNP0501 0x0105D041U
#define EISA_PNP0303 0x0303D041U

START_TEST(test_rsdp_found_in_bios_area)
{
	struct x86_acpi_machine m = {.ncpus = 1};
	const struct acpi_rsdp *rsdp;

	ck_assert_uint_gt(build(&m), 0);
	rsdp = find_rsdp();
	ck_assert_ptr_nonnull(rsdp);
	/* At the address boot_params.acpi_rsdp_addr gets. */
	ck_assert_ptr_eq(rsdp, guest_mem_ptr(&vm->mem, ARCH_ACPI_TABLES_ADDR, 1));
	ck_assert_uint_eq(rsdp->rsdt_address, 0);
	walk();
}
END_TEST

START_TEST(test_tables_reserved_in_e820)
{
	struct boot_e820_entry e820[8];
	unsigned int n = x86_build_e820(&vm->mem, e820, 8);
	bool covered = false;

	for (unsigned int i = 0; i < n; i++) {
		uint64_t end = e820[i].addr + e820[i].size;

		/* No RAM entry overlaps the tables ... */
		if (e820[i].type == E820_TYPE_RAM)
			ck_assert(end <= ARCH_ACPI_TABLES_ADDR ||
				  e820[i].addr >= ARCH_ACPI_TABLES_ADDR + ARCH_ACPI_TABLES_SIZE);
		/* ... and one reserved entry covers them. */
		if (e820[i].type == E820_TYPE_RESERVED && e820[i].addr <= ARCH_ACPI_TABLES_ADDR &&
		    end >= ARCH_ACPI_TABLES_ADDR + ARCH_ACPI_TABLES_SIZE)
			covered = true;
	}
	ck_assert(covered);
}
END_TEST

START_TEST(test_fadt_hardware_reduced)
{
	struct x86_acpi_machine m = {.ncpus = 2};
	struct found f;

	ck_assert_uint_gt(build(&m), 0);
	f = walk();
	ck_assert_uint_eq(f.fadt->header.revision, 6);
	ck_assert(f.fadt->flags & ACPI_FADT_HW_REDUCED_ACPI);
	ck_assert(f.fadt->flags & ACPI_FADT_PWR_BUTTON); /* a device, not the fixed button */
	ck_assert(f.fadt->iapc_boot_arch & ACPI_IAPC_8042);
	ck_assert_uint_eq(f.fadt->sci_int, 0);
	ck_assert_uint_eq(f.fadt->x_firmware_ctrl, 0); /* no FACS */
	ck_assert_uint_eq(f.fadt->sleep_control_reg.space_id, ACPI_GAS_SYSTEM_IO);
	ck_assert_uint_eq(f.fadt->sleep_control_reg.bit_width, 8);
	ck_assert_uint_eq(f.fadt->sleep_control_reg.address,
			  ARCH_ACPI_POWER_PORT + ACPI_POWER_SLEEP_CONTROL);
	ck_assert_uint_eq(f.fadt->sleep_status_reg.space_id, ACPI_GAS_SYSTEM_IO);
	ck_assert_uint_eq(f.fadt->sleep_status_reg.address,
			  ARCH_ACPI_POWER_PORT + ACPI_POWER_SLEEP_STATUS);
	ck_assert(f.fadt->flags & ACPI_FADT_RESET_REG_SUP);
	ck_assert_uint_eq(f.fadt->reset_reg.address, ARCH_ACPI_POWER_PORT + ACPI_POWER_RESET);
	ck_assert_uint_eq(f.fadt->reset_value, ACPI_POWER_RESET_VALUE);
}
END_TEST

/* Walks the MADT's entries by their lengths; checks them against ncpus. */
static void check_madt(const struct acpi_madt *madt, unsigned int ncpus)
{
	const uint8_t *p = (const uint8_t *)madt;
	size_t at = sizeof(*madt);
	unsigned int lapics = 0, ioapics = 0, overrides = 0, nmis = 0;
	bool seen_apic_id[256] = {false};

	ck_assert_uint_eq(madt->lapic_address, ARCH_LAPIC_ADDR);
	ck_assert_uint_eq(madt->flags & ACPI_MADT_PCAT_COMPAT, ACPI_MADT_PCAT_COMPAT);
	while (at < madt->header.length) {
		uint8_t type = p[at], len = p[at + 1];

		ck_assert_uint_ge(len, 2);
		ck_assert_uint_le(at + len, madt->header.length);
		if (type == ACPI_MADT_LAPIC) {
			const struct acpi_madt_lapic *e = (const void *)(p + at);

			ck_assert_uint_eq(len, sizeof(*e));
			ck_assert_uint_eq(e->processor_uid, lapics); /* in vCPU order */
			ck_assert_uint_eq(e->apic_id, lapics);	     /* APIC ID = vCPU index */
			ck_assert(!seen_apic_id[e->apic_id]);
			seen_apic_id[e->apic_id] = true;
			ck_assert_uint_eq(e->flags & ACPI_MADT_LAPIC_ENABLED,
					  ACPI_MADT_LAPIC_ENABLED);
			lapics++;
		} else if (type == ACPI_MADT_IOAPIC) {
			const struct acpi_madt_ioapic *e = (const void *)(p + at);

			ck_assert_uint_eq(e->address, ARCH_IOAPIC_ADDR);
			ck_assert_uint_eq(e->gsi_base, 0);
			ck_assert_uint_eq(e->id, ncpus); /* the MP table's ID, after the CPUs' */
			ioapics++;
		} else if (type == ACPI_MADT_OVERRIDE) {
			const struct acpi_madt_override *e = (const void *)(p + at);

			/*
			 * Only the PCI INTx pins differ from ISA defaults, as in the MP
			 * table; but active low, as the _PRT's GSIs are by definition:
			 * Linux maps each override's pin at boot, and a _PRT GSI whose
			 * polarity differs is then refused (EBUSY: the e1000 found no
			 * interrupt on the first ACPI boot).
			 */
			ck_assert(arch_pci_irq_pin(e->source));
			ck_assert_uint_eq(e->gsi, e->source);
			ck_assert_uint_eq(e->bus, 0);
			ck_assert_uint_eq(e->flags, ACPI_MADT_LEVEL | ACPI_MADT_ACTIVE_LOW);
			overrides++;
		} else if (type == ACPI_MADT_LAPIC_NMI) {
			const struct acpi_madt_lapic_nmi *e = (const void *)(p + at);

			ck_assert_uint_eq(e->processor_uid, ACPI_MADT_ALL_PROCESSORS);
			ck_assert_uint_eq(e->lint, 1);
			nmis++;
		} else {
			ck_abort_msg("unexpected MADT entry type %u", type);
		}
		at += len;
	}
	ck_assert_uint_eq(at, madt->header.length);
	ck_assert_uint_eq(lapics, ncpus);
	ck_assert_uint_eq(ioapics, 1);
	ck_assert_uint_eq(overrides, ARCH_PCI_MAX_SLOTS - 1);
	ck_assert_uint_eq(nmis, 1);
}

START_TEST(test_madt_per_vcpu)
{
	static const unsigned int counts[] = {1, 2, 4, 64, 254};
	struct x86_acpi_machine m = {.ncpus = counts[_i]};

	ck_assert_uint_gt(build(&m), 0);
	check_madt(walk().madt, m.ncpus);
}
END_TEST

START_TEST(test_bad_cpu_counts_refused)
{
	struct x86_acpi_machine m = {.ncpus = 0};

	ck_assert_uint_eq(build(&m), 0);
	m.ncpus = 255; /* the IOAPIC's ID would not fit */
	ck_assert_uint_eq(build(&m), 0);
}
END_TEST

/* The 9-byte Interrupt descriptor of gsi, consumer, edge, active high, exclusive. */
static unsigned int dsdt_count_edge_irq(const struct acpi_table_header *dsdt, uint32_t gsi)
{
	uint8_t d[9] = {0x89, 6, 0, 0x03, 1};

	memcpy(d + 5, &gsi, 4);
	return dsdt_count(dsdt, d, sizeof(d));
}

START_TEST(test_dsdt_virtio_windows)
{
	/* Windows 0, 2 and 7 in use (a device failed to start, or a vhost-user one). */
	struct x86_acpi_machine m = {.ncpus = 2, .virtio_windows = 0x85};
	const struct acpi_table_header *dsdt;

	ck_assert_uint_gt(build(&m), 0);
	dsdt = walk().dsdt;
	ck_assert_uint_eq(dsdt_count_str(dsdt, "LNRO0005"), 3);
	for (unsigned int n = 0; n < ARCH_VIRTIO_MMIO_MAX; n++) {
		char name[5] = {'V', 'R', '0', (char)('0' + n), 0};
		uint8_t mem[12] = {0x86, 9, 0, 1};
		uint32_t base = (uint32_t)(ARCH_VIRTIO_MMIO_BASE + n * ARCH_VIRTIO_MMIO_SIZE);
		uint32_t size = (uint32_t)ARCH_VIRTIO_MMIO_SIZE;
		unsigned int want = (m.virtio_windows >> n) & 1;

		memcpy(mem + 4, &base, 4);
		memcpy(mem + 8, &size, 4);
		ck_assert_uint_eq(dsdt_count_str(dsdt, name), want);
		ck_assert_uint_eq(dsdt_count(dsdt, mem, sizeof(mem)), want);
		ck_assert_uint_eq(dsdt_count_edge_irq(dsdt, ARCH_VIRTIO_IRQ_BASE + n), want);
	}
}
END_TEST

START_TEST(test_dsdt_fixed_devices)
{
	struct x86_acpi_machine m = {.ncpus = 1};
	const struct acpi_table_header *dsdt;

	ck_assert_uint_gt(build(&m), 0);
	dsdt = walk().dsdt;
	ck_assert_uint_eq(dsdt_count_eisaid(dsdt, EISA_PNP0501), 1);
	ck_assert_uint_eq(dsdt_count_edge_irq(dsdt, ARCH_COM1_IRQ), 1);
	ck_assert_uint_eq(dsdt_count_eisaid(dsdt, EISA_PNP0303), 1);
	ck_assert_uint_eq(dsdt_count_eisaid(dsdt, EISA_PNP0C0C), 1);
	ck_assert_uint_eq(dsdt_count_str(dsdt, "ACPI0013"), 1);
	ck_assert_uint_eq(dsdt_count_edge_irq(dsdt, ARCH_ACPI_GED_GSI), 1);
	ck_assert_uint_eq(dsdt_count_str(dsdt, "_EVT"), 1);
	ck_assert_uint_eq(dsdt_count_str(dsdt, "\\_S5_"), 1);
	/* No PCI host bridge without PCI devices. */
	ck_assert_uint_eq(dsdt_count_eisaid(dsdt, EISA_PNP0A03), 0);
	ck_assert_uint_eq(dsdt_count_str(dsdt, "_PRT"), 0);
	ck_assert_uint_eq(dsdt_count_str(dsdt, "LNRO0005"), 0);
}
END_TEST

START_TEST(test_dsdt_pci_host_bridge)
{
	struct x86_acpi_machine m = {.ncpus = 1, .pci = true};
	const struct acpi_table_header *dsdt;

	ck_assert_uint_gt(build(&m), 0);
	dsdt = walk().dsdt;
	ck_assert_uint_eq(dsdt_count_eisaid(dsdt, EISA_PNP0A03), 1);
	ck_assert_uint_eq(dsdt_count_str(dsdt, "_PRT"), 1);
	/* _PRT: Package { slot << 16 | 0xFFFF, INTA#, Zero, GSI } for each slot. */
	for (unsigned int slot = 1; slot < ARCH_PCI_MAX_SLOTS; slot++) {
		uint8_t entry[] = {
		    0x12,	   0x0b, 4,    0x0c, 0xff, 0xff,
		    (uint8_t)slot, 0x00, 0x00, 0x00, 0x0a, (uint8_t)arch_pci_slot_irq(slot)};

		ck_assert_msg(dsdt_count(dsdt, entry, sizeof(entry)) == 1, "_PRT entry of slot %u",
			      slot);
	}
	/* The windows devices/pci.c hands out: I/O and 32-bit memory. */
	{
		uint8_t io[] = {
		    0x88, 13, 0, 1, 0x0c, 3, 0, 0, ARCH_PCI_IO_BASE & 0xff, ARCH_PCI_IO_BASE >> 8};
		uint8_t mem[14] = {0x87, 23, 0, 0, 0x0c, 1, 0, 0, 0, 0};
		uint32_t base = (uint32_t)ARCH_PCI_MMIO_BASE;

		memcpy(mem + 10, &base, 4);
		ck_assert_uint_eq(dsdt_count(dsdt, io, sizeof(io)), 1);
		ck_assert_uint_eq(dsdt_count(dsdt, mem, sizeof(mem)), 1);
	}
}
END_TEST

START_TEST(test_room_too_small)
{
	struct x86_acpi_machine m = {.ncpus = 64, .virtio_windows = 0xff, .pci = true};
	static uint8_t buf[8192];
	size_t full = x86_build_acpi(buf, sizeof(buf) - 64, ARCH_ACPI_TABLES_ADDR, &m);

	ck_assert_uint_gt(full, 0);
	for (size_t room = 0; room < full; room += 7) {
		memset(buf, 0xa5, sizeof(buf));
		ck_assert_uint_eq(x86_build_acpi(buf, room, ARCH_ACPI_TABLES_ADDR, &m), 0);
		for (size_t i = room; i < room + 64; i++)
			ck_assert_uint_eq(buf[i], 0xa5);
	}
	ck_assert_uint_eq(x86_build_acpi(buf, sizeof(buf), ARCH_ACPI_TABLES_ADDR + 8, &m), 0);
}
END_TEST

Suite *acpi_suite(void)
{
	Suite *s = suite_create("acpi");
	TCase *tc =
	    unit_tcase(s, "acpi", acpi_setup, acpi_teardown,
		       UNIT_TESTS(test_rsdp_found_in_bios_area, test_tables_reserved_in_e820,
				  test_fadt_hardware_reduced, test_bad_cpu_counts_refused,
				  test_dsdt_virtio_windows, test_dsdt_fixed_devices,
				  test_dsdt_pci_host_bridge, test_room_too_small));

	tcase_add_loop_test(tc, test_madt_per_vcpu, 0, 5);
	return s;
}
