/*
 * In-kernel exit counting (vmm/kvm_trace.c) without privileges: a fake
 * tracefs tree in a temporary directory and fake perf counters stand in for
 * the kernel, so ids, the kvm_mmio format, filter strings, the reasons for
 * unavailability and the per-window arithmetic are all checked here.
 */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_vm.h"
#include "helpers.h"
#include "vmm/kvm_trace.h"

/* Tracepoint ids of the fake tree (as on the project's host). */
#define ID_USERSPACE_EXIT 42
#define ID_EXIT		  103
#define ID_MMIO		  38
#define ID_FAST_MMIO	  109
#define ID_PIO		  110

/* The kvm_mmio format file as Linux 6.x writes it (fields and print fmt). */
static const char mmio_format[] =
    "name: kvm_mmio\n"
    "ID: 38\n"
    "format:\n"
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
    "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
    "\n"
    "\tfield:u32 type;\toffset:8;\tsize:4;\tsigned:0;\n"
    "\tfield:u32 len;\toffset:12;\tsize:4;\tsigned:0;\n"
    "\tfield:u64 gpa;\toffset:16;\tsize:8;\tsigned:0;\n"
    "\tfield:u64 val;\toffset:24;\tsize:8;\tsigned:0;\n"
    "\n"
    "print fmt: \"mmio %s len %u gpa 0x%llx val 0x%llx\", __print_symbolic(REC->type, "
    "{ 0, \"unsatisfied-read\" }, { 1, \"read\" }, { 2, \"write\" }), REC->len, REC->gpa, "
    "REC->val\n";

/* ---- Fake perf counters. ---- */

#define FAKE_FD_BASE 1000
#define FAKE_MAX_FDS 256

static struct {
	int open_err;	  /* every open fails with -open_err */
	uint64_t fail_id; /* opens of this id fail after the first (the probe's) */
	unsigned int opens_of_fail_id;
	int filter_err;	     /* set_filter fails with -filter_err */
	unsigned int nr;     /* fds handed out */
	unsigned int closed; /* close calls */
	struct {
		uint64_t id;
		pid_t tid;
		char filter[128];
		uint64_t value;
		bool open;
	} fd[FAKE_MAX_FDS];
} fk;

static int fake_open(uint64_t id, pid_t tid)
{
	if (fk.open_err)
		return -fk.open_err;
	if (id == fk.fail_id && fk.opens_of_fail_id++ > 0)
		return -EACCES;
	ck_assert_uint_lt(fk.nr, FAKE_MAX_FDS);
	fk.fd[fk.nr].id = id;
	fk.fd[fk.nr].tid = tid;
	fk.fd[fk.nr].open = true;
	return FAKE_FD_BASE + (int)fk.nr++;
}

static unsigned int fake_index(int fd)
{
	ck_assert_int_ge(fd, FAKE_FD_BASE);
	ck_assert_int_lt(fd, FAKE_FD_BASE + (int)fk.nr);
	ck_assert(fk.fd[fd - FAKE_FD_BASE].open);
	return (unsigned int)(fd - FAKE_FD_BASE);
}

static int fake_set_filter(int fd, const char *filter)
{
	unsigned int i = fake_index(fd);

	if (fk.filter_err)
		return -fk.filter_err;
	snprintf(fk.fd[i].filter, sizeof(fk.fd[i].filter), "%s", filter);
	return 0;
}

static int fake_read(int fd, uint64_t *count)
{
	*count = fk.fd[fake_index(fd)].value;
	return 0;
}

static void fake_close(int fd)
{
	fk.fd[fake_index(fd)].open = false;
	fk.closed++;
}

/* Sets the count of thread tid's counter of id whose filter starts with prefix ("" = none). */
static void fake_set_count(pid_t tid, uint64_t id, const char *prefix, uint64_t value)
{
	for (unsigned int i = 0; i < fk.nr; i++) {
		if (fk.fd[i].open && fk.fd[i].tid == tid && fk.fd[i].id == id &&
		    strncmp(fk.fd[i].filter, prefix, strlen(prefix)) == 0 &&
		    (prefix[0] || !fk.fd[i].filter[0])) {
			fk.fd[i].value = value;
			return;
		}
	}
	ck_abort_msg("no counter of tid %d id %llu filter %s", (int)tid, (unsigned long long)id,
		     prefix);
}

