#include "stats.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libgen.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cpu_list.h"
#include "host_info.h"
#include "kvm_trace.h"
#include "log.h"
#include "text_file.h"
#include "threads.h"
#include "util.h"
#include "vm.h"

static struct {
	struct json_object *loadavg; /* at stats_begin() */
	struct timespec started;
} stats_start;

void stats_begin(void)
{
	json_object_put(stats_start.loadavg);
	stats_start.loadavg = host_loadavg();
	clock_gettime(CLOCK_MONOTONIC, &stats_start.started);
}

/*
 * Resident memory of the whole process and of guest RAM, in KiB, from ONE
 * walk of /proc/self/smaps, so that their difference, the VMM's own
 * footprint, is never negative.  (VmRSS in /proc/self/status lags by up to
 * 64 pages per thread on kernels that batch RSS counters per thread, and
 * mincore() on guest RAM counts pages at another moment: their difference
 * was seen at -188 KiB.)  Mappings inside guest RAM count as guest.
 * Returns 0, or -1 (outputs untouched) if smaps cannot be read.
 */
int stats_resident_kib(const struct vm *vm, long *total_kib, long *guest_kib)
{
	uintptr_t guest_start = (uintptr_t)vm->mem.mapping;
	uintptr_t guest_end = guest_start + (vm->mem.mapping ? vm->mem.mapping_size : 0);
	bool in_guest = false;
	char line[512];
	long kib, total = 0, guest = 0;
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long start, end;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in_guest = start >= guest_start && end <= guest_end && start < end;
		else if (sscanf(line, "Rss: %ld kB", &kib) == 1) {
			total += kib;
			if (in_guest)
				guest += kib;
		}
	}
	fclose(f);
	*total_kib = total;
	*guest_kib = guest;
	return 0;
}

/* ---- small JSON helpers ---- */

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void add_str(struct json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, s ? json_object_new_string(s) : NULL);
}

/* A CPU set as a list: "0-1,3". */
static struct json_object *cpu_list(const cpu_set_t *set)
{
	char *buf = malloc(CPU_LIST_MAX);
	struct json_object *o;

	if (!buf)
		return NULL;
	cpu_list_format(set, buf, CPU_LIST_MAX);
	o = json_object_new_string(buf);
	free(buf);
	return o;
}

/* ---- sections ---- */

static const char *stop_reason_name(int reason)
{
	static const char *const names[] = {
	    [VM_RUNNING] = "running",	   [VM_STOP_POWEROFF] = "poweroff",
	    [VM_STOP_RESET] = "reset",	   [VM_STOP_TRIPLE_FAULT] = "triple_fault",
	    [VM_STOP_CONSOLE] = "console", [VM_STOP_SIGNAL] = "signal",
	    [VM_STOP_ERROR] = "error",	   [VM_STOP_API] = "api",
	};

	return reason >= 0 && reason < (int)ARRAY_SIZE(names) ? names[reason] : "unknown";
}

static struct json_object *stats_guest(const struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct json_object *g = json_object_new_object();
	struct json_object *disks = json_object_new_array(), *nets = json_object_new_array();

	if (!cfg)
		return g;
	add_str(g, "kernel", cfg->kernel);
	add_str(g, "initrd", cfg->initrd);
	add_str(g, "cmdline", vm->cmdline);
	add_u64(g, "mem_bytes", cfg->mem_size);
	add_u64(g, "vcpus", cfg->cpus);
	add_str(g, "cpu_profile", vm->cpu_compat ? "compat" : "host");
	json_object_object_add(g, "hugepages", json_object_new_boolean(cfg->hugepages));
	add_str(g, "memory_backend", guest_mem_backing_name(vm->mem.backing));
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		const struct disk_config *d = &cfg->disks[i];
		struct json_object *o = json_object_new_object();

		if (d->vhost_user) {
			add_str(o, "vhost_user", d->path);
			json_object_array_add(disks, o);
			continue;
		}
		add_str(o, "path", d->path);
		add_str(o, "cache", d->cache == DISK_CACHE_NONE ? "none" : "writeback");
		add_str(o, "engine", d->engine == DISK_ENGINE_SYNC ? "sync" : "io_uring");
		json_object_object_add(o, "read_only", json_object_new_boolean(d->read_only));
		json_object_array_add(disks, o);
	}
	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		struct json_object *o = json_object_new_object();

		if (cfg->nets[i].vhost_user)
			add_str(o, "vhost_user", cfg->nets[i].vhost_user);
		else
			add_str(o, "tap", cfg->nets[i].tap);
		add_str(o, "model", cfg->nets[i].model == NET_MODEL_E1000 ? "e1000" : "virtio");
		json_object_array_add(nets, o);
	}
	json_object_object_add(g, "disks", disks);
	json_object_object_add(g, "nets", nets);
	return g;
}

