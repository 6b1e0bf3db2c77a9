/*
 * In-kernel VM exits counted from KVM's tracepoints (kvm_trace.h).
 *
 * What each tracepoint tells, measured on this project's hosts:
 *   kvm_userspace_exit  every KVM_RUN return (the exits minivmm sees, plus
 *                       EINTR returns).
 *   kvm_exit            every hardware exit.  kvm_pvm never fires it (0 beside
 *                       nonzero kvm_userspace_exit): the report then marks it
 *                       unusable instead of hiding it.
 *   kvm_mmio            every MMIO access KVM emulates.  A write is traced
 *                       once (type "write") before KVM looks for an in-kernel
 *                       handler, so it fires whether an ioeventfd takes it or
 *                       it goes to user space; a read going to user space is
 *                       traced as "unsatisfied-read" (and again as "read"
 *                       when the answer comes back); a read served in the
 *                       kernel (LAPIC, IOAPIC) as "read" only.
 *   kvm_fast_mmio       writes to zero-length ioeventfds that VMX serves
 *                       straight from an EPT misconfiguration.  minivmm
 *                       registers 4-byte ioeventfds with a datamatch, which
 *                       never take that path, so 0 is expected everywhere;
 *                       counted so that a change would show.
 *   kvm_pio             every port access, wherever completed.
 *
 * No field of kvm_mmio says where a write was completed, so the in-kernel
 * writes to an MMIO window W are derived.  Per window two filtered kvm_mmio
 * counters run on every vCPU: its writes (mmio_writes_total) and its
 * unsatisfied reads.  Every user-space exit to W is one of the two and is
 * counted in W's bus range (bus_range.accesses) after KVM traced it, so
 *	userspace_writes = accesses - unsatisfied reads
 *	in_kernel        = mmio_writes_total - userspace_writes.
 * Reading `accesses` before the counters keeps this from going negative in
 * a snapshot taken while the vCPUs run.  On kvm_pvm one ioeventfd kick was
 * measured to fire exactly one kvm_mmio write (plus one vcpu_match_mmio and
 * one kvm_emulate_insn, which are not counted here) and no
 * kvm_userspace_exit, and in_kernel equalled the guest's own kick count.
 * Every MMIO window is counted, not only those with an ioeventfd: for the
 * others in_kernel stays 0, which shows that no write was lost.
 */
#include "kvm_trace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/perf_event.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bus.h"
#include "log.h"
#include "text_file.h"
#include "vm.h"

/* Windows beyond this many (the machine has a handful) are not counted. */
#define KVM_TRACE_MAX_WINDOWS 16
#define KVM_TRACE_REASON_MAX  512
#define KVM_TRACE_PATH_MAX    256 /* a tracefs root, or a file under it */
#define KVM_TRACE_FILTER_MAX  96

static const char *const kvm_trace_event_names[KVM_TRACE_NR_EVENTS] = {
    [KVM_TRACE_USERSPACE_EXIT] = "kvm_userspace_exit",
    [KVM_TRACE_EXIT] = "kvm_exit",
    [KVM_TRACE_MMIO] = "kvm_mmio",
    [KVM_TRACE_FAST_MMIO] = "kvm_fast_mmio",
    [KVM_TRACE_PIO] = "kvm_pio",
};

/* The two filtered kvm_mmio counters of a window. */
enum { WINDOW_WRITES, WINDOW_USER_READS, WINDOW_NR_COUNTERS };

/*
 * Something a vCPU thread could not open.  The first thread to fail writes
 * the reason, then publishes `failed`; readers look at the reason only
 * after seeing `failed`.
 */
struct kvm_trace_failure {
	atomic_bool claimed;
	atomic_bool failed;
	char reason[KVM_TRACE_REASON_MAX];
};

struct kvm_trace_window {
	const struct bus_range *range; /* in vm->mmio, which never changes while vCPUs run */
	char filter[WINDOW_NR_COUNTERS][KVM_TRACE_FILTER_MAX];
	struct kvm_trace_failure failure;
};