static unsigned int fake_open_count(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < fk.nr; i++)
		n += fk.fd[i].open;
	return n;
}

/* ---- The fake tracefs tree. ---- */

static char root[64];
static char paranoid_path[128];
static const char *roots[2];
static struct kvm_trace_host host;
static struct vm *vm;

static void write_file(const char *rel, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	ck_assert_msg(f != NULL, "cannot create %s", path);
	fputs(text, f);
	fclose(f);
}

static void make_dir(const char *rel)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	ck_assert_int_eq(mkdir(path, 0755), 0);
}

static void add_event(const char *name, unsigned int id)
{
	char rel[128], text[32];

	snprintf(rel, sizeof(rel), "events/kvm/%s", name);
	make_dir(rel);
	snprintf(rel, sizeof(rel), "events/kvm/%s/id", name);
	snprintf(text, sizeof(text), "%u\n", id);
	write_file(rel, text);
}

/* events/kvm with every counted event, the kvm_mmio format, and paranoid = 2. */
static void make_full_tree(void)
{
	make_dir("events");
	make_dir("events/kvm");
	add_event("kvm_userspace_exit", ID_USERSPACE_EXIT);
	add_event("kvm_exit", ID_EXIT);
	add_event("kvm_mmio", ID_MMIO);
	add_event("kvm_fast_mmio", ID_FAST_MMIO);
	add_event("kvm_pio", ID_PIO);
	write_file("events/kvm/kvm_mmio/format", mmio_format);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void setup(void)
{
	memset(&fk, 0, sizeof(fk));
	snprintf(root, sizeof(root), "/tmp/minivmm-kvmtrace-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(root));
	snprintf(paranoid_path, sizeof(paranoid_path), "%s/perf_event_paranoid", root);
	write_file("perf_event_paranoid", "2\n");
	roots[0] = root;
	roots[1] = NULL;
	host = (struct kvm_trace_host){
	    .tracefs_roots = roots,
	    .paranoid_path = paranoid_path,
	    .open_counter = fake_open,
	    .set_filter = fake_set_filter,
	    .read_counter = fake_read,
	    .close_counter = fake_close,
	};
	vm = fake_vm_create(4096);
}

static void teardown(void)
{
	kvm_trace_destroy(vm);
	fake_vm_destroy(vm);
	nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Two vCPUs (tids 100, 101) attached after creation, as vcpu.c does. */
static void attach_vcpus(unsigned int n)
{
	vm->nr_vcpus = n;
	for (unsigned int i = 0; i < n; i++) {
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].id = i;
		atomic_store(&vm->vcpus[i].tid, 100 + (int)i);
		kvm_trace_attach_vcpu(&vm->vcpus[i]);
	}
}

static void dummy_handler(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)offset;
	(void)data;
	(void)len;
	(void)is_write;
}

/* The report as a fresh JSON object (the caller puts it). */
static struct json_object *report(void)
{
	struct json_object *o = json_object_new_object();

	kvm_trace_report(vm, o);
	return o;
}

static struct json_object *get(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no key %s in %s", key,
		      json_object_to_json_string(o));
	return v;
}

static bool has(struct json_object *o, const char *key)
{
	return json_object_object_get_ex(o, key, NULL);
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	ck_assert_msg(json_object_is_type(v, json_type_int), "%s is not a number", key);
	return json_object_get_uint64(v);
}

static void assert_unavailable(struct json_object *o, const char *reason_part)
{
	const char *reason;

	ck_assert(json_object_is_type(get(o, "source"), json_type_null));
	ck_assert(!json_object_get_boolean(get(o, "available")));
	reason = json_object_get_string(get(o, "reason"));
	ck_assert_msg(strstr(reason, reason_part), "reason \"%s\" lacks \"%s\"", reason,
		      reason_part);
	/* Never a 0 that looks counted. */
	ck_assert(!has(o, "events"));
	ck_assert(!has(o, "per_vcpu"));
	ck_assert(!has(o, "by_window"));
}

