/*
 * The control socket's commands (vmm/api_commands.c) on a fake VM, and the
 * pause gate they use (vmm/vcpu_pause.c) with threads standing in for vCPU
 * threads: a paused "vCPU" makes no progress until resumed, and a stop
 * releases it.
 */
#include <check.h>
#include <json-c/json.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_vm.h"
#include "helpers.h"
#include "vm.h"
#include "vmm/api_commands.h"
#include "vmm/vcpu.h"
#include "vmm/vcpu_pause.h"

static struct vm *vm;
static struct api_vm api;
static struct api_handlers handlers;

static void commands_setup(void)
{
	vcpus_pause_reset();
	vm = fake_vm_create(1 << 20);
	api_init(&api, vm);
	handlers = api_vm_handlers(&api);
}

static void commands_teardown(void)
{
	vcpus_pause_reset();
	fake_vm_destroy(vm);
}

/* The reply to request; the test owns it. */
static struct json_object *ask(const char *request)
{
	return api_handle_request(&handlers, request, strlen(request));
}

static const char *field_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

/* request succeeds and its reply's "state" is state. */
static void expect_state(const char *request, const char *state)
{
	struct json_object *reply = ask(request);

	ck_assert_msg(field_str(reply, "error") == NULL, "%s: %s", request,
		      field_str(reply, "error"));
	ck_assert_str_eq(field_str(reply, "state"), state);
	json_object_put(reply);
}

static void expect_error(const char *request, const char *error)
{
	struct json_object *reply = ask(request);
	const char *e = field_str(reply, "error");

	ck_assert_msg(e && strstr(e, error), "%s: error \"%s\", expected \"%s\"", request,
		      e ? e : "(none)", error);
	json_object_put(reply);
}

START_TEST(test_status)
{
	struct json_object *reply = ask("{\"cmd\":\"status\"}"), *v;

	ck_assert_str_eq(field_str(reply, "state"), "running");
	ck_assert(json_object_object_get_ex(reply, "pid", &v));
	ck_assert_int_eq(json_object_get_int64(v), getpid());
	ck_assert(json_object_object_get_ex(reply, "uptime_s", &v));
	ck_assert(json_object_get_double(v) >= 0 && json_object_get_double(v) < 60);
	ck_assert(json_object_object_get_ex(reply, "vcpus", &v));
	ck_assert_int_eq(json_object_get_int(v), 0);
	json_object_put(reply);
	expect_error("{\"cmd\":\"status\",\"verbose\":true}", "takes no field \"verbose\"");
}
END_TEST

START_TEST(test_stats_is_the_stats_document)
{
	struct json_object *reply = ask("{\"cmd\":\"stats\"}"), *doc, *report;

	ck_assert(json_object_object_get_ex(reply, "stats", &doc));
	ck_assert_str_eq(field_str(doc, "format"), "minivmm-stats");
	ck_assert(json_object_object_get_ex(doc, "report", &report));
	ck_assert_str_eq(field_str(report, "kind"), "snapshot");
	ck_assert_str_eq(field_str(report, "stop_reason"), "running");
	json_object_put(reply);
}
END_TEST

START_TEST(test_pause_and_resume)
{
	expect_error("{\"cmd\":\"resume\"}", "the VM is not paused");
	expect_state("{\"cmd\":\"pause\"}", "paused");
	expect_state("{\"cmd\":\"status\"}", "paused");
	expect_error("{\"cmd\":\"pause\"}", "the VM is already paused");
	expect_state("{\"cmd\":\"resume\"}", "running");
	expect_state("{\"cmd\":\"status\"}", "running");
	expect_error("{\"cmd\":\"resume\"}", "the VM is not paused");
}
END_TEST

START_TEST(test_stop_arguments)
{
	static const char *const bad[] = {
	    "{\"cmd\":\"stop\",\"timeout_s\":-1}",   "{\"cmd\":\"stop\",\"timeout_s\":601}",
	    "{\"cmd\":\"stop\",\"timeout_s\":1.5}",  "{\"cmd\":\"stop\",\"timeout_s\":\"10\"}",
	    "{\"cmd\":\"stop\",\"timeout_s\":null}",
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(bad[i], "timeout_s must be a whole number of seconds from 0 to 600");
	expect_error("{\"cmd\":\"stop\",\"timeout\":5}", "takes no field \"timeout\"");
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING);
}
END_TEST

