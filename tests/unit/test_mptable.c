/*
 * The MP table as a guest's MP-table parser reads it: floating pointer,
 * configuration table, and entries decoded byte by byte (MP spec 1.4,
 * chapter 4), independently of the structures arch/x86/mptable.c uses.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "byteorder.h"
#include "vm.h"
#include "helpers.h"

#define GPA	ARCH_MPTABLE_ADDR
#define ROOM	8192
#define FP_LEN	16
#define HDR_LEN 44

enum { ENT_PROCESSOR, ENT_BUS, ENT_IOAPIC, ENT_INTSRC, ENT_LINTSRC };
enum { IRQ_INT, IRQ_NMI, IRQ_SMI, IRQ_EXTINT };
#define FLAGS_LEVEL_HIGH 0x0d /* polarity 01 (high) | trigger 11 (level) << 2 */

struct irq_entry {
	uint8_t type, irq_type;
	uint16_t flags;
	uint8_t bus, bus_irq, dst_apic, dst_pin;
};

/* What a parser found in the table. */
struct mp {
	size_t size, table_off, table_len;
	unsigned int entries;
	unsigned int ncpus;
	uint8_t cpu_apic[256], cpu_flags[256];
	unsigned int nbuses;
	uint8_t bus_id[4];
	char bus_type[4][7];
	unsigned int nioapics;
	uint8_t ioapic_id, ioapic_flags;
	uint32_t ioapic_addr;
	unsigned int nirqs;
	struct irq_entry irqs[64];
	uint32_t lapic_addr;
};

static uint8_t *buf;

static void mptable_setup(void)
{
	buf = malloc(ROOM);
	ck_assert_ptr_nonnull(buf);
	memset(buf, 0xee, ROOM);
}

static void mptable_teardown(void)
{
	free(buf);
}

static uint8_t byte_sum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return sum;
}

/* Build for ncpus and decode it, asserting the framing on the way. */
static struct mp parse(unsigned int ncpus)
{
	struct mp mp = {0};
	const uint8_t *fp = buf, *t, *e, *end;

	mp.size = x86_build_mptable(buf, ROOM, GPA, ncpus);
	ck_assert_uint_gt(mp.size, FP_LEN + HDR_LEN);

	ck_assert_mem_eq(fp, "_MP_", 4);
	ck_assert_uint_eq(fp[8], 1); /* length in paragraphs */
	ck_assert_uint_eq(fp[9], 4); /* spec 1.4 */
	ck_assert_uint_eq(byte_sum(fp, FP_LEN), 0);
	ck_assert_uint_eq(fp[11], 0); /* feature 1: 0 = a configuration table is present */
	ck_assert_uint_ge(get_le32(fp + 4), GPA);
	mp.table_off = get_le32(fp + 4) - GPA;
	ck_assert_uint_lt(mp.table_off, mp.size);

	t = buf + mp.table_off;
	ck_assert_mem_eq(t, "PCMP", 4);
	mp.table_len = get_le16(t + 4);
	ck_assert_uint_eq(t[6], 4);
	ck_assert_uint_eq(mp.table_off + mp.table_len, mp.size);
	ck_assert_uint_eq(byte_sum(t, mp.table_len), 0);
	ck_assert_uint_eq(get_le16(t + 0x28), 0); /* no extended table */
	mp.lapic_addr = get_le32(t + 0x24);

	e = t + HDR_LEN;
	end = t + mp.table_len;
	while (e < end) {
		switch (e[0]) {
		case ENT_PROCESSOR:
			ck_assert(e + 20 <= end);
			mp.cpu_apic[mp.ncpus] = e[1];
			mp.cpu_flags[mp.ncpus] = e[3];
			ck_assert_uint_ne(e[2], 0); /* APIC version */
			mp.ncpus++;
			e += 20;
			break;
		case ENT_BUS:
			ck_assert(e + 8 <= end);
			ck_assert_uint_lt(mp.nbuses, 4);
			mp.bus_id[mp.nbuses] = e[1];
			memcpy(mp.bus_type[mp.nbuses], e + 2, 6);
			mp.bus_type[mp.nbuses][6] = '\0';
			mp.nbuses++;
			e += 8;
			break;
		case ENT_IOAPIC:
			ck_assert(e + 8 <= end);
			mp.nioapics++;
			mp.ioapic_id = e[1];
			mp.ioapic_flags = e[3];
			mp.ioapic_addr = get_le32(e + 4);
			e += 8;
			break;
		case ENT_INTSRC:
		case ENT_LINTSRC:
			ck_assert(e + 8 <= end);
			ck_assert_uint_lt(mp.nirqs, 64);
			mp.irqs[mp.nirqs++] =
			    (struct irq_entry){e[0], e[1], get_le16(e + 2), e[4], e[5], e[6], e[7]};
			e += 8;
			break;
		default:
			ck_abort_msg("unknown entry type %u at table offset %td", e[0], e - t);
		}
		mp.entries++;
	}
	ck_assert(e == end); /* the last entry ends exactly at the table length */
	ck_assert_uint_eq(get_le16(t + 0x22), mp.entries);
	return mp;
}

