/*
 * The x86 guest's ACPI tables (acpi.h, docs/acpi.md).  Hardware-reduced, as
 * Firecracker and cloud-hypervisor do: there is no PM1 block, GPE block,
 * SCI or PM timer to emulate; power-off and reset are the three registers
 * of devices/acpi_power.h, the power button an interrupt of the Generic
 * Event Device.  The MP table and the command line's virtio_mmio.device=
 * words stay (mptable.c, virtio/mmio.c) for kernels without ACPI.
 */
#include "acpi.h"

#include <string.h>

#include "aml.h"
#include "boot.h"
#include "devices/acpi_power.h"
#include "layout.h"

_Static_assert(sizeof(struct acpi_table_header) == 36, "SDT header");
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP");
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS");
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT (ACPI 6.0)");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT flags");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT");
_Static_assert(offsetof(struct acpi_fadt, sleep_control_reg) == 244, "FADT sleep control");
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT");
_Static_assert(sizeof(struct acpi_madt_lapic) == 8, "MADT local APIC");
_Static_assert(sizeof(struct acpi_madt_ioapic) == 12, "MADT I/O APIC");
_Static_assert(sizeof(struct acpi_madt_override) == 10, "MADT override");
_Static_assert(sizeof(struct acpi_madt_lapic_nmi) == 6, "MADT local APIC NMI");

#define ACPI_OEM_ID	   "MINIVM"
#define ACPI_OEM_TABLE_ID  "MINIVMM "
#define ACPI_CREATOR_ID	   "MVMM"
#define ACPI_REVISION_FADT 6 /* ACPI 6.0 */
#define ACPI_REVISION_MADT 4
#define ACPI_REVISION_XSDT 1
#define ACPI_REVISION_DSDT 2 /* 64-bit integers */
#define ACPI_XSDT_ENTRIES  2 /* FADT, MADT */

/* The MC146818 index that legacy_ports.c keeps the century in. */
#define ACPI_CMOS_CENTURY 0x32

/* DSDT names. */
#define DSDT_POWER_BUTTON	   "PWRB"
#define DSDT_NOTIFY_BUTTON_PRESSED 0x80 /* a power button's "pressed" notification */

static void acpi_header(struct acpi_table_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
	h->checksum = 0;
	h->checksum = x86_table_checksum(h, len);
}

/* ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi } ... */
static void dsdt_edge_irq(struct aml_resources *r, unsigned int gsi)
{
	aml_res_interrupt(r, true, false, false, gsi);
}

/* Device (name) { Name (_HID, EISAID (hid)) Name (_UID, uid) Name (_CRS, r) } */
static void dsdt_pnp_device(struct aml *a, const char *name, const char *hid, unsigned int uid,
			    const struct aml_resources *r)
{
	aml_device(a, name);
	aml_name(a, "_HID");
	aml_eisaid(a, hid);
	aml_name(a, "_UID");
	aml_integer(a, uid);
	aml_name(a, "_CRS");
	aml_resource_template(a, r);
	aml_end(a);
}

static void dsdt_serial(struct aml *a)
{
	struct aml_resources r;

	aml_resources_init(&r);
	aml_res_io(&r, ARCH_COM1_PORT, ARCH_COM1_PORT, 1, 8);
	dsdt_edge_irq(&r, ARCH_COM1_IRQ);
	dsdt_pnp_device(a, "COM1", "PNP0501", 1, &r);
}

/* The keyboard controller: its two ports and the keyboard's ISA line, as PC
 * firmware describes it; minivmm's i8042 raises no interrupt, but a kernel
 * that finds it through PNP expects the line. */
static void dsdt_i8042(struct aml *a)
{
	struct aml_resources r;

	aml_resources_init(&r);
	aml_res_io(&r, ARCH_I8042_DATA_PORT, ARCH_I8042_DATA_PORT, 1, 1);
	aml_res_io(&r, ARCH_I8042_CMD_PORT, ARCH_I8042_CMD_PORT, 1, 1);
	dsdt_edge_irq(&r, 1);
	dsdt_pnp_device(a, "PS2K", "PNP0303", 0, &r);
}

