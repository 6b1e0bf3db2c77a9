/*
 * The compat CPU profile (arch/x86/compat_profile.c): which CPUID bits it
 * hides, and the kernel command line it leaves, including merging into the
 * user's own clearcpuid= without repeating a feature.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/compat_profile.h"
#include "helpers.h"

#define ALL_CLEARED "clearcpuid=308,151,154,141"

static void expect_cmdline(const char *in, const char *want)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", in);
	ck_assert_int_eq(compat_profile_cmdline(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, want);
}

START_TEST(test_empty_line)
{
	expect_cmdline("", ALL_CLEARED " nofsgsbase");
}
END_TEST

START_TEST(test_appends_to_plain_line)
{
	expect_cmdline("console=ttyS0 rodata=off",
		       "console=ttyS0 rodata=off " ALL_CLEARED " nofsgsbase");
}
END_TEST

START_TEST(test_merges_into_users_list)
{
	expect_cmdline("console=ttyS0 clearcpuid=erms rodata=off",
		       "console=ttyS0 clearcpuid=erms,308,151,154,141 rodata=off nofsgsbase");
}
END_TEST

/* The guest-images line once carried smap,popcnt itself; they must not repeat. */
START_TEST(test_names_already_there_are_not_repeated)
{
	expect_cmdline("console=ttyS0 clearcpuid=smap,popcnt nofsgsbase",
		       "console=ttyS0 clearcpuid=smap,popcnt,154,141 nofsgsbase");
}
END_TEST

START_TEST(test_numbers_already_there_are_not_repeated)
{
	expect_cmdline("clearcpuid=141,308", "clearcpuid=141,308,151,154 nofsgsbase");
}
END_TEST

START_TEST(test_applying_twice_changes_nothing)
{
	char buf[256] = "console=ttyS0";
	char once[256];

	ck_assert_int_eq(compat_profile_cmdline(buf, sizeof(buf)), 0);
	strcpy(once, buf);
	ck_assert_int_eq(compat_profile_cmdline(buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, once);
}
END_TEST

/* Linux acts on the last clearcpuid= only, so that is the one to extend. */
START_TEST(test_merges_into_last_of_several)
{
	expect_cmdline("clearcpuid=smap a clearcpuid=erms b",
		       "clearcpuid=smap a clearcpuid=erms,308,151,154,141 b nofsgsbase");
}
END_TEST

START_TEST(test_similar_words_are_not_matched)
{
	expect_cmdline("xclearcpuid=smap nofsgsbase2 a.nofsgsbase",
		       "xclearcpuid=smap nofsgsbase2 a.nofsgsbase " ALL_CLEARED " nofsgsbase");
}
END_TEST

START_TEST(test_partial_feature_names_are_not_matched)
{
	expect_cmdline("clearcpuid=smapx,1541,popcn",
		       "clearcpuid=smapx,1541,popcn,308,151,154,141 nofsgsbase");
}
END_TEST

START_TEST(test_empty_users_list)
{
	expect_cmdline("clearcpuid= x", ALL_CLEARED " x nofsgsbase");
}
END_TEST

START_TEST(test_too_long_is_refused_unchanged)
{
	char buf[40] = "console=ttyS0 clearcpuid=erms";
	char before[40];

	strcpy(before, buf);
	ck_assert_int_eq(compat_profile_cmdline(buf, sizeof(buf)), -ENOSPC);
	ck_assert_str_eq(buf, before);
}
END_TEST

START_TEST(test_exact_fit_is_accepted)
{
	const char *want = ALL_CLEARED " nofsgsbase";
	size_t size = strlen(want) + 1;
	char *buf = calloc(1, size);

	ck_assert_int_eq(compat_profile_cmdline(buf, size), 0);
	ck_assert_str_eq(buf, want);
	buf[0] = '\0';
	ck_assert_int_eq(compat_profile_cmdline(buf, size - 1), -ENOSPC);
	ck_assert_str_eq(buf, "");
	free(buf);
}
END_TEST

static struct kvm_cpuid2 *make_cpuid(void)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 5 * sizeof(struct kvm_cpuid_entry2));

	c->nent = 5;
	c->entries[0] = (struct kvm_cpuid_entry2){.function = 1, .ecx = ~0U, .edx = ~0U};
	c->entries[1] =
	    (struct kvm_cpuid_entry2){.function = 7, .index = 0, .ebx = ~0U, .ecx = ~0U};
	c->entries[2] = (struct kvm_cpuid_entry2){.function = 0xd, .eax = 7};
	c->entries[3] = (struct kvm_cpuid_entry2){.function = 0x40000001, .eax = ~0U};
	c->entries[4] = (struct kvm_cpuid_entry2){.function = 7, .index = 1, .ebx = ~0U};
	return c;
}

START_TEST(test_cpuid_filter)
{
	struct kvm_cpuid2 *c = make_cpuid();

	compat_profile_filter_cpuid(c);
	ck_assert_uint_eq(c->nent, 4); /* leaf 0xd dropped, order kept */
	ck_assert_uint_eq(c->entries[0].function, 1);
	/* CX16, POPCNT, XSAVE, OSXSAVE, AVX hidden; everything else kept. */
	ck_assert_uint_eq(c->entries[0].ecx,
			  ~((1U << 13) | (1U << 23) | (1U << 26) | (1U << 27) | (1U << 28)));
	ck_assert_uint_eq(c->entries[0].edx, ~0U);
	/* FSGSBASE, AVX2, ERMS, SMAP hidden in leaf 7 subleaf 0 only. */
	ck_assert_uint_eq(c->entries[1].ebx, ~((1U << 0) | (1U << 5) | (1U << 9) | (1U << 20)));
	ck_assert_uint_eq(c->entries[1].ecx, ~0U);
	ck_assert_uint_eq(c->entries[2].function, 0x40000001);
	ck_assert_uint_eq(c->entries[2].eax, ~((1U << 4) | (1U << 7) | (1U << 10) | (1U << 11) |
					       (1U << 13) | (1U << 14)));
	ck_assert_uint_eq(c->entries[3].function, 7);
	ck_assert_uint_eq(c->entries[3].ebx, ~0U);
	free(c);
}
END_TEST

Suite *compat_profile_suite(void)
{
	return unit_suite(
	    "compat_profile", NULL, NULL,
	    UNIT_TESTS(
		test_empty_line, test_appends_to_plain_line, test_merges_into_users_list,
		test_names_already_there_are_not_repeated,
		test_numbers_already_there_are_not_repeated, test_applying_twice_changes_nothing,
		test_merges_into_last_of_several, test_similar_words_are_not_matched,
		test_partial_feature_names_are_not_matched, test_empty_users_list,
		test_too_long_is_refused_unchanged, test_exact_fit_is_accepted, test_cpuid_filter));
}
