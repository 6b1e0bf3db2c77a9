/*
 * Putting an arm64 guest's kernel and initrd into RAM, without KVM (so the
 * unit tests run it on any host): the Linux `Image` boot protocol
 * (Documentation/arch/arm64/booting.rst) or a freestanding ELF (the test
 * guests), and where the initrd and the device tree go.
 */
#ifndef MINIVMM_ARCH_ARM64_IMAGE_H
#define MINIVMM_ARCH_ARM64_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "guest_mem.h"

/* "ARM\x64" at byte 56 of an Image: the header's magic. */
#define ARM64_IMAGE_MAGIC	0x644d5241u
#define ARM64_IMAGE_HEADER_SIZE 64
#define ARM64_KERNEL_ALIGN	0x200000ULL /* the Image protocol's 2 MiB */
#define ARM64_DTB_MAX_SIZE	0x200000ULL /* the protocol's limit, and minivmm's buffer */

struct arm64_kernel {
	uint64_t entry; /* where the boot vCPU starts */
	uint64_t start; /* the lowest and one past the highest byte it occupies */
	uint64_t end;
	int is_image; /* 1: a Linux Image, 0: an ELF */
};

/*
 * Load the kernel file f into the RAM [ram_base, ram_base + ram_size) of
 * gm: an Image at ram_base + its text_offset (ram_base is 2 MiB aligned, as
 * the protocol asks), or each PT_LOAD segment of an AArch64 ELF at its
 * physical address.  Everything must lie below `limit` (the device tree's
 * place).  0, or -1 with a one-line reason in err.
 */
int arm64_load_kernel(struct guest_mem *gm, const struct guest_file *f, uint64_t ram_base,
		      uint64_t limit, struct arm64_kernel *k, char *err, size_t errlen);

/*
 * The device tree's address: the last ARM64_DTB_MAX_SIZE of RAM, 2 MiB
 * aligned (the protocol wants 8 bytes; the alignment keeps it off any huge
 * page the kernel maps).  0 when RAM is too small to hold it.
 */
uint64_t arm64_dtb_address(uint64_t ram_base, uint64_t ram_size);

/*
 * Put the initrd f just below `limit` (the device tree), page aligned, above
 * the kernel's end.  Sets *addr.  0, or -1 with a reason in err.
 */
int arm64_load_initrd(struct guest_mem *gm, const struct guest_file *f,
		      const struct arm64_kernel *k, uint64_t limit, uint64_t *addr, char *err,
		      size_t errlen);

#endif
