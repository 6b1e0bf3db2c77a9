/*
 * How minivmm ends: the exit status of each stop reason (vm_exit_status),
 * the text of its final line (vm_describe_stop) and the last error it gives
 * as the reason (log_last_error).  docs/usage.md, "Exit status".
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "fake_vm.h"
#include "helpers.h"
#include "log.h"
#include "vm.h"

static struct vm *vm;

static void endings_setup(void)
{
	vm = fake_vm_create(4096);
}

static void endings_teardown(void)
{
	fake_vm_destroy(vm);
}

/* Records reason/status as vm_request_stop would, without the stop pipe. */
static void stop_as(int reason, int status)
{
	atomic_store(&vm->stop_reason, reason);
	atomic_store(&vm->stop_status, status);
}

static const char *describe(int exit_status)
{
	static char buf[1024];

	vm_describe_stop(vm, exit_status, buf, sizeof(buf));
	return buf;
}

/* Logs an error line without showing it among the test output. */
static void quiet_error(const char *text)
{
	unit_stderr_capture();
	log_error("%s", text);
	ck_assert_uint_eq(unit_stderr_lines(), 1);
}

/* Every status minivmm chooses is above every status a guest can give. */
START_TEST(test_own_statuses_above_the_guests)
{
	const int own[] = {EXIT_STATUS_ERROR,
			   EXIT_STATUS_USAGE,
			   EXIT_STATUS_RESET,
			   EXIT_STATUS_TRIPLE_FAULT,
			   EXIT_STATUS_CONSOLE,
			   EXIT_STATUS_API_STOP,
			   EXIT_STATUS_SIGNAL_BASE + SIGHUP};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		ck_assert_int_gt(own[i], EXIT_STATUS_GUEST_MAX);
		ck_assert_int_le(own[i], 255);
		for (size_t j = 0; j < i; j++)
			ck_assert_int_ne(own[i], own[j]);
	}
}
END_TEST

START_TEST(test_guest_status_mapping)
{
	static const struct {
		int written, exit;
	} cases[] = {{0, 0},	{1, 1},	   {7, 7},   {99, 99}, {100, 99},
		     {139, 99}, {255, 99}, {256, 0}, {259, 3}, {0x1ff, 99}};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* devices/test_exit.c keeps the low byte; so does vm_exit_status. */
		stop_as(VM_STOP_POWEROFF, cases[i].written);
		ck_assert_int_eq(vm_exit_status(vm), cases[i].exit);
	}
}
END_TEST

START_TEST(test_own_reasons)
{
	stop_as(VM_STOP_RESET, 0);
	ck_assert_int_eq(vm_exit_status(vm), EXIT_STATUS_RESET);
	stop_as(VM_STOP_TRIPLE_FAULT, 0);
	ck_assert_int_eq(vm_exit_status(vm), EXIT_STATUS_TRIPLE_FAULT);
	stop_as(VM_STOP_CONSOLE, 0);
	ck_assert_int_eq(vm_exit_status(vm), EXIT_STATUS_CONSOLE);
	stop_as(VM_STOP_SIGNAL, SIGTERM);
	ck_assert_int_eq(vm_exit_status(vm), 143);
	stop_as(VM_STOP_SIGNAL, SIGHUP);
	ck_assert_int_eq(vm_exit_status(vm), 129);
	stop_as(VM_STOP_API, 0);
	ck_assert_int_eq(vm_exit_status(vm), EXIT_STATUS_API_STOP);
	stop_as(VM_STOP_ERROR, 0);
	ck_assert_int_eq(vm_exit_status(vm), EXIT_STATUS_ERROR);
}
END_TEST

START_TEST(test_final_line_texts)
{
	stop_as(VM_STOP_POWEROFF, 0);
	ck_assert_str_eq(describe(0), "the guest powered off with status 0");
	stop_as(VM_STOP_POWEROFF, 150);
	ck_assert_str_eq(describe(vm_exit_status(vm)),
			 "the guest powered off with status 150; exit status 99 (guest statuses "
			 "above 99 are reported as 99)");
	stop_as(VM_STOP_RESET, 0);
	ck_assert_str_eq(describe(vm_exit_status(vm)),
			 "the guest reset the machine; exit status 102");
	stop_as(VM_STOP_TRIPLE_FAULT, 0);
	ck_assert_str_eq(describe(vm_exit_status(vm)),
			 "triple fault in the guest; exit status 103");
	stop_as(VM_STOP_CONSOLE, 0);
	ck_assert_str_eq(describe(vm_exit_status(vm)), "Ctrl-A x on the console; exit status 104");
	stop_as(VM_STOP_API, 0);
	ck_assert_str_eq(describe(vm_exit_status(vm)),
			 "stop forced through the control socket; exit status 105");
	stop_as(VM_STOP_SIGNAL, SIGINT);
	ck_assert_str_eq(describe(vm_exit_status(vm)), "signal 2 (SIGINT); exit status 130");
}
END_TEST

START_TEST(test_errors_give_the_last_error)
{
	quiet_error("first problem");
	quiet_error("--kernel /nope: No such file or directory");
	stop_as(VM_RUNNING, 0);
	ck_assert_str_eq(describe(EXIT_STATUS_ERROR),
			 "could not start the VM: --kernel /nope: No such file or directory; "
			 "exit status 100");
	quiet_error("vCPU 0: KVM_RUN failed");
	stop_as(VM_STOP_ERROR, 0);
	ck_assert_str_eq(describe(vm_exit_status(vm)),
			 "error: vCPU 0: KVM_RUN failed; exit status 100");
	/* A clean stop followed by an error (a --stats report not written). */
	quiet_error("--stats r.json: cannot write the report: No space left on device");
	stop_as(VM_STOP_POWEROFF, 0);
	ck_assert_str_eq(describe(EXIT_STATUS_ERROR),
			 "the guest powered off with status 0, then error: --stats r.json: cannot "
			 "write the report: No space left on device; exit status 100");
}
END_TEST

START_TEST(test_last_error_kept_whole_and_bounded)
{
	char big[2000], got[64];

	memset(big, 'e', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	quiet_error(big);
	log_last_error(got, sizeof(got));
	ck_assert_uint_eq(strlen(got), sizeof(got) - 1);
	errno = ENOENT;
	unit_stderr_capture();
	log_errno("open %s", "x");
	ck_assert_uint_eq(unit_stderr_lines(), 1);
	log_last_error(got, sizeof(got));
	ck_assert_str_eq(got, "open x: No such file or directory");
	/* Informational lines and guest-caused errors are not minivmm's errors. */
	unit_stderr_capture();
	log_info("just saying");
	log_guest_error(&(struct log_budget){0}, "the guest wrote junk");
	ck_assert_uint_eq(unit_stderr_lines(), 2);
	log_last_error(got, sizeof(got));
	ck_assert_str_eq(got, "open x: No such file or directory");
	log_last_error(got, 0); /* must not write */
}
END_TEST

Suite *endings_suite(void)
{
	Suite *s = suite_create("endings");

	unit_tcase(s, "endings", endings_setup, endings_teardown,
		   UNIT_TESTS(test_own_statuses_above_the_guests, test_guest_status_mapping,
			      test_own_reasons, test_final_line_texts,
			      test_errors_give_the_last_error,
			      test_last_error_kept_whole_and_bounded));
	return s;
}
