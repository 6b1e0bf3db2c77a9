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

#define GUEST_MEM_MAX_REGIONS	4
#define GUEST_MEM_MAX_FILE_MAPS 16

struct guest_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
	uint64_t fd_offset; /* where the region starts in guest_mem.fd (memfd backings) */
};

/*
 * What guest RAM is made of.  Anonymous memory is private to minivmm; a
 * memfd can be handed to another process (a vhost-user back-end), which
 * maps the same pages.  HUGETLB is a memfd of 2 MiB hugetlbfs pages (the
 * host must have them reserved: /proc/sys/vm/nr_hugepages).
 */
enum guest_mem_backing { GUEST_MEM_ANON, GUEST_MEM_MEMFD, GUEST_MEM_HUGETLB };

#define GUEST_MEM_HUGETLB_PAGE (2ULL << 20)

/* Guest RAM that still shows a file's pages copy-on-write (guest_mem_load). */
struct guest_mem_file_map {
	uint8_t *host;
	uint64_t len;
	int fd; /* a duplicate: holds the read lease until guest_mem_privatise() */
};

struct guest_mem {
	struct guest_mem_region regions[GUEST_MEM_MAX_REGIONS];
	unsigned int nr_regions;
	struct guest_mem_file_map file_maps[GUEST_MEM_MAX_FILE_MAPS];
	unsigned int nr_file_maps;
	uint64_t ram_size; /* sum of region sizes */
	bool owns_mapping; /* allocated by guest_mem_alloc() */
	void *mapping;
	size_t mapping_size;
	enum guest_mem_backing backing;
	int fd; /* the memfd behind every region, or -1 (anonymous, or caller-owned regions) */
};

/*
 * Allocate ram_size bytes of the given backing and lay it out below and
 * above the 32-bit MMIO hole [hole_start, 4 GiB).  thp asks for transparent
 * huge pages (MADV_HUGEPAGE; for a memfd the host's shmem_enabled must allow
 * it).  HUGETLB needs ram_size to be a multiple of GUEST_MEM_HUGETLB_PAGE
 * (-EINVAL) and free huge pages (-ENOMEM).  Returns 0 or -errno.
 */
int guest_mem_alloc(struct guest_mem *gm, uint64_t ram_size, uint64_t hole_start,
		    enum guest_mem_backing backing, bool thp);
/*
 * The same with RAM starting at ram_base (below hole_start) instead of 0:
 * arm64 guests' RAM begins at 1 GiB (arch/arm64/layout.h); a hole_start of
 * 4 GiB means none, the part above it following on.
 */
int guest_mem_alloc_at(struct guest_mem *gm, uint64_t ram_size, uint64_t ram_base,
		       uint64_t hole_start, enum guest_mem_backing backing, bool thp);
void guest_mem_free(struct guest_mem *gm);

/* "anonymous", "memfd", "memfd (hugetlb)": for logs and --stats. */
const char *guest_mem_backing_name(enum guest_mem_backing backing);

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

/*
 * A file to put into guest RAM (kernel, initrd): its bytes, mapped or read
 * by the caller, and the open file they came from, or fd -1.
 */
struct guest_file {
	const uint8_t *data;
	size_t len;
	int fd;
};

/*
 * Open and map a non-empty regular file read-only (what names the option
 * for errors, e.g. "--kernel"); the open descriptor may later carry a read
 * lease (guest_mem_load).  0, or -1 after logging why.
 */
int guest_file_open(const char *what, const char *path, struct guest_file *f);
/* Unmap and close what guest_file_open() opened (f may be half-filled). */
void guest_file_close(struct guest_file *f);

/*
 * Put bytes [offset, offset + filesz) of f at gpa and zeros up to memsz: an
 * ELF PT_LOAD segment, or a whole initrd (offset 0, memsz == filesz).
 *
 * Copying means faulting in, zeroing and filling every page (10 ms for a
 * 12 MB kernel and initramfs).  Instead, where the file's pages line up
 * with guest pages, guest RAM is anonymous and a read lease can be taken
 * on f->fd, the file is mapped copy-on-write (MAP_PRIVATE | MAP_FIXED) over
 * guest RAM: the guest reads the page cache until it writes a page.  The
 * lease is what keeps it a copy: a process that opens the file for writing
 * or truncates it first breaks the lease, the kernel tells minivmm with
 * SIGIO, and guest_mem_privatise() copies every page still shared before
 * the writer may go on (docs/boot-times.md, "Loading without copying").
 * Anything else is copied as before.  Zeroing whole pages gives them back
 * to the host instead of writing them.
 *
 * The caller has checked offset + filesz <= f->len and filesz <= memsz.
 * Returns 1 if some of the file is mapped, 0 if all of it was copied,
 * -EFAULT if [gpa, gpa + memsz) is not inside one RAM region, -ENOMEM if
 * a failed mapping left a hole in guest RAM (the VM cannot start).
 */
int guest_mem_load(struct guest_mem *gm, uint64_t gpa, const struct guest_file *f, uint64_t offset,
		   uint64_t filesz, uint64_t memsz);

/*
 * Give guest RAM its own copy of every page still shared with a file
 * (MADV_POPULATE_WRITE: copy-on-write now, safe while vCPUs run), then
 * drop the leases.  Returns the bytes that were file-backed.
 */
uint64_t guest_mem_privatise(struct guest_mem *gm);

/* True if [gpa, gpa+len) is inside guest RAM. */
bool guest_mem_valid(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

#endif