/* A vCPU's counters: 5 + 2 per window file descriptors (about 11 with one device). */
struct kvm_trace_vcpu {
	int fd[KVM_TRACE_NR_EVENTS];
	int window_fd[KVM_TRACE_MAX_WINDOWS][WINDOW_NR_COUNTERS];
	atomic_bool attached; /* fds above are set; published by the vCPU thread */
};

struct kvm_trace {
	const struct kvm_trace_host *host;
	bool available;
	char reason[KVM_TRACE_REASON_MAX]; /* why not available */
	char tracefs[KVM_TRACE_PATH_MAX / 2];
	/* Per event: its id, or why it is missing from every count. */
	bool have_id[KVM_TRACE_NR_EVENTS];
	uint64_t id[KVM_TRACE_NR_EVENTS];
	struct kvm_trace_failure event_failure[KVM_TRACE_NR_EVENTS];
	/* MMIO windows counted, or why none are. */
	unsigned int nr_windows;
	struct kvm_trace_window windows[KVM_TRACE_MAX_WINDOWS];
	char windows_reason[KVM_TRACE_REASON_MAX];
	struct kvm_trace_vcpu vcpus[VM_MAX_CPUS];
};

const char *kvm_trace_event_name(enum kvm_trace_event event)
{
	return event < KVM_TRACE_NR_EVENTS ? kvm_trace_event_names[event] : "?";
}

/* ---- The real host: perf_event_open(2) in counting mode. ---- */

static int kvm_trace_sys_open(uint64_t tracepoint_id, pid_t tid)
{
	struct perf_event_attr attr;
	long fd;

	/* Counting mode: no sample period, so no ring buffer and no records,
	 * only a 64-bit count that read() returns.  Tracepoints fire in the
	 * kernel, so exclude_kernel must stay 0 (and that is what needs the
	 * privilege).  One thread, any CPU, not inherited. */
	memset(&attr, 0, sizeof(attr));
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.size = sizeof(attr);
	attr.config = tracepoint_id;
	fd = syscall(SYS_perf_event_open, &attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : (int)fd;
}

static int kvm_trace_sys_set_filter(int fd, const char *filter)
{
	return ioctl(fd, PERF_EVENT_IOC_SET_FILTER, filter) < 0 ? -errno : 0;
}

static int kvm_trace_sys_read(int fd, uint64_t *count)
{
	ssize_t n = read(fd, count, sizeof(*count));

	if (n == (ssize_t)sizeof(*count))
		return 0;
	return n < 0 ? -errno : -EIO;
}

static void kvm_trace_sys_close(int fd)
{
	close(fd);
}

static const char *const kvm_trace_system_roots[] = {"/sys/kernel/tracing",
						     "/sys/kernel/debug/tracing", NULL};

const struct kvm_trace_host kvm_trace_system_host = {
    .tracefs_roots = kvm_trace_system_roots,
    .paranoid_path = "/proc/sys/kernel/perf_event_paranoid",
    .open_counter = kvm_trace_sys_open,
    .set_filter = kvm_trace_sys_set_filter,
    .read_counter = kvm_trace_sys_read,
    .close_counter = kvm_trace_sys_close,
};

/* ---- tracefs: ids, the kvm_mmio format, filters (no privilege needed to test). ---- */

int kvm_trace_parse_id(const char *text, uint64_t *id)
{
	const char *p = text;
	char *end;
	unsigned long long v;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p < '0' || *p > '9') /* strtoull would accept a sign */
		return -EINVAL;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno)
		return -EINVAL;
	while (*end == ' ' || *end == '\t' || *end == '\n')
		end++;
	if (*end)
		return -EINVAL;
	*id = v;
	return 0;
}

/* Whether a "field:TYPE NAME;" line of format names the field `name`. */
static bool kvm_trace_format_has_field(const char *format, const char *name)
{
	size_t nlen = strlen(name);

	for (const char *p = strstr(format, "field:"); p; p = strstr(p + 1, "field:")) {
		const char *semi = strchr(p, ';');
		const char *start;

		if (!semi)
			break;
		/* The declaration's last word, before any array suffix. */
		start = semi;
		while (start > p && start[-1] != ' ' && start[-1] != '\t' && start[-1] != ':')
			start--;
		if ((size_t)(semi - start) >= nlen && strncmp(start, name, nlen) == 0 &&
		    (start[nlen] == ';' || start[nlen] == '['))
			return true;
	}
	return false;
}

