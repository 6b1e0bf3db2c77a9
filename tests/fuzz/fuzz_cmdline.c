/*
 * The command-line parser (vmm/config.c config_parse) on hostile argv.
 *
 * Input: the arguments after argv[0], separated by NUL bytes (at most 64).
 *
 * Invariants:
 * - argv (the pointers and the strings) is never modified;
 * - CONFIG_ERROR comes with a message: one line, NUL-terminated, not
 *   empty (minivmm prints it and exits with EXIT_STATUS_USAGE);
 * - CONFIG_EXIT_SUCCESS (--help, --version) leaves no message;
 * - CONFIG_OK yields a config within the documented ranges: a kernel path;
 *   --mem 16 MiB to 1 TiB; --cpus 1 to 64; at most 8 disks with a path of
 *   1 to 4095 bytes and known cache and engine; at most 4 NICs with a tap
 *   name of 1 to 15 bytes, a known model and, if given, a unicast, non-zero
 *   MAC; --cmdline at most 2048 bytes; a known console (file: with a
 *   path), CPU profile; --cpu-affinity sets that are not empty, hold only
 *   CPUs this process may run on, and name no vCPU beyond --cpus; every
 *   string points into argv or the config's own buffers.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "vm_config.h"
#include "vmm/config.h"

#define MAX_ARGS 64

static struct vm_config cfg; /* large, and it points into argv */

/* Does s point into one of the argc strings of argv (or be NULL)? */
static bool cmdline_fuzz_in_argv(const char *s, char **argv, int argc)
{
	if (!s)
		return true;
	for (int i = 0; i < argc; i++)
		if (s >= argv[i] && s <= argv[i] + strlen(argv[i]))
			return true;
	return false;
}

static void cmdline_fuzz_check_placement(const struct cpu_placement *p, const cpu_set_t *allowed,
					 const char *what)
{
	cpu_set_t outside;

	if (!p->set)
		return;
	CPU_AND(&outside, &p->cpus, allowed);
	FUZZ_CHECK(CPU_COUNT(&p->cpus) > 0, "%s: empty CPU set accepted", what);
	FUZZ_CHECK(CPU_EQUAL(&outside, &p->cpus), "%s: a CPU this process may not use accepted",
		   what);
}