/* timeout_s 0 stops at once, as the control socket's stop, with its own exit status. */
START_TEST(test_stop_now)
{
	struct json_object *reply = ask("{\"cmd\":\"stop\",\"timeout_s\":0}"), *v;

	ck_assert_ptr_null(field_str(reply, "error"));
	ck_assert_str_eq(field_str(reply, "state"), "stopping");
	ck_assert(json_object_object_get_ex(reply, "forced", &v) && json_object_get_boolean(v));
	json_object_put(reply);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_API);
	ck_assert_int_eq(vm_exit_status(vm), EXIT_STATUS_API_STOP);
	expect_state("{\"cmd\":\"status\"}", "stopping");
	expect_error("{\"cmd\":\"pause\"}", "the VM is stopping");
	expect_error("{\"cmd\":\"resume\"}", "the VM is stopping");
	expect_state("{\"cmd\":\"stop\"}", "stopping"); /* again: nothing more to do */
}
END_TEST

/* A paused guest could not power off: stop does not wait for it. */
START_TEST(test_stop_while_paused)
{
	struct json_object *reply;

	expect_state("{\"cmd\":\"pause\"}", "paused");
	reply = ask("{\"cmd\":\"stop\",\"timeout_s\":30}");
	ck_assert_ptr_nonnull(strstr(field_str(reply, "reason"), "paused"));
	json_object_put(reply);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_API);
	ck_assert_int_eq(api_timeout_ms(&api), -1); /* no deadline left to wait for */
}
END_TEST

static unsigned int fake_poweroff_requests;

/* A guest with a power button: it hears the request (and may or may not act). */
static bool fake_request_poweroff(struct vm *v)
{
	(void)v;
	fake_poweroff_requests++;
	return true;
}

/* The guest is asked once; a second stop may bring the deadline forward, not back. */
START_TEST(test_stop_asks_the_guest_then_forces)
{
	struct json_object *reply, *v;
	int ms;

	api.request_poweroff = fake_request_poweroff;
	fake_poweroff_requests = 0;
	reply = ask("{\"cmd\":\"stop\",\"timeout_s\":30}");
	ck_assert_str_eq(field_str(reply, "state"), "stopping");
	ck_assert(json_object_object_get_ex(reply, "guest_asked", &v) &&
		  json_object_get_boolean(v));
	ck_assert(!json_object_object_get_ex(reply, "forced", &v));
	json_object_put(reply);
	ck_assert_uint_eq(fake_poweroff_requests, 1);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING); /* the guest has time */
	ms = api_timeout_ms(&api);
	ck_assert_int_gt(ms, 29000);
	ck_assert_int_le(ms, 30001);
	expect_state("{\"cmd\":\"status\"}", "stopping");
	expect_error("{\"cmd\":\"pause\"}", "the VM is stopping");

	expect_state("{\"cmd\":\"stop\",\"timeout_s\":60}", "stopping");
	ck_assert_int_le(api_timeout_ms(&api), 30001); /* not pushed back */
	expect_state("{\"cmd\":\"stop\",\"timeout_s\":2}", "stopping");
	ck_assert_int_le(api_timeout_ms(&api), 2001); /* brought forward */
	ck_assert_uint_eq(fake_poweroff_requests, 1); /* asked once */

	api_process(&api, NULL, 0); /* not yet */
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING);
	clock_gettime(CLOCK_MONOTONIC, &api.stop_deadline); /* the time is up */
	ck_assert_int_eq(api_timeout_ms(&api), 0);
	api_process(&api, NULL, 0);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_API);
	ck_assert_int_eq(vm_exit_status(vm), EXIT_STATUS_API_STOP);
	ck_assert_int_eq(api_timeout_ms(&api), -1);
}
END_TEST

/* A guest that powers off when asked ends as a guest power-off, not a forced stop. */
START_TEST(test_guest_powers_off_in_time)
{
	api.request_poweroff = fake_request_poweroff;
	expect_state("{\"cmd\":\"stop\",\"timeout_s\":1}", "stopping");
	vm_request_stop(vm, VM_STOP_POWEROFF, 0); /* what the guest's power-off does */
	ck_assert_int_eq(api_timeout_ms(&api), -1);
	clock_gettime(CLOCK_MONOTONIC, &api.stop_deadline);
	api_process(&api, NULL, 0);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_POWEROFF);
	ck_assert_int_eq(vm_exit_status(vm), 0);
}
END_TEST