static void assert_processors(const struct mp *mp, unsigned int ncpus)
{
	ck_assert_uint_eq(mp->ncpus, ncpus);
	for (unsigned int i = 0; i < ncpus; i++) {
		ck_assert_uint_eq(mp->cpu_apic[i], i); /* KVM's vCPU i has APIC id i */
		ck_assert_msg(mp->cpu_flags[i] & 1, "CPU %u not enabled", i);
		if (i == 0)
			ck_assert_msg(mp->cpu_flags[i] & 2, "CPU 0 is not the BSP");
		else
			ck_assert_msg(!(mp->cpu_flags[i] & 2), "CPU %u marked BSP", i);
	}
}

static void assert_ioapic(const struct mp *mp)
{
	ck_assert_uint_eq(mp->nioapics, 1);
	ck_assert_uint_eq(mp->ioapic_flags & 1, 1);
	ck_assert_uint_eq(mp->ioapic_addr, ARCH_IOAPIC_ADDR);
	for (unsigned int i = 0; i < mp->ncpus; i++)
		ck_assert_msg(mp->cpu_apic[i] != mp->ioapic_id, "IOAPIC id %u clashes with CPU %u",
			      mp->ioapic_id, i);
	ck_assert_uint_ne(mp->ioapic_id, 0xff);
	ck_assert_uint_eq(mp->lapic_addr, ARCH_LAPIC_ADDR);
}

static uint8_t bus_id(const struct mp *mp, const char *type)
{
	for (unsigned int i = 0; i < mp->nbuses; i++)
		if (strcmp(mp->bus_type[i], type) == 0)
			return mp->bus_id[i];
	ck_abort_msg("no %s bus", type);
	return 0;
}

/* The lines PC firmware gives PCI, one per slot after the host bridge. */
static const unsigned int pci_pins[ARCH_PCI_MAX_SLOTS] = {0, 10, 11, 5, 9};

static bool is_pci_pin(unsigned int pin)
{
	for (unsigned int slot = 1; slot < ARCH_PCI_MAX_SLOTS; slot++)
		if (pci_pins[slot] == pin)
			return true;
	return false;
}