/* ---- Pure parts. ---- */

START_TEST(test_parse_id)
{
	uint64_t id = 0;

	ck_assert_int_eq(kvm_trace_parse_id("38\n", &id), 0);
	ck_assert_uint_eq(id, 38);
	ck_assert_int_eq(kvm_trace_parse_id(" 7", &id), 0);
	ck_assert_uint_eq(id, 7);
	ck_assert_int_eq(kvm_trace_parse_id("", &id), -EINVAL);
	ck_assert_int_eq(kvm_trace_parse_id("\n", &id), -EINVAL);
	ck_assert_int_eq(kvm_trace_parse_id("-1", &id), -EINVAL);
	ck_assert_int_eq(kvm_trace_parse_id("12x", &id), -EINVAL);
	ck_assert_int_eq(kvm_trace_parse_id("0x10", &id), -EINVAL);
	ck_assert_int_eq(kvm_trace_parse_id("99999999999999999999999", &id), -EINVAL);
	ck_assert_uint_eq(id, 7); /* unchanged by failures */
}
END_TEST

START_TEST(test_mmio_format_parsed)
{
	struct kvm_trace_mmio_format fmt = {99, 99};

	ck_assert_int_eq(kvm_trace_parse_mmio_format(mmio_format, &fmt), 0);
	ck_assert_uint_eq(fmt.write, 2);
	ck_assert_uint_eq(fmt.unsatisfied_read, 0);
}
END_TEST

/* The type values come from the file, not from what this kernel happens to use. */
START_TEST(test_mmio_format_values_read_not_assumed)
{
	struct kvm_trace_mmio_format fmt;
	static const char other[] = "\tfield:u32 type;\toffset:8;\n"
				    "\tfield:u64 gpa;\toffset:16;\n"
				    "print fmt: \"%s\", __print_symbolic(REC->type, "
				    "{ 7, \"unsatisfied-read\" }, {0x5,\"write\"})\n";

	ck_assert_int_eq(kvm_trace_parse_mmio_format(other, &fmt), 0);
	ck_assert_uint_eq(fmt.write, 5);
	ck_assert_uint_eq(fmt.unsatisfied_read, 7);
}
END_TEST

START_TEST(test_mmio_format_rejected)
{
	struct kvm_trace_mmio_format fmt;
	static const char no_gpa[] =
	    "\tfield:u32 type;\n\tfield:u64 gpa_hi;\n"
	    "print fmt: \"\", { 0, \"unsatisfied-read\" }, { 2, \"write\" }\n";
	static const char no_write[] = "\tfield:u32 type;\n\tfield:u64 gpa;\n"
				       "print fmt: \"\", { 0, \"unsatisfied-read\" }\n";
	static const char no_print[] = "\tfield:u32 type;\n\tfield:u64 gpa;\n"
				       "{ 0, \"unsatisfied-read\" }, { 2, \"write\" }\n";

	ck_assert_int_eq(kvm_trace_parse_mmio_format(no_gpa, &fmt), -EINVAL);
	ck_assert_int_eq(kvm_trace_parse_mmio_format(no_write, &fmt), -EINVAL);
	ck_assert_int_eq(kvm_trace_parse_mmio_format(no_print, &fmt), -EINVAL);
	ck_assert_int_eq(kvm_trace_parse_mmio_format("", &fmt), -EINVAL);
}
END_TEST

