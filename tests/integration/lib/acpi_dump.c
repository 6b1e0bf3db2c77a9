/*
 * Writes minivmm's x86 ACPI tables (arch/x86/acpi.c) as files, for
 * tests/integration/acpi_tables.sh to hand to iasl.  Built by that script
 * from the sources; not part of minivmm.
 *
 * usage: acpi_dump DIR NCPUS VIRTIO_WINDOW_MASK PCI(0|1)
 * Writes DIR/rsdp.dat, xsdt.dat and one NAME.dat per table (facp, apic,
 * dsdt), found the way a guest finds them: RSDP -> XSDT -> FADT -> DSDT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"

static uint8_t dump_mem[ARCH_ACPI_TABLES_SIZE];

/* The table at guest address gpa, if it lies inside the dumped area. */
static const struct acpi_table_header *dump_table(uint64_t gpa)
{
	const struct acpi_table_header *h;

	if (gpa < ARCH_ACPI_TABLES_ADDR ||
	    gpa - ARCH_ACPI_TABLES_ADDR > sizeof(dump_mem) - sizeof(*h))
		return NULL;
	h = (const struct acpi_table_header *)(dump_mem + (gpa - ARCH_ACPI_TABLES_ADDR));
	if (h->length < sizeof(*h) || h->length > sizeof(dump_mem) - (gpa - ARCH_ACPI_TABLES_ADDR))
		return NULL;
	return h;
}

static int dump_write(const char *dir, const char *name, const void *p, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}

static int dump_named(const char *dir, const struct acpi_table_header *h)
{
	char name[5];

	for (int i = 0; i < 4; i++)
		name[i] = (char)(h->signature[i] >= 'A' && h->signature[i] <= 'Z'
				     ? h->signature[i] - 'A' + 'a'
				     : h->signature[i]);
	name[4] = '\0';
	return dump_write(dir, name, h, h->length);
}

int main(int argc, char **argv)
{
	struct x86_acpi_machine m;
	const struct acpi_rsdp *rsdp = (const struct acpi_rsdp *)dump_mem;
	const struct acpi_table_header *xsdt, *h;
	uint64_t entry;

	if (argc != 5) {
		fprintf(stderr, "usage: %s DIR NCPUS VIRTIO_WINDOW_MASK PCI(0|1)\n", argv[0]);
		return 2;
	}
	m.ncpus = (unsigned int)strtoul(argv[2], NULL, 0);
	m.virtio_windows = (uint32_t)strtoul(argv[3], NULL, 0);
	m.pci = strcmp(argv[4], "0") != 0;
	if (!x86_build_acpi(dump_mem, sizeof(dump_mem), ARCH_ACPI_TABLES_ADDR, &m)) {
		fprintf(stderr, "acpi_dump: x86_build_acpi failed\n");
		return 1;
	}
	xsdt = dump_table(rsdp->xsdt_address);
	if (!xsdt || dump_write(argv[1], "rsdp", rsdp, sizeof(*rsdp)) < 0 ||
	    dump_named(argv[1], xsdt) < 0)
		return 1;
	for (size_t off = sizeof(*xsdt); off + sizeof(entry) <= xsdt->length;
	     off += sizeof(entry)) {
		memcpy(&entry, (const uint8_t *)xsdt + off, sizeof(entry));
		h = dump_table(entry);
		if (!h || dump_named(argv[1], h) < 0)
			return 1;
		if (!memcmp(h->signature, "FACP", 4)) {
			const struct acpi_table_header *dsdt =
			    dump_table(((const struct acpi_fadt *)h)->x_dsdt);

			if (!dsdt || dump_named(argv[1], dsdt) < 0)
				return 1;
		}
	}
	return 0;
}
