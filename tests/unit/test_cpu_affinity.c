/*
 * Thread placement (--cpu-affinity): CPU lists both ways (vmm/core/cpu_list.c),
 * the option's value and its checks (vmm/cpu_affinity.c), and the threads
 * placing themselves: a vCPU thread, an I/O thread, and what each does when
 * the kernel refuses its CPUs.
 */
#include <check.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cpu_list.h"
#include "fake_vm.h"
#include "helpers.h"
#include "iothread.h"
#include "vm.h"
#include "vmm/cpu_affinity.h"

static char why[512];

/* A set from a list of CPU numbers ending in -1. */
static cpu_set_t set_of(const int *cpus)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	for (; *cpus >= 0; cpus++)
		CPU_SET(*cpus, &set);
	return set;
}

#define SET(...) set_of((const int[]){__VA_ARGS__, -1})

static const char *fmt(const cpu_set_t *set)
{
	static char buf[CPU_LIST_MAX];

	cpu_list_format(set, buf, sizeof(buf));
	return buf;
}

/* The CPUs this process may run on. */
static cpu_set_t allowed;

static void read_allowed(void)
{
	ck_assert_int_eq(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
}

/* The highest CPU this process may run on: a placement that differs from the inherited one on
 * any host with two or more. */
static int last_allowed(void)
{
	for (int c = CPU_SETSIZE - 1; c >= 0; c--)
		if (CPU_ISSET(c, &allowed))
			return c;
	ck_abort_msg("no allowed CPU");
	return -1;
}

/* A CPU number no host here has: the kernel refuses a set of only that one. */
static int absent_cpu(void)
{
	long conf = sysconf(_SC_NPROCESSORS_CONF);

	if (conf >= CPU_SETSIZE)
		return -1;
	return CPU_SETSIZE - 1;
}

/* ---- cpu_list_parse and cpu_list_format ---- */

static const struct {
	const char *list;
	const char *canonical; /* cpu_list_format of the result */
} good_lists[] = {
    {"0", "0"},
    {"5", "5"},
    {"0-1", "0-1"},
    {"0,2-3", "0,2-3"},
    {"3,1", "1,3"},
    {"1,1,1", "1"},
    {"0-0", "0"},
    {"2-4,3-6", "2-6"},
    {"0,1,2,3", "0-3"},
    {"007", "7"},
    {"1023", "1023"},
    {"0-1023", "0-1023"},
    {"1,3,5-6,8", "1,3,5-6,8"},
};

START_TEST(list_good)
{
	cpu_set_t set;
	const char *s = good_lists[_i].list;

	ck_assert_msg(cpu_list_parse(s, strlen(s), &set, why, sizeof(why)) == 0, "'%s': %s", s,
		      why);
	ck_assert_str_eq(fmt(&set), good_lists[_i].canonical);
}
END_TEST

START_TEST(list_sets_exactly_the_cpus)
{
	cpu_set_t set, want = SET(0, 2, 3, 1023);

	ck_assert_int_eq(cpu_list_parse("0,2-3,1023", 10, &set, why, sizeof(why)), 0);
	ck_assert(CPU_EQUAL(&set, &want));
	ck_assert_int_eq(CPU_COUNT(&set), 4);
	ck_assert_int_eq(cpu_list_parse("0-1023", 6, &set, why, sizeof(why)), 0);
	ck_assert_int_eq(CPU_COUNT(&set), CPU_SETSIZE);
}
END_TEST

START_TEST(list_reads_only_len_bytes)
{
	cpu_set_t set, want = SET(0, 1);

	/* The option parser hands over "0,1" out of "0,1,io=2". */
	ck_assert_int_eq(cpu_list_parse("0,1,io=2", 3, &set, why, sizeof(why)), 0);
	ck_assert(CPU_EQUAL(&set, &want));
}
END_TEST

static const struct {
	const char *list;
	const char *needle;
} bad_lists[] = {
    {"", "empty CPU list"},
    {",", "empty entry in the CPU list (stray comma?)"},
    {"0,", "empty entry"},
    {",0", "empty entry"},
    {"0,,1", "empty entry"},
    {"a", "'a' is not a CPU number or range (expected N or N-M)"},
    {"0,x,2", "'x' is not a CPU number"},
    {"-1", "'-1' is not a CPU number"},
    {"1-", "'1-' is not a CPU number"},
    {"-", "'-' is not"},
    {"1-2-3", "'1-2-3' is not"},
    {" 1", "' 1' is not"},
    {"1 ", "'1 ' is not"},
    {"0x1", "'0x1' is not"},
    {"+1", "'+1' is not"},
    {"1.5", "'1.5' is not"},
    {"0-7:2", "'0-7:2' is not"},
    {"1024", "CPU 1024 is out of range (CPU numbers go from 0 to 1023)"},
    {"0-1024", "CPU 1024 is out of range"},
    {"9999-2", "CPU 9999 is out of range"},
    {"99999999999999999999999", "CPU 99999999999999999999999 is out of range"},
    {"3-1", "range '3-1' runs backwards"},
    {"0,5-4", "range '5-4' runs backwards"},
};

START_TEST(list_bad)
{
	const char *s = bad_lists[_i].list;
	cpu_set_t set = SET(42), untouched = SET(42);

	memset(why, 'X', sizeof(why));
	ck_assert_msg(cpu_list_parse(s, strlen(s), &set, why, sizeof(why)) == -1, "accepted '%s'",
		      s);
	ck_assert_msg(strstr(why, bad_lists[_i].needle), "'%s': '%s' lacks '%s'", s, why,
		      bad_lists[_i].needle);
	ck_assert(strchr(why, '\n') == NULL);
	ck_assert_msg(CPU_EQUAL(&set, &untouched), "'%s': output written on error", s);
}
END_TEST

START_TEST(format_empty_and_truncated)
{
	cpu_set_t set;
	char buf[4];

	CPU_ZERO(&set);
	memset(buf, 'X', sizeof(buf));
	ck_assert_uint_eq(cpu_list_format(&set, buf, sizeof(buf)), 0);
	ck_assert_str_eq(buf, "");

	/* Like snprintf: the full length, the part that fits, always terminated. */
	set = SET(0, 2, 3);
	ck_assert_uint_eq(cpu_list_format(&set, buf, sizeof(buf)), 5);
	ck_assert_str_eq(buf, "0,2");
	ck_assert_uint_eq(cpu_list_format(&set, NULL, 0), 5);
	set = SET(1000, 1001, 1002);
	ck_assert_uint_eq(cpu_list_format(&set, buf, sizeof(buf)), 9);
	ck_assert_str_eq(buf, "100");
}
END_TEST

START_TEST(format_longest_list_fits)
{
	cpu_set_t set;
	char buf[CPU_LIST_MAX];
	size_t len;

	/* Pairs with one-CPU gaps: "0-1,3-4,6-7,...", the longest list there is. */
	CPU_ZERO(&set);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (c % 3 != 2)
			CPU_SET(c, &set);
	len = cpu_list_format(&set, buf, sizeof(buf));
	ck_assert_uint_lt(len, CPU_LIST_MAX);
	ck_assert_str_eq(buf + len - 14, "1020-1021,1023");
	ck_assert_int_eq(strncmp(buf, "0-1,3-4,6-7,", 12), 0);
}
END_TEST

/* ---- cpu_affinity_parse ---- */

static struct cpu_affinity_config a;

static void parse_ok(const char *arg)
{
	memset(&a, 0x5a, sizeof(a));
	ck_assert_msg(cpu_affinity_parse(arg, &a, why, sizeof(why)) == 0, "'%s': %s", arg, why);
}

static unsigned int vcpus_placed(void)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < CONFIG_MAX_CPUS; i++)
		n += a.vcpu[i].set;
	return n;
}