START_TEST(test_window_filter)
{
	char buf[96];

	ck_assert_int_eq(kvm_trace_window_filter(buf, sizeof(buf), 2, 0xd0000000, 0x1000), 0);
	ck_assert_str_eq(buf, "type == 2 && gpa >= 0xd0000000 && gpa <= 0xd0000fff");
	/* A window at the top of the address space needs no wrap-around. */
	ck_assert_int_eq(
	    kvm_trace_window_filter(buf, sizeof(buf), 0, 0xfffffffffffff000ULL, 0x1000), 0);
	ck_assert_str_eq(buf,
			 "type == 0 && gpa >= 0xfffffffffffff000 && gpa <= 0xffffffffffffffff");
	ck_assert_int_eq(kvm_trace_window_filter(buf, sizeof(buf), 2, 0x1000, 0), -EINVAL);
	ck_assert_int_eq(
	    kvm_trace_window_filter(buf, sizeof(buf), 2, 0xfffffffffffff000ULL, 0x2000), -EINVAL);
	ck_assert_int_eq(kvm_trace_window_filter(buf, 20, 2, 0xd0000000, 0x1000), -ENOSPC);
}
END_TEST

START_TEST(test_open_reasons)
{
	char buf[512];

	kvm_trace_open_reason(buf, sizeof(buf), "kvm_mmio", EACCES, 2);
	ck_assert_ptr_nonnull(strstr(buf, "kvm:kvm_mmio"));
	ck_assert_ptr_nonnull(strstr(buf, "CAP_PERFMON"));
	ck_assert_ptr_nonnull(strstr(buf, "perf_event_paranoid <= 1 (it is 2)"));
	kvm_trace_open_reason(buf, sizeof(buf), "kvm_mmio", EPERM, INT_MIN);
	ck_assert_ptr_nonnull(strstr(buf, "(it is unknown)"));
	ck_assert_ptr_nonnull(strstr(buf, "seccomp"));
	kvm_trace_open_reason(buf, sizeof(buf), "kvm_exit", ENOSYS, 0);
	ck_assert_ptr_nonnull(strstr(buf, "no perf events"));
	kvm_trace_open_reason(buf, sizeof(buf), "kvm_exit", ENOENT, 0);
	ck_assert_ptr_nonnull(strstr(buf, "cannot count this tracepoint"));
	kvm_trace_open_reason(buf, sizeof(buf), "kvm_exit", EMFILE, 0);
	ck_assert_ptr_nonnull(strstr(buf, "out of file descriptors"));
	ck_assert_str_eq(kvm_trace_event_name(KVM_TRACE_FAST_MMIO), "kvm_fast_mmio");
}
END_TEST

/* ---- Availability. ---- */

START_TEST(test_not_set_up)
{
	struct json_object *o = report();

	assert_unavailable(o, "not set up");
	json_object_put(o);
}
END_TEST

START_TEST(test_tracefs_not_mounted)
{
	struct json_object *o;

	ck_assert_int_eq(kvm_trace_create_on(vm, &host), 0);
	attach_vcpus(1);
	ck_assert_uint_eq(fk.nr, 0); /* nothing opened */
	o = report();
	assert_unavailable(o, "tracefs is not mounted");
	ck_assert_ptr_nonnull(strstr(json_object_get_string(get(o, "reason")), root));
	json_object_put(o);
}
END_TEST

START_TEST(test_tracefs_without_kvm_events)
{
	struct json_object *o;

	make_dir("events");
	kvm_trace_create_on(vm, &host);
	o = report();
	assert_unavailable(o, "has no kvm events");
	json_object_put(o);
}
END_TEST

START_TEST(test_permission_refused)
{
	struct json_object *o;

	make_full_tree();
	fk.open_err = EACCES;
	kvm_trace_create_on(vm, &host);
	attach_vcpus(1);
	o = report();
	assert_unavailable(o, "perf_event_paranoid <= 1 (it is 2)");
	json_object_put(o);
}
END_TEST

/* ---- Counting. ---- */

/* virtio-blk.0 at 0xd0000000 and a PCI window; two vCPUs with set counts. */
static void count_two_vcpus(void)
{
	ck_assert_int_eq(
	    bus_register(&vm->mmio, 0xd0000000, 0x1000, dummy_handler, NULL, "virtio-blk.0"), 0);
	ck_assert_int_eq(
	    bus_register(&vm->mmio, 0xe0000000, 0x100000, dummy_handler, NULL, "pci-mmio"), 0);
	ck_assert_int_eq(kvm_trace_create_on(vm, &host), 0);
	attach_vcpus(2);
}

