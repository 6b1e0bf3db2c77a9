/*
 * --stats memory figures (vmm/stats.c): guest RAM and the VMM's own
 * resident memory are measured together, so the VMM's share is never
 * negative and guest pages the guest touched are counted as guest.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_vm.h"
#include "guest_mem.h"
#include "vmm/stats.h"
#include "helpers.h"

#define MIB (1024 * 1024)

START_TEST(test_guest_pages_counted_as_guest)
{
	struct vm vm;
	long total, guest, total2, guest2;

	memset(&vm, 0, sizeof(vm));
	ck_assert_int_eq(guest_mem_alloc(&vm.mem, 16 * MIB, 3ULL << 30, false), 0);
	ck_assert_int_eq(stats_resident_kib(&vm, &total, &guest), 0);
	ck_assert_int_ge(guest, 0);
	ck_assert_int_gt(total, guest);

	memset(vm.mem.mapping, 1, 8 * MIB); /* the guest touches 8 MiB */
	ck_assert_int_eq(stats_resident_kib(&vm, &total2, &guest2), 0);
	ck_assert_int_ge(guest2, guest + 8 * 1024);
	ck_assert_int_le(guest2, 16 * 1024);
	ck_assert_int_gt(total2 - guest2, 0);
	/* The VMM's share did not absorb the guest's 8 MiB. */
	ck_assert_int_lt(total2 - guest2, total - guest + 4 * 1024);
	guest_mem_free(&vm.mem);
}
END_TEST

START_TEST(test_stats_line_never_negative)
{
	struct vm *vm = fake_vm_create(1 * MIB);
	char *text = NULL, *p;
	size_t len = 0;
	long vmm_kib = -1, rss = -1, guest = -1;
	FILE *out = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(out);
	stats_print(vm, out);
	fclose(out);
	p = strstr(text, "rss_kib=");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(sscanf(p, "rss_kib=%ld guest_ram_resident_kib=%ld vmm_rss_kib=%ld", &rss,
				&guest, &vmm_kib),
			 3);
	ck_assert_int_gt(rss, 0);
	ck_assert_int_ge(guest, 0);
	ck_assert_int_gt(vmm_kib, 0);
	ck_assert_int_eq(vmm_kib, rss - guest);
	free(text);
	fake_vm_destroy(vm);
}
END_TEST

Suite *stats_suite(void)
{
	return unit_suite(
	    "stats", NULL, NULL,
	    UNIT_TESTS(test_guest_pages_counted_as_guest, test_stats_line_never_negative));
}