static void assert_routing(const struct mp *mp)
{
	uint8_t pci = bus_id(mp, "PCI   "), isa = bus_id(mp, "ISA   ");
	unsigned int routed[ARCH_IOAPIC_PINS] = {0};
	bool pci_slot[ARCH_PCI_MAX_SLOTS] = {false};
	bool lint0 = false, lint1 = false;

	ck_assert_uint_eq(mp->nbuses, 2);
	ck_assert_uint_ne(pci, isa);
	for (unsigned int i = 0; i < mp->nirqs; i++) {
		const struct irq_entry *q = &mp->irqs[i];

		if (q->type == ENT_LINTSRC) {
			ck_assert_uint_eq(q->dst_apic, 0xff); /* every CPU */
			if (q->irq_type == IRQ_EXTINT && q->dst_pin == 0)
				lint0 = true;
			else if (q->irq_type == IRQ_NMI && q->dst_pin == 1)
				lint1 = true;
			else
				ck_abort_msg("unexpected LINT entry type %u pin %u", q->irq_type,
					     q->dst_pin);
			continue;
		}
		ck_assert_uint_eq(q->irq_type, IRQ_INT);
		ck_assert_uint_eq(q->dst_apic, mp->ioapic_id);
		ck_assert_uint_lt(q->dst_pin, ARCH_IOAPIC_PINS);
		routed[q->dst_pin]++;
		if (q->bus == pci) {
			unsigned int slot = q->bus_irq >> 2;

			ck_assert_uint_eq(q->bus_irq & 3, 0); /* INTA# */
			ck_assert_uint_ge(slot, 1);	      /* slot 0 is the host bridge */
			ck_assert_uint_lt(slot, ARCH_PCI_MAX_SLOTS);
			ck_assert_uint_eq(q->dst_pin, pci_pins[slot]);
			ck_assert_uint_eq(q->flags, FLAGS_LEVEL_HIGH);
			pci_slot[slot] = true;
		} else {
			ck_assert_uint_eq(q->bus, isa);
			ck_assert_msg(!is_pci_pin(q->dst_pin), "ISA entry on PCI pin %u",
				      q->dst_pin);
			ck_assert_uint_eq(q->bus_irq, q->dst_pin); /* identity */
			ck_assert_uint_eq(q->flags, 0);		   /* bus default: edge */
		}
	}
	for (unsigned int slot = 1; slot < ARCH_PCI_MAX_SLOTS; slot++)
		ck_assert_msg(pci_slot[slot], "PCI slot %u has no INTx route", slot);
	for (unsigned int pin = 0; pin < ARCH_IOAPIC_PINS; pin++) {
		ck_assert_msg(routed[pin] == 1, "IOAPIC pin %u has %u sources", pin, routed[pin]);
	}
	/* No PCI line on a pin a legacy device uses or a kernel's ISA driver claims. */
	for (unsigned int slot = 1; slot < ARCH_PCI_MAX_SLOTS; slot++) {
		static const unsigned int legacy[] = {0, 1, 2, 3, 4, 6, 7, 8, 12, 13, 14, 15};

		for (unsigned int i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
			ck_assert_uint_ne(pci_pins[slot], legacy[i]);
		ck_assert_uint_lt(pci_pins[slot], ARCH_VIRTIO_IRQ_BASE);
	}
	/* The devices that do exist: COM1 and the virtio-mmio pins. */
	ck_assert_uint_eq(routed[ARCH_COM1_IRQ], 1);
	for (unsigned int i = 0; i < ARCH_VIRTIO_MMIO_MAX; i++)
		ck_assert_uint_eq(routed[ARCH_VIRTIO_IRQ_BASE + i], 1);
	ck_assert(lint0 && lint1);
}

static void assert_table(unsigned int ncpus)
{
	struct mp mp = parse(ncpus);

	assert_processors(&mp, ncpus);
	assert_ioapic(&mp);
	assert_routing(&mp);
}

START_TEST(test_one_cpu)
{
	assert_table(1);
}
END_TEST

START_TEST(test_two_cpus)
{
	assert_table(2);
}
END_TEST

START_TEST(test_max_cpus)
{
	assert_table(VM_MAX_CPUS);
}
END_TEST

START_TEST(test_every_cpu_count)
{
	for (unsigned int n = 1; n <= VM_MAX_CPUS; n++) {
		memset(buf, 0xee, ROOM);
		assert_table(n);
	}
}
END_TEST

START_TEST(test_pointer_follows_gpa)
{
	/* physptr is a guest address: it moves with the table's GPA. */
	struct mp mp = parse(2);
	uint32_t at_mpaddr = get_le32(buf + 4);

	ck_assert_uint_eq(at_mpaddr, GPA + mp.table_off);
	ck_assert_uint_eq(x86_build_mptable(buf, ROOM, 0xf0000, 2), mp.size);
	ck_assert_uint_eq(get_le32(buf + 4), 0xf0000 + mp.table_off);
	ck_assert_uint_eq(byte_sum(buf, FP_LEN), 0);
}
END_TEST

START_TEST(test_writes_only_what_it_reports)
{
	size_t size = x86_build_mptable(buf, ROOM, GPA, 4);

	ck_assert_uint_gt(size, 0);
	for (size_t i = size; i < ROOM; i++)
		ck_assert_msg(buf[i] == 0xee, "byte %zu written beyond the %zu reported", i, size);
}
END_TEST

START_TEST(test_too_small_buffer)
{
	static const unsigned int counts[] = {1, 2, VM_MAX_CPUS};

	for (unsigned int c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		size_t need = x86_build_mptable(buf, ROOM, GPA, counts[c]);

		ck_assert_uint_gt(need, 0);
		/* Exactly the room it needs is enough... */
		ck_assert_uint_eq(x86_build_mptable(buf, need, GPA, counts[c]), need);
		/* ...and every smaller room fails without writing past it (heap copy: ASan). */
		for (size_t room = 0; room < need; room++) {
			uint8_t *small = malloc(room ? room : 1);

			ck_assert_msg(x86_build_mptable(small, room, GPA, counts[c]) == 0,
				      "%u CPUs in %zu of %zu bytes", counts[c], room, need);
			free(small);
		}
	}
}
END_TEST

START_TEST(test_zero_cpus)
{
	ck_assert_uint_eq(x86_build_mptable(buf, ROOM, GPA, 0), 0);
}
END_TEST

START_TEST(test_too_many_cpus)
{
	/* 8-bit APIC ids, 0xff broadcast, one for the IOAPIC. */
	ck_assert_uint_eq(x86_build_mptable(buf, ROOM, GPA, 255), 0);
	ck_assert_uint_eq(x86_build_mptable(buf, ROOM, GPA, 256), 0);
	ck_assert_uint_eq(x86_build_mptable(buf, ROOM, GPA, UINT32_MAX), 0);
	assert_table(254);
}
END_TEST

START_TEST(test_fits_below_the_bios_area)
{
	/* setup.c places it at ARCH_MPTABLE_ADDR; the e820 reserves up to 1 MiB. */
	size_t size = x86_build_mptable(buf, ROOM, GPA, VM_MAX_CPUS);

	ck_assert_uint_gt(size, 0);
	ck_assert_uint_le(ARCH_MPTABLE_ADDR + size, ARCH_HIGH_MEMORY_START);
}
END_TEST

Suite *mptable_suite(void)
{
	return unit_suite("mptable", mptable_setup, mptable_teardown,
			  UNIT_TESTS(test_one_cpu, test_two_cpus, test_max_cpus,
				     test_every_cpu_count, test_pointer_follows_gpa,
				     test_writes_only_what_it_reports, test_too_small_buffer,
				     test_zero_cpus, test_too_many_cpus,
				     test_fits_below_the_bios_area));
}
