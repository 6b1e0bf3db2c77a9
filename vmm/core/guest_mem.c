#include "guest_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

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
	return guest_mem_alloc_at(gm, ram_size, 0, hole_start, backing, thp);
}

int guest_mem_alloc_at(struct guest_mem *gm, uint64_t ram_size, uint64_t ram_base,
		       uint64_t hole_start, enum guest_mem_backing backing, bool thp)
{
	void *mem;
	uint64_t low;
	int fd = -1;

	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
	if (ram_size == 0 || hole_start <= ram_base || hole_start > FOUR_GIB)
		return -EINVAL;
	if (backing == GUEST_MEM_HUGETLB &&
	    (ram_size % GUEST_MEM_HUGETLB_PAGE || ram_base % GUEST_MEM_HUGETLB_PAGE ||
	     hole_start % GUEST_MEM_HUGETLB_PAGE))
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
	/* Not the first 2 MiB: it holds only the few pages of boot data, and
	 * a huge page there would be 2 MiB zeroed at start-up for them. */
	if (thp && backing != GUEST_MEM_HUGETLB && ram_size > GUEST_MEM_HUGETLB_PAGE)
		madvise((uint8_t *)mem + GUEST_MEM_HUGETLB_PAGE, ram_size - GUEST_MEM_HUGETLB_PAGE,
			MADV_HUGEPAGE);
	gm->owns_mapping = true;
	gm->mapping = mem;
	gm->mapping_size = ram_size;
	gm->backing = backing;
	gm->fd = fd;

	low = ram_size < hole_start - ram_base ? ram_size : hole_start - ram_base;
	guest_mem_add_region(gm, ram_base, low, mem);
	if (ram_size > low) {
		guest_mem_add_region(gm, FOUR_GIB, ram_size - low, (uint8_t *)mem + low);
		gm->regions[1].fd_offset = low;
	}
	return 0;
}

void guest_mem_free(struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nr_file_maps; i++)
		close(gm->file_maps[i].fd);
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

/* ---- putting files into guest RAM: guest_mem_load() ---- */

static uint64_t guest_mem_page_size(void)
{
	long page = sysconf(_SC_PAGESIZE);

	return page > 0 ? (uint64_t)page : 4096;
}

static bool guest_mem_overlaps_file_map(const struct guest_mem *gm, const uint8_t *p, uint64_t len)
{
	for (unsigned int i = 0; i < gm->nr_file_maps; i++) {
		const struct guest_mem_file_map *m = &gm->file_maps[i];

		if (p < m->host + m->len && m->host < p + len)
			return true;
	}
	return false;
}

