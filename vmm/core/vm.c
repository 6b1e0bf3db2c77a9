/*
 * The VM services of vm.h that need no KVM ioctl: the kernel command line,
 * --stats registration and stopping.  Shared by minivmm and the unit tests.
 */
#include "vm.h"

#include <errno.h>
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
	switch (atomic_load(&((struct vm *)vm)->stop_reason)) {
	case VM_STOP_POWEROFF:
		return atomic_load(&((struct vm *)vm)->stop_status) & 0xff;
	case VM_STOP_RESET:
		return EXIT_STATUS_RESET;
	case VM_STOP_TRIPLE_FAULT:
		return EXIT_STATUS_TRIPLE_FAULT;
	case VM_STOP_CONSOLE:
		return EXIT_STATUS_CONSOLE;
	case VM_STOP_SIGNAL:
		return 128 + atomic_load(&((struct vm *)vm)->stop_status);
	case VM_STOP_ERROR:
	default:
		return EXIT_STATUS_ERROR;
	}
}
