/*
 * In-kernel VM exits: the exits KVM completes without returning to minivmm
 * (ioeventfd writes, in-kernel devices), counted from KVM's tracepoints.
 *
 * minivmm sees only the exits KVM_RUN returns for.  With --stats, each vCPU
 * thread also opens perf_event counters (counting mode: no sampling, no
 * buffers, no perf tool) on the kvm:* tracepoints for itself, so the kernel
 * counts every MMIO and port access, every return to user space and (on
 * hosts that fire it) every hardware exit of that thread.  Per MMIO window a
 * pair of filtered kvm_mmio counters tells how many writes KVM served
 * in the kernel (ioeventfd kicks).  docs/stats.md, "kernel_exits".
 *
 * Counting needs tracefs (for the tracepoint ids) and permission to count
 * kernel events (root, CAP_PERFMON, or perf_event_paranoid <= 1).  When the
 * process lacks either, the report says so with a reason and no figures:
 * an uncounted event is never reported as 0.
 */
#ifndef MINIVMM_KVM_TRACE_H
#define MINIVMM_KVM_TRACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct vm;
struct vcpu;
struct json_object;
struct kvm_trace;

/*
 * On the main thread after the devices exist (their MMIO windows are on
 * vm->mmio) and before the vCPUs start: find the tracepoints, check that
 * this process may count them, and store the state in vm->trace.  Always 0:
 * unavailability is recorded with its reason, never an error of the VM.
 */
int kvm_trace_create(struct vm *vm);

/* On each vCPU thread before its first KVM_RUN: open its counters. */
void kvm_trace_attach_vcpu(struct vcpu *vcpu);

/*
 * Fill kernel_exits (a JSON object) with the counts so far: safe while the
 * vCPUs run (SIGUSR1 snapshots) and after they stopped.  vm->trace may be
 * NULL (counting never set up); the object then says so.
 */
void kvm_trace_report(const struct vm *vm, struct json_object *kernel_exits);

/* Close every counter and free vm->trace (after the vCPU threads ended). */
void kvm_trace_destroy(struct vm *vm);

/*
 * ---- The parts kvm_trace_create() is built from, exposed for unit tests. ----
 */

/* The tracepoints counted per vCPU, in report order. */
enum kvm_trace_event {
	KVM_TRACE_USERSPACE_EXIT, /* every KVM_RUN return to user space */
	KVM_TRACE_EXIT,		  /* every hardware VM exit (0 on kvm_pvm: it never fires) */
	KVM_TRACE_MMIO,		  /* every MMIO access KVM emulates, wherever completed */
	KVM_TRACE_FAST_MMIO,	  /* zero-length ioeventfd writes on VMX's EPT fast path */
	KVM_TRACE_PIO,		  /* every port access, wherever completed */
	KVM_TRACE_NR_EVENTS
};

/* "kvm_userspace_exit", ... (the name under events/kvm/ in tracefs). */
const char *kvm_trace_event_name(enum kvm_trace_event event);

/*
 * What counting needs from the host, so tests can replace it: where tracefs
 * may be, and the perf_event calls.  Calls return 0/fd or -errno.
 */
struct kvm_trace_host {
	const char *const *tracefs_roots; /* NULL-terminated; the first with events/ wins */
	const char *paranoid_path;	  /* /proc/sys/kernel/perf_event_paranoid */
	/* A counting tracepoint event for thread tid (0: the calling thread). */
	int (*open_counter)(uint64_t tracepoint_id, pid_t tid);
	int (*set_filter)(int fd, const char *filter);
	int (*read_counter)(int fd, uint64_t *count);
	void (*close_counter)(int fd);
};

/* The real host: /sys/kernel/tracing, /sys/kernel/debug/tracing, perf_event_open(2). */
extern const struct kvm_trace_host kvm_trace_system_host;

/* kvm_trace_create() with another host (a test's fake tree and counters). */
int kvm_trace_create_on(struct vm *vm, const struct kvm_trace_host *host);

/* A tracefs "id" file's text ("38\n") as a number; 0 or -EINVAL. */
int kvm_trace_parse_id(const char *text, uint64_t *id);

/*
 * The kvm_mmio record as its tracefs "format" file describes it: the file
 * must name the fields `type` and `gpa`, and the type values printed as
 * "write" and "unsatisfied-read" are taken from its print fmt, not assumed.
 */
struct kvm_trace_mmio_format {
	unsigned int write;	       /* type of a guest write, wherever it is completed */
	unsigned int unsatisfied_read; /* type of a read KVM passes to user space */
};
int kvm_trace_parse_mmio_format(const char *format, struct kvm_trace_mmio_format *fmt);

/*
 * The filter selecting kvm_mmio records of `type` in [base, base + len):
 * "type == 2 && gpa >= 0xd0000000 && gpa <= 0xd0000fff".  0, or -ENOSPC
 * when buf is too small, -EINVAL for an empty or wrapping window.
 */
int kvm_trace_window_filter(char *buf, size_t size, unsigned int type, uint64_t base, uint64_t len);

/*
 * Why perf_event_open of tracepoint `event` failed with -err, for the
 * report; paranoid is /proc/sys/kernel/perf_event_paranoid, or INT_MIN
 * when unknown.
 */
void kvm_trace_open_reason(char *buf, size_t size, const char *event, int err, int paranoid);

#endif
