/*
 * Guest physical memory: a few RAM regions mapped into the VMM.
 *
 * Every device reaches guest memory through guest_mem_ptr(), which refuses
 * any range that is not wholly inside one region.  Guest-supplied addresses
 * and lengths are hostile; nothing else may turn a GPA into a pointer.
 */
#ifndef MINIVMM_GUEST_MEM_H
#define MINIVMM_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 4

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
};

struct guest_mem {
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned int nr_regions;
	uint64_t ram_size; /* sum of region sizes */
	bool owns_mapping; /* allocated by guest_mem_alloc() */
	void *mapping;
	size_t mapping_size;
};

/*
 * Allocate ram_size bytes of anonymous memory and lay it out below and above
 * the 32-bit MMIO hole [hole_start, 4 GiB).  Returns 0 or -errno.
 */
int guest_mem_alloc(struct guest_mem *gm, uint64_t ram_size, uint64_t hole_start, bool hugepages);
void guest_mem_free(struct guest_mem *gm);

/* Add a region backed by caller-owned memory (unit tests, fake guests). */
int guest_mem_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host);

/*
 * Host pointer for [gpa, gpa + len), or NULL if the range overflows or is not
 * entirely inside one RAM region.  len == 0 is treated as len == 1.
 */
void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Copy helpers: 0 on success, -EFAULT if the range is not guest RAM. */
int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len);
int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, size_t len);

/* True if [gpa, gpa+len) is inside guest RAM. */
bool guest_mem_valid(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

#endif
