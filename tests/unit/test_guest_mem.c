/* Guest memory translation: every range must lie wholly inside one region. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "guest_mem.h"
#include "helpers.h"

#define PAGE 4096

static struct guest_mem gm;
static uint8_t low[PAGE], mid[PAGE], high[PAGE];
static const uint64_t HIGH_GPA = 4ULL << 30;

/* Regions: [0, 4K) and [4K, 8K) (contiguous, separate host buffers), [4G, 4G+4K). */
static void guest_mem_setup(void)
{
	memset(&gm, 0, sizeof(gm));
	ck_assert_int_eq(guest_mem_add_region(&gm, 0, PAGE, low), 0);
	ck_assert_int_eq(guest_mem_add_region(&gm, PAGE, PAGE, mid), 0);
	ck_assert_int_eq(guest_mem_add_region(&gm, HIGH_GPA, PAGE, high), 0);
}

START_TEST(test_translation)
{
	ck_assert_uint_eq(gm.ram_size, 3 * PAGE);
	ck_assert_ptr_eq(guest_mem_ptr(&gm, 0, 1), low);
	ck_assert_ptr_eq(guest_mem_ptr(&gm, PAGE - 1, 1), low + PAGE - 1);
	ck_assert_ptr_eq(guest_mem_ptr(&gm, 0, PAGE), low);
	ck_assert_ptr_eq(guest_mem_ptr(&gm, PAGE, PAGE), mid);
	ck_assert_ptr_eq(guest_mem_ptr(&gm, HIGH_GPA + 10, 20), high + 10);
	ck_assert_ptr_eq(guest_mem_ptr(&gm, HIGH_GPA + PAGE - 8, 8), high + PAGE - 8);
}
END_TEST

START_TEST(test_out_of_bounds)
{
	ck_assert_ptr_null(guest_mem_ptr(&gm, 0, PAGE + 1)); /* crosses into the next region */
	ck_assert_ptr_null(guest_mem_ptr(&gm, PAGE - 1, 2)); /* straddles two regions */
	ck_assert_ptr_null(guest_mem_ptr(&gm, 2 * PAGE, 1)); /* the gap */
	ck_assert_ptr_null(guest_mem_ptr(&gm, 2 * PAGE - 1, 2));
	ck_assert_ptr_null(guest_mem_ptr(&gm, HIGH_GPA - 1, 2));
	ck_assert_ptr_null(guest_mem_ptr(&gm, HIGH_GPA + PAGE - 8, 9));
	ck_assert_ptr_null(guest_mem_ptr(&gm, HIGH_GPA + PAGE, 1));
	ck_assert_ptr_null(guest_mem_ptr(&gm, HIGH_GPA, UINT64_MAX));
	ck_assert(!guest_mem_valid(&gm, PAGE - 1, 2));
	ck_assert(guest_mem_valid(&gm, PAGE, 2));
}
END_TEST

START_TEST(test_overflow)
{
	/* gpa + len wrapping around 2^64 must not land in low memory. */
	ck_assert_ptr_null(guest_mem_ptr(&gm, UINT64_MAX, 2));
	ck_assert_ptr_null(guest_mem_ptr(&gm, UINT64_MAX - 10, 100));
	ck_assert_ptr_null(guest_mem_ptr(&gm, UINT64_MAX, UINT64_MAX));
	ck_assert_ptr_null(guest_mem_ptr(&gm, 1, UINT64_MAX));
	ck_assert_ptr_null(guest_mem_ptr(&gm, HIGH_GPA + 1, UINT64_MAX - HIGH_GPA));
	ck_assert_ptr_null(guest_mem_ptr(&gm, UINT64_MAX, 0));
}
END_TEST

START_TEST(test_zero_length)
{
	/* len 0 is checked as len 1: the address itself must be RAM. */
	ck_assert_ptr_eq(guest_mem_ptr(&gm, 5, 0), low + 5);
	ck_assert_ptr_eq(guest_mem_ptr(&gm, PAGE - 1, 0), low + PAGE - 1);
	ck_assert_ptr_null(guest_mem_ptr(&gm, 2 * PAGE, 0));
	uint8_t buf[1] = {0x42};

	ck_assert_int_eq(guest_mem_read(&gm, 0, buf, 0), 0);
	ck_assert_uint_eq(buf[0], 0x42);
	ck_assert_int_eq(guest_mem_write(&gm, 2 * PAGE, buf, 0), -EFAULT);
}
END_TEST

