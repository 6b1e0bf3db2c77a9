/* The port/MMIO bus: registration rules at every edge, and dispatch. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "bus.h"
#include "helpers.h"

static struct bus bus;

/* What the last handler call saw. */
static struct {
	void *opaque;
	uint64_t offset;
	uint8_t data[8];
	uint32_t len;
	bool is_write;
	unsigned int calls;
} seen;

static void record(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	seen.opaque = opaque;
	seen.offset = offset;
	seen.len = len;
	seen.is_write = is_write;
	seen.calls++;
	if (is_write) {
		memcpy(seen.data, data, len);
	} else {
		for (uint32_t i = 0; i < len; i++)
			data[i] = (uint8_t)(0x10 + i);
	}
}

static int reg(uint64_t base, uint64_t len)
{
	return bus_register(&bus, base, len, record, NULL, "test");
}

static void bus_setup(void)
{
	bus_init(&bus, "test");
	memset(&seen, 0, sizeof(seen));
}

START_TEST(test_init)
{
	ck_assert_str_eq(bus.name, "test");
	ck_assert_uint_eq(bus.nr_ranges, 0);
	ck_assert_uint_eq(atomic_load(&bus.unhandled), 0);
}
END_TEST

START_TEST(test_adjacent_ranges)
{
	ck_assert_int_eq(reg(0x100, 0x10), 0);
	ck_assert_int_eq(reg(0x110, 0x10), 0); /* right after */
	ck_assert_int_eq(reg(0xf0, 0x10), 0);  /* right before */
	ck_assert_int_eq(reg(0x120, 1), 0);
	ck_assert_uint_eq(bus.nr_ranges, 4);
	ck_assert_ptr_eq(bus_find(&bus, 0x10f, 1), &bus.ranges[0]);
	ck_assert_ptr_eq(bus_find(&bus, 0x110, 1), &bus.ranges[1]);
	ck_assert_ptr_eq(bus_find(&bus, 0xff, 1), &bus.ranges[2]);
	ck_assert_ptr_eq(bus_find(&bus, 0x120, 1), &bus.ranges[3]);
	ck_assert_ptr_null(bus_find(&bus, 0x121, 1));
	ck_assert_ptr_null(bus_find(&bus, 0xef, 1));
}
END_TEST

START_TEST(test_overlaps_rejected)
{
	ck_assert_int_eq(reg(0x100, 0x10), 0);
	ck_assert_int_eq(reg(0x100, 0x10), -EEXIST); /* identical */
	ck_assert_int_eq(reg(0x104, 4), -EEXIST);    /* inside */
	ck_assert_int_eq(reg(0x0, 0x1000), -EEXIST); /* around */
	ck_assert_int_eq(reg(0xf8, 9), -EEXIST);     /* last byte overlaps */
	ck_assert_int_eq(reg(0x10f, 0x10), -EEXIST); /* first byte overlaps */
	ck_assert_int_eq(reg(0x10f, 1), -EEXIST);
	ck_assert_int_eq(reg(0xff, 1), 0);
	ck_assert_int_eq(reg(0x110, 1), 0);
	ck_assert_uint_eq(bus.nr_ranges, 3);
}
END_TEST

START_TEST(test_invalid_ranges)
{
	ck_assert_int_eq(reg(0x100, 0), -EINVAL);
	ck_assert_int_eq(bus_register(&bus, 0x100, 1, NULL, NULL, "null"), -EINVAL);
	/* Ranges must not wrap past 2^64. */
	ck_assert_int_eq(reg(UINT64_MAX, 2), -EINVAL);
	ck_assert_int_eq(reg(UINT64_MAX - 0xf, 0x11), -EINVAL);
	ck_assert_int_eq(reg(2, UINT64_MAX), -EINVAL);
	ck_assert_uint_eq(bus.nr_ranges, 0);
	ck_assert_int_eq(reg(1, UINT64_MAX), 0); /* [1, 2^64) is fine */
}
END_TEST