static bool guest_mem_all_zero(const uint8_t *p, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Zero len bytes at p.  Whole pages of anonymous guest RAM are dropped
 * instead (MADV_DONTNEED: they read as zeros again and cost nothing until
 * touched); not where a file is mapped, which would show the file again.
 */
static void guest_mem_zero(struct guest_mem *gm, uint8_t *p, uint64_t len)
{
	uint64_t page = guest_mem_page_size();
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
	uintptr_t end = ((uintptr_t)p + len) & ~(uintptr_t)(page - 1);

	if (!gm->owns_mapping || gm->backing != GUEST_MEM_ANON || end <= start ||
	    guest_mem_overlaps_file_map(gm, (uint8_t *)start, end - start) ||
	    madvise((void *)start, end - start, MADV_DONTNEED) < 0) {
		memset(p, 0, len);
		return;
	}
	memset(p, 0, start - (uintptr_t)p);
	memset((void *)end, 0, (uintptr_t)p + len - end);
}

/*
 * A duplicate of fd with a read lease on its open file, the breaks of
 * which come to this process as SIGIO (read by main from its signalfd).
 * -1 if the file cannot be leased: not opened read-only, open for writing
 * somewhere (EAGAIN), not ours and no CAP_LEASE (EACCES), a file system
 * without leases.
 */
static int guest_mem_lease(int fd)
{
	int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	if (dup_fd < 0)
		return -1;
	if (fcntl(dup_fd, F_SETSIG, SIGIO) < 0 || fcntl(dup_fd, F_SETOWN, getpid()) < 0 ||
	    fcntl(dup_fd, F_SETLEASE, F_RDLCK) < 0) {
		close(dup_fd);
		return -1;
	}
	return dup_fd;
}

/*
 * Map pages [offset, offset + len) of f over guest RAM at host (all
 * page-aligned) and keep the lease.  Only in minivmm's own anonymous RAM: a
 * memfd is shared with a vhost-user back-end, which would not see the
 * file's pages.  Returns 0, -1 to copy instead, or -2 if the range could
 * not be mapped at all any more.
 */
static int guest_mem_map_file(struct guest_mem *gm, uint8_t *host, const struct guest_file *f,
			      uint64_t offset, uint64_t len)
{
	struct guest_mem_file_map *m;
	int lease_fd;

	if (!gm->owns_mapping || gm->backing != GUEST_MEM_ANON || f->fd < 0 ||
	    gm->nr_file_maps >= GUEST_MEM_MAX_FILE_MAPS)
		return -1;
	lease_fd = guest_mem_lease(f->fd);
	if (lease_fd < 0)
		return -1;
	if (mmap(host, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, lease_fd,
		 (off_t)offset) == MAP_FAILED) {
		close(lease_fd);
		/* A failed MAP_FIXED may already have unmapped the range: put
		 * fresh anonymous RAM back (the caller then copies); -2 if
		 * even that fails and guest RAM has a hole. */
		if (mmap(host, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
			 0) == MAP_FAILED)
			return -2;
		return -1;
	}
	m = &gm->file_maps[gm->nr_file_maps++];
	*m = (struct guest_mem_file_map){.host = host, .len = len, .fd = lease_fd};
	return 0;
}

int guest_mem_load(struct guest_mem *gm, uint64_t gpa, const struct guest_file *f, uint64_t offset,
		   uint64_t filesz, uint64_t memsz)
{
	uint64_t page = guest_mem_page_size();
	uint8_t *dst = guest_mem_ptr(gm, gpa, memsz);
	uint64_t mapped = 0;

	if (!dst || filesz > memsz)
		return -EFAULT;
	if (filesz >= page && gpa % page == 0 && offset % page == 0) {
		/* Whole pages, the last partial one too.  What lies past the
		 * segment in that page must read as zeros again afterwards,
		 * so map only where it already does (fresh RAM; segments
		 * sharing a page are copied). */
		uint64_t len = (filesz + page - 1) & ~(page - 1);
		uint64_t seg_end = memsz < len ? memsz : len;

		if (guest_mem_valid(gm, gpa, len) &&
		    guest_mem_all_zero(dst + seg_end, len - seg_end)) {
			int r = guest_mem_map_file(gm, dst, f, offset, len);

			if (r == -2)
				return -ENOMEM;
			if (r == 0) {
				memset(dst + filesz, 0, len - filesz);
				mapped = len;
			}
		}
	}
	if (!mapped) {
		memcpy(dst, f->data + offset, filesz);
		guest_mem_zero(gm, dst + filesz, memsz - filesz);
		return 0;
	}
	if (memsz > mapped)
		guest_mem_zero(gm, dst + mapped, memsz - mapped);
	return 1;
}

uint64_t guest_mem_privatise(struct guest_mem *gm)
{
	uint64_t bytes = 0;

	for (unsigned int i = 0; i < gm->nr_file_maps; i++) {
		struct guest_mem_file_map *m = &gm->file_maps[i];

		/* A write fault on every page, content kept; older kernels
		 * lack MADV_POPULATE_WRITE, so touch each page instead. */
		if (madvise(m->host, m->len, MADV_POPULATE_WRITE) < 0) {
			uint64_t page = guest_mem_page_size();

			for (uint64_t off = 0; off < m->len; off += page)
				__atomic_fetch_or(m->host + off, 0, __ATOMIC_RELAXED);
		}
		/* Explicitly: the mappings keep the open file, and so the lease. */
		fcntl(m->fd, F_SETLEASE, F_UNLCK);
		close(m->fd);
		bytes += m->len;
	}
	gm->nr_file_maps = 0;
	return bytes;
}

/* Opened read-only: the open file may get a read lease (guest_mem_load). */
int guest_file_open(const char *what, const char *path, struct guest_file *f)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	f->data = NULL;
	f->len = 0;
	f->fd = -1;
	if (fd < 0) {
		log_errno("%s %s", what, path);
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("%s %s: not a regular file", what, path);
		close(fd);
		return -1;
	}
	if (st.st_size == 0) {
		log_error("%s %s: file is empty", what, path);
		close(fd);
		return -1;
	}
	f->len = (size_t)st.st_size;
	f->data = mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f->data == MAP_FAILED) {
		f->data = NULL;
		close(fd);
		log_errno("%s %s: mmap", what, path);
		return -1;
	}
	f->fd = fd;
	return 0;
}

void guest_file_close(struct guest_file *f)
{
	if (f->data)
		munmap((void *)f->data, f->len);
	if (f->fd >= 0)
		close(f->fd);
}