START_TEST(parse_vcpus_and_io)
{
	cpu_set_t want_vcpus = SET(0, 2), want_io = SET(1);

	/* A token without '=' continues the list before it. */
	parse_ok("vcpus=0,2,io=1");
	ck_assert(a.vcpus.set);
	ck_assert(CPU_EQUAL(&a.vcpus.cpus, &want_vcpus));
	ck_assert(a.io.set);
	ck_assert(CPU_EQUAL(&a.io.cpus, &want_io));
	ck_assert_uint_eq(vcpus_placed(), 0);
	ck_assert_ptr_eq(cpu_affinity_of_vcpu(&a, 0), &a.vcpus.cpus);
	ck_assert_ptr_eq(cpu_affinity_of_vcpu(&a, CONFIG_MAX_CPUS - 1), &a.vcpus.cpus);

	/* Any order; ranges and lists mixed. */
	parse_ok("io=1-3,5,vcpus=0");
	ck_assert_str_eq(fmt(&a.io.cpus), "1-3,5");
	ck_assert_str_eq(fmt(&a.vcpus.cpus), "0");
}
END_TEST

START_TEST(parse_only_some)
{
	parse_ok("io=3");
	ck_assert(!a.vcpus.set);
	ck_assert(a.io.set);
	ck_assert_uint_eq(vcpus_placed(), 0);
	ck_assert_ptr_null(cpu_affinity_of_vcpu(&a, 0));

	parse_ok("vcpus=2-3");
	ck_assert(!a.io.set);
	ck_assert_str_eq(fmt(&a.vcpus.cpus), "2-3");
}
END_TEST