START_TEST(test_counts_and_windows)
{
	static const char blk_writes[] = "type == 2 && gpa >= 0xd0000000 && gpa <= 0xd0000fff";
	static const char blk_reads[] = "type == 0 && gpa >= 0xd0000000 && gpa <= 0xd0000fff";
	struct json_object *o, *events, *per_vcpu, *blk, *pci;
	unsigned int with_blk_writes = 0, with_blk_reads = 0;

	make_full_tree();
	count_two_vcpus();
	/* Each vCPU counts for its own thread; each window has both filters. */
	for (unsigned int i = 0; i < fk.nr; i++) {
		with_blk_writes += strcmp(fk.fd[i].filter, blk_writes) == 0;
		with_blk_reads += strcmp(fk.fd[i].filter, blk_reads) == 0;
		if (fk.fd[i].open)
			ck_assert(fk.fd[i].tid == 100 || fk.fd[i].tid == 101);
	}
	ck_assert_uint_eq(with_blk_writes, 2);
	ck_assert_uint_eq(with_blk_reads, 2);
	/* 5 events + 2 windows x 2 per vCPU; the probe's counter is closed. */
	ck_assert_uint_eq(fake_open_count(), 2 * (5 + 4));

	fake_set_count(100, ID_USERSPACE_EXIT, "", 200);
	fake_set_count(101, ID_USERSPACE_EXIT, "", 61);
	fake_set_count(100, ID_MMIO, "", 80);
	fake_set_count(101, ID_MMIO, "", 8);
	fake_set_count(100, ID_PIO, "", 240);
	fake_set_count(101, ID_PIO, "", 3);
	/* virtio-blk.0: 67 writes, 8 reads went to user space, 28 user-space accesses. */
	fake_set_count(100, ID_MMIO, "type == 2 && gpa >= 0xd", 60);
	fake_set_count(101, ID_MMIO, "type == 2 && gpa >= 0xd", 7);
	fake_set_count(100, ID_MMIO, "type == 0 && gpa >= 0xd", 8);
	atomic_store(&vm->mmio.ranges[0].accesses, 28);
	/* pci-mmio: every write reached user space. */
	fake_set_count(101, ID_MMIO, "type == 2 && gpa >= 0xe", 5);
	fake_set_count(101, ID_MMIO, "type == 0 && gpa >= 0xe", 3);
	atomic_store(&vm->mmio.ranges[1].accesses, 8);

	o = report();
	ck_assert_str_eq(json_object_get_string(get(o, "source")), "perf_event tracepoints");
	ck_assert(json_object_get_boolean(get(o, "available")));
	ck_assert_str_eq(json_object_get_string(get(o, "tracefs")), root);
	ck_assert_uint_eq(get_u64(o, "vcpus_counted"), 2);
	events = get(o, "events");
	ck_assert_uint_eq(get_u64(events, "kvm_userspace_exit"), 261);
	ck_assert_uint_eq(get_u64(events, "kvm_mmio"), 88);
	ck_assert_uint_eq(get_u64(events, "kvm_pio"), 243);
	ck_assert_uint_eq(get_u64(events, "kvm_exit"), 0);
	ck_assert_uint_eq(get_u64(events, "kvm_fast_mmio"), 0);
	ck_assert_uint_eq(json_object_array_length(get(o, "missing")), 0);
	/* kvm_exit 0 beside user-space returns: not usable as an exit count. */
	ck_assert(!json_object_get_boolean(get(o, "kvm_exit_usable")));
	ck_assert(json_object_is_type(get(o, "kvm_exit_usable"), json_type_boolean));

	per_vcpu = get(o, "per_vcpu");
	ck_assert_uint_eq(json_object_array_length(per_vcpu), 2);
	ck_assert_uint_eq(get_u64(json_object_array_get_idx(per_vcpu, 1), "vcpu"), 1);
	ck_assert_uint_eq(get_u64(json_object_array_get_idx(per_vcpu, 1), "kvm_pio"), 3);
	ck_assert_uint_eq(get_u64(json_object_array_get_idx(per_vcpu, 0), "kvm_mmio"), 80);

	blk = get(get(o, "by_window"), "virtio-blk.0");
	ck_assert_uint_eq(get_u64(blk, "base"), 0xd0000000);
	ck_assert_uint_eq(get_u64(blk, "size"), 0x1000);
	ck_assert_uint_eq(get_u64(blk, "mmio_writes_total"), 67);
	ck_assert_uint_eq(get_u64(blk, "userspace_writes"), 20); /* 28 - 8 reads */
	ck_assert_uint_eq(get_u64(blk, "in_kernel"), 47);	 /* 67 - 20 */
	pci = get(get(o, "by_window"), "pci-mmio");
	ck_assert_uint_eq(get_u64(pci, "userspace_writes"), 5);
	ck_assert_uint_eq(get_u64(pci, "in_kernel"), 0);
	json_object_put(o);

	/* A later report sees later counts (SIGUSR1 snapshots). */
	fake_set_count(101, ID_MMIO, "type == 2 && gpa >= 0xd", 17);
	o = report();
	blk = get(get(o, "by_window"), "virtio-blk.0");
	ck_assert_uint_eq(get_u64(blk, "in_kernel"), 57);
	json_object_put(o);

	kvm_trace_destroy(vm);
	ck_assert_ptr_null(vm->trace);
	ck_assert_uint_eq(fake_open_count(), 0);
	ck_assert_uint_eq(fk.closed, fk.nr);
}
END_TEST

