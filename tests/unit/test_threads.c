/*
 * Per-thread accounting (vmm/core/threads.c) and the host facts of a report
 * (vmm/host_info.c).
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "threads.h"
#include "vmm/host_info.h"

static void *burn_then_end(void *arg)
{
	volatile unsigned long x = 0;

	(void)arg;
	threads_register_self("burner (a) b", THREAD_VCPU);
	for (unsigned long i = 0; i < 20000000; i++)
		x += i;
	threads_exit_self();
	return NULL;
}

/* An ended thread keeps the figures it had, read by itself as it ended. */
START_TEST(test_ended_thread_keeps_its_figures)
{
	struct thread_usage u[THREADS_MAX];
	pthread_t t;
	unsigned int n;

	threads_reset();
	threads_register_self("unit-main", THREAD_MAIN);
	ck_assert_int_eq(pthread_create(&t, NULL, burn_then_end, NULL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	n = threads_snapshot(u, THREADS_MAX);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(u[0].name, "unit-main");
	ck_assert(!u[0].exited);
	ck_assert(u[0].valid);
	ck_assert_int_eq(u[0].tid, gettid());
	/* The kernel keeps 15 bytes of a name; parentheses must not confuse the stat parser. */
	ck_assert_str_eq(u[1].name, "burner (a) b");
	ck_assert_str_eq(thread_role_name(u[1].role), "vcpu");
	ck_assert(u[1].exited);
	ck_assert(u[1].valid);
	ck_assert_uint_gt(u[1].cpu_ns, 1000000); /* 20 M additions take well over 1 ms */
	ck_assert_int_ge(u[1].last_cpu, 0);
	ck_assert(CPU_COUNT(&u[1].allowed) > 0);
	threads_reset();
}
END_TEST

START_TEST(test_unreadable_thread)
{
	struct thread_usage u;

	ck_assert(!threads_read_usage(-5, &u));
	ck_assert(!u.valid);
}
END_TEST

START_TEST(test_cpu_model)
{
	char buf[32];

	ck_assert_str_eq(
	    host_cpu_model("processor\t: 0\nvendor_id\t: X\nmodel name\t: Some CPU @ 2GHz\n"
			   "flags\t: fpu\n",
			   buf, sizeof(buf)),
	    "Some CPU @ 2GHz");
	ck_assert_str_eq(
	    host_cpu_model("model name\t: A very long CPU model name indeed\n", buf, sizeof(buf)),
	    "A very long CPU model name inde");
	ck_assert_str_eq(host_cpu_model("processor : 0\n", buf, sizeof(buf)), "");
}
END_TEST

static char moddir[64];

static void mkmod(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", moddir, name);
	ck_assert_int_eq(mkdir(path, 0700), 0);
}

static void rmmods(const char *const *names)
{
	char path[128];

	for (; *names; names++) {
		snprintf(path, sizeof(path), "%s/%s", moddir, *names);
		rmdir(path);
	}
	rmdir(moddir);
}

/* The vendor module names the flavour; the core alone is "kvm"; no KVM is NULL. */
START_TEST(test_kvm_module)
{
	static const char *const all[] = {"kvm", "kvm_amd", "tun", NULL};
	char buf[32];

	snprintf(moddir, sizeof(moddir), "/tmp/minivmm-modules-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(moddir));
	mkmod("tun");
	ck_assert_ptr_null(host_kvm_module(moddir, buf, sizeof(buf)));
	mkmod("kvm");
	ck_assert_str_eq(host_kvm_module(moddir, buf, sizeof(buf)), "kvm");
	mkmod("kvm_amd");
	ck_assert_str_eq(host_kvm_module(moddir, buf, sizeof(buf)), "kvm_amd");
	rmmods(all);
	ck_assert_ptr_null(host_kvm_module("/nonexistent", buf, sizeof(buf)));
}
END_TEST

Suite *threads_suite(void)
{
	return unit_suite("threads", NULL, NULL,
			  UNIT_TESTS(test_ended_thread_keeps_its_figures, test_unreadable_thread,
				     test_cpu_model, test_kvm_module));
}
