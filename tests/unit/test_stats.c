/*
 * --stats (vmm/stats.c): the document's shape, its table, where it is
 * written; guest RAM and the VMM's own resident memory are measured
 * together, so the VMM's share is never negative.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_vm.h"
#include "guest_mem.h"
#include "vmm/stats.h"
#include "helpers.h"
#include "stats_query.h"
#include "threads.h"
#include "vm.h"

#define MIB (1024 * 1024)

START_TEST(test_guest_pages_counted_as_guest)
{
	struct vm vm;
	long total, guest, total2, guest2;

	memset(&vm, 0, sizeof(vm));
	ck_assert_int_eq(guest_mem_alloc(&vm.mem, 16 * MIB, 3ULL << 30, GUEST_MEM_ANON, false), 0);
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

START_TEST(test_vmm_memory_never_negative)
{
	struct vm *vm = fake_vm_create(1 * MIB);
	struct json_object *doc = stats_build(vm, true);
	uint64_t rss = unit_json_u64(doc, "process.rss_kib");
	uint64_t guest = unit_json_u64(doc, "process.guest_ram_resident_kib");
	uint64_t vmm = unit_json_u64(doc, "process.vmm_rss_kib");

	ck_assert_uint_gt(rss, 0);
	ck_assert_uint_gt(vmm, 0);
	ck_assert_uint_eq(vmm, rss - guest);
	json_object_put(doc);
	fake_vm_destroy(vm);
}
END_TEST

static void count_exits(struct vcpu *v, unsigned long io, unsigned long mmio, unsigned long other)
{
	atomic_store(&v->exits_io, io);
	atomic_store(&v->exits_mmio, mmio);
	atomic_store(&v->exits_other, other);
	atomic_store(&v->exits_total, io + mmio + other);
}

static void demo_reporter(void *opaque, struct json_object *dev)
{
	json_object_object_add(dev, (const char *)opaque, json_object_new_int(7));
}

/* The document's frame: format and version, the sums, every device, this thread. */
START_TEST(test_report_shape)
{
	struct vm *vm = fake_vm_create(1 * MIB);
	struct json_object *doc, *v;

	vm->nr_vcpus = 2;
	count_exits(&vm->vcpus[0], 3, 5, 1);
	count_exits(&vm->vcpus[1], 10, 0, 2);
	vm_register_stats(vm, "demo.0", demo_reporter, "first");
	vm_register_stats(vm, "demo.0", demo_reporter, "second");
	threads_register_self("unit-main", THREAD_MAIN);
	doc = stats_build(vm, false);
	ck_assert_str_eq(unit_json_str(doc, "format"), STATS_FORMAT);
	ck_assert_uint_eq(unit_json_u64(doc, "version"), STATS_VERSION);
	ck_assert_str_eq(unit_json_str(doc, "report.kind"), "snapshot");
	ck_assert_str_eq(unit_json_str(doc, "run.minivmm_version"), MINIVMM_VERSION);
	ck_assert_uint_gt(unit_json_u64(doc, "run.host.cpus_online"), 0);
	ck_assert_uint_eq(unit_json_u64(doc, "exits.total"), 21);
	ck_assert_uint_eq(unit_json_u64(doc, "exits.io"), 13);
	ck_assert_uint_eq(unit_json_u64(doc, "exits.mmio"), 5);
	ck_assert_uint_eq(unit_json_u64(doc, "exits.other"), 3);
	ck_assert(json_object_object_get_ex(doc, "vcpus", &v));
	ck_assert_uint_eq(json_object_array_length(v), 2);
	ck_assert_uint_eq(unit_json_u64(json_object_array_get_idx(v, 1), "exits.total"), 12);
	/* Two reporters of one device fill one object. */
	ck_assert_uint_eq(unit_json_u64(doc, "devices.demo.0.first"), 7);
	ck_assert_uint_eq(unit_json_u64(doc, "devices.demo.0.second"), 7);
	ck_assert(json_object_object_get_ex(doc, "threads", &v));
	ck_assert_uint_ge(json_object_array_length(v), 1);
	json_object_put(doc);
	threads_reset();
	fake_vm_destroy(vm);
}
END_TEST