/* Window n: Device (VR0n) { _HID "LNRO0005", _UID n, its 4 KiB and its edge line }. */
static void dsdt_virtio_mmio(struct aml *a, unsigned int n)
{
	struct aml_resources r;
	char name[5] = {'V', 'R', '0', (char)('0' + n), '\0'};

	aml_resources_init(&r);
	aml_res_memory32_fixed(&r, true,
			       (uint32_t)(ARCH_VIRTIO_MMIO_BASE + n * ARCH_VIRTIO_MMIO_SIZE),
			       (uint32_t)ARCH_VIRTIO_MMIO_SIZE);
	dsdt_edge_irq(&r, ARCH_VIRTIO_IRQ_BASE + n);
	aml_device(a, name);
	aml_name(a, "_HID");
	aml_string(a, "LNRO0005");
	aml_name(a, "_UID");
	aml_integer(a, n);
	aml_name(a, "_CRS");
	aml_resource_template(a, &r);
	aml_end(a);
}

/*
 * Bus 0 behind configuration mechanism #1 (0xCF8), with the windows
 * devices/pci.c places BARs in, and _PRT: INTA# of slot n on GSI
 * arch_pci_slot_irq(n).  Linux takes a _PRT entry that names a GSI as
 * level-triggered, active-low; KVM's IOAPIC ignores the polarity bit, so
 * the line minivmm raises is "asserted" either way (docs/acpi.md).
 */
static void dsdt_pci_host(struct aml *a)
{
	struct aml_resources r;

	aml_resources_init(&r);
	aml_res_word_bus_number(&r, 0, 0);
	aml_res_io(&r, 0xCF8, 0xCF8, 1, 8);
	aml_res_word_io(&r, ARCH_PCI_IO_BASE, ARCH_PCI_IO_BASE + ARCH_PCI_IO_SIZE - 1);
	aml_res_dword_memory(&r, (uint32_t)ARCH_PCI_MMIO_BASE,
			     (uint32_t)(ARCH_PCI_MMIO_BASE + ARCH_PCI_MMIO_SIZE - 1));

	aml_device(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A03");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_SEG");
	aml_integer(a, 0);
	aml_name(a, "_BBN");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	aml_resource_template(a, &r);
	aml_name(a, "_PRT");
	aml_package(a, ARCH_PCI_MAX_SLOTS - 1);
	for (unsigned int slot = 1; slot < ARCH_PCI_MAX_SLOTS; slot++) {
		aml_package(a, 4);
		aml_integer(a, (uint64_t)slot << 16 | 0xFFFF); /* any function of the slot */
		aml_integer(a, 0);			       /* INTA# */
		aml_integer(a, 0); /* no link device: the next field is a GSI */
		aml_integer(a, arch_pci_slot_irq(slot));
		aml_end(a);
	}
	aml_end(a);
	aml_end(a);
}

/*
 * The power button and the Generic Event Device that reports it: minivmm
 * pulses ARCH_ACPI_GED_GSI, Linux's GED driver runs _EVT with the GSI, and
 * _EVT notifies the button, whose driver reports KEY_POWER.
 */
static void dsdt_power_button(struct aml *a)
{
	struct aml_resources r;

	aml_device(a, DSDT_POWER_BUTTON);
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0C0C");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_end(a);

	aml_resources_init(&r);
	dsdt_edge_irq(&r, ARCH_ACPI_GED_GSI);
	aml_device(a, "GED0");
	aml_name(a, "_HID");
	aml_string(a, "ACPI0013");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	aml_resource_template(a, &r);
	aml_method(a, "_EVT", 1, false);
	aml_if(a);
	aml_lequal(a);
	aml_arg(a, 0);
	aml_integer(a, ARCH_ACPI_GED_GSI);
	aml_notify(a);
	aml_name_string(a, DSDT_POWER_BUTTON);
	aml_integer(a, DSDT_NOTIFY_BUTTON_PRESSED);
	aml_end(a); /* If */
	aml_end(a); /* Method */
	aml_end(a); /* Device */
}