/* The value N of a `{ N, "symbol" }` pair in the print fmt of format. */
static int kvm_trace_format_symbol(const char *format, const char *symbol, unsigned int *value)
{
	char quoted[64];
	const char *fmt = strstr(format, "print fmt:");

	if (!fmt || snprintf(quoted, sizeof(quoted), "\"%s\"", symbol) >= (int)sizeof(quoted))
		return -EINVAL;
	for (const char *q = strstr(fmt, quoted); q; q = strstr(q + 1, quoted)) {
		const char *brace = q;
		unsigned long v;
		char *end;

		while (brace > fmt && brace[-1] != '{' && brace[-1] != '}')
			brace--;
		if (brace == fmt || brace[-1] != '{')
			continue;
		errno = 0;
		v = strtoul(brace, &end, 0);
		if (errno || end == brace || v > UINT_MAX)
			continue;
		while (*end == ' ')
			end++;
		if (*end++ != ',')
			continue;
		while (*end == ' ')
			end++;
		if (end != q)
			continue;
		*value = (unsigned int)v;
		return 0;
	}
	return -EINVAL;
}

int kvm_trace_parse_mmio_format(const char *format, struct kvm_trace_mmio_format *fmt)
{
	if (!kvm_trace_format_has_field(format, "type") ||
	    !kvm_trace_format_has_field(format, "gpa"))
		return -EINVAL;
	if (kvm_trace_format_symbol(format, "write", &fmt->write) < 0 ||
	    kvm_trace_format_symbol(format, "unsatisfied-read", &fmt->unsatisfied_read) < 0)
		return -EINVAL;
	return 0;
}

int kvm_trace_window_filter(char *buf, size_t size, unsigned int type, uint64_t base, uint64_t len)
{
	int n;

	/* An inclusive upper bound, so a window that ends at 2^64 needs no wrap. */
	if (len == 0 || base + (len - 1) < base)
		return -EINVAL;
	n = snprintf(buf, size, "type == %u && gpa >= 0x%llx && gpa <= 0x%llx", type,
		     (unsigned long long)base, (unsigned long long)(base + (len - 1)));
	return n < 0 || (size_t)n >= size ? -ENOSPC : 0;
}

void kvm_trace_open_reason(char *buf, size_t size, const char *event, int err, int paranoid)
{
	char level[32];

	if (paranoid == INT_MIN)
		snprintf(level, sizeof(level), "unknown");
	else
		snprintf(level, sizeof(level), "%d", paranoid);
	switch (err) {
	case EACCES:
	case EPERM:
		snprintf(buf, size,
			 "perf_event_open(kvm:%s): %s: counting kernel tracepoints needs "
			 "CAP_PERFMON or CAP_SYS_ADMIN (root has them) or "
			 "kernel.perf_event_paranoid <= 1 (it is %s)%s",
			 event, strerror(err), level,
			 err == EPERM ? ", and no seccomp filter forbidding perf_event_open" : "");
		break;
	case ENOSYS:
		snprintf(buf, size, "perf_event_open: %s: the kernel has no perf events",
			 strerror(err));
		break;
	case ENOENT:
	case ENODEV:
	case EOPNOTSUPP:
	case EINVAL:
		snprintf(buf, size,
			 "perf_event_open(kvm:%s): %s: the kernel cannot count this tracepoint "
			 "with perf events",
			 event, strerror(err));
		break;
	case EMFILE:
	case ENFILE:
		snprintf(buf, size, "perf_event_open(kvm:%s): %s: out of file descriptors", event,
			 strerror(err));
		break;
	default:
		snprintf(buf, size, "perf_event_open(kvm:%s): %s", event, strerror(err));
	}
}

