#include "guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define GIB	 (1ULL << 30)
#define FOUR_GIB (4ULL << 30)

int guest_mem_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, void *host)
{
	if (gm->nr_regions >= GUEST_MEM_MAX_REGIONS || size == 0 || gpa + size < gpa)
		return -EINVAL;
	gm->regions[gm->nr_regions++] = (struct guest_mem_region){
	    .gpa = gpa,
	    .size = size,
	    .host = host,
	};
	gm->ram_size += size;
	return 0;
}

const char *guest_mem_backing_name(enum guest_mem_backing backing)
{
	switch (backing) {
	case GUEST_MEM_MEMFD:
		return "memfd";
	case GUEST_MEM_HUGETLB:
		return "memfd (hugetlb)";
	default:
		return "anonymous";
	}
}

/*
 * A memfd of size bytes, mapped shared.  The size is set with ftruncate
 * only: pages are allocated as the guest touches them, like the anonymous
 * mapping, so start-up costs the same.  Returns the mapping or MAP_FAILED
 * with errno set; *fd is the memfd.
 */
static void *guest_mem_map_memfd(uint64_t size, bool hugetlb, int *fd)
{
	unsigned int flags = MFD_CLOEXEC | (hugetlb ? MFD_HUGETLB : 0);
	void *mem;
	int err;

	*fd = memfd_create("minivmm-guest-ram", flags);
	if (*fd < 0)
		return MAP_FAILED;
	if (ftruncate(*fd, (off_t)size) == 0) {
		/* No MAP_NORESERVE for hugetlb: the pages are reserved now, so a
		 * host short of them fails here and not with a SIGBUS later. */
		mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
			   MAP_SHARED | (hugetlb ? 0 : MAP_NORESERVE), *fd, 0);
		if (mem != MAP_FAILED)
			return mem;
	}
	err = errno;
	close(*fd);
	*fd = -1;
	errno = err;
	return MAP_FAILED;
}

int guest_mem_alloc(struct guest_mem *gm, uint64_t ram_size, uint64_t hole_start,
		    enum guest_mem_backing backing, bool thp)
{
	void *mem;
	uint64_t low;
	int fd = -1;

	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
	if (ram_size == 0 || hole_start == 0 || hole_start > FOUR_GIB)
		return -EINVAL;
	if (backing == GUEST_MEM_HUGETLB &&
	    (ram_size % GUEST_MEM_HUGETLB_PAGE || hole_start % GUEST_MEM_HUGETLB_PAGE))
		return -EINVAL;
	if (ram_size > SIZE_MAX)
		return -ENOMEM;
	if (backing == GUEST_MEM_ANON)
		/* MAP_NORESERVE: guest RAM is touched lazily; a 4 GiB guest
		 * that uses 100 MiB costs 100 MiB. */
		mem = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	else
		mem = guest_mem_map_memfd(ram_size, backing == GUEST_MEM_HUGETLB, &fd);
	if (mem == MAP_FAILED)
		return -errno;
	if (thp && backing != GUEST_MEM_HUGETLB)
		madvise(mem, ram_size, MADV_HUGEPAGE);
	gm->owns_mapping = true;
	gm->mapping = mem;
	gm->mapping_size = ram_size;
	gm->backing = backing;
	gm->fd = fd;

	low = ram_size < hole_start ? ram_size : hole_start;
	guest_mem_add_region(gm, 0, low, mem);
	if (ram_size > low) {
		guest_mem_add_region(gm, FOUR_GIB, ram_size - low, (uint8_t *)mem + low);
		gm->regions[1].fd_offset = low;
	}
	return 0;
}

void guest_mem_free(struct guest_mem *gm)
{
	if (gm->owns_mapping && gm->mapping)
		munmap(gm->mapping, gm->mapping_size);
	if (gm->owns_mapping && gm->fd >= 0)
		close(gm->fd);
	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
}

void *guest_mem_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	if (gpa + len < gpa)
		return NULL;
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct guest_mem_region *r = &gm->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
			return r->host + (gpa - r->gpa);
	}
	return NULL;
}

bool guest_mem_valid(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	return guest_mem_ptr(gm, gpa, len) != NULL;
}

/* Copies len bytes between buf and guest RAM at gpa, in the direction to_guest says. */
static int guest_mem_copy(const struct guest_mem *gm, uint64_t gpa, void *buf, size_t len,
			  bool to_guest)
{
	uint8_t *ram = guest_mem_ptr(gm, gpa, len);

	if (!ram)
		return -EFAULT;
	if (len)
		memcpy(to_guest ? ram : buf, to_guest ? buf : ram, len);
	return 0;
}

int guest_mem_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len)
{
	return guest_mem_copy(gm, gpa, dst, len, false);
}

int guest_mem_write(const struct guest_mem *gm, uint64_t gpa, const void *src, size_t len)
{
	/* src is only read in this direction. */
	return guest_mem_copy(gm, gpa, (void *)src, len, true);
}