START_TEST(parse_vcpu_overrides)
{
	parse_ok("vcpus=0-1,vcpu1=3,io=0,vcpu0=2-3,vcpu63=7");
	ck_assert_uint_eq(vcpus_placed(), 3);
	ck_assert_str_eq(fmt(cpu_affinity_of_vcpu(&a, 0)), "2-3");
	ck_assert_str_eq(fmt(cpu_affinity_of_vcpu(&a, 1)), "3");
	ck_assert_str_eq(fmt(cpu_affinity_of_vcpu(&a, 2)), "0-1"); /* no vcpu2=: vcpus= */
	ck_assert_str_eq(fmt(cpu_affinity_of_vcpu(&a, 63)), "7");
	ck_assert_str_eq(fmt(&a.io.cpus), "0");

	/* vcpuN= alone: the other vCPUs are not placed. */
	parse_ok("vcpu1=1");
	ck_assert_ptr_null(cpu_affinity_of_vcpu(&a, 0));
	ck_assert_str_eq(fmt(cpu_affinity_of_vcpu(&a, 1)), "1");
	ck_assert(!a.vcpus.set && !a.io.set);
}
END_TEST

START_TEST(nothing_placed_by_default)
{
	struct cpu_affinity_config none;

	memset(&none, 0, sizeof(none));
	for (unsigned int i = 0; i < CONFIG_MAX_CPUS; i++)
		ck_assert_ptr_null(cpu_affinity_of_vcpu(&none, i));
	ck_assert(!none.io.set);
}
END_TEST

static const struct {
	const char *arg;
	const char *needle;
} bad_args[] = {
    {"foo=1", "unknown key 'foo' (expected vcpus=, vcpuN= or io=)"},
    {"vcpu=1", "unknown key 'vcpu'"},
    {"vcpux=1", "unknown key 'vcpux'"},
    {"vcpu-1=1", "unknown key 'vcpu-1'"},
    {"VCPUS=1", "unknown key 'VCPUS'"},
    {"ios=1", "unknown key 'ios'"},
    {"=1", "unknown key ''"},
    {"vcpus=0,foo=1", "unknown key 'foo'"},
    {"1", "'1' belongs to no list (start with vcpus=, vcpuN= or io=)"},
    {"1,vcpus=0", "'1' belongs to no list"},
    {"vcpus", "'vcpus' belongs to no list"},
    {",vcpus=0", "'' belongs to no list"},
    {"vcpus=", "vcpus=: empty CPU list"},
    {"vcpus=,io=1", "vcpus=: empty CPU list"},
    {"vcpus=0,io=", "io=: empty CPU list"},
    {"vcpus=0,,io=1", "vcpus=0,: empty entry in the CPU list"},
    {"vcpus=0,", "vcpus=0,: empty entry"},
    {"vcpus=0,vcpus=1", "vcpus= given twice"},
    {"io=0,vcpus=1,io=0", "io= given twice"},
    {"vcpu1=0,vcpu1=1", "vcpu1= given twice"},
    {"vcpu64=0", "vcpu64=: no such vCPU (at most 64 vCPUs, vcpu0 to vcpu63)"},
    {"vcpu99999999999999999999=0", "vcpu99999999999999999999=: no such vCPU"},
    {"io=1024", "io=1024: CPU 1024 is out of range"},
    {"vcpus=9999", "vcpus=9999: CPU 9999 is out of range (CPU numbers go from 0 to 1023)"},
    {"vcpus=0,io=x", "io=x: 'x' is not a CPU number or range"},
    {"vcpus=0,2,vcpu3=1-", "vcpu3=1-: '1-' is not a CPU number"},
    {"vcpus=2-1", "vcpus=2-1: range '2-1' runs backwards"},
    {"vcpus=0=1", "'0=1' is not a CPU number"},
    {"vcpus=0;io=1", "'0;io=1' is not a CPU number"},
};

