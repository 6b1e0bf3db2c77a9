/*
 * The MP table (Intel MultiProcessor Specification 1.4): how a Linux guest
 * without ACPI learns its CPUs, its IOAPIC and how interrupts are routed.
 */
#include <string.h>

#include "boot.h"
#include "layout.h"

#define MP_SPEC_REV	  4 /* 1.4 */
#define MP_APIC_VERSION	  0x14
#define MP_IOAPIC_VERSION 0x11

enum mp_entry_type { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum mp_irq_type { MP_INT, MP_NMI, MP_SMI, MP_EXTINT };

#define MP_CPU_ENABLED	      1
#define MP_CPU_BOOT	      2
#define MP_IRQ_DEFAULT	      0 /* bus-default polarity and trigger */
#define MP_IRQ_PCI_LEVEL_HIGH (1 | (3 << 2))
#define MP_BUS_PCI	      0
#define MP_BUS_ISA	      1

struct mp_floating_pointer {
	char signature[4]; /* "_MP_" */
	uint32_t config_table;
	uint8_t length; /* in 16-byte units */
	uint8_t spec_rev;
	uint8_t checksum;
	uint8_t feature[5];
} __attribute__((packed));

struct mp_config_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec_rev;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oem_table;
	uint16_t oem_table_size;
	uint16_t entry_count;
	uint32_t lapic_addr;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
	uint8_t type;
	uint8_t apic_id;
	uint8_t apic_version;
	uint8_t flags;
	uint32_t signature;
	uint32_t features;
	uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
	uint8_t type;
	uint8_t bus_id;
	char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
	uint8_t type;
	uint8_t apic_id;
	uint8_t version;
	uint8_t flags;
	uint32_t addr;
} __attribute__((packed));

struct mp_irq {
	uint8_t type;
	uint8_t irq_type;
	uint16_t irq_flags;
	uint8_t src_bus;
	uint8_t src_bus_irq;
	uint8_t dst_apic;
	uint8_t dst_irq;
} __attribute__((packed));

struct mp_writer {
	uint8_t *buf;
	size_t room, used;
	uint16_t entries;
	bool overflow;
};

static void *mp_reserve(struct mp_writer *w, size_t len)
{
	void *p;

	if (w->room - w->used < len) {
		w->overflow = true;
		return NULL;
	}
	p = w->buf + w->used;
	memset(p, 0, len);
	w->used += len;
	return p;
}

static void mp_add_irq(struct mp_writer *w, uint8_t type, uint8_t irq_type, uint16_t flags,
		       uint8_t bus, uint8_t bus_irq, uint8_t dst_apic, uint8_t dst_irq)
{
	struct mp_irq *e = mp_reserve(w, sizeof(*e));

	if (!e)
		return;
	*e = (struct mp_irq){type, irq_type, flags, bus, bus_irq, dst_apic, dst_irq};
	w->entries++;
}

size_t x86_build_mptable(uint8_t *buf, size_t room, uint64_t gpa, unsigned int ncpus)
{
	struct mp_writer w = {.buf = buf, .room = room};
	struct mp_floating_pointer *fp = mp_reserve(&w, sizeof(*fp));
	size_t table_start = w.used;
	struct mp_config_table *table = mp_reserve(&w, sizeof(*table));
	uint8_t ioapic_id = (uint8_t)ncpus;
	struct mp_ioapic *ioapic;
	struct mp_bus *bus;

	if (!fp || !table || ncpus == 0 || ncpus > 254)
		return 0;

	for (unsigned int i = 0; i < ncpus; i++) {
		struct mp_processor *cpu = mp_reserve(&w, sizeof(*cpu));

		if (!cpu)
			return 0;
		cpu->type = MP_PROCESSOR;
		cpu->apic_id = (uint8_t)i;
		cpu->apic_version = MP_APIC_VERSION;
		cpu->flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BOOT : 0);
		cpu->signature = 0x600; /* family 6 */
		cpu->features = 0x201;	/* FPU, APIC */
		w.entries++;
	}
	bus = mp_reserve(&w, sizeof(*bus));
	if (bus) {
		*bus = (struct mp_bus){MP_BUS, MP_BUS_PCI, "PCI   "};
		w.entries++;
	}
	bus = mp_reserve(&w, sizeof(*bus));
	if (bus) {
		*bus = (struct mp_bus){MP_BUS, MP_BUS_ISA, "ISA   "};
		w.entries++;
	}
	ioapic = mp_reserve(&w, sizeof(*ioapic));
	if (ioapic) {
		*ioapic = (struct mp_ioapic){MP_IOAPIC, ioapic_id, MP_IOAPIC_VERSION, 1,
					     (uint32_t)ARCH_IOAPIC_ADDR};
		w.entries++;
	}
	/* Identity ISA routing for every pin that is not a PCI INTx pin; the
	 * virtio-mmio pins (16..23) ride along as ISA-style edge interrupts. */
	for (unsigned int pin = 0; pin < ARCH_IOAPIC_PINS; pin++)
		if (!arch_pci_irq_pin(pin))
			mp_add_irq(&w, MP_INTSRC, MP_INT, MP_IRQ_DEFAULT, MP_BUS_ISA, (uint8_t)pin,
				   ioapic_id, (uint8_t)pin);
	/* INTA# of PCI slot n (source IRQ = slot << 2 | pin) -> its own pin. */
	for (unsigned int slot = 1; slot < ARCH_PCI_MAX_SLOTS; slot++)
		mp_add_irq(&w, MP_INTSRC, MP_INT, MP_IRQ_PCI_LEVEL_HIGH, MP_BUS_PCI,
			   (uint8_t)(slot << 2), ioapic_id, (uint8_t)arch_pci_slot_irq(slot));
	/* LINT0 is the 8259's virtual wire, LINT1 the NMI, on every CPU. */
	mp_add_irq(&w, MP_LINTSRC, MP_EXTINT, MP_IRQ_DEFAULT, MP_BUS_ISA, 0, 0xff, 0);
	mp_add_irq(&w, MP_LINTSRC, MP_NMI, MP_IRQ_DEFAULT, MP_BUS_ISA, 0, 0xff, 1);
	if (w.overflow)
		return 0;

	memcpy(table->signature, "PCMP", 4);
	table->length = (uint16_t)(w.used - table_start);
	table->spec_rev = MP_SPEC_REV;
	memcpy(table->oem, "MINIVMM ", 8);
	memcpy(table->product, "MINIVMM     ", 12);
	table->entry_count = w.entries;
	table->lapic_addr = (uint32_t)ARCH_LAPIC_ADDR;
	table->checksum = x86_table_checksum(table, table->length);

	memcpy(fp->signature, "_MP_", 4);
	fp->config_table = (uint32_t)(gpa + table_start);
	fp->length = 1;
	fp->spec_rev = MP_SPEC_REV;
	fp->checksum = x86_table_checksum(fp, sizeof(*fp));
	return w.used;
}