static void cmdline_fuzz_check_config(char **argv, int argc)
{
	cpu_set_t allowed;

	FUZZ_CHECK(cfg.kernel && cfg.kernel[0] && cmdline_fuzz_in_argv(cfg.kernel, argv, argc),
		   "no kernel, or not from argv");
	FUZZ_CHECK(cmdline_fuzz_in_argv(cfg.initrd, argv, argc) && (!cfg.initrd || cfg.initrd[0]),
		   "initrd");
	FUZZ_CHECK(cmdline_fuzz_in_argv(cfg.cmdline, argv, argc) &&
		       (!cfg.cmdline || strlen(cfg.cmdline) <= CONFIG_USER_CMDLINE_MAX),
		   "cmdline of %zu bytes", cfg.cmdline ? strlen(cfg.cmdline) : 0);
	FUZZ_CHECK(cfg.mem_size >= CONFIG_MIN_MEM && cfg.mem_size <= CONFIG_MAX_MEM,
		   "--mem %llu accepted", (unsigned long long)cfg.mem_size);
	FUZZ_CHECK(cfg.cpus >= 1 && cfg.cpus <= CONFIG_MAX_CPUS, "--cpus %u accepted", cfg.cpus);
	FUZZ_CHECK(cfg.nr_disks <= CONFIG_MAX_DISKS, "%u disks", cfg.nr_disks);
	for (unsigned int i = 0; i < cfg.nr_disks; i++) {
		const struct disk_config *d = &cfg.disks[i];

		/* A vhost-user disk's path is the socket after "vhost-user=" in the same buffer. */
		const char *want =
		    cfg.disk_path_buf[i] + (d->vhost_user ? strlen("vhost-user=") : 0);

		FUZZ_CHECK(d->path == want && memchr(d->path, '\0', CONFIG_PATH_MAX + 1) &&
			       d->path[0],
			   "disk %u path", i);
		FUZZ_CHECK(!d->vhost_user || strlen(d->path) <= CONFIG_SOCKET_PATH_MAX,
			   "disk %u: vhost-user socket of %zu bytes", i, strlen(d->path));
		FUZZ_CHECK(d->cache == DISK_CACHE_WRITEBACK || d->cache == DISK_CACHE_NONE,
			   "disk %u cache %d", i, d->cache);
		FUZZ_CHECK(d->engine == DISK_ENGINE_IO_URING || d->engine == DISK_ENGINE_SYNC,
			   "disk %u engine %d", i, d->engine);
		FUZZ_CHECK(d->queues >= 1 && d->queues <= CONFIG_MAX_QUEUES &&
			       (!d->vhost_user || d->queues == 1),
			   "disk %u: queues=%u accepted", i, d->queues);
	}
	FUZZ_CHECK(cfg.nr_nets <= CONFIG_MAX_NETS, "%u NICs", cfg.nr_nets);
	for (unsigned int i = 0; i < cfg.nr_nets; i++) {
		const struct net_config *n = &cfg.nets[i];
		static const uint8_t zero[6];

		if (n->vhost_user)
			FUZZ_CHECK(!n->tap && n->vhost_user == cfg.net_socket_buf[i] &&
				       strlen(n->vhost_user) <= CONFIG_SOCKET_PATH_MAX &&
				       n->vhost_user[0] && n->model == NET_MODEL_VIRTIO,
				   "NIC %u vhost-user socket", i);
		else
			FUZZ_CHECK(n->tap == cfg.net_tap_buf[i] &&
				       memchr(n->tap, '\0', CONFIG_TAP_NAME_MAX + 1) && n->tap[0],
				   "NIC %u tap name", i);
		FUZZ_CHECK(n->model == NET_MODEL_VIRTIO || n->model == NET_MODEL_E1000,
			   "NIC %u model %d", i, n->model);
		FUZZ_CHECK(!n->mac_set || (!(n->mac[0] & 1) && memcmp(n->mac, zero, 6)),
			   "NIC %u: multicast or zero MAC accepted", i);
		FUZZ_CHECK(n->queues >= 1 && n->queues <= CONFIG_MAX_QUEUES &&
			       (n->queues == 1 || (n->tap && n->model == NET_MODEL_VIRTIO)),
			   "NIC %u: queues=%u accepted", i, n->queues);
	}
	for (unsigned int i = 0; i < cfg.nr_disks + cfg.nr_nets; i++) {
		bool vhost_user = i < cfg.nr_disks ? cfg.disks[i].vhost_user
						   : cfg.nets[i - cfg.nr_disks].vhost_user != NULL;

		FUZZ_CHECK(!vhost_user || cfg.mem_backend == MEM_BACKEND_MEMFD ||
			       cfg.mem_backend == MEM_BACKEND_HUGETLB,
			   "a vhost-user device with guest RAM a back-end cannot map (%d)",
			   cfg.mem_backend);
	}
	FUZZ_CHECK(cfg.console == CONSOLE_STDIO || cfg.console == CONSOLE_NONE ||
		       cfg.console == CONSOLE_FILE,
		   "console %d", cfg.console);
	FUZZ_CHECK(cfg.console != CONSOLE_FILE || (cfg.console_path && cfg.console_path[0]),
		   "console file without a path");
	FUZZ_CHECK(cmdline_fuzz_in_argv(cfg.console_path, argv, argc) &&
		       cmdline_fuzz_in_argv(cfg.stats_path, argv, argc),
		   "console or stats path not from argv");
	FUZZ_CHECK(!cfg.stats_path || cfg.stats, "stats path without --stats");
	FUZZ_CHECK(cfg.cpu_profile == CPU_PROFILE_AUTO || cfg.cpu_profile == CPU_PROFILE_HOST ||
		       cfg.cpu_profile == CPU_PROFILE_COMPAT,
		   "cpu profile %d", cfg.cpu_profile);
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		abort();
	cmdline_fuzz_check_placement(&cfg.cpu_affinity.vcpus, &allowed, "vcpus");
	cmdline_fuzz_check_placement(&cfg.cpu_affinity.io, &allowed, "io");
	for (unsigned int id = 0; id < CONFIG_MAX_CPUS; id++) {
		cmdline_fuzz_check_placement(&cfg.cpu_affinity.vcpu[id], &allowed, "vcpuN");
		FUZZ_CHECK(id < cfg.cpus || !cfg.cpu_affinity.vcpu[id].set,
			   "vcpu%u placed with --cpus %u", id, cfg.cpus);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	char *text = malloc(size + 1), *copy = malloc(size + 1);
	char *argv[MAX_ARGS + 2], *saved[MAX_ARGS + 2], err[512];
	int argc = 0;
	enum config_result r;

	if (!devnull)
		devnull = fopen("/dev/null", "w");
	if (!text || !copy || !devnull)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	argv[argc++] = "minivmm";
	for (size_t at = 0; at <= size && argc < MAX_ARGS + 1;) {
		size_t n = strlen(text + at);

		if (at == size && n == 0 && argc > 1)
			break; /* the terminator after a final NUL is not an argument */
		argv[argc++] = text + at;
		at += n + 1;
	}
	argv[argc] = NULL;
	memcpy(saved, argv, sizeof(argv));
	memcpy(copy, text, size + 1);
	memset(err, 'X', sizeof(err));

	r = config_parse(&cfg, argc, argv, err, sizeof(err), devnull);

	FUZZ_CHECK(!memcmp(saved, argv, (size_t)(argc + 1) * sizeof(argv[0])), "argv reordered");
	FUZZ_CHECK(!memcmp(copy, text, size + 1), "argument strings modified");
	switch (r) {
	case CONFIG_ERROR:
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) && err[0] && !strchr(err, '\n'),
			   "error message empty, unterminated or not one line: %.80s", err);
		break;
	case CONFIG_EXIT_SUCCESS:
		FUZZ_CHECK(err[0] == '\0', "--help/--version left a message: %.80s", err);
		break;
	case CONFIG_OK:
		FUZZ_CHECK(err[0] == '\0', "accepted with a message: %.80s", err);
		cmdline_fuzz_check_config(argv, argc);
		break;
	default:
		FUZZ_CHECK(false, "config_parse returned %d", r);
	}
	free(text);
	free(copy);
	return 0;
}