START_TEST(parse_bad)
{
	const char *arg = bad_args[_i].arg;
	struct cpu_affinity_config before;

	memset(&a, 0x5a, sizeof(a));
	before = a;
	memset(why, 'X', sizeof(why));
	ck_assert_msg(cpu_affinity_parse(arg, &a, why, sizeof(why)) == -1, "accepted '%s'", arg);
	ck_assert_msg(strstr(why, bad_args[_i].needle), "'%s': '%s' lacks '%s'", arg, why,
		      bad_args[_i].needle);
	ck_assert(strchr(why, '\n') == NULL);
	ck_assert_msg(memcmp(&a, &before, sizeof(a)) == 0, "'%s': output written on error", arg);
}
END_TEST

/* ---- cpu_affinity_check ---- */

START_TEST(check_vcpu_numbers)
{
	cpu_set_t host = SET(0, 1);

	parse_ok("vcpus=0,vcpu2=1");
	ck_assert_int_eq(cpu_affinity_check(&a, 3, &host, why, sizeof(why)), 0);
	ck_assert_int_eq(cpu_affinity_check(&a, 64, &host, why, sizeof(why)), 0);
	ck_assert_int_eq(cpu_affinity_check(&a, 2, &host, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "vcpu2=: no such vCPU (with --cpus 2 they are vcpu0 to vcpu1)");
	ck_assert_int_eq(cpu_affinity_check(&a, 1, &host, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "vcpu2=: no such vCPU (with --cpus 1 there is only vcpu0)");
}
END_TEST

START_TEST(check_cpus_allowed)
{
	cpu_set_t host = SET(0, 1, 4);

	parse_ok("vcpus=0-1,io=4,vcpu1=1");
	ck_assert_int_eq(cpu_affinity_check(&a, 2, &host, why, sizeof(why)), 0);

	parse_ok("vcpus=0,io=1,5");
	ck_assert_int_eq(cpu_affinity_check(&a, 1, &host, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "CPU 5 (in io=) is not one this process may run on (allowed: 0-1,4)");

	parse_ok("vcpus=1-3,io=0");
	ck_assert_int_eq(cpu_affinity_check(&a, 1, &host, why, sizeof(why)), -1);
	ck_assert_str_eq(why,
			 "CPU 2 (in vcpus=) is not one this process may run on (allowed: 0-1,4)");

	parse_ok("vcpus=0,vcpu3=7");
	ck_assert_int_eq(cpu_affinity_check(&a, 4, &host, why, sizeof(why)), -1);
	ck_assert_str_eq(why,
			 "CPU 7 (in vcpu3=) is not one this process may run on (allowed: 0-1,4)");

	CPU_ZERO(&host);
	parse_ok("io=0");
	ck_assert_int_eq(cpu_affinity_check(&a, 1, &host, why, sizeof(why)), -1);
	ck_assert_ptr_nonnull(strstr(why, "(allowed: none)"));
}
END_TEST

/* ---- vCPU threads place themselves ---- */

static struct vm_config placed_cfg;

struct vcpu_probe {
	struct vcpu *vcpu;
	cpu_set_t before, after; /* the thread's affinity around cpu_affinity_place_vcpu() */
};

static void *vcpu_probe_thread(void *arg)
{
	struct vcpu_probe *p = arg;

	pthread_getaffinity_np(pthread_self(), sizeof(p->before), &p->before);
	cpu_affinity_place_vcpu(p->vcpu);
	pthread_getaffinity_np(pthread_self(), sizeof(p->after), &p->after);
	return NULL;
}

/* Run cpu_affinity_place_vcpu() for vCPU id in a new thread (this one keeps its CPUs). */
static struct vcpu_probe place_vcpu(struct vm *vm, unsigned int id)
{
	struct vcpu_probe p = {.vcpu = &vm->vcpus[id]};
	pthread_t thread;

	vm->vcpus[id].vm = vm;
	vm->vcpus[id].id = id;
	ck_assert_int_eq(pthread_create(&thread, NULL, vcpu_probe_thread, &p), 0);
	ck_assert_int_eq(pthread_join(thread, NULL), 0);
	return p;
}

START_TEST(vcpu_thread_moves_to_its_cpus)
{
	struct vm *vm = fake_vm_create(4096);
	int first, last = last_allowed();
	struct vcpu_probe p;
	cpu_set_t want;

	for (first = 0; !CPU_ISSET(first, &allowed); first++)
		;
	vm->cfg = &placed_cfg;
	memset(&placed_cfg, 0, sizeof(placed_cfg));
	placed_cfg.cpu_affinity.vcpus = (struct cpu_placement){.set = true, .cpus = SET(first)};
	placed_cfg.cpu_affinity.vcpu[1] = (struct cpu_placement){.set = true, .cpus = SET(last)};

	p = place_vcpu(vm, 0);
	want = SET(first);
	ck_assert_msg(CPU_EQUAL(&p.after, &want), "vCPU 0 on %s", fmt(&p.after));
	p = place_vcpu(vm, 1);
	want = SET(last);
	ck_assert_msg(CPU_EQUAL(&p.after, &want), "vCPU 1 on %s", fmt(&p.after));
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING);

	/* Not placed: the thread keeps what it inherited. */
	memset(&placed_cfg, 0, sizeof(placed_cfg));
	p = place_vcpu(vm, 0);
	ck_assert(CPU_EQUAL(&p.after, &p.before));
	ck_assert(CPU_EQUAL(&p.after, &allowed));
	fake_vm_destroy(vm);
}
END_TEST

START_TEST(vcpu_refused_cpus_stop_the_vm)
{
	struct vm *vm = fake_vm_create(4096);
	int absent = absent_cpu();
	struct vcpu_probe p;

	if (absent < 0)
		return; /* a host with CPU_SETSIZE CPUs has no CPU number to refuse */
	vm->cfg = &placed_cfg;
	memset(&placed_cfg, 0, sizeof(placed_cfg));
	placed_cfg.cpu_affinity.vcpus = (struct cpu_placement){.set = true, .cpus = SET(absent)};
	p = place_vcpu(vm, 0);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_ERROR);
	ck_assert(CPU_EQUAL(&p.after, &p.before));
	fake_vm_destroy(vm);
}
END_TEST

/* ---- I/O threads place themselves ---- */

struct io_probe {
	int kick_fd, done_fd;
	cpu_set_t cpus; /* the I/O thread's affinity, read in the thread */
	atomic_int errors;
};

static void io_probe_kicked(void *opaque)
{
	struct io_probe *p = opaque;
	uint64_t one = 1;

	pthread_getaffinity_np(pthread_self(), sizeof(p->cpus), &p->cpus);
	ck_assert_int_eq(write(p->done_fd, &one, sizeof(one)), sizeof(one));
}

static void io_probe_error(void *opaque)
{
	struct io_probe *p = opaque;

	atomic_fetch_add(&p->errors, 1);
}

/* Start t, let it report its affinity into p->cpus, stop it. */
static void io_probe_run(struct iothread *t, struct io_probe *p)
{
	struct pollfd pfd = {.fd = p->done_fd, .events = POLLIN};
	uint64_t v = 1;

	ck_assert_int_eq(iothread_start(t), 0);
	ck_assert_int_eq(write(p->kick_fd, &v, sizeof(v)), sizeof(v));
	ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
	ck_assert_int_eq(read(p->done_fd, &v, sizeof(v)), sizeof(v));
	iothread_stop(t);
}

static struct iothread *io_probe_thread(struct io_probe *p)
{
	struct iothread *t = iothread_create("test-affinity", 8);

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(iothread_watch_eventfd(t, p->kick_fd, io_probe_kicked, p), 0);
	return t;
}

static struct io_probe probe;

static void io_setup(void)
{
	read_allowed();
	probe.kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	probe.done_fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(probe.kick_fd, 0);
	ck_assert_int_ge(probe.done_fd, 0);
	atomic_store(&probe.errors, 0);
}

static void io_teardown(void)
{
	iothread_set_default_affinity(NULL, NULL, NULL);
	close(probe.kick_fd);
	close(probe.done_fd);
}

START_TEST(io_thread_moves_to_default_cpus)
{
	cpu_set_t want = SET(last_allowed());
	struct iothread *before, *after;

	/* Threads created before the default was set keep their placement (none). */
	before = io_probe_thread(&probe);
	iothread_set_default_affinity(&want, io_probe_error, &probe);
	after = io_probe_thread(&probe);

	io_probe_run(after, &probe);
	ck_assert_msg(CPU_EQUAL(&probe.cpus, &want), "I/O thread on %s", fmt(&probe.cpus));
	/* Placed again on every start. */
	io_probe_run(after, &probe);
	ck_assert(CPU_EQUAL(&probe.cpus, &want));
	io_probe_run(before, &probe);
	ck_assert_msg(CPU_EQUAL(&probe.cpus, &allowed), "unplaced I/O thread on %s",
		      fmt(&probe.cpus));
	ck_assert_int_eq(atomic_load(&probe.errors), 0);
	iothread_destroy(before);
	iothread_destroy(after);

	/* NULL: back to not placed. */
	iothread_set_default_affinity(NULL, io_probe_error, &probe);
	after = io_probe_thread(&probe);
	io_probe_run(after, &probe);
	ck_assert(CPU_EQUAL(&probe.cpus, &allowed));
	iothread_destroy(after);
}
END_TEST

START_TEST(io_thread_refused_cpus_call_on_error)
{
	int absent = absent_cpu();
	cpu_set_t cpus;
	struct iothread *t;

	if (absent < 0)
		return;
	cpus = SET(absent);
	iothread_set_default_affinity(&cpus, io_probe_error, &probe);
	t = io_probe_thread(&probe);
	/* It says so once per start, and still runs (the handler stops the VM). */
	io_probe_run(t, &probe);
	ck_assert_int_eq(atomic_load(&probe.errors), 1);
	ck_assert(CPU_EQUAL(&probe.cpus, &allowed));
	io_probe_run(t, &probe);
	ck_assert_int_eq(atomic_load(&probe.errors), 2);
	iothread_destroy(t);
}
END_TEST

START_TEST(io_threads_placed_from_the_config)
{
	struct vm *vm = fake_vm_create(4096);
	cpu_set_t want = SET(last_allowed());
	struct iothread *t;

	vm->cfg = &placed_cfg;
	memset(&placed_cfg, 0, sizeof(placed_cfg));
	placed_cfg.cpu_affinity.io = (struct cpu_placement){.set = true, .cpus = want};
	cpu_affinity_place_io_threads(vm);
	t = io_probe_thread(&probe);
	io_probe_run(t, &probe);
	ck_assert(CPU_EQUAL(&probe.cpus, &want));
	iothread_destroy(t);

	/* A refused placement stops the VM. */
	if (absent_cpu() >= 0) {
		placed_cfg.cpu_affinity.io.cpus = SET(absent_cpu());
		cpu_affinity_place_io_threads(vm);
		t = io_probe_thread(&probe);
		io_probe_run(t, &probe);
		ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_ERROR);
		iothread_destroy(t);
	}
	fake_vm_destroy(vm);
}
END_TEST

