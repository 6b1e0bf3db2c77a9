/* The AML builder (vmm/core/aml.c): exact encodings, PkgLength sizes, and every error path. */
#include <check.h>
#include <string.h>

#include "aml.h"
#include "helpers.h"

#define CANARY 0xa5

static uint8_t out[8192 + 16];
static struct aml a;

static void aml_setup(void)
{
	memset(out, CANARY, sizeof(out));
	aml_init(&a, out, sizeof(out) - 16);
}

/* The builder's output equals the len bytes of want. */
static void expect_bytes(const uint8_t *want, size_t len)
{
	size_t got = aml_finish(&a);

	ck_assert_uint_eq(got, len);
	for (size_t i = 0; i < len; i++)
		ck_assert_msg(out[i] == want[i], "byte %zu: 0x%02x, expected 0x%02x", i, out[i],
			      want[i]);
}
#define EXPECT(...)                                                                                \
	do {                                                                                       \
		const uint8_t want_[] = {__VA_ARGS__};                                             \
		expect_bytes(want_, sizeof(want_));                                                \
	} while (0)

START_TEST(test_integers)
{
	aml_integer(&a, 0);
	aml_integer(&a, 1);
	aml_integer(&a, 2);
	aml_integer(&a, 0xff);
	aml_integer(&a, 0x100);
	aml_integer(&a, 0x12345678);
	aml_integer(&a, 0x100000000ULL);
	aml_integer(&a, UINT64_MAX);
	EXPECT(0x00, 0x01, 0x0a, 0x02, 0x0a, 0xff, 0x0b, 0x00, 0x01, 0x0c, 0x78, 0x56, 0x34, 0x12,
	       0x0e, 0, 0, 0, 0, 1, 0, 0, 0, 0xff);
}
END_TEST

START_TEST(test_string)
{
	aml_string(&a, "LNRO0005");
	EXPECT(0x0d, 'L', 'N', 'R', 'O', '0', '0', '0', '5', 0x00);
}
END_TEST

START_TEST(test_string_not_printable)
{
	aml_string(&a, "a\nb");
	ck_assert_uint_eq(aml_finish(&a), 0);
}
END_TEST

START_TEST(test_eisaid)
{
	/* The well-known values: PNP0A03 is 0x030AD041, PNP0C0C 0x0C0CD041. */
	aml_eisaid(&a, "PNP0A03");
	aml_eisaid(&a, "PNP0C0C");
	EXPECT(0x0c, 0x41, 0xd0, 0x0a, 0x03, 0x0c, 0x41, 0xd0, 0x0c, 0x0c);
}
END_TEST

START_TEST(test_eisaid_malformed)
{
	static const char *const bad[] = {"pnp0A03", "PNP0A0",	"PNP0A033",
					  "PNP0A0G", "PN10A03", ""};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a, out, 64);
		aml_eisaid(&a, bad[i]);
		ck_assert_msg(aml_finish(&a) == 0, "EISA ID \"%s\" accepted", bad[i]);
	}
}
END_TEST

START_TEST(test_name_strings)
{
	aml_name_string(&a, "PWRB");
	aml_name_string(&a, "VR0"); /* padded */
	aml_name_string(&a, "\\_SB_.PCI0");
	aml_name_string(&a, "\\_SB.PCI0.VR00");
	aml_name_string(&a, "^^GED0");
	aml_name_string(&a, "\\");
	EXPECT('P', 'W', 'R', 'B', 'V', 'R', '0', '_', '\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C',
	       'I', '0', '\\', 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'V', 'R', '0', '0',
	       '^', '^', 'G', 'E', 'D', '0', '\\', 0x00);
}
END_TEST

START_TEST(test_name_strings_malformed)
{
	static const char *const bad[] = {"",	   "ABCDE", "1ABC", "A..B",  "ab",
					  "\\.AB", "AB.",   "A-B",  "AB.\\C"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a, out, 64);
		aml_name_string(&a, bad[i]);
		ck_assert_msg(aml_finish(&a) == 0, "name \"%s\" accepted", bad[i]);
	}
}
END_TEST

/* Scope (ABCD) { k Zero terms }: the body is 4 + k bytes. */
static void scope_with(unsigned int k)
{
	aml_scope(&a, "ABCD");
	for (unsigned int i = 0; i < k; i++)
		aml_integer(&a, 0);
	aml_end(&a);
}

START_TEST(test_pkg_length_one_byte_limit)
{
	scope_with(58); /* body 62: PkgLength 63, the largest one-byte encoding */
	ck_assert_uint_eq(aml_finish(&a), 1 + 1 + 62);
	ck_assert_uint_eq(out[0], 0x10);
	ck_assert_uint_eq(out[1], 63);
	ck_assert(!memcmp(out + 2, "ABCD", 4));
	ck_assert_uint_eq(out[63], 0x00); /* the last Zero, moved down over the spare bytes */
}
END_TEST