/* kernel.perf_event_paranoid, or INT_MIN when it cannot be read. */
static int kvm_trace_paranoid(const struct kvm_trace_host *host)
{
	char text[32];
	long v;
	char *end;

	if (!host->paranoid_path || text_file_read(host->paranoid_path, text, sizeof(text)) <= 0)
		return INT_MIN;
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || v < INT_MIN + 1 || v > INT_MAX)
		return INT_MIN;
	return (int)v;
}

/* ---- Creation: tracefs, ids, the permission probe, the windows. ---- */

/* The first root holding events/kvm; false with t->reason set when none does. */
static bool kvm_trace_find_tracefs(struct kvm_trace *t, const char *const *roots)
{
	char path[KVM_TRACE_PATH_MAX], looked[KVM_TRACE_REASON_MAX / 2] = "";
	const char *denied = NULL, *no_kvm = NULL;
	struct stat st;

	for (const char *const *root = roots; root && *root; root++) {
		size_t used = strlen(looked);

		snprintf(looked + used, sizeof(looked) - used, "%s%s", used ? ", " : "", *root);
		if (strlen(*root) >= sizeof(t->tracefs))
			continue; /* no tracefs lives that deep */
		snprintf(path, sizeof(path), "%s/events/kvm", *root);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(t->tracefs, sizeof(t->tracefs), "%s", *root);
			return true;
		}
		if (errno == EACCES && !denied)
			denied = *root;
		snprintf(path, sizeof(path), "%s/events", *root);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode) && !no_kvm)
			no_kvm = *root;
	}
	if (denied)
		snprintf(t->reason, sizeof(t->reason),
			 "cannot read tracefs at %s: %s (tracefs is readable by root only unless "
			 "mounted otherwise)",
			 denied, strerror(EACCES));
	else if (no_kvm)
		snprintf(t->reason, sizeof(t->reason),
			 "tracefs at %s has no kvm events (kvm module without tracepoints?)",
			 no_kvm);
	else
		snprintf(t->reason, sizeof(t->reason),
			 "tracefs is not mounted (looked in %s); as root: "
			 "mount -t tracefs nodev /sys/kernel/tracing",
			 looked);
	return false;
}

/* Each event's id; an event without one is missing (the others still count). */
static unsigned int kvm_trace_read_ids(struct kvm_trace *t)
{
	unsigned int found = 0;

	for (unsigned int e = 0; e < KVM_TRACE_NR_EVENTS; e++) {
		char path[KVM_TRACE_PATH_MAX], text[32];
		ssize_t n;
		int err;

		snprintf(path, sizeof(path), "%s/events/kvm/%s/id", t->tracefs,
			 kvm_trace_event_names[e]);
		n = text_file_read(path, text, sizeof(text));
		err = n < 0 ? (int)-n : kvm_trace_parse_id(text, &t->id[e]) < 0 ? EINVAL : 0;
		if (err) {
			struct kvm_trace_failure *f = &t->event_failure[e];

			snprintf(f->reason, sizeof(f->reason), "%s: %s", path,
				 err == ENOENT ? "no such tracepoint on this kernel"
					       : strerror(err));
			atomic_store(&f->claimed, true);
			atomic_store(&f->failed, true);
			log_debug("kernel_exits: kvm:%s not counted: %s", kvm_trace_event_names[e],
				  f->reason);
			continue;
		}
		t->have_id[e] = true;
		found++;
	}
	return found;
}

/* Whether this process may count the tracepoints: one counter opened and closed. */
static bool kvm_trace_probe(struct kvm_trace *t)
{
	for (unsigned int e = 0; e < KVM_TRACE_NR_EVENTS; e++) {
		int fd;

		if (!t->have_id[e])
			continue;
		fd = t->host->open_counter(t->id[e], 0);
		if (fd < 0) {
			kvm_trace_open_reason(t->reason, sizeof(t->reason),
					      kvm_trace_event_names[e], -fd,
					      kvm_trace_paranoid(t->host));
			return false;
		}
		t->host->close_counter(fd);
		return true;
	}
	return false; /* not reached: kvm_trace_create_on() found an id */
}

