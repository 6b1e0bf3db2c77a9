/*
 * The x86-64 Linux boot protocol: loading an ELF vmlinux or a bzImage,
 * placing the initrd, and building boot_params ("zero page").
 * Pure functions over guest memory, unit-tested in tests/unit/test_x86_boot.c.
 */
#ifndef MINIVMM_X86_BOOT_H
#define MINIVMM_X86_BOOT_H

#include <asm/bootparam.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

/* e820 types (the uapi headers only carry the table layout). */
#define E820_TYPE_RAM	   1
#define E820_TYPE_RESERVED 2

struct x86_kernel {
	bool is_bzimage;
	uint64_t entry;		  /* GPA of the 64-bit entry point */
	uint64_t load_addr;	  /* lowest GPA the kernel occupies */
	uint64_t end;		  /* first GPA after the kernel (incl. bss / init_size) */
	uint64_t initrd_addr_max; /* highest GPA the initrd may end at */
	struct setup_header hdr;  /* bzImage only: the image's setup header */
	size_t hdr_len;		  /* bytes of hdr taken from the image */
};

/*
 * Load kernel image f into gm, recognising ELF vmlinux or bzImage; page-
 * aligned ELF segments are mapped rather than copied where guest_mem_load()
 * can.  Returns 0, or -1 with a one-line reason in err.
 */
int x86_load_kernel(struct guest_mem *gm, const struct guest_file *f, struct x86_kernel *k,
		    char *err, size_t errlen);

/*
 * Put the initrd at the highest page-aligned address below both
 * initrd_addr_max and the end of low RAM, above the kernel (mapped or
 * copied: guest_mem_load()).  0 or -1 (err).
 */
int x86_load_initrd(struct guest_mem *gm, const struct x86_kernel *k, const struct guest_file *f,
		    uint64_t *addr, char *err, size_t errlen);

/* Fill bp (zeroed first) for the 64-bit boot protocol. */
void x86_build_boot_params(struct boot_params *bp, const struct x86_kernel *k,
			   const struct guest_mem *gm, uint64_t cmdline_gpa, size_t cmdline_len,
			   uint64_t initrd_addr, uint64_t initrd_size);

/*
 * The e820 map for gm: RAM below the EBDA, the EBDA/BIOS area reserved, RAM
 * from 1 MiB to the hole, RAM above 4 GiB.  Returns the entry count.
 */
unsigned int x86_build_e820(const struct guest_mem *gm, struct boot_e820_entry *table,
			    unsigned int max);

/*
 * An MP (MultiProcessor Specification 1.4) floating pointer and table at
 * buf (which will live at GPA gpa): ncpus processors, the IOAPIC, a PCI and
 * an ISA bus, and interrupt routing for the layout in layout.h.
 * Returns the bytes used, or 0 if room is too small.
 */
size_t x86_build_mptable(uint8_t *buf, size_t room, uint64_t gpa, unsigned int ncpus);

/*
 * The byte that makes len bytes at p sum to zero (mod 256): the checksum of
 * MP tables and ACPI tables alike.
 */
static inline uint8_t x86_table_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return (uint8_t)-sum;
}

#endif