START_TEST(test_copy_helpers)
{
	uint8_t buf[16];

	memset(mid, 0, PAGE);
	ck_assert_int_eq(guest_mem_write(&gm, PAGE + 8, "guest!", 6), 0);
	ck_assert_mem_eq(mid + 8, "guest!", 6);
	ck_assert_int_eq(guest_mem_read(&gm, PAGE + 8, buf, 6), 0);
	ck_assert_mem_eq(buf, "guest!", 6);
	memset(buf, 0x77, sizeof(buf));
	memset(low + PAGE - 8, 0x11, 8);
	ck_assert_int_eq(guest_mem_read(&gm, PAGE - 8, buf, 16), -EFAULT);
	ck_assert_uint_eq(buf[0], 0x77); /* nothing copied on failure */
	ck_assert_int_eq(guest_mem_write(&gm, PAGE - 8, buf, 16), -EFAULT);
	ck_assert_uint_eq(low[PAGE - 8], 0x11);
	ck_assert_int_eq(guest_mem_write(&gm, UINT64_MAX - 3, buf, 16), -EFAULT);
}
END_TEST

START_TEST(test_add_region_errors)
{
	static uint8_t extra[PAGE];

	ck_assert_int_eq(guest_mem_add_region(&gm, 3 * PAGE, 0, extra), -EINVAL);
	ck_assert_int_eq(guest_mem_add_region(&gm, UINT64_MAX - 10, 100, extra), -EINVAL);
	ck_assert_int_eq(guest_mem_add_region(&gm, 3 * PAGE, PAGE, extra), 0);
	ck_assert_uint_eq(gm.nr_regions, GUEST_MEM_MAX_REGIONS);
	ck_assert_int_eq(guest_mem_add_region(&gm, 8 * PAGE, PAGE, extra), -EINVAL);
	ck_assert_uint_eq(gm.ram_size, 4 * PAGE);
}
END_TEST

START_TEST(test_alloc_splits_around_hole)
{
	struct guest_mem m;
	const uint64_t mib = 1ULL << 20;
	uint8_t *p;

	ck_assert_int_eq(guest_mem_alloc(&m, 64 * mib, 48 * mib, GUEST_MEM_ANON, false), 0);
	ck_assert_uint_eq(m.nr_regions, 2);
	ck_assert_uint_eq(m.ram_size, 64 * mib);
	ck_assert_uint_eq(m.regions[0].gpa, 0);
	ck_assert_uint_eq(m.regions[0].size, 48 * mib);
	ck_assert_uint_eq(m.regions[1].gpa, HIGH_GPA);
	ck_assert_uint_eq(m.regions[1].size, 16 * mib);
	ck_assert_ptr_null(guest_mem_ptr(&m, 48 * mib, 1)); /* the hole */
	ck_assert_ptr_null(guest_mem_ptr(&m, 48 * mib - 1, 2));
	p = guest_mem_ptr(&m, HIGH_GPA + 16 * mib - 1, 1);
	ck_assert_ptr_nonnull(p);
	*p = 1; /* really mapped */
	ck_assert_ptr_null(guest_mem_ptr(&m, HIGH_GPA + 16 * mib, 1));
	guest_mem_free(&m);
	ck_assert_uint_eq(m.nr_regions, 0);

	/* Small guests have one region below the hole. */
	ck_assert_int_eq(guest_mem_alloc(&m, 2 * mib, 48 * mib, GUEST_MEM_ANON, true), 0);
	ck_assert_uint_eq(m.nr_regions, 1);
	ck_assert_ptr_null(guest_mem_ptr(&m, 2 * mib, 1));
	guest_mem_free(&m);
}
END_TEST

START_TEST(test_alloc_errors)
{
	struct guest_mem m;

	ck_assert_int_eq(guest_mem_alloc(&m, 0, 1ULL << 30, GUEST_MEM_ANON, false), -EINVAL);
	ck_assert_int_eq(guest_mem_alloc(&m, 1ULL << 20, 0, GUEST_MEM_ANON, false), -EINVAL);
	ck_assert_int_eq(guest_mem_alloc(&m, 1ULL << 20, (4ULL << 30) + 1, GUEST_MEM_ANON, false),
			 -EINVAL);
	ck_assert_uint_eq(m.nr_regions, 0);
}
END_TEST