/* A snapshot racing a vCPU never shows negative or wrapped figures. */
START_TEST(test_window_figures_clamped)
{
	struct json_object *o, *blk;

	make_full_tree();
	count_two_vcpus();
	atomic_store(&vm->mmio.ranges[0].accesses, 5); /* more accesses than traced */
	o = report();
	blk = get(get(o, "by_window"), "virtio-blk.0");
	ck_assert_uint_eq(get_u64(blk, "userspace_writes"), 5);
	ck_assert_uint_eq(get_u64(blk, "in_kernel"), 0);
	json_object_put(o);
}
END_TEST

START_TEST(test_kvm_exit_usable_when_it_counts)
{
	struct json_object *o;

	make_full_tree();
	count_two_vcpus();
	fake_set_count(100, ID_USERSPACE_EXIT, "", 10);
	fake_set_count(100, ID_EXIT, "", 900);
	o = report();
	ck_assert(json_object_get_boolean(get(o, "kvm_exit_usable")));
	ck_assert_uint_eq(get_u64(get(o, "events"), "kvm_exit"), 900);
	json_object_put(o);
}
END_TEST

START_TEST(test_missing_tracepoint_listed_not_zero)
{
	struct json_object *o, *missing;

	make_dir("events");
	make_dir("events/kvm");
	add_event("kvm_userspace_exit", ID_USERSPACE_EXIT);
	add_event("kvm_exit", ID_EXIT);
	add_event("kvm_mmio", ID_MMIO);
	add_event("kvm_pio", ID_PIO);
	write_file("events/kvm/kvm_mmio/format", mmio_format);
	count_two_vcpus();
	for (unsigned int i = 0; i < fk.nr; i++)
		ck_assert_uint_ne(fk.fd[i].id, ID_FAST_MMIO);
	o = report();
	ck_assert(json_object_get_boolean(get(o, "available")));
	missing = get(o, "missing");
	ck_assert_uint_eq(json_object_array_length(missing), 1);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(missing, 0)),
			 "kvm_fast_mmio");
	ck_assert(!has(get(o, "events"), "kvm_fast_mmio"));
	ck_assert(has(get(o, "events"), "kvm_mmio"));
	ck_assert(!has(json_object_array_get_idx(get(o, "per_vcpu"), 0), "kvm_fast_mmio"));
	json_object_put(o);
}
END_TEST