/* The windows of vm->mmio and their filters; t->windows_reason when none. */
static void kvm_trace_setup_windows(struct kvm_trace *t, const struct vm *vm)
{
	struct kvm_trace_mmio_format fmt;
	char path[KVM_TRACE_PATH_MAX], format[8192];
	ssize_t n;

	if (!t->have_id[KVM_TRACE_MMIO]) {
		snprintf(t->windows_reason, sizeof(t->windows_reason), "kvm:kvm_mmio is missing");
		return;
	}
	snprintf(path, sizeof(path), "%s/events/kvm/kvm_mmio/format", t->tracefs);
	n = text_file_read(path, format, sizeof(format));
	if (n < 0) {
		snprintf(t->windows_reason, sizeof(t->windows_reason), "%s: %s", path,
			 strerror((int)-n));
		return;
	}
	if (kvm_trace_parse_mmio_format(format, &fmt) < 0) {
		snprintf(t->windows_reason, sizeof(t->windows_reason),
			 "%s: no `type` and `gpa` fields with \"write\" and \"unsatisfied-read\" "
			 "types",
			 path);
		return;
	}
	for (unsigned int i = 0; i < vm->mmio.nr_ranges; i++) {
		const struct bus_range *r = &vm->mmio.ranges[i];
		struct kvm_trace_window *w = &t->windows[t->nr_windows];

		if (t->nr_windows == KVM_TRACE_MAX_WINDOWS) {
			log_info("kernel_exits: only the first %d MMIO windows are counted",
				 KVM_TRACE_MAX_WINDOWS);
			break;
		}
		if (kvm_trace_window_filter(w->filter[WINDOW_WRITES], KVM_TRACE_FILTER_MAX,
					    fmt.write, r->base, r->len) < 0 ||
		    kvm_trace_window_filter(w->filter[WINDOW_USER_READS], KVM_TRACE_FILTER_MAX,
					    fmt.unsatisfied_read, r->base, r->len) < 0)
			continue;
		w->range = r;
		t->nr_windows++;
	}
}

int kvm_trace_create_on(struct vm *vm, const struct kvm_trace_host *host)
{
	struct kvm_trace *t = calloc(1, sizeof(*t));

	if (!t) {
		log_error("kernel_exits: out of memory; in-kernel exits are not counted");
		return 0;
	}
	t->host = host;
	for (unsigned int v = 0; v < VM_MAX_CPUS; v++) {
		for (unsigned int e = 0; e < KVM_TRACE_NR_EVENTS; e++)
			t->vcpus[v].fd[e] = -1;
		for (unsigned int w = 0; w < KVM_TRACE_MAX_WINDOWS; w++)
			for (unsigned int c = 0; c < WINDOW_NR_COUNTERS; c++)
				t->vcpus[v].window_fd[w][c] = -1;
	}
	vm->trace = t;
	if (!kvm_trace_find_tracefs(t, host->tracefs_roots))
		goto unavailable;
	if (kvm_trace_read_ids(t) == 0) {
		snprintf(t->reason, sizeof(t->reason),
			 "no kvm tracepoint id readable under %s/events/kvm", t->tracefs);
		goto unavailable;
	}
	if (!kvm_trace_probe(t))
		goto unavailable;
	kvm_trace_setup_windows(t, vm);
	t->available = true;
	return 0;

unavailable:
	log_info("kernel_exits: in-kernel exits are not counted: %s", t->reason);
	return 0;
}

int kvm_trace_create(struct vm *vm)
{
	return kvm_trace_create_on(vm, &kvm_trace_system_host);
}

/* ---- Per vCPU thread. ---- */

/* Records why something cannot be counted; the first reason stays. */
static void kvm_trace_fail(struct kvm_trace_failure *f, const char *what, const char *reason)
{
	if (atomic_exchange(&f->claimed, true))
		return;
	snprintf(f->reason, sizeof(f->reason), "%s", reason);
	atomic_store_explicit(&f->failed, true, memory_order_release);
	log_info("kernel_exits: %s not counted: %s", what, reason);
}