/* A memfd backing is the same memory seen through the fd: what a vhost-user back-end maps. */
START_TEST(test_memfd_backing_is_shared)
{
	const uint64_t mib = 1ULL << 20;
	struct guest_mem m;
	uint8_t *p, byte = 0;

	ck_assert_int_eq(guest_mem_alloc(&m, 64 * mib, 48 * mib, GUEST_MEM_MEMFD, false), 0);
	ck_assert_int_ge(m.fd, 0);
	ck_assert_uint_eq(m.nr_regions, 2);
	ck_assert_uint_eq(m.regions[0].fd_offset, 0);
	ck_assert_uint_eq(m.regions[1].fd_offset, 48 * mib);
	ck_assert_uint_eq(lseek(m.fd, 0, SEEK_END), 64 * mib);
	/* The guest's write at 4 GiB + 5 is at fd offset 48 MiB + 5 ... */
	p = guest_mem_ptr(&m, HIGH_GPA + 5, 1);
	ck_assert_ptr_nonnull(p);
	*p = 0xa7;
	ck_assert_int_eq(pread(m.fd, &byte, 1, (off_t)(48 * mib + 5)), 1);
	ck_assert_uint_eq(byte, 0xa7);
	/* ... and a write through the fd is what the guest reads. */
	byte = 0x3c;
	ck_assert_int_eq(pwrite(m.fd, &byte, 1, 7), 1);
	ck_assert_uint_eq(*(uint8_t *)guest_mem_ptr(&m, 7, 1), 0x3c);
	guest_mem_free(&m);
	ck_assert_int_eq(m.fd, -1);

	/* Anonymous memory has no fd to share. */
	ck_assert_int_eq(guest_mem_alloc(&m, 2 * mib, 48 * mib, GUEST_MEM_ANON, false), 0);
	ck_assert_int_eq(m.fd, -1);
	ck_assert_int_eq(m.backing, GUEST_MEM_ANON);
	guest_mem_free(&m);
}
END_TEST

START_TEST(test_hugetlb_needs_whole_pages)
{
	struct guest_mem m;

	ck_assert_int_eq(guest_mem_alloc(&m, (3ULL << 20), 1ULL << 30, GUEST_MEM_HUGETLB, false),
			 -EINVAL);
	ck_assert_int_eq(m.fd, -1);
	ck_assert_str_eq(guest_mem_backing_name(GUEST_MEM_HUGETLB), "memfd (hugetlb)");
}
END_TEST

/* ---- guest_mem_load(): files mapped copy-on-write or copied ---- */

#define LOAD_MIB  (1ULL << 20)
#define LOAD_GPA  (2 * LOAD_MIB)
#define FILE_SIZE (5 * PAGE + 100)

/* A regular file of FILE_SIZE bytes (byte i = i * 7 + seed), open read-only. */
static struct guest_file open_test_file(char *path, uint8_t seed)
{
	uint8_t *buf = malloc(FILE_SIZE);
	int fd;

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < FILE_SIZE; i++)
		buf[i] = (uint8_t)(i * 7 + seed);
	strcpy(path, "/tmp/minivmm-unit-file.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, FILE_SIZE), FILE_SIZE);
	close(fd);
	free(buf);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	return (struct guest_file){.data = mmap(NULL, FILE_SIZE, PROT_READ, MAP_PRIVATE, fd, 0),
				   .len = FILE_SIZE,
				   .fd = fd};
}

static void close_test_file(struct guest_file *f, const char *path)
{
	munmap((void *)f->data, f->len);
	close(f->fd);
	unlink(path);
}