size_t x86_build_dsdt(uint8_t *buf, size_t room, const struct x86_acpi_machine *m)
{
	struct acpi_table_header *h = (struct acpi_table_header *)buf;
	struct aml a;
	size_t len;

	if (room < sizeof(*h))
		return 0;
	aml_init(&a, buf + sizeof(*h), room - sizeof(*h));
	aml_scope(&a, "\\_SB_");
	dsdt_serial(&a);
	dsdt_i8042(&a);
	for (unsigned int n = 0; n < ARCH_VIRTIO_MMIO_MAX; n++)
		if (m->virtio_windows & (1U << n))
			dsdt_virtio_mmio(&a, n);
	if (m->pci)
		dsdt_pci_host(&a);
	dsdt_power_button(&a);
	aml_end(&a);

	/* \_S5_: SLP_TYPa and SLP_TYPb for soft-off; only SLP_TYPa reaches the
	 * sleep control register of a hardware-reduced platform. */
	aml_name(&a, "\\_S5_");
	aml_package(&a, 4);
	aml_integer(&a, ACPI_POWER_S5_TYPE);
	aml_integer(&a, ACPI_POWER_S5_TYPE);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_end(&a);

	len = aml_finish(&a);
	if (!len || len > UINT32_MAX - sizeof(*h))
		return 0;
	memset(h, 0, sizeof(*h));
	acpi_header(h, "DSDT", (uint32_t)(sizeof(*h) + len), ACPI_REVISION_DSDT);
	return sizeof(*h) + len;
}

static void acpi_gas_io(struct acpi_gas *g, uint16_t port)
{
	*g = (struct acpi_gas){.space_id = ACPI_GAS_SYSTEM_IO,
			       .bit_width = 8,
			       .access_size = ACPI_GAS_ACCESS_BYTE,
			       .address = port};
}

static void acpi_build_fadt(struct acpi_fadt *f, uint64_t dsdt_gpa)
{
	memset(f, 0, sizeof(*f));
	f->century = ACPI_CMOS_CENTURY;
	f->iapc_boot_arch = ACPI_IAPC_LEGACY_DEVICES | ACPI_IAPC_8042 | ACPI_IAPC_VGA_NOT_PRESENT |
			    ACPI_IAPC_MSI_NOT_SUPPORTED;
	f->flags = ACPI_FADT_HW_REDUCED_ACPI | ACPI_FADT_PWR_BUTTON | ACPI_FADT_SLP_BUTTON |
		   ACPI_FADT_RESET_REG_SUP;
	acpi_gas_io(&f->reset_reg, ARCH_ACPI_POWER_PORT + ACPI_POWER_RESET);
	f->reset_value = ACPI_POWER_RESET_VALUE;
	f->x_dsdt = dsdt_gpa;
	acpi_gas_io(&f->sleep_control_reg, ARCH_ACPI_POWER_PORT + ACPI_POWER_SLEEP_CONTROL);
	acpi_gas_io(&f->sleep_status_reg, ARCH_ACPI_POWER_PORT + ACPI_POWER_SLEEP_STATUS);
	acpi_header(&f->header, "FACP", sizeof(*f), ACPI_REVISION_FADT);
}

static size_t acpi_madt_size(unsigned int ncpus)
{
	return sizeof(struct acpi_madt) + ncpus * sizeof(struct acpi_madt_lapic) +
	       sizeof(struct acpi_madt_ioapic) +
	       (ARCH_PCI_MAX_SLOTS - 1) * sizeof(struct acpi_madt_override) +
	       sizeof(struct acpi_madt_lapic_nmi);
}

/*
 * The MP table's interrupt picture (mptable.c): ISA IRQs are identity-mapped
 * with the ISA defaults (edge, active high; ACPI's default too, so they need
 * no override; IRQ0 is pin 0 under KVM's default routing, not pin 2 as on PC
 * chipsets), and the PCI INTx pins are level-triggered, overridden here.
 * Active LOW, unlike the MP table: a _PRT entry naming a GSI is active low by
 * definition, Linux maps each override's pin at boot with the override's
 * flags, and then refuses (EBUSY) a _PRT GSI whose polarity differs.  KVM's
 * IOAPIC ignores the polarity bit, so the line works either way.
 */