static bool kvm_trace_failed(const struct kvm_trace_failure *f)
{
	return atomic_load_explicit(&f->failed, memory_order_acquire);
}

static void kvm_trace_attach_windows(struct kvm_trace *t, struct kvm_trace_vcpu *slot, pid_t tid)
{
	const struct kvm_trace_host *host = t->host;

	for (unsigned int w = 0; w < t->nr_windows; w++) {
		struct kvm_trace_window *win = &t->windows[w];

		for (unsigned int c = 0; c < WINDOW_NR_COUNTERS; c++) {
			char reason[KVM_TRACE_REASON_MAX], what[96];
			int fd = host->open_counter(t->id[KVM_TRACE_MMIO], tid), err;

			snprintf(what, sizeof(what), "MMIO window %s",
				 win->range->name ? win->range->name : "?");
			if (fd < 0) {
				kvm_trace_open_reason(reason, sizeof(reason), "kvm_mmio", -fd,
						      kvm_trace_paranoid(host));
				kvm_trace_fail(&win->failure, what, reason);
				break;
			}
			err = host->set_filter(fd, win->filter[c]);
			if (err < 0) {
				host->close_counter(fd);
				snprintf(reason, sizeof(reason),
					 "PERF_EVENT_IOC_SET_FILTER \"%s\": %s", win->filter[c],
					 strerror(-err));
				kvm_trace_fail(&win->failure, what, reason);
				break;
			}
			slot->window_fd[w][c] = fd;
		}
	}
}

void kvm_trace_attach_vcpu(struct vcpu *vcpu)
{
	struct kvm_trace *t = vcpu->vm->trace;
	struct kvm_trace_vcpu *slot;
	pid_t tid;

	if (!t || !t->available || vcpu->id >= VM_MAX_CPUS)
		return;
	slot = &t->vcpus[vcpu->id];
	tid = atomic_load(&vcpu->tid);
	for (unsigned int e = 0; e < KVM_TRACE_NR_EVENTS; e++) {
		char reason[KVM_TRACE_REASON_MAX], what[64];
		int fd;

		if (!t->have_id[e])
			continue;
		fd = t->host->open_counter(t->id[e], tid);
		if (fd < 0) {
			kvm_trace_open_reason(reason, sizeof(reason), kvm_trace_event_names[e], -fd,
					      kvm_trace_paranoid(t->host));
			snprintf(what, sizeof(what), "kvm:%s", kvm_trace_event_names[e]);
			kvm_trace_fail(&t->event_failure[e], what, reason);
			continue;
		}
		slot->fd[e] = fd;
	}
	kvm_trace_attach_windows(t, slot, tid);
	atomic_store_explicit(&slot->attached, true, memory_order_release);
}

/* ---- Reports. ---- */

/* One report's reading of every counter. */
struct kvm_trace_snapshot {
	bool attached[VM_MAX_CPUS];
	uint64_t count[VM_MAX_CPUS][KVM_TRACE_NR_EVENTS];
	bool event_ok[KVM_TRACE_NR_EVENTS]; /* counted on every attached vCPU */
	uint64_t accesses[KVM_TRACE_MAX_WINDOWS];
	uint64_t window[KVM_TRACE_MAX_WINDOWS][WINDOW_NR_COUNTERS];
	bool window_ok[KVM_TRACE_MAX_WINDOWS];
	char window_reason[KVM_TRACE_MAX_WINDOWS][KVM_TRACE_REASON_MAX];
};