/* What --cpu-affinity asked for; threads[].cpus_allowed shows what each thread got. */
static struct json_object *stats_placement(const struct vm_config *cfg)
{
	const struct cpu_affinity_config *a = &cfg->cpu_affinity;
	struct json_object *p = json_object_new_object(), *vcpu = json_object_new_object();

	json_object_object_add(p, "vcpus", a->vcpus.set ? cpu_list(&a->vcpus.cpus) : NULL);
	json_object_object_add(p, "io", a->io.set ? cpu_list(&a->io.cpus) : NULL);
	for (unsigned int i = 0; i < CONFIG_MAX_CPUS; i++) {
		char key[16];

		if (!a->vcpu[i].set)
			continue;
		snprintf(key, sizeof(key), "%u", i);
		json_object_object_add(vcpu, key, cpu_list(&a->vcpu[i].cpus));
	}
	json_object_object_add(p, "vcpu", vcpu);
	return p;
}

static struct json_object *stats_run(const struct vm *vm)
{
	struct json_object *run = json_object_new_object();
	struct json_object *host = host_info();
	struct json_object *kvm = json_object_new_object();

	add_str(run, "minivmm_version", MINIVMM_VERSION);
	json_object_object_add(host, "loadavg_start", json_object_get(stats_start.loadavg));
	json_object_object_add(host, "loadavg_now", host_loadavg());
	json_object_object_add(run, "host", host);
	json_object_object_add(kvm, "guest_kernel_emulated",
			       json_object_new_boolean(vm->host_emulates_kernel));
	json_object_object_add(kvm, "ioeventfd", json_object_new_boolean(vm->has_ioeventfd));
	json_object_object_add(kvm, "irqfd", json_object_new_boolean(vm->has_irqfd));
	json_object_object_add(run, "kvm", kvm);
	json_object_object_add(run, "guest", stats_guest(vm));
	if (vm->cfg)
		json_object_object_add(run, "placement", stats_placement(vm->cfg));
	return run;
}

static struct json_object *exit_counts(unsigned long total, unsigned long io, unsigned long mmio,
				       unsigned long other)
{
	struct json_object *o = json_object_new_object();

	add_u64(o, "total", total);
	add_u64(o, "io", io);
	add_u64(o, "mmio", mmio);
	add_u64(o, "other", other);
	return o;
}

/* Per vCPU and summed: the exits that came back to minivmm (KVM_RUN returns). */
static void stats_vcpus(struct vm *vm, struct json_object *doc)
{
	struct json_object *vcpus = json_object_new_array();
	unsigned long total = 0, io = 0, mmio = 0, other = 0;

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		struct json_object *o = json_object_new_object();
		unsigned long t = atomic_load(&v->exits_total), pio = atomic_load(&v->exits_io),
			      m = atomic_load(&v->exits_mmio), x = atomic_load(&v->exits_other);

		add_u64(o, "id", i);
		add_u64(o, "tid", (uint64_t)atomic_load(&v->tid));
		json_object_object_add(o, "exits", exit_counts(t, pio, m, x));
		json_object_array_add(vcpus, o);
		total += t, io += pio, mmio += m, other += x;
	}
	json_object_object_add(doc, "vcpus", vcpus);
	json_object_object_add(doc, "exits", exit_counts(total, io, mmio, other));
}