/* ---- the pause gate with threads standing in for vCPU threads ---- */

#define FAKE_VCPUS 2

static atomic_ulong fake_progress[FAKE_VCPUS];

static void fake_kick_handler(int sig)
{
	(void)sig;
}

/* A vCPU thread's loop without KVM: the gate, then "guest work". */
static void *fake_vcpu_thread(void *arg)
{
	struct vcpu *v = arg;

	while (atomic_load(&v->vm->stop_reason) == VM_RUNNING) {
		vcpu_pause_point(v);
		if (atomic_load(&v->vm->stop_reason) != VM_RUNNING)
			break;
		atomic_fetch_add(&fake_progress[v->id], 1);
		usleep(200);
	}
	vcpu_pause_thread_ended();
	return NULL;
}

static unsigned long total_progress(void)
{
	unsigned long sum = 0;

	for (int i = 0; i < FAKE_VCPUS; i++)
		sum += atomic_load(&fake_progress[i]);
	return sum;
}

/* Until every fake vCPU has moved on by `more` steps from `from` (bounded: 10 s). */
static bool wait_progress(const unsigned long *from, unsigned long more)
{
	for (int round = 0; round < 10000; round++) {
		bool all = true;

		for (int i = 0; i < FAKE_VCPUS; i++)
			all &= atomic_load(&fake_progress[i]) >= from[i] + more;
		if (all)
			return true;
		usleep(1000);
	}
	return false;
}

START_TEST(test_pause_gate_holds_threads)
{
	struct sigaction sa = {.sa_handler = fake_kick_handler};
	struct kvm_run runs[FAKE_VCPUS];
	unsigned long zero[FAKE_VCPUS] = {0}, at[FAKE_VCPUS], paused_total;

	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	memset(runs, 0, sizeof(runs));
	vm->nr_vcpus = FAKE_VCPUS;
	for (int i = 0; i < FAKE_VCPUS; i++) {
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].id = (unsigned int)i;
		vm->vcpus[i].run = &runs[i];
		atomic_store(&fake_progress[i], 0);
		ck_assert_int_eq(
		    pthread_create(&vm->vcpus[i].thread, NULL, fake_vcpu_thread, &vm->vcpus[i]), 0);
	}
	ck_assert(wait_progress(zero, 3));

	ck_assert(vcpus_pause(vm, 5000));
	ck_assert_int_eq(vcpus_run_state(vm), VCPUS_PAUSED);
	for (int i = 0; i < FAKE_VCPUS; i++)
		ck_assert_int_eq(runs[i].immediate_exit, 1); /* each was kicked */
	paused_total = total_progress();
	usleep(50 * 1000); /* 250 steps' worth of time: none may be taken */
	ck_assert_uint_eq(total_progress(), paused_total);
	expect_state("{\"cmd\":\"status\"}", "paused");

	vcpus_resume(vm);
	ck_assert_int_eq(vcpus_run_state(vm), VCPUS_RUNNING);
	for (int i = 0; i < FAKE_VCPUS; i++)
		at[i] = atomic_load(&fake_progress[i]);
	ck_assert(wait_progress(at, 3));

	/* Paused again, then stopped: the stop releases the parked threads. */
	ck_assert(vcpus_pause(vm, 5000));
	vm_request_stop(vm, VM_STOP_SIGNAL, 15);
	vcpus_pause_wake_for_stop();
	for (int i = 0; i < FAKE_VCPUS; i++)
		ck_assert_int_eq(pthread_join(vm->vcpus[i].thread, NULL), 0);
	vm->nr_vcpus = 0;
}
END_TEST

Suite *api_commands_suite(void)
{
	Suite *s = suite_create("api_commands");
	TCase *tc;

	unit_tcase(s, "commands", commands_setup, commands_teardown,
		   UNIT_TESTS(test_status, test_stats_is_the_stats_document, test_pause_and_resume,
			      test_stop_arguments, test_stop_now, test_stop_while_paused,
			      test_stop_asks_the_guest_then_forces, test_guest_powers_off_in_time));
	tc = unit_tcase(s, "pause_gate", commands_setup, commands_teardown,
			UNIT_TESTS(test_pause_gate_holds_threads));
	tcase_set_timeout(tc, 30);
	return s;
}
