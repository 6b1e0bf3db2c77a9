/* Guest memory translation: every range must lie wholly inside one region. */
#include <check.h>
#include <errno.h>
#include <string.h>
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

Suite *guest_mem_suite(void)
{
	return unit_suite("guest_mem", guest_mem_setup, NULL,
			  UNIT_TESTS(test_translation, test_out_of_bounds, test_overflow,
				     test_zero_length, test_copy_helpers, test_add_region_errors,
				     test_alloc_splits_around_hole, test_alloc_errors,
				     test_memfd_backing_is_shared, test_hugetlb_needs_whole_pages));
}