START_TEST(test_top_of_address_space)
{
	/* A range may end exactly at 2^64, and overlap checks there must not wrap. */
	ck_assert_int_eq(reg(UINT64_MAX - 0xf, 0x10), 0);
	ck_assert_int_eq(reg(UINT64_MAX, 1), -EEXIST);
	ck_assert_int_eq(reg(0, 1), 0);
	ck_assert_int_eq(reg(UINT64_MAX - 0x1f, 0x10), 0);
	ck_assert_int_eq(reg(0x10, UINT64_MAX - 0x10), -EEXIST);
	ck_assert_ptr_eq(bus_find(&bus, UINT64_MAX, 1), &bus.ranges[0]);
	ck_assert_ptr_null(bus_find(&bus, UINT64_MAX, 2));
	ck_assert_ptr_eq(bus_find(&bus, UINT64_MAX - 7, 8), &bus.ranges[0]);
	/* The whole space but one byte. */
	bus_setup();
	ck_assert_int_eq(reg(0, UINT64_MAX), 0);
	ck_assert_int_eq(reg(UINT64_MAX, 1), 0);
	ck_assert_int_eq(reg(UINT64_MAX - 1, 1), -EEXIST);
}
END_TEST

START_TEST(test_table_full)
{
	for (unsigned int i = 0; i < BUS_MAX_RANGES; i++)
		ck_assert_int_eq(reg(i * 0x10, 0x10), 0);
	ck_assert_int_eq(reg(0x10000, 1), -ENOSPC);
	/* Overlap is still reported as such on a full table. */
	ck_assert_int_eq(reg(0, 1), -EEXIST);
	ck_assert_uint_eq(bus.nr_ranges, BUS_MAX_RANGES);
}
END_TEST

START_TEST(test_dispatch_write_and_read)
{
	int cookie;
	uint8_t d[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	ck_assert_int_eq(bus_register(&bus, 0x1000, 0x100, record, &cookie, "dev"), 0);
	ck_assert(bus_dispatch(&bus, 0x1004, d, 4, true));
	ck_assert_ptr_eq(seen.opaque, &cookie);
	ck_assert_uint_eq(seen.offset, 4);
	ck_assert_uint_eq(seen.len, 4);
	ck_assert(seen.is_write);
	ck_assert_mem_eq(seen.data, d, 4);
	ck_assert(bus_dispatch(&bus, 0x10f8, d, 8, false)); /* ends at the last byte */
	ck_assert_uint_eq(seen.offset, 0xf8);
	ck_assert(!seen.is_write);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(d[i], 0x10 + i);
	ck_assert_uint_eq(atomic_load(&bus.ranges[0].accesses), 2);
	ck_assert_uint_eq(atomic_load(&bus.unhandled), 0);
}
END_TEST

START_TEST(test_unhandled)
{
	uint8_t d[8];

	ck_assert_int_eq(reg(0x1000, 0x100), 0);
	memset(d, 0, sizeof(d));
	ck_assert(!bus_dispatch(&bus, 0x2000, d, 8, false));
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(d[i], 0xff); /* an empty bus reads all-ones */
	/* Straddling either end of a range is not the range's access. */
	memset(d, 0, sizeof(d));
	ck_assert(!bus_dispatch(&bus, 0x10fe, d, 4, false));
	ck_assert_uint_eq(d[0], 0xff);
	ck_assert(!bus_dispatch(&bus, 0xffe, d, 4, false));
	/* Unhandled writes go nowhere and leave data alone. */
	memset(d, 0x5a, sizeof(d));
	ck_assert(!bus_dispatch(&bus, 0x0, d, 4, true));
	ck_assert_uint_eq(d[0], 0x5a);
	ck_assert_uint_eq(seen.calls, 0);
	ck_assert_uint_eq(atomic_load(&bus.unhandled), 4);
	/* Addresses near 2^64 must not wrap into low ranges. */
	ck_assert(!bus_dispatch(&bus, UINT64_MAX - 1, d, 4, false));
	ck_assert_uint_eq(seen.calls, 0);
}
END_TEST

static void other_handler(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	record(opaque, offset, data, len, is_write);
}

START_TEST(test_owner)
{
	int a, b;

	ck_assert_int_eq(bus_register(&bus, 0x60, 1, record, &a, "a"), 0);
	ck_assert_int_eq(bus_register(&bus, 0x64, 4, other_handler, &b, "b"), 0);
	ck_assert_ptr_eq(bus_owner(&bus, 0x60, record), &a);
	ck_assert_ptr_eq(bus_owner(&bus, 0x67, other_handler), &b);
	/* Another handler's range, or nothing there: not ours. */
	ck_assert_ptr_null(bus_owner(&bus, 0x60, other_handler));
	ck_assert_ptr_null(bus_owner(&bus, 0x61, record));
}
END_TEST

Suite *bus_suite(void)
{
	return unit_suite("bus", bus_setup, NULL,
			  UNIT_TESTS(test_init, test_adjacent_ranges, test_overlaps_rejected,
				     test_invalid_ranges, test_top_of_address_space,
				     test_table_full, test_dispatch_write_and_read, test_unhandled,
				     test_owner));
}
