/*
 * The VM services of vm.h that need no KVM ioctl: the kernel command line,
 * --stats registration and stopping.  Shared by minivmm and the unit tests.
 */
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int vm_cmdline_append(struct vm *vm, const char *fmt, ...)
{
	size_t used = strlen(vm->cmdline);
	va_list ap;
	int n;

	if (used + 1 >= sizeof(vm->cmdline))
		return -ENOSPC;
	if (used)
		vm->cmdline[used++] = ' ';
	va_start(ap, fmt);
	n = vsnprintf(vm->cmdline + used, sizeof(vm->cmdline) - used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(vm->cmdline) - used) {
		vm->cmdline[used ? used - 1 : 0] = '\0';
		log_error("kernel command line too long (max %zu bytes)", sizeof(vm->cmdline) - 1);
		return -ENOSPC;
	}
	return 0;
}

void vm_register_stats(struct vm *vm, const char *device, vm_stats_fn fn, void *opaque)
{
	if (vm->nr_stats < VM_MAX_STATS) {
		vm->stats[vm->nr_stats].device = device;
		vm->stats[vm->nr_stats].fn = fn;
		vm->stats[vm->nr_stats].opaque = opaque;
		vm->nr_stats++;
	}
}

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status)
{
	int expected = VM_RUNNING;
	char byte = 1;

	if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)reason))
		return;
	atomic_store(&vm->stop_status, status);
	/* Wakes the main thread, which kicks every vCPU out of KVM_RUN. */
	if (vm->stop_pipe[1] >= 0 && write(vm->stop_pipe[1], &byte, 1) < 0) {
		/* Nothing better to do: the main thread also polls stop_reason. */
	}
}

int vm_exit_status(const struct vm *vm)
{
	int status = atomic_load(&((struct vm *)vm)->stop_status);

	switch (atomic_load(&((struct vm *)vm)->stop_reason)) {
	case VM_STOP_POWEROFF:
		status &= 0xff;
		return status > EXIT_STATUS_GUEST_MAX ? EXIT_STATUS_GUEST_MAX : status;
	case VM_STOP_RESET:
		return EXIT_STATUS_RESET;
	case VM_STOP_TRIPLE_FAULT:
		return EXIT_STATUS_TRIPLE_FAULT;
	case VM_STOP_CONSOLE:
		return EXIT_STATUS_CONSOLE;
	case VM_STOP_SIGNAL:
		return EXIT_STATUS_SIGNAL_BASE + status;
	case VM_STOP_API: /* the control socket's "stop" (--api-socket), forced */
		return EXIT_STATUS_API_STOP;
	case VM_STOP_ERROR:
	default:
		return EXIT_STATUS_ERROR;
	}
}

/* "signal 15 (SIGTERM)"; sigabbrev_np makes no system call (seccomp). */
static void vm_describe_signal(int sig, char *buf, size_t size)
{
	const char *abbrev = sigabbrev_np(sig);

	if (abbrev)
		snprintf(buf, size, "signal %d (SIG%s)", sig, abbrev);
	else
		snprintf(buf, size, "signal %d", sig);
}

void vm_describe_error(int exit_status, char *buf, size_t size)
{
	char error[512];

	if (!size)
		return;
	log_last_error(error, sizeof(error));
	snprintf(buf, size, "error: %s; exit status %d", error[0] ? error : "(no message)",
		 exit_status);
}

void vm_describe_stop(const struct vm *vm, int exit_status, char *buf, size_t size)
{
	int reason = atomic_load(&((struct vm *)vm)->stop_reason);
	int status = atomic_load(&((struct vm *)vm)->stop_status);
	char why[128], error[512];
	bool failed = exit_status == EXIT_STATUS_ERROR;

	if (!size)
		return;
	log_last_error(error, sizeof(error));
	if (!error[0])
		snprintf(error, sizeof(error), "(no message)");
	switch (reason) {
	case VM_RUNNING:
		snprintf(buf, size, "could not start the VM: %s; exit status %d", error,
			 exit_status);
		return;
	case VM_STOP_ERROR:
		vm_describe_error(exit_status, buf, size);
		return;
	case VM_STOP_POWEROFF:
		snprintf(why, sizeof(why), "the guest powered off with status %d", status & 0xff);
		if (!failed && (status & 0xff) > EXIT_STATUS_GUEST_MAX) {
			snprintf(buf, size,
				 "%s; exit status %d (guest statuses above %d are reported as %d)",
				 why, exit_status, EXIT_STATUS_GUEST_MAX, EXIT_STATUS_GUEST_MAX);
			return;
		}
		if (!failed) {
			snprintf(buf, size, "%s", why);
			return;
		}
		break;
	case VM_STOP_RESET:
		snprintf(why, sizeof(why), "the guest reset the machine");
		break;
	case VM_STOP_TRIPLE_FAULT:
		snprintf(why, sizeof(why), "triple fault in the guest");
		break;
	case VM_STOP_CONSOLE:
		snprintf(why, sizeof(why), "Ctrl-A x on the console");
		break;
	case VM_STOP_SIGNAL:
		vm_describe_signal(status, why, sizeof(why));
		break;
	case VM_STOP_API:
		/* A guest that obeyed the request powered off: VM_STOP_POWEROFF. */
		snprintf(why, sizeof(why), "stop forced through the control socket");
		break;
	default:
		snprintf(why, sizeof(why), "stop reason %d", reason);
		break;
	}
	if (failed)
		snprintf(buf, size, "%s, then error: %s; exit status %d", why, error, exit_status);
	else
		snprintf(buf, size, "%s; exit status %d", why, exit_status);
}