static void acpi_build_madt(uint8_t *p, unsigned int ncpus)
{
	struct acpi_madt *madt = (struct acpi_madt *)p;
	size_t len = acpi_madt_size(ncpus), at = sizeof(*madt);

	memset(p, 0, len);
	madt->lapic_address = (uint32_t)ARCH_LAPIC_ADDR;
	madt->flags = ACPI_MADT_PCAT_COMPAT;
	for (unsigned int i = 0; i < ncpus; i++) {
		struct acpi_madt_lapic e = {ACPI_MADT_LAPIC, sizeof(e), (uint8_t)i, (uint8_t)i,
					    ACPI_MADT_LAPIC_ENABLED};

		memcpy(p + at, &e, sizeof(e));
		at += sizeof(e);
	}
	{
		struct acpi_madt_ioapic e = {
		    ACPI_MADT_IOAPIC, sizeof(e), (uint8_t)ncpus, 0, (uint32_t)ARCH_IOAPIC_ADDR, 0};

		memcpy(p + at, &e, sizeof(e));
		at += sizeof(e);
	}
	for (unsigned int slot = 1; slot < ARCH_PCI_MAX_SLOTS; slot++) {
		unsigned int pin = arch_pci_slot_irq(slot);
		struct acpi_madt_override e = {
		    ACPI_MADT_OVERRIDE, sizeof(e), 0,
		    (uint8_t)pin,	pin,	   ACPI_MADT_LEVEL | ACPI_MADT_ACTIVE_LOW};

		memcpy(p + at, &e, sizeof(e));
		at += sizeof(e);
	}
	{
		struct acpi_madt_lapic_nmi e = {ACPI_MADT_LAPIC_NMI, sizeof(e),
						ACPI_MADT_ALL_PROCESSORS, 0, 1};

		memcpy(p + at, &e, sizeof(e));
		at += sizeof(e);
	}
	acpi_header(&madt->header, "APIC", (uint32_t)len, ACPI_REVISION_MADT);
}

static size_t acpi_align(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

size_t x86_build_acpi(uint8_t *buf, size_t room, uint64_t gpa, const struct x86_acpi_machine *m)
{
	size_t xsdt_len = sizeof(struct acpi_table_header) + ACPI_XSDT_ENTRIES * sizeof(uint64_t);
	size_t xsdt_at = acpi_align(sizeof(struct acpi_rsdp), 16);
	size_t fadt_at = acpi_align(xsdt_at + xsdt_len, 16);
	size_t madt_at = acpi_align(fadt_at + sizeof(struct acpi_fadt), 16);
	size_t dsdt_at, dsdt_len;
	struct acpi_rsdp *rsdp = (struct acpi_rsdp *)buf;
	struct acpi_table_header *xsdt;
	uint64_t entries[ACPI_XSDT_ENTRIES];

	if (gpa % 16 || m->ncpus == 0 || m->ncpus > 254)
		return 0;
	dsdt_at = acpi_align(madt_at + acpi_madt_size(m->ncpus), 16);
	if (room < dsdt_at)
		return 0;
	dsdt_len = x86_build_dsdt(buf + dsdt_at, room - dsdt_at, m);
	if (!dsdt_len)
		return 0;
	memset(buf, 0, dsdt_at);

	acpi_build_fadt((struct acpi_fadt *)(buf + fadt_at), gpa + dsdt_at);
	acpi_build_madt(buf + madt_at, m->ncpus);

	xsdt = (struct acpi_table_header *)(buf + xsdt_at);
	entries[0] = gpa + fadt_at;
	entries[1] = gpa + madt_at;
	memcpy(xsdt + 1, entries, sizeof(entries));
	acpi_header(xsdt, "XSDT", (uint32_t)xsdt_len, ACPI_REVISION_XSDT);

	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, ACPI_OEM_ID, 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = gpa + xsdt_at;
	rsdp->checksum = x86_table_checksum(rsdp, 20);
	rsdp->extended_checksum = x86_table_checksum(rsdp, sizeof(*rsdp));
	return dsdt_at + dsdt_len;
}