static void kvm_trace_take_snapshot(const struct kvm_trace *t, struct kvm_trace_snapshot *s)
{
	const struct kvm_trace_host *host = t->host;

	/* User-space accesses first: each was traced before it was counted. */
	for (unsigned int w = 0; w < t->nr_windows; w++) {
		s->accesses[w] = atomic_load(&t->windows[w].range->accesses);
		s->window_ok[w] = !kvm_trace_failed(&t->windows[w].failure);
		if (!s->window_ok[w])
			snprintf(s->window_reason[w], sizeof(s->window_reason[w]), "%s",
				 t->windows[w].failure.reason);
	}
	for (unsigned int e = 0; e < KVM_TRACE_NR_EVENTS; e++)
		s->event_ok[e] = t->have_id[e] && !kvm_trace_failed(&t->event_failure[e]);
	for (unsigned int v = 0; v < VM_MAX_CPUS; v++) {
		const struct kvm_trace_vcpu *slot = &t->vcpus[v];

		s->attached[v] = atomic_load_explicit(&slot->attached, memory_order_acquire);
		if (!s->attached[v])
			continue;
		for (unsigned int e = 0; e < KVM_TRACE_NR_EVENTS; e++) {
			if (!s->event_ok[e])
				continue;
			if (slot->fd[e] < 0 || host->read_counter(slot->fd[e], &s->count[v][e]) < 0)
				s->event_ok[e] = false;
		}
		for (unsigned int w = 0; w < t->nr_windows; w++) {
			for (unsigned int c = 0; c < WINDOW_NR_COUNTERS && s->window_ok[w]; c++) {
				uint64_t n;
				int fd = slot->window_fd[w][c];

				if (fd < 0 || host->read_counter(fd, &n) < 0) {
					s->window_ok[w] = false;
					snprintf(s->window_reason[w], sizeof(s->window_reason[w]),
						 "a counter of vCPU %u could not be read", v);
					break;
				}
				s->window[w][c] += n;
			}
		}
	}
}

static void kvm_trace_add_u64(struct json_object *o, const char *key, uint64_t value)
{
	json_object_object_add(o, key, json_object_new_uint64(value));
}

/* Under the range's name; a second range of the same name gets "@base" added. */
static void kvm_trace_add_window(struct json_object *by_window, const struct bus_range *range,
				 struct json_object *win)
{
	const char *name = range->name ? range->name : "mmio";
	char key[128];

	snprintf(key, sizeof(key), "%s", name);
	if (json_object_object_get_ex(by_window, key, NULL))
		snprintf(key, sizeof(key), "%s@0x%llx", name, (unsigned long long)range->base);
	json_object_object_add(by_window, key, win);
}

static void kvm_trace_report_windows(const struct kvm_trace *t, const struct kvm_trace_snapshot *s,
				     struct json_object *o)
{
	struct json_object *by_window;

	if (t->windows_reason[0]) {
		json_object_object_add(o, "by_window_reason",
				       json_object_new_string(t->windows_reason));
		return;
	}
	by_window = json_object_new_object();
	for (unsigned int w = 0; w < t->nr_windows; w++) {
		struct json_object *win = json_object_new_object();
		uint64_t writes = s->window[w][WINDOW_WRITES];
		uint64_t user_reads = s->window[w][WINDOW_USER_READS];
		uint64_t user_writes, in_kernel;

		kvm_trace_add_u64(win, "base", t->windows[w].range->base);
		kvm_trace_add_u64(win, "size", t->windows[w].range->len);
		if (!s->window_ok[w]) {
			json_object_object_add(win, "mmio_writes_total", NULL);
			json_object_object_add(win, "userspace_writes", NULL);
			json_object_object_add(win, "in_kernel", NULL);
			json_object_object_add(win, "reason",
					       json_object_new_string(s->window_reason[w]));
		} else {
			/* The clamps matter only in a snapshot racing a vCPU. */
			user_writes = s->accesses[w] > user_reads ? s->accesses[w] - user_reads : 0;
			in_kernel = writes > user_writes ? writes - user_writes : 0;
			kvm_trace_add_u64(win, "mmio_writes_total", writes);
			kvm_trace_add_u64(win, "userspace_writes", user_writes);
			kvm_trace_add_u64(win, "in_kernel", in_kernel);
		}
		kvm_trace_add_window(by_window, t->windows[w].range, win);
	}
	json_object_object_add(o, "by_window", by_window);
}

