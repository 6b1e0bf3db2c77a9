/* Byte copies and cuts across iovec arrays (vmm/core/iov.c). */
#include <check.h>
#include <stdint.h>

#include "helpers.h"
#include "iov.h"

START_TEST(iov_copies)
{
	uint8_t a[3], b[5], out[8];
	struct iovec iov[2] = {{a, 3}, {b, 5}};
	const uint8_t in[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	ck_assert_uint_eq(iov_from_buf(iov, 2, 0, in, 8), 8);
	ck_assert_uint_eq(a[2], 3);
	ck_assert_uint_eq(b[0], 4);
	ck_assert_uint_eq(iov_to_buf(iov, 2, 2, out, 8), 6);
	ck_assert_uint_eq(out[0], 3);
	ck_assert_uint_eq(out[5], 8);
	ck_assert_uint_eq(iov_to_buf(iov, 2, 8, out, 8), 0);
	ck_assert_uint_eq(iov_from_buf(iov, 2, 7, in, 4), 1);
	ck_assert_uint_eq(b[4], 1);
}
END_TEST

START_TEST(iov_tail_skips_a_prefix)
{
	uint8_t a[3], b[5];
	struct iovec iov[2] = {{a, 3}, {b, 5}}, dst[2];

	ck_assert_uint_eq(iov_tail(dst, iov, 2, 0), 2);
	ck_assert_ptr_eq(dst[0].iov_base, a);
	ck_assert_uint_eq(dst[0].iov_len, 3);
	/* Ending exactly on a segment boundary drops the whole segment. */
	ck_assert_uint_eq(iov_tail(dst, iov, 2, 3), 1);
	ck_assert_ptr_eq(dst[0].iov_base, b);
	ck_assert_uint_eq(dst[0].iov_len, 5);
	ck_assert_uint_eq(iov_tail(dst, iov, 2, 4), 1);
	ck_assert_ptr_eq(dst[0].iov_base, b + 1);
	ck_assert_uint_eq(dst[0].iov_len, 4);
	ck_assert_uint_eq(iov_tail(dst, iov, 2, 8), 0);
	ck_assert_uint_eq(iov_tail(dst, iov, 2, 100), 0);
}
END_TEST

START_TEST(iov_skip_drops_a_prefix_in_place)
{
	uint8_t a[3], b[5];
	struct iovec iov[2] = {{a, 3}, {b, 5}}, *cur = iov;
	unsigned int cnt = 2;

	iov_skip(&cur, &cnt, 0);
	ck_assert_ptr_eq(cur, iov);
	ck_assert_uint_eq(cnt, 2);
	/* Ending exactly on a segment boundary drops the whole segment. */
	iov_skip(&cur, &cnt, 3);
	ck_assert_ptr_eq(cur, &iov[1]);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_ptr_eq(cur[0].iov_base, b);
	iov_skip(&cur, &cnt, 2);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_ptr_eq(cur[0].iov_base, b + 2);
	ck_assert_uint_eq(cur[0].iov_len, 3);
	/* More than is left empties the array and stops there. */
	iov_skip(&cur, &cnt, 100);
	ck_assert_uint_eq(cnt, 0);
	ck_assert_ptr_eq(cur, &iov[2]);
}
END_TEST

Suite *iov_suite(void)
{
	return unit_suite(
	    "iov", NULL, NULL,
	    UNIT_TESTS(iov_copies, iov_tail_skips_a_prefix, iov_skip_drops_a_prefix_in_place));
}