static struct json_object *stats_bus(const struct bus *bus)
{
	struct json_object *o = json_object_new_object(), *ranges = json_object_new_array();

	for (unsigned int i = 0; i < bus->nr_ranges; i++) {
		const struct bus_range *r = &bus->ranges[i];
		struct json_object *ro = json_object_new_object();

		add_str(ro, "name", r->name);
		add_u64(ro, "base", r->base);
		add_u64(ro, "size", r->len);
		add_u64(ro, "exits", atomic_load(&((struct bus_range *)r)->accesses));
		json_object_array_add(ranges, ro);
	}
	json_object_object_add(o, "ranges", ranges);
	add_u64(o, "unassigned_exits", atomic_load(&((struct bus *)bus)->unhandled));
	return o;
}

struct json_object *stats_devices(struct vm *vm)
{
	struct json_object *devices = json_object_new_object();

	for (unsigned int i = 0; i < vm->nr_stats; i++) {
		struct json_object *dev;

		if (!json_object_object_get_ex(devices, vm->stats[i].device, &dev)) {
			dev = json_object_new_object();
			json_object_object_add(devices, vm->stats[i].device, dev);
		}
		vm->stats[i].fn(vm->stats[i].opaque, dev);
	}
	return devices;
}

static struct json_object *stats_threads(void)
{
	struct thread_usage *t = calloc(THREADS_MAX, sizeof(*t));
	struct json_object *a = json_object_new_array();
	unsigned int n = t ? threads_snapshot(t, THREADS_MAX) : 0;

	for (unsigned int i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		add_str(o, "name", t[i].name);
		add_str(o, "role", thread_role_name(t[i].role));
		add_u64(o, "tid", (uint64_t)t[i].tid);
		json_object_object_add(o, "ended", json_object_new_boolean(t[i].exited));
		if (t[i].valid) {
			add_u64(o, "cpu_us", t[i].cpu_ns / 1000);
			add_u64(o, "user_us", t[i].user_us);
			add_u64(o, "system_us", t[i].system_us);
			add_u64(o, "voluntary_switches", t[i].voluntary_switches);
			add_u64(o, "involuntary_switches", t[i].involuntary_switches);
			json_object_object_add(o, "cpus_allowed", cpu_list(&t[i].allowed));
			json_object_object_add(o, "last_cpu", json_object_new_int(t[i].last_cpu));
		}
		json_object_array_add(a, o);
	}
	free(t);
	return a;
}