static bool all_bytes(const uint8_t *p, uint64_t len, uint8_t v)
{
	for (uint64_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}

/*
 * A page-aligned segment in minivmm's own RAM is mapped, not copied: the
 * guest sees the file, writes stay in guest RAM, the zeros after the file's
 * bytes are zeros, and bytes past the segment in its last page are kept.
 */
START_TEST(test_load_maps_aligned_segment)
{
	char path[64];
	struct guest_file f = open_test_file(path, 1);
	uint64_t filesz = 3 * PAGE + 100, memsz = 6 * PAGE + 10;
	struct guest_mem m;
	uint8_t *ram, after[PAGE];

	ck_assert_ptr_ne(f.data, MAP_FAILED);
	ck_assert_int_eq(fcntl(f.fd, F_GETLEASE), F_UNLCK);
	ck_assert_int_eq(guest_mem_alloc(&m, 16 * LOAD_MIB, 1ULL << 30, GUEST_MEM_ANON, false), 0);
	ram = guest_mem_ptr(&m, LOAD_GPA, 8 * PAGE);
	/* Dirty everything the segment covers, and mark what follows it. */
	memset(ram, 0xee, 8 * PAGE);
	ck_assert_int_eq(guest_mem_load(&m, LOAD_GPA, &f, PAGE, filesz, memsz), 1);
	ck_assert_uint_eq(m.nr_file_maps, 1);
	ck_assert_int_eq(fcntl(f.fd, F_GETLEASE), F_RDLCK);
	ck_assert_mem_eq(ram, f.data + PAGE, filesz);
	ck_assert(all_bytes(ram + filesz, memsz - filesz, 0));
	ck_assert(all_bytes(ram + memsz, 8 * PAGE - memsz, 0xee));
	/* A guest write changes guest RAM, never the file. */
	ram[5] ^= 0xff;
	ck_assert_int_eq(pread(f.fd, after, 16, PAGE), 16);
	ck_assert_uint_eq(after[5], f.data[PAGE + 5]);
	ck_assert_uint_ne(ram[5], f.data[PAGE + 5]);

	/* Segment ends mid-page: mapped where the rest of the page reads as
	 * zeros, and left zero; copied where it holds something (another
	 * segment's bytes), which is kept. */
	ram = guest_mem_ptr(&m, 2 * LOAD_GPA, 4 * PAGE);
	ck_assert_int_eq(guest_mem_load(&m, 2 * LOAD_GPA, &f, 0, filesz, filesz), 1);
	ck_assert_uint_eq(m.nr_file_maps, 2);
	ck_assert_mem_eq(ram, f.data, filesz);
	ck_assert(all_bytes(ram + filesz, 4 * PAGE - filesz, 0));
	ram = guest_mem_ptr(&m, 3 * LOAD_GPA, 4 * PAGE);
	ram[4 * PAGE - 1] = 0x42;
	ck_assert_int_eq(guest_mem_load(&m, 3 * LOAD_GPA, &f, 0, filesz, filesz), 0);
	ck_assert_uint_eq(m.nr_file_maps, 2);
	ck_assert_mem_eq(ram, f.data, filesz);
	ck_assert_uint_eq(ram[4 * PAGE - 1], 0x42);
	guest_mem_free(&m);
	close_test_file(&f, path);
}
END_TEST

/* Where mapping cannot be had, the bytes are copied and the zeros written. */
START_TEST(test_load_copies_otherwise)
{
	char path[64];
	struct guest_file f = open_test_file(path, 2), no_fd;
	struct guest_mem anon, shared;
	uint8_t *ram;

	ck_assert_int_eq(guest_mem_alloc(&anon, 16 * LOAD_MIB, 1ULL << 30, GUEST_MEM_ANON, false),
			 0);
	ck_assert_int_eq(
	    guest_mem_alloc(&shared, 16 * LOAD_MIB, 1ULL << 30, GUEST_MEM_MEMFD, false), 0);
	no_fd = f;
	no_fd.fd = -1;
	/* Misaligned guest address, misaligned file offset, no fd, memfd RAM. */
	ck_assert_int_eq(guest_mem_load(&anon, LOAD_GPA + 8, &f, 0, 2 * PAGE, 3 * PAGE), 0);
	ck_assert_int_eq(guest_mem_load(&anon, 4 * LOAD_GPA, &f, 8, 2 * PAGE, 3 * PAGE), 0);
	ck_assert_int_eq(guest_mem_load(&anon, 3 * LOAD_GPA, &no_fd, 0, 2 * PAGE, 3 * PAGE), 0);
	ck_assert_int_eq(guest_mem_load(&shared, LOAD_GPA, &f, 0, 2 * PAGE, 3 * PAGE), 0);
	ck_assert_uint_eq(anon.nr_file_maps, 0);
	ck_assert_uint_eq(shared.nr_file_maps, 0);
	ck_assert_mem_eq(guest_mem_ptr(&anon, LOAD_GPA + 8, 1), f.data, 2 * PAGE);
	ck_assert_mem_eq(guest_mem_ptr(&anon, 4 * LOAD_GPA, 1), f.data + 8, 2 * PAGE);
	ck_assert_mem_eq(guest_mem_ptr(&shared, LOAD_GPA, 1), f.data, 2 * PAGE);
	/* Zeros even over dirty RAM (whole pages dropped, edges written). */
	ram = guest_mem_ptr(&anon, 3 * LOAD_GPA, 6 * PAGE);
	memset(ram + 2 * PAGE, 0x55, 4 * PAGE);
	ck_assert_int_eq(guest_mem_load(&anon, 3 * LOAD_GPA, &no_fd, 0, 2 * PAGE - 3, 5 * PAGE), 0);
	ck_assert(all_bytes(ram + 2 * PAGE - 3, 3 * PAGE + 3, 0));
	ck_assert(all_bytes(ram + 5 * PAGE, PAGE, 0x55));
	/* Outside RAM: refused, nothing written. */
	ck_assert_int_eq(guest_mem_load(&anon, 16 * LOAD_MIB - PAGE, &f, 0, 2 * PAGE, 2 * PAGE),
			 -EFAULT);
	guest_mem_free(&anon);
	guest_mem_free(&shared);
	close_test_file(&f, path);
}
END_TEST

/*
 * Someone opening the kernel file for writing breaks the read lease; once
 * guest_mem_privatise() has run (main does on SIGIO) the writer may change
 * the file and guest RAM keeps what it had.  Without the copy, the rewrite
 * would show through the shared page-cache pages.
 */
START_TEST(test_lease_break_privatises)
{
	char path[64];
	struct guest_file f = open_test_file(path, 3);
	struct timespec timeout = {.tv_sec = 10};
	uint8_t *ram, junk[PAGE], expect[PAGE];
	struct guest_mem m;
	siginfo_t si;
	sigset_t io;
	int wfd;

	sigemptyset(&io);
	sigaddset(&io, SIGIO);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &io, NULL), 0);
	ck_assert_int_eq(guest_mem_alloc(&m, 16 * LOAD_MIB, 1ULL << 30, GUEST_MEM_ANON, false), 0);
	ck_assert_int_eq(guest_mem_load(&m, LOAD_GPA, &f, 0, 4 * PAGE, 4 * PAGE), 1);
	ram = guest_mem_ptr(&m, LOAD_GPA, 4 * PAGE);
	memcpy(expect, ram + PAGE, PAGE);
	/* A non-blocking open for writing starts the break and fails. */
	ck_assert_int_eq(open(path, O_WRONLY | O_NONBLOCK), -1);
	ck_assert_int_eq(errno, EWOULDBLOCK);
	ck_assert_int_eq(sigtimedwait(&io, &si, &timeout), SIGIO);
	ck_assert_uint_eq(guest_mem_privatise(&m), 4 * PAGE);
	ck_assert_uint_eq(m.nr_file_maps, 0);
	wfd = open(path, O_WRONLY | O_NONBLOCK);
	ck_assert_int_ge(wfd, 0);
	memset(junk, 0x99, sizeof(junk));
	ck_assert_int_eq(pwrite(wfd, junk, PAGE, PAGE), PAGE);
	close(wfd);
	ck_assert_mem_eq(ram + PAGE, expect, PAGE);
	guest_mem_free(&m);
	close_test_file(&f, path);
	sigprocmask(SIG_UNBLOCK, &io, NULL);
}
END_TEST

Suite *guest_mem_suite(void)
{
	return unit_suite("guest_mem", guest_mem_setup, NULL,
			  UNIT_TESTS(test_translation, test_out_of_bounds, test_overflow,
				     test_zero_length, test_copy_helpers, test_add_region_errors,
				     test_alloc_splits_around_hole, test_alloc_errors,
				     test_memfd_backing_is_shared, test_hugetlb_needs_whole_pages,
				     test_load_maps_aligned_segment, test_load_copies_otherwise,
				     test_lease_break_privatises));
}