/* The human table is the same data: each figure of the document appears in it. */
START_TEST(test_table_from_the_document)
{
	struct vm *vm = fake_vm_create(1 * MIB);
	struct json_object *doc;
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	vm->nr_vcpus = 1;
	count_exits(&vm->vcpus[0], 4, 6, 0);
	vm_register_stats(vm, "demo.0", demo_reporter, "frames");
	doc = stats_build(vm, true);
	stats_print_table(doc, out);
	fclose(out);
	ck_assert_ptr_nonnull(strstr(text, "minivmm statistics (" STATS_FORMAT " version 1)\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nexits:\n  total=10 io=4 mmio=6 other=0\n"));
	ck_assert_ptr_nonnull(strstr(text, "  vcpus[0]: id=0 tid=0 exits.total=10 exits.io=4"));
	ck_assert_ptr_nonnull(strstr(text, "  demo.0: frames=7\n"));
	ck_assert_ptr_nonnull(strstr(text, " kind=final "));
	free(text);
	json_object_put(doc);
	fake_vm_destroy(vm);
}
END_TEST

static char tmpdir[64];

static void make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/minivmm-stats-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

/* Files in tmpdir (the report and any leftover temporary). */
static int files_in_tmpdir(void)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.' || strncmp(e->d_name, ".minivmm", 8) == 0;
	closedir(d);
	return n;
}

START_TEST(test_path_checked_before_the_run)
{
	char path[128], err[256];

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/report.json", tmpdir);
	ck_assert_int_eq(stats_check_path(path, err, sizeof(err)), 0);
	ck_assert_int_eq(files_in_tmpdir(), 0); /* the check leaves nothing behind */
	ck_assert_int_eq(stats_check_path(tmpdir, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "is a directory"));
	snprintf(path, sizeof(path), "%s/missing/report.json", tmpdir);
	ck_assert_int_eq(stats_check_path(path, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, path));
	ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
	ck_assert_int_eq(stats_check_path("/dev/null", err, sizeof(err)), 0);
	ck_assert_int_eq(rmdir(tmpdir), 0);
}
END_TEST

START_TEST(test_written_whole_and_replaced)
{
	struct json_object *doc = json_object_new_object(), *back;
	char path[128];

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/report.json", tmpdir);
	json_object_object_add(doc, "n", json_object_new_int(1));
	ck_assert_int_eq(stats_write_json(doc, path), 0);
	json_object_object_add(doc, "n", json_object_new_int(2));
	ck_assert_int_eq(stats_write_json(doc, path), 0);
	back = json_object_from_file(path);
	ck_assert_ptr_nonnull(back);
	ck_assert_uint_eq(unit_json_u64(back, "n"), 2);
	ck_assert_int_eq(files_in_tmpdir(), 1); /* no temporary left */
	ck_assert_int_eq(stats_write_json(doc, "/dev/null"), 0);
	snprintf(path, sizeof(path), "%s/missing/report.json", tmpdir);
	ck_assert_int_eq(stats_write_json(doc, path), -ENOENT);
	snprintf(path, sizeof(path), "%s/report.json", tmpdir);
	unlink(path);
	ck_assert_int_eq(rmdir(tmpdir), 0);
	json_object_put(back);
	json_object_put(doc);
}
END_TEST

Suite *stats_suite(void)
{
	return unit_suite("stats", NULL, NULL,
			  UNIT_TESTS(test_guest_pages_counted_as_guest,
				     test_vmm_memory_never_negative, test_report_shape,
				     test_table_from_the_document, test_path_checked_before_the_run,
				     test_written_whole_and_replaced));
}