static struct json_object *stats_process(const struct vm *vm)
{
	struct json_object *o = json_object_new_object();
	long rss = -1, guest = -1;
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		add_u64(o, "user_us", (uint64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec);
		add_u64(o, "system_us",
			(uint64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
		add_u64(o, "voluntary_switches", (uint64_t)ru.ru_nvcsw);
		add_u64(o, "involuntary_switches", (uint64_t)ru.ru_nivcsw);
	}
	json_object_object_add(o, "startup_cpu_us",
			       json_object_new_int64(atomic_load(&vm->startup_cpu_us)));
	if (stats_resident_kib(vm, &rss, &guest) == 0) {
		json_object_object_add(o, "rss_kib", json_object_new_int64(rss));
		json_object_object_add(o, "guest_ram_resident_kib", json_object_new_int64(guest));
		json_object_object_add(o, "vmm_rss_kib", json_object_new_int64(rss - guest));
	}
	return o;
}

static struct json_object *stats_report_header(const struct vm *vm, bool final)
{
	struct json_object *o = json_object_new_object();
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	add_str(o, "kind", final ? "final" : "snapshot");
	add_u64(o, "unix_time", (uint64_t)time(NULL));
	json_object_object_add(
	    o, "elapsed_s",
	    json_object_new_double((double)(now.tv_sec - stats_start.started.tv_sec) +
				   (now.tv_nsec - stats_start.started.tv_nsec) / 1e9));
	add_str(o, "stop_reason", stop_reason_name(atomic_load(&vm->stop_reason)));
	return o;
}

struct json_object *stats_build(struct vm *vm, bool final)
{
	struct json_object *doc = json_object_new_object();
	struct json_object *kernel_exits = json_object_new_object();

	add_str(doc, "format", STATS_FORMAT);
	add_u64(doc, "version", STATS_VERSION);
	json_object_object_add(doc, "report", stats_report_header(vm, final));
	json_object_object_add(doc, "run", stats_run(vm));
	stats_vcpus(vm, doc);
	kvm_trace_report(vm, kernel_exits);
	json_object_object_add(doc, "kernel_exits", kernel_exits);
	json_object_object_add(doc, "pio", stats_bus(&vm->pio));
	json_object_object_add(doc, "mmio", stats_bus(&vm->mmio));
	json_object_object_add(doc, "devices", stats_devices(vm));
	json_object_object_add(doc, "threads", stats_threads());
	json_object_object_add(doc, "process", stats_process(vm));
	return doc;
}

/* ---- writing ---- */

/*
 * A path that exists and is neither a regular file nor a directory
 * (/dev/stdout, a pipe) is written in place; anything else is replaced by
 * renaming a temporary file over it.
 */
static bool stats_written_in_place(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
}

int stats_check_path(const char *path, char *err, size_t err_size)
{
	char *copy = strdup(path), *dir = copy ? dirname(copy) : NULL, *tmp = NULL;
	struct stat st;
	int fd, ret = 0;

	if (!dir || asprintf(&tmp, "%s/.minivmm-stats-check.XXXXXX", dir) < 0) {
		snprintf(err, err_size, "--stats %s: out of memory", path);
		free(copy);
		return -1;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, err_size, "--stats %s: is a directory", path);
		ret = -1;
	} else if (stats_written_in_place(path)) {
		/* It must open for writing. */
		fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 && errno != ENXIO) {
			snprintf(err, err_size, "--stats %s: %s", path, strerror(errno));
			ret = -1;
		}
		if (fd >= 0)
			close(fd);
	} else if ((fd = mkstemp(tmp)) < 0) {
		/* The report is renamed into place: the directory must take a new file. */
		snprintf(err, err_size, "--stats %s: cannot create a file in %s: %s", path, dir,
			 strerror(errno));
		ret = -1;
	} else {
		close(fd);
		unlink(tmp);
	}
	free(tmp);
	free(copy);
	return ret;
}

/* The report and its final newline. */
static int stats_write_report(int fd, const char *text)
{
	int ret = text_file_write_all(fd, text);

	return ret ? ret : text_file_write_all(fd, "\n");
}

int stats_write_json(struct json_object *doc, const char *path)
{
	const char *text =
	    json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						    JSON_C_TO_STRING_NOSLASHESCAPE);
	char *tmp = NULL;
	int fd, ret;

	if (stats_written_in_place(path)) {
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		ret = stats_write_report(fd, text);
		close(fd);
		return ret;
	}
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkstemp(tmp);
	if (fd < 0) {
		ret = -errno;
		free(tmp);
		return ret;
	}
	ret = stats_write_report(fd, text);
	/* mkstemp makes the file 0600; a report is as readable as any new file. */
	if (!ret && fchmod(fd, 0644) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret)
		unlink(tmp);
	free(tmp);
	return ret;
}

int stats_report(struct vm *vm, bool final)
{
	struct json_object *doc = stats_build(vm, final);
	const char *path = vm->cfg->stats_path;
	int ret = 0;

	if (path) {
		ret = stats_write_json(doc, path);
		if (ret)
			log_error("--stats %s: cannot write the report: %s", path, strerror(-ret));
		else if (!final)
			log_info("statistics snapshot written to %s", path);
	} else {
		stats_print_table(doc, stderr);
	}
	json_object_put(doc);
	return ret ? -1 : 0;
}