Suite *cpu_affinity_suite(void)
{
	Suite *s = suite_create("cpu_affinity");
	TCase *lists, *parse;

	lists = unit_tcase(s, "cpu-list", NULL, NULL,
			   UNIT_TESTS(list_sets_exactly_the_cpus, list_reads_only_len_bytes,
				      format_empty_and_truncated, format_longest_list_fits));
	tcase_add_loop_test(lists, list_good, 0, sizeof(good_lists) / sizeof(good_lists[0]));
	tcase_add_loop_test(lists, list_bad, 0, sizeof(bad_lists) / sizeof(bad_lists[0]));
	parse = unit_tcase(s, "option", NULL, NULL,
			   UNIT_TESTS(parse_vcpus_and_io, parse_only_some, parse_vcpu_overrides,
				      nothing_placed_by_default, check_vcpu_numbers,
				      check_cpus_allowed));
	tcase_add_loop_test(parse, parse_bad, 0, sizeof(bad_args) / sizeof(bad_args[0]));
	unit_tcase(s, "vcpu-threads", read_allowed, NULL,
		   UNIT_TESTS(vcpu_thread_moves_to_its_cpus, vcpu_refused_cpus_stop_the_vm));
	unit_tcase(s, "io-threads", io_setup, io_teardown,
		   UNIT_TESTS(io_thread_moves_to_default_cpus, io_thread_refused_cpus_call_on_error,
			      io_threads_placed_from_the_config));
	return s;
}