static void kvm_trace_report_counts(const struct kvm_trace_snapshot *s, struct json_object *o)
{
	struct json_object *events = json_object_new_object(), *missing = json_object_new_array();
	struct json_object *per_vcpu = json_object_new_array();
	uint64_t total[KVM_TRACE_NR_EVENTS] = {0};
	unsigned int counted = 0;

	for (unsigned int v = 0; v < VM_MAX_CPUS; v++) {
		struct json_object *vc;

		if (!s->attached[v])
			continue;
		counted++;
		vc = json_object_new_object();
		json_object_object_add(vc, "vcpu", json_object_new_int((int)v));
		for (unsigned int e = 0; e < KVM_TRACE_NR_EVENTS; e++) {
			if (!s->event_ok[e])
				continue;
			kvm_trace_add_u64(vc, kvm_trace_event_names[e], s->count[v][e]);
			total[e] += s->count[v][e];
		}
		json_object_array_add(per_vcpu, vc);
	}
	for (unsigned int e = 0; e < KVM_TRACE_NR_EVENTS; e++) {
		if (s->event_ok[e])
			kvm_trace_add_u64(events, kvm_trace_event_names[e], total[e]);
		else
			json_object_array_add(missing,
					      json_object_new_string(kvm_trace_event_names[e]));
	}
	json_object_object_add(o, "vcpus_counted", json_object_new_int((int)counted));
	json_object_object_add(o, "events", events);
	json_object_object_add(o, "missing", missing);
	/* kvm_pvm never fires kvm_exit: 0 beside user-space returns is not a count. */
	if (s->event_ok[KVM_TRACE_EXIT] && s->event_ok[KVM_TRACE_USERSPACE_EXIT])
		json_object_object_add(
		    o, "kvm_exit_usable",
		    json_object_new_boolean(total[KVM_TRACE_EXIT] > 0 ||
					    total[KVM_TRACE_USERSPACE_EXIT] == 0));
	else
		json_object_object_add(o, "kvm_exit_usable", NULL);
	json_object_object_add(o, "per_vcpu", per_vcpu);
}

void kvm_trace_report(const struct vm *vm, struct json_object *kernel_exits)
{
	const struct kvm_trace *t = vm->trace;
	struct kvm_trace_snapshot *s;

	if (!t || !t->available) {
		json_object_object_add(kernel_exits, "source", NULL);
		json_object_object_add(kernel_exits, "available", json_object_new_boolean(0));
		json_object_object_add(
		    kernel_exits, "reason",
		    json_object_new_string(t ? t->reason : "in-kernel exits were not set up"));
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		json_object_object_add(kernel_exits, "source", NULL);
		json_object_object_add(kernel_exits, "available", json_object_new_boolean(0));
		json_object_object_add(kernel_exits, "reason",
				       json_object_new_string("out of memory"));
		return;
	}
	kvm_trace_take_snapshot(t, s);
	json_object_object_add(kernel_exits, "source",
			       json_object_new_string("perf_event tracepoints"));
	json_object_object_add(kernel_exits, "available", json_object_new_boolean(1));
	json_object_object_add(kernel_exits, "tracefs", json_object_new_string(t->tracefs));
	kvm_trace_report_counts(s, kernel_exits);
	kvm_trace_report_windows(t, s, kernel_exits);
	free(s);
}

void kvm_trace_destroy(struct vm *vm)
{
	struct kvm_trace *t = vm->trace;

	if (!t)
		return;
	for (unsigned int v = 0; v < VM_MAX_CPUS; v++) {
		struct kvm_trace_vcpu *slot = &t->vcpus[v];

		for (unsigned int e = 0; e < KVM_TRACE_NR_EVENTS; e++)
			if (slot->fd[e] >= 0)
				t->host->close_counter(slot->fd[e]);
		for (unsigned int w = 0; w < KVM_TRACE_MAX_WINDOWS; w++)
			for (unsigned int c = 0; c < WINDOW_NR_COUNTERS; c++)
				if (slot->window_fd[w][c] >= 0)
					t->host->close_counter(slot->window_fd[w][c]);
	}
	free(t);
	vm->trace = NULL;
}