/* An event the probe could open but the vCPUs cannot: missing, and kvm_exit_usable unknown. */
START_TEST(test_event_refused_on_vcpu)
{
	struct json_object *o;

	make_full_tree();
	fk.fail_id = ID_USERSPACE_EXIT; /* the probe's event: first open succeeds */
	count_two_vcpus();
	o = report();
	ck_assert(json_object_get_boolean(get(o, "available")));
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(get(o, "missing"), 0)),
			 "kvm_userspace_exit");
	ck_assert(!has(get(o, "events"), "kvm_userspace_exit"));
	ck_assert(json_object_is_type(get(o, "kvm_exit_usable"), json_type_null));
	json_object_put(o);
}
END_TEST

START_TEST(test_filter_refused)
{
	struct json_object *o, *blk;

	make_full_tree();
	fk.filter_err = EINVAL;
	count_two_vcpus();
	o = report();
	ck_assert(has(get(o, "events"), "kvm_mmio"));
	blk = get(get(o, "by_window"), "virtio-blk.0");
	ck_assert(json_object_is_type(get(blk, "in_kernel"), json_type_null));
	ck_assert(json_object_is_type(get(blk, "mmio_writes_total"), json_type_null));
	ck_assert_ptr_nonnull(
	    strstr(json_object_get_string(get(blk, "reason")), "PERF_EVENT_IOC_SET_FILTER"));
	json_object_put(o);
	kvm_trace_destroy(vm);
	ck_assert_uint_eq(fake_open_count(), 0); /* refused counters were closed too */
}
END_TEST

START_TEST(test_unparsable_format_drops_windows_only)
{
	struct json_object *o;

	make_full_tree();
	write_file("events/kvm/kvm_mmio/format", "name: kvm_mmio\nformat:\n");
	count_two_vcpus();
	o = report();
	ck_assert(json_object_get_boolean(get(o, "available")));
	ck_assert(has(get(o, "events"), "kvm_mmio"));
	ck_assert(!has(o, "by_window"));
	ck_assert_ptr_nonnull(
	    strstr(json_object_get_string(get(o, "by_window_reason")), "unsatisfied-read"));
	json_object_put(o);
}
END_TEST

START_TEST(test_same_name_windows_kept_apart)
{
	struct json_object *o, *by_window;

	make_full_tree();
	bus_register(&vm->mmio, 0x1000, 0x100, dummy_handler, NULL, "dev");
	bus_register(&vm->mmio, 0x2000, 0x100, dummy_handler, NULL, "dev");
	kvm_trace_create_on(vm, &host);
	attach_vcpus(1);
	o = report();
	by_window = get(o, "by_window");
	ck_assert_uint_eq(get_u64(get(by_window, "dev"), "base"), 0x1000);
	ck_assert_uint_eq(get_u64(get(by_window, "dev@0x2000"), "base"), 0x2000);
	json_object_put(o);
}
END_TEST

Suite *kvm_trace_suite(void)
{
	Suite *s = suite_create("kvm_trace");

	unit_tcase(s, "parsing", NULL, NULL,
		   UNIT_TESTS(test_parse_id, test_mmio_format_parsed,
			      test_mmio_format_values_read_not_assumed, test_mmio_format_rejected,
			      test_window_filter, test_open_reasons));
	unit_tcase(s, "availability", setup, teardown,
		   UNIT_TESTS(test_not_set_up, test_tracefs_not_mounted,
			      test_tracefs_without_kvm_events, test_permission_refused));
	unit_tcase(s, "counting", setup, teardown,
		   UNIT_TESTS(test_counts_and_windows, test_window_figures_clamped,
			      test_kvm_exit_usable_when_it_counts,
			      test_missing_tracepoint_listed_not_zero, test_event_refused_on_vcpu,
			      test_filter_refused, test_unparsable_format_drops_windows_only,
			      test_same_name_windows_kept_apart));
	return s;
}