START_TEST(test_pkg_length_two_bytes)
{
	scope_with(59); /* body 63: PkgLength 65 = 0x41 in two bytes */
	ck_assert_uint_eq(aml_finish(&a), 1 + 2 + 63);
	ck_assert_uint_eq(out[1], 0x41); /* one more byte follows; low nibble 1 */
	ck_assert_uint_eq(out[2], 0x04); /* 0x41 >> 4 */
	ck_assert(!memcmp(out + 3, "ABCD", 4));
	ck_assert_uint_eq(out[3 + 63 - 1], 0x00);
}
END_TEST

START_TEST(test_pkg_length_three_bytes)
{
	scope_with(4090); /* body 4094: PkgLength 4097 = 0x1001 needs three bytes */
	ck_assert_uint_eq(aml_finish(&a), 1 + 3 + 4094);
	ck_assert_uint_eq(out[1], 0x81);
	ck_assert_uint_eq(out[2], 0x00);
	ck_assert_uint_eq(out[3], 0x01);
	ck_assert(!memcmp(out + 4, "ABCD", 4));
}
END_TEST

START_TEST(test_nested_blocks)
{
	/* Device (GED0) { Method (_EVT, 1) { If (Arg0 == 12) { Notify (PWRB, 0x80) } } } */
	aml_device(&a, "GED0");
	aml_method(&a, "_EVT", 1, false);
	aml_if(&a);
	aml_lequal(&a);
	aml_arg(&a, 0);
	aml_integer(&a, 12);
	aml_notify(&a);
	aml_name_string(&a, "PWRB");
	aml_integer(&a, 0x80);
	aml_end(&a);
	aml_end(&a);
	aml_end(&a);
	EXPECT(0x5b, 0x82, 25, 'G', 'E', 'D', '0', 0x14, 19, '_', 'E', 'V', 'T', 0x01, 0xa0, 12,
	       0x93, 0x68, 0x0a, 12, 0x86, 'P', 'W', 'R', 'B', 0x0a, 0x80);
}
END_TEST

START_TEST(test_method_flags)
{
	aml_method(&a, "_STA", 0, true);
	aml_return(&a);
	aml_integer(&a, 0x0f);
	aml_end(&a);
	EXPECT(0x14, 9, '_', 'S', 'T', 'A', 0x08, 0xa4, 0x0a, 0x0f);
}
END_TEST

START_TEST(test_method_and_arg_limits)
{
	aml_method(&a, "_EVT", 8, false);
	aml_end(&a);
	ck_assert_uint_eq(aml_finish(&a), 0);
	aml_init(&a, out, 64);
	aml_arg(&a, 7);
	ck_assert_uint_eq(aml_finish(&a), 0);
}
END_TEST

START_TEST(test_name_and_package)
{
	aml_name(&a, "\\_S5_");
	aml_package(&a, 4);
	aml_integer(&a, 5);
	aml_integer(&a, 5);
	aml_integer(&a, 0);
	aml_integer(&a, 0);
	aml_end(&a);
	EXPECT(0x08, '\\', '_', 'S', '5', '_', 0x12, 8, 4, 0x0a, 5, 0x0a, 5, 0x00, 0x00);
}
END_TEST

START_TEST(test_package_too_many_elements)
{
	aml_package(&a, 256);
	aml_end(&a);
	ck_assert_uint_eq(aml_finish(&a), 0);
}
END_TEST

START_TEST(test_unbalanced_blocks)
{
	aml_end(&a);
	ck_assert_uint_eq(aml_finish(&a), 0);

	aml_init(&a, out, 64);
	aml_scope(&a, "ABCD");
	ck_assert_uint_eq(aml_finish(&a), 0); /* still open */
}
END_TEST

START_TEST(test_depth_limit)
{
	for (int i = 0; i < AML_MAX_DEPTH; i++)
		aml_scope(&a, "ABCD");
	for (int i = 0; i < AML_MAX_DEPTH; i++)
		aml_end(&a);
	ck_assert_uint_gt(aml_finish(&a), 0);

	aml_init(&a, out, sizeof(out) - 16);
	for (int i = 0; i < AML_MAX_DEPTH + 1; i++)
		aml_scope(&a, "ABCD");
	for (int i = 0; i < AML_MAX_DEPTH + 1; i++)
		aml_end(&a);
	ck_assert_uint_eq(aml_finish(&a), 0);
}
END_TEST

/* Every prefix of a valid program fails cleanly and writes nothing past the buffer. */
START_TEST(test_overflow_never_writes_past_the_end)
{
	size_t full;

	aml_init(&a, out, sizeof(out) - 16);
	scope_with(100);
	full = aml_finish(&a);
	ck_assert_uint_gt(full, 0);
	for (size_t room = 0; room < full; room++) {
		memset(out, CANARY, sizeof(out));
		aml_init(&a, out, room);
		scope_with(100);
		ck_assert_uint_eq(aml_finish(&a), 0);
		for (size_t i = room; i < room + 16; i++)
			ck_assert_uint_eq(out[i], CANARY);
	}
}
END_TEST

START_TEST(test_resource_template)
{
	struct aml_resources r;

	aml_resources_init(&r);
	aml_res_memory32_fixed(&r, true, 0xd0001000, 0x1000);
	aml_res_interrupt(&r, true, false, false, 17);
	aml_resource_template(&a, &r);
	EXPECT(0x11, 26, 0x0a, 23,					/* Buffer (23) */
	       0x86, 9, 0, 1, 0x00, 0x10, 0x00, 0xd0, 0x00, 0x10, 0, 0, /* Memory32Fixed */
	       0x89, 6, 0, 0x03, 1, 17, 0, 0, 0,			/* Interrupt, edge */
	       0x79, 0);						/* end tag */
}
END_TEST

START_TEST(test_resource_descriptors)
{
	struct aml_resources r;

	aml_resources_init(&r);
	aml_res_io(&r, 0x3f8, 0x3f8, 1, 8);
	aml_res_interrupt(&r, false, true, true, 10); /* level, active low, shared */
	aml_res_word_bus_number(&r, 0, 0);
	aml_res_word_io(&r, 0xc000, 0xcfff);
	aml_res_dword_memory(&r, 0xe0000000, 0xefffffff);
	ck_assert(!r.error);
	{
		const uint8_t want[] = {
		    0x47, 1, 0xf8, 0x03, 0xf8, 0x03, 1, 8, 0x89, 6, 0, 0x0d, 1, 10, 0, 0, 0,
		    /* WordBusNumber 0-0, length 1 */
		    0x88, 13, 0, 2, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,
		    /* WordIO 0xc000-0xcfff, entire range, length 0x1000 */
		    0x88, 13, 0, 1, 0x0c, 3, 0, 0, 0x00, 0xc0, 0xff, 0xcf, 0, 0, 0x00, 0x10,
		    /* DWordMemory 0xe0000000-0xefffffff, read-write, length 0x10000000 */
		    0x87, 23, 0, 0, 0x0c, 1, 0, 0, 0, 0, 0, 0, 0, 0xe0, 0xff, 0xff, 0xff, 0xef, 0,
		    0, 0, 0, 0, 0, 0, 0x10};

		ck_assert_uint_eq(r.len, sizeof(want));
		ck_assert(!memcmp(r.buf, want, sizeof(want)));
	}
}
END_TEST

START_TEST(test_resources_bad_range_and_overflow)
{
	struct aml_resources r;

	aml_resources_init(&r);
	aml_res_word_io(&r, 0x2000, 0x1000);
	ck_assert(r.error);
	aml_resource_template(&a, &r);
	ck_assert_uint_eq(aml_finish(&a), 0);

	aml_init(&a, out, sizeof(out) - 16);
	aml_resources_init(&r);
	for (int i = 0; i < AML_RESOURCES_MAX; i++)
		aml_res_io(&r, 0x60, 0x60, 1, 1);
	ck_assert(r.error);
	ck_assert_uint_le(r.len, AML_RESOURCES_MAX - 2); /* room for the end tag kept */
	aml_resource_template(&a, &r);
	ck_assert_uint_eq(aml_finish(&a), 0);
}
END_TEST

START_TEST(test_errors_are_sticky)
{
	aml_name_string(&a, "TOOLONG");
	aml_integer(&a, 5);
	ck_assert_uint_eq(aml_finish(&a), 0);
	ck_assert_uint_eq(a.len, 0); /* nothing written after the error */
}
END_TEST

Suite *aml_suite(void)
{
	return unit_suite(
	    "aml", aml_setup, NULL,
	    UNIT_TESTS(test_integers, test_string, test_string_not_printable, test_eisaid,
		       test_eisaid_malformed, test_name_strings, test_name_strings_malformed,
		       test_pkg_length_one_byte_limit, test_pkg_length_two_bytes,
		       test_pkg_length_three_bytes, test_nested_blocks, test_method_flags,
		       test_method_and_arg_limits, test_name_and_package,
		       test_package_too_many_elements, test_unbalanced_blocks, test_depth_limit,
		       test_overflow_never_writes_past_the_end, test_resource_template,
		       test_resource_descriptors, test_resources_bad_range_and_overflow,
		       test_errors_are_sticky));
}
