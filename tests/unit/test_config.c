/* Command-line parsing: every accepted form and every rejected input. */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/config.h"
#include "vm.h"
#include "helpers.h"

#define MAX_ARGS 32

/* Static: the config is large and points into argv, which must outlive it. */
static struct vm_config cfg;
static char *argv_buf[MAX_ARGS + 2];
static char *argv_copy[MAX_ARGS + 2];
static int argc_buf;
static char err[512];

/* argv is {"minivmm", args..., NULL}; args is NULL-terminated. */
static enum config_result parse_argv(const char *const *args, FILE *out)
{
	enum config_result r;
	int i;

	argc_buf = 0;
	argv_buf[argc_buf++] = "minivmm";
	for (i = 0; args[i]; i++) {
		ck_assert_int_lt(argc_buf, MAX_ARGS + 1);
		argv_buf[argc_buf++] = (char *)args[i];
	}
	argv_buf[argc_buf] = NULL;
	memcpy(argv_copy, argv_buf, sizeof(argv_buf));
	memset(err, 'X', sizeof(err));
	r = config_parse(&cfg, argc_buf, argv_buf, err, sizeof(err), out);
	/* Parsing must never reorder or rewrite the caller's argv. */
	ck_assert_mem_eq(argv_copy, argv_buf, sizeof(argv_buf));
	return r;
}

#define PARSE(...) parse_argv((const char *const[]){__VA_ARGS__, NULL}, NULL)

#define EXPECT_OK(...)                                                                             \
	do {                                                                                       \
		enum config_result r_ = PARSE(__VA_ARGS__);                                        \
		ck_assert_msg(r_ == CONFIG_OK, "expected OK, got %d: %s", r_, err);                \
	} while (0)

static void check_one_line_error(enum config_result r, const char *needle)
{
	ck_assert_int_eq(r, CONFIG_ERROR);
	ck_assert_msg(memchr(err, '\0', sizeof(err)) != NULL, "err not terminated");
	ck_assert_msg(err[0] != '\0', "empty error message");
	ck_assert_msg(strchr(err, '\n') == NULL, "error has more than one line: %s", err);
	ck_assert_msg(strstr(err, needle) != NULL, "error '%s' lacks '%s'", err, needle);
}

#define EXPECT_ERROR(needle, ...) check_one_line_error(PARSE(__VA_ARGS__), needle)

/* ---- accepted input ---- */

START_TEST(test_defaults)
{
	EXPECT_OK("--kernel", "vmlinux");
	ck_assert_str_eq(cfg.kernel, "vmlinux");
	ck_assert_ptr_null(cfg.initrd);
	ck_assert_ptr_null(cfg.cmdline);
	ck_assert_uint_eq(cfg.mem_size, CONFIG_DEFAULT_MEM);
	ck_assert_uint_eq(cfg.mem_size, 256ULL << 20);
	ck_assert_uint_eq(cfg.cpus, 1);
	ck_assert_uint_eq(cfg.nr_disks, 0);
	ck_assert_uint_eq(cfg.nr_nets, 0);
	ck_assert_int_eq(cfg.console, CONSOLE_STDIO);
	ck_assert_ptr_null(cfg.console_path);
	ck_assert(!cfg.stats);
	ck_assert_ptr_null(cfg.stats_path);
	ck_assert(!cfg.hugepages);
	ck_assert_int_eq(cfg.cpu_profile, CPU_PROFILE_AUTO);
	ck_assert(!cfg.verbose);
	ck_assert_str_eq(err, "");
}
END_TEST

START_TEST(test_all_options)
{
	EXPECT_OK("--kernel=bzImage", "--initrd", "initrd.cpio", "--cmdline", "quiet", "--mem",
		  "1G", "--cpus", "4", "--disk", "a.img", "--net", "tap0", "--console=none",
		  "--stats", "--hugepages", "--cpu-profile", "compat", "-v");
	ck_assert_str_eq(cfg.kernel, "bzImage");
	ck_assert_str_eq(cfg.initrd, "initrd.cpio");
	ck_assert_str_eq(cfg.cmdline, "quiet");
	ck_assert_uint_eq(cfg.mem_size, 1ULL << 30);
	ck_assert_uint_eq(cfg.cpus, 4);
	ck_assert_uint_eq(cfg.nr_disks, 1);
	ck_assert_uint_eq(cfg.nr_nets, 1);
	ck_assert_int_eq(cfg.console, CONSOLE_NONE);
	ck_assert(cfg.stats);
	ck_assert_ptr_null(cfg.stats_path);
	ck_assert(cfg.hugepages);
	ck_assert_int_eq(cfg.cpu_profile, CPU_PROFILE_COMPAT);
	ck_assert(cfg.verbose);
}
END_TEST

START_TEST(test_long_verbose_and_abbreviation)
{
	/* getopt_long accepts unambiguous prefixes. */
	EXPECT_OK("--kern", "k", "--verbose", "--huge");
	ck_assert_str_eq(cfg.kernel, "k");
	ck_assert(cfg.verbose);
	ck_assert(cfg.hugepages);
}
END_TEST

START_TEST(test_option_order_free)
{
	EXPECT_OK("--cpus", "2", "-v", "--kernel", "k");
	ck_assert_str_eq(cfg.kernel, "k");
	ck_assert_uint_eq(cfg.cpus, 2);
}
END_TEST

START_TEST(test_last_one_wins)
{
	EXPECT_OK("--kernel", "a", "--mem", "64M", "--kernel", "b", "--mem", "128M", "--console",
		  "file:log", "--console", "stdio");
	ck_assert_str_eq(cfg.kernel, "b");
	ck_assert_uint_eq(cfg.mem_size, 128ULL << 20);
	ck_assert_int_eq(cfg.console, CONSOLE_STDIO);
	ck_assert_ptr_null(cfg.console_path);
}
END_TEST

static const struct {
	const char *arg;
	uint64_t bytes;
} good_mem[] = {
    {"16M", 16ULL << 20},      {"16777216", 16ULL << 20}, {"64MiB", 64ULL << 20},
    {"64MB", 64ULL << 20},     {"64m", 64ULL << 20},	  {"65536k", 64ULL << 20},
    {"65536KiB", 64ULL << 20}, {"2G", 2ULL << 30},	  {"3g", 3ULL << 30},
    {"1T", 1ULL << 40},	       {"1024G", 1ULL << 40},	  {"1TiB", 1ULL << 40},
    {"0100M", 100ULL << 20},   {"4096MB", 4ULL << 30},
};

START_TEST(test_mem_good)
{
	EXPECT_OK("--kernel", "k", "--mem", good_mem[_i].arg);
	ck_assert_uint_eq(cfg.mem_size, good_mem[_i].bytes);
}
END_TEST

START_TEST(test_cpus_good)
{
	EXPECT_OK("--kernel", "k", "--cpus", "1");
	ck_assert_uint_eq(cfg.cpus, 1);
	EXPECT_OK("--kernel", "k", "--cpus", "64");
	ck_assert_uint_eq(cfg.cpus, VM_MAX_CPUS);
	EXPECT_OK("--kernel", "k", "--cpus=08");
	ck_assert_uint_eq(cfg.cpus, 8);
}
END_TEST

START_TEST(test_disk_defaults)
{
	EXPECT_OK("--kernel", "k", "--disk", "/var/disk.img");
	ck_assert_uint_eq(cfg.nr_disks, 1);
	ck_assert_str_eq(cfg.disks[0].path, "/var/disk.img");
	ck_assert(!cfg.disks[0].read_only);
	ck_assert_int_eq(cfg.disks[0].cache, DISK_CACHE_WRITEBACK);
	ck_assert_int_eq(cfg.disks[0].engine, DISK_ENGINE_IO_URING);
	ck_assert_uint_eq(cfg.disks[0].queues, 1);
}
END_TEST

/* queues=N: 1 to CONFIG_MAX_QUEUES, on disks and virtio NICs; the last one wins. */
START_TEST(test_queues)
{
	ck_assert_uint_eq(CONFIG_MAX_QUEUES, 8);
	EXPECT_OK("--kernel", "k", "--disk", "a.img,queues=4", "--disk",
		  "b.img,queues=8,ro,cache=none", "--disk", "c.img,queues=1", "--disk",
		  "d.img,queues=3,queues=02", "--disk", "vhost-user=s,queues=1", "--net",
		  "tap0,queues=1", "--net", "tap1,model=virtio,queues=1,mac=52:54:00:12:34:56",
		  "--net", "tap2,queues=1,model=e1000", "--net", "vhost-user=t,queues=1");
	ck_assert_uint_eq(cfg.disks[0].queues, 4);
	ck_assert_uint_eq(cfg.disks[1].queues, 8);
	ck_assert(cfg.disks[1].read_only);
	ck_assert_int_eq(cfg.disks[1].cache, DISK_CACHE_NONE);
	ck_assert_uint_eq(cfg.disks[2].queues, 1);
	ck_assert_uint_eq(cfg.disks[3].queues, 2);
	ck_assert(cfg.disks[4].vhost_user);
	ck_assert_uint_eq(cfg.disks[4].queues, 1);
	ck_assert_uint_eq(cfg.nets[0].queues, 1);
	ck_assert_uint_eq(cfg.nets[1].queues, 1);
	ck_assert(cfg.nets[1].mac_set);
	ck_assert_uint_eq(cfg.nets[2].queues, 1);
	ck_assert_int_eq(cfg.nets[2].model, NET_MODEL_E1000);
	ck_assert_uint_eq(cfg.nets[3].queues, 1);
	/* Every device starts from the default, whatever the one before had. */
	EXPECT_OK("--kernel", "k", "--disk", "a.img,queues=4", "--disk", "b.img", "--net",
		  "tap0,queues=1", "--net", "tap1", "--net", "vhost-user=s");
	ck_assert_uint_eq(cfg.disks[1].queues, 1);
	ck_assert_uint_eq(cfg.nets[1].queues, 1);
	ck_assert_uint_eq(cfg.nets[2].queues, 1);
	/* Multi-queue virtio-net: 2 to 8 queue pairs on a (multi-queue) tap. */
	EXPECT_OK("--kernel", "k", "--net", "tap0,queues=2", "--net",
		  "tap1,model=virtio,queues=8,mac=52:54:00:12:34:56", "--net",
		  "tap2,queues=3,queues=4");
	ck_assert_uint_eq(cfg.nr_nets, 3);
	ck_assert_uint_eq(cfg.nets[0].queues, 2);
	ck_assert_int_eq(cfg.nets[0].model, NET_MODEL_VIRTIO);
	ck_assert_uint_eq(cfg.nets[1].queues, 8);
	ck_assert_uint_eq(cfg.nets[2].queues, 4);
}
END_TEST

START_TEST(test_disk_suboptions)
{
	EXPECT_OK("--kernel", "k", "--disk", "a.img,ro,cache=none,engine=sync", "--disk",
		  "b.img,engine=io_uring,cache=writeback", "--disk=c.img,cache=none", "--disk",
		  "d.img,engine=sync,engine=io_uring");
	ck_assert_uint_eq(cfg.nr_disks, 4);
	ck_assert_str_eq(cfg.disks[0].path, "a.img");
	ck_assert(cfg.disks[0].read_only);
	ck_assert_int_eq(cfg.disks[0].cache, DISK_CACHE_NONE);
	ck_assert_int_eq(cfg.disks[0].engine, DISK_ENGINE_SYNC);
	ck_assert_str_eq(cfg.disks[1].path, "b.img");
	ck_assert(!cfg.disks[1].read_only);
	ck_assert_int_eq(cfg.disks[1].cache, DISK_CACHE_WRITEBACK);
	ck_assert_int_eq(cfg.disks[1].engine, DISK_ENGINE_IO_URING);
	ck_assert_str_eq(cfg.disks[2].path, "c.img");
	ck_assert_int_eq(cfg.disks[2].cache, DISK_CACHE_NONE);
	ck_assert_int_eq(cfg.disks[2].engine, DISK_ENGINE_IO_URING);
	/* Repeated sub-option: the last one wins. */
	ck_assert_int_eq(cfg.disks[3].engine, DISK_ENGINE_IO_URING);
}
END_TEST

START_TEST(test_disk_max_count)
{
	EXPECT_OK("--kernel", "k", "--disk", "0", "--disk", "1", "--disk", "2", "--disk", "3",
		  "--disk", "4", "--disk", "5", "--disk", "6", "--disk", "7,ro");
	ck_assert_uint_eq(cfg.nr_disks, CONFIG_MAX_DISKS);
	for (int i = 0; i < CONFIG_MAX_DISKS; i++) {
		char name[2] = {(char)('0' + i), '\0'};

		ck_assert_str_eq(cfg.disks[i].path, name);
		ck_assert(cfg.disks[i].read_only == (i == 7));
	}
}
END_TEST

START_TEST(test_disk_path_with_commas)
{
	/* ",," is a literal comma inside the path; a single comma starts the options. */
	EXPECT_OK("--kernel", "k", "--disk", "a,,b.img,ro", "--disk", "x,,,,y", "--disk",
		  "trailing,,");
	ck_assert_uint_eq(cfg.nr_disks, 3);
	ck_assert_str_eq(cfg.disks[0].path, "a,b.img");
	ck_assert(cfg.disks[0].read_only);
	ck_assert_str_eq(cfg.disks[1].path, "x,,y");
	ck_assert(!cfg.disks[1].read_only);
	ck_assert_str_eq(cfg.disks[2].path, "trailing,");
}
END_TEST

START_TEST(test_disk_path_max_length)
{
	static char arg[CONFIG_PATH_MAX + 4];

	memset(arg, 'p', CONFIG_PATH_MAX);
	strcpy(arg + CONFIG_PATH_MAX, ",ro");
	EXPECT_OK("--kernel", "k", "--disk", arg);
	ck_assert_uint_eq(strlen(cfg.disks[0].path), CONFIG_PATH_MAX);
	ck_assert(cfg.disks[0].read_only);
}
END_TEST

START_TEST(test_net_defaults)
{
	EXPECT_OK("--kernel", "k", "--net", "tap0");
	ck_assert_uint_eq(cfg.nr_nets, 1);
	ck_assert_str_eq(cfg.nets[0].tap, "tap0");
	ck_assert_int_eq(cfg.nets[0].model, NET_MODEL_VIRTIO);
	ck_assert(!cfg.nets[0].mac_set);
	ck_assert_uint_eq(cfg.nets[0].queues, 1);
}
END_TEST

START_TEST(test_net_suboptions)
{
	static const uint8_t mac1[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	static const uint8_t mac2[6] = {0x02, 0xab, 0xcd, 0xef, 0xAB, 0xCD};

	EXPECT_OK("--kernel", "k", "--net", "tap0,model=e1000,mac=52:54:00:12:34:56", "--net",
		  "tap1,mac=02:AB:cd:EF:ab:cd", "--net=tap2,model=virtio", "--net",
		  "123456789012345,model=e1000,model=virtio");
	ck_assert_uint_eq(cfg.nr_nets, CONFIG_MAX_NETS);
	ck_assert_str_eq(cfg.nets[0].tap, "tap0");
	ck_assert_int_eq(cfg.nets[0].model, NET_MODEL_E1000);
	ck_assert(cfg.nets[0].mac_set);
	ck_assert_mem_eq(cfg.nets[0].mac, mac1, 6);
	ck_assert_str_eq(cfg.nets[1].tap, "tap1");
	ck_assert_int_eq(cfg.nets[1].model, NET_MODEL_VIRTIO);
	ck_assert(cfg.nets[1].mac_set);
	ck_assert_mem_eq(cfg.nets[1].mac, mac2, 6);
	ck_assert_str_eq(cfg.nets[2].tap, "tap2");
	ck_assert(!cfg.nets[2].mac_set);
	/* 15 characters is the longest name the kernel accepts. */
	ck_assert_str_eq(cfg.nets[3].tap, "123456789012345");
	ck_assert_int_eq(cfg.nets[3].model, NET_MODEL_VIRTIO);
}
END_TEST

/* vhost-user back-ends: the socket, and guest RAM that a back-end can map. */
START_TEST(test_vhost_user_devices)
{
	EXPECT_OK("--kernel", "k", "--disk", "vhost-user=/run/blk.sock", "--net",
		  "vhost-user=/run/net,,x.sock,mac=52:54:00:12:34:56", "--net", "tap0");
	ck_assert_uint_eq(cfg.nr_disks, 1);
	ck_assert(cfg.disks[0].vhost_user);
	ck_assert_str_eq(cfg.disks[0].path, "/run/blk.sock");
	ck_assert_uint_eq(cfg.nr_nets, 2);
	ck_assert_str_eq(cfg.nets[0].vhost_user, "/run/net,x.sock");
	ck_assert_ptr_null(cfg.nets[0].tap);
	ck_assert(cfg.nets[0].mac_set);
	ck_assert_ptr_null(cfg.nets[1].vhost_user);
	ck_assert_str_eq(cfg.nets[1].tap, "tap0");
	/* A vhost-user device makes guest RAM a memfd unless told otherwise. */
	ck_assert_int_eq(cfg.mem_backend, MEM_BACKEND_MEMFD);

	EXPECT_OK("--kernel", "k", "--disk", "a.img");
	ck_assert(!cfg.disks[0].vhost_user);
	ck_assert_int_eq(cfg.mem_backend, MEM_BACKEND_AUTO);
	EXPECT_OK("--kernel", "k", "--memory-backend", "hugetlb", "--mem", "64M", "--net",
		  "vhost-user=s");
	ck_assert_int_eq(cfg.mem_backend, MEM_BACKEND_HUGETLB);
	EXPECT_OK("--kernel", "k", "--memory-backend=memfd");
	ck_assert_int_eq(cfg.mem_backend, MEM_BACKEND_MEMFD);
	EXPECT_OK("--kernel", "k", "--memory-backend=anon");
	ck_assert_int_eq(cfg.mem_backend, MEM_BACKEND_ANON);
}
END_TEST

START_TEST(test_console_values)
{
	EXPECT_OK("--kernel", "k", "--console", "none");
	ck_assert_int_eq(cfg.console, CONSOLE_NONE);
	EXPECT_OK("--kernel", "k", "--console", "stdio");
	ck_assert_int_eq(cfg.console, CONSOLE_STDIO);
	EXPECT_OK("--kernel", "k", "--console", "file:/tmp/serial,1.log");
	ck_assert_int_eq(cfg.console, CONSOLE_FILE);
	ck_assert_str_eq(cfg.console_path, "/tmp/serial,1.log");
	EXPECT_OK("--kernel", "k", "--console=file:file:x");
	ck_assert_str_eq(cfg.console_path, "file:x");
}
END_TEST

START_TEST(test_stats_forms)
{
	EXPECT_OK("--kernel", "k", "--stats");
	ck_assert(cfg.stats);
	ck_assert_ptr_null(cfg.stats_path);
	EXPECT_OK("--kernel", "k", "--stats=/tmp/st,ats.txt");
	ck_assert(cfg.stats);
	ck_assert_str_eq(cfg.stats_path, "/tmp/st,ats.txt");
	/* A later bare --stats goes back to stderr. */
	EXPECT_OK("--kernel", "k", "--stats=x", "--stats");
	ck_assert(cfg.stats);
	ck_assert_ptr_null(cfg.stats_path);
}
END_TEST

START_TEST(test_cpu_profiles)
{
	EXPECT_OK("--kernel", "k", "--cpu-profile", "host");
	ck_assert_int_eq(cfg.cpu_profile, CPU_PROFILE_HOST);
	EXPECT_OK("--kernel", "k", "--cpu-profile=compat");
	ck_assert_int_eq(cfg.cpu_profile, CPU_PROFILE_COMPAT);
	EXPECT_OK("--kernel", "k", "--cpu-profile", "auto");
	ck_assert_int_eq(cfg.cpu_profile, CPU_PROFILE_AUTO);
}
END_TEST

/* seccomp filters are on unless --seccomp=off asks otherwise (debugging). */
START_TEST(test_seccomp_values)
{
	EXPECT_OK("--kernel", "k");
	ck_assert(cfg.seccomp);
	EXPECT_OK("--kernel", "k", "--seccomp=off");
	ck_assert(!cfg.seccomp);
	EXPECT_OK("--kernel", "k", "--seccomp", "on");
	ck_assert(cfg.seccomp);
	EXPECT_OK("--kernel", "k", "--seccomp", "off", "--seccomp=on");
	ck_assert(cfg.seccomp);
	EXPECT_OK("--kernel", "k", "--secc=off");
	ck_assert(!cfg.seccomp);
}
END_TEST

START_TEST(test_cmdline_values)
{
	static char longest[CONFIG_USER_CMDLINE_MAX + 1];

	EXPECT_OK("--kernel", "k", "--cmdline", "console=ttyS0,115200n8 root=/dev/vda rw");
	ck_assert_str_eq(cfg.cmdline, "console=ttyS0,115200n8 root=/dev/vda rw");
	EXPECT_OK("--kernel", "k", "--cmdline=a=b,c");
	ck_assert_str_eq(cfg.cmdline, "a=b,c");
	/* An empty command line is a deliberate choice, distinct from the default. */
	EXPECT_OK("--kernel", "k", "--cmdline", "");
	ck_assert_str_eq(cfg.cmdline, "");
	EXPECT_OK("--kernel", "k", "--cmdline=");
	ck_assert_str_eq(cfg.cmdline, "");
	/* Values that merely start with '-' are values. */
	EXPECT_OK("--kernel", "k", "--cmdline", "-- single");
	ck_assert_str_eq(cfg.cmdline, "-- single");
	memset(longest, 'c', CONFIG_USER_CMDLINE_MAX);
	EXPECT_OK("--kernel", "k", "--cmdline", longest);
	ck_assert_uint_eq(strlen(cfg.cmdline), CONFIG_USER_CMDLINE_MAX);
}
END_TEST

START_TEST(test_double_dash_ends_options)
{
	EXPECT_OK("--kernel", "k", "--");
	ck_assert_str_eq(cfg.kernel, "k");
}
END_TEST

START_TEST(test_repeated_calls_start_afresh)
{
	EXPECT_OK("--kernel", "a", "--disk", "d1", "--net", "t1", "--mem", "1G", "-v", "--stats");
	ck_assert_uint_eq(cfg.nr_disks, 1);
	/* An error in the middle of a short-option cluster leaves getopt state behind. */
	EXPECT_ERROR("unknown option '-x'", "-vxv");
	EXPECT_ERROR("--mem", "--kernel", "a", "--mem", "0");
	EXPECT_OK("--kernel", "b", "--cpus", "3");
	ck_assert_str_eq(cfg.kernel, "b");
	ck_assert_uint_eq(cfg.cpus, 3);
	ck_assert_uint_eq(cfg.nr_disks, 0);
	ck_assert_uint_eq(cfg.nr_nets, 0);
	ck_assert_uint_eq(cfg.mem_size, CONFIG_DEFAULT_MEM);
	ck_assert(!cfg.verbose);
	ck_assert(!cfg.stats);
}
END_TEST

/* The lowest CPU this process may run on, and the lowest it may not (-1: none). */
static void host_cpus(int *usable, int *unusable)
{
	cpu_set_t allowed;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(allowed), &allowed), 0);
	*usable = *unusable = -1;
	for (int c = CPU_SETSIZE - 1; c >= 0; c--)
		*(CPU_ISSET(c, &allowed) ? usable : unusable) = c;
	ck_assert_int_ge(*usable, 0);
}

START_TEST(test_cpu_affinity_default_none)
{
	EXPECT_OK("--kernel", "k");
	ck_assert(!cfg.cpu_affinity.vcpus.set);
	ck_assert(!cfg.cpu_affinity.io.set);
	for (unsigned int i = 0; i < CONFIG_MAX_CPUS; i++)
		ck_assert(!cfg.cpu_affinity.vcpu[i].set);
}
END_TEST

START_TEST(test_cpu_affinity_values)
{
	char spec[64], later[64];
	int cpu, unusable;

	host_cpus(&cpu, &unusable);
	snprintf(spec, sizeof(spec), "vcpus=%d,io=%d,vcpu1=%d", cpu, cpu, cpu);
	EXPECT_OK("--kernel", "k", "--cpus", "2", "--cpu-affinity", spec);
	ck_assert(cfg.cpu_affinity.vcpus.set && CPU_ISSET(cpu, &cfg.cpu_affinity.vcpus.cpus));
	ck_assert_int_eq(CPU_COUNT(&cfg.cpu_affinity.vcpus.cpus), 1);
	ck_assert(cfg.cpu_affinity.io.set && CPU_ISSET(cpu, &cfg.cpu_affinity.io.cpus));
	ck_assert(cfg.cpu_affinity.vcpu[1].set && !cfg.cpu_affinity.vcpu[0].set);

	/* --cpus may come after the vcpuN= it allows. */
	snprintf(spec, sizeof(spec), "vcpu3=%d", cpu);
	EXPECT_OK("--kernel", "k", "--cpu-affinity", spec, "--cpus", "4");
	ck_assert(cfg.cpu_affinity.vcpu[3].set);
	EXPECT_ERROR("vcpu3=: no such vCPU (with --cpus 3 they are vcpu0 to vcpu2)", "--kernel",
		     "k", "--cpu-affinity", spec, "--cpus", "3");

	/* Given twice, the last one wins as a whole. */
	snprintf(spec, sizeof(spec), "vcpus=%d", cpu);
	snprintf(later, sizeof(later), "--cpu-affinity=io=%d", cpu);
	EXPECT_OK("--kernel", "k", "--cpu-affinity", spec, later);
	ck_assert(!cfg.cpu_affinity.vcpus.set);
	ck_assert(cfg.cpu_affinity.io.set);

	/* A later parse starts afresh. */
	EXPECT_OK("--kernel", "k");
	ck_assert(!cfg.cpu_affinity.io.set);
}
END_TEST

START_TEST(test_cpu_affinity_not_allowed)
{
	char spec[64], needle[256];
	int cpu, unusable;

	host_cpus(&cpu, &unusable);
	if (unusable < 0)
		return; /* this process may run on every CPU number there is */
	snprintf(spec, sizeof(spec), "vcpus=%d,io=%d", cpu, unusable);
	snprintf(needle, sizeof(needle),
		 "--cpu-affinity %s: CPU %d (in io=) is not one this process may run on "
		 "(allowed: ",
		 spec, unusable);
	EXPECT_ERROR(needle, "--kernel", "k", "--cpu-affinity", spec);
	/* Checked after all options, whatever comes later. */
	EXPECT_ERROR(needle, "--kernel", "k", "--cpu-affinity", spec, "--cpus", "2");
}
END_TEST

/* ---- help and version ---- */

static char *out_buf;
static size_t out_len;

static enum config_result parse_captured(const char *const *args)
{
	FILE *out = open_memstream(&out_buf, &out_len);
	enum config_result r;

	ck_assert_ptr_nonnull(out);
	r = parse_argv(args, out);
	ck_assert_int_eq(fclose(out), 0);
	return r;
}

#define PARSE_CAPTURED(...) parse_captured((const char *const[]){__VA_ARGS__, NULL})

START_TEST(test_help)
{
	static const char *const options[] = {
	    "--kernel",
	    "--initrd",
	    "--cmdline",
	    "--mem",
	    "--cpus",
	    "--disk",
	    "--net",
	    "--console",
	    "--stats",
	    "--hugepages",
	    "--cpu-profile",
	    "--cpu-affinity",
	    "--verbose",
	    "--help",
	    "--version",
	    "-v",
	    "-h",
	    "-V",
	    "cache=none",
	    "engine=",
	    "model=",
	    "mac=",
	    "ro",
	    "queues=N",
	    "request queues, 1 to 8",
	    "virtio queue pairs, 1 to 8",
	    "the tap must be multi-queue",
	};
	static const char *const forms[][3] = {{"--help"}, {"-h"}, {"--he"}, {"--mem", "1G", "-h"}};
	unsigned int f, i;

	for (f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		const char *args[4] = {forms[f][0], forms[f][1], forms[f][2], NULL};

		/* No --kernel needed to ask for help. */
		ck_assert_int_eq(parse_captured(args), CONFIG_EXIT_SUCCESS);
		ck_assert_ptr_nonnull(strstr(out_buf, "Usage: minivmm"));
		for (i = 0; i < sizeof(options) / sizeof(options[0]); i++)
			ck_assert_msg(strstr(out_buf, options[i]), "help lacks %s", options[i]);
		/* Defaults are stated. */
		ck_assert_ptr_nonnull(strstr(out_buf, "256M"));
		ck_assert_ptr_nonnull(strstr(out_buf, "console=ttyS0"));
		ck_assert_ptr_nonnull(strstr(out_buf, "writeback"));
		ck_assert_ptr_nonnull(strstr(out_buf, "io_uring"));
		ck_assert_ptr_nonnull(strstr(out_buf, "default: stdio"));
		ck_assert_ptr_nonnull(strstr(out_buf, "default: auto"));
		free(out_buf);
	}
}
END_TEST

START_TEST(test_help_lines_fit)
{
	char *line;

	ck_assert_int_eq(PARSE_CAPTURED("--help"), CONFIG_EXIT_SUCCESS);
	for (line = out_buf; *line;) {
		size_t len = strcspn(line, "\n");

		ck_assert_msg(len <= 100, "help line too long: %.*s", (int)len, line);
		line += len + (line[len] == '\n');
	}
	free(out_buf);
}
END_TEST

START_TEST(test_version)
{
	ck_assert_int_eq(PARSE_CAPTURED("--version"), CONFIG_EXIT_SUCCESS);
	ck_assert_str_eq(out_buf, "minivmm 0.1.0\n");
	free(out_buf);
	ck_assert_int_eq(PARSE_CAPTURED("--kernel", "k", "-V"), CONFIG_EXIT_SUCCESS);
	ck_assert_str_eq(out_buf, "minivmm " MINIVMM_VERSION "\n");
	free(out_buf);
}
END_TEST

START_TEST(test_error_writes_nothing_to_out)
{
	ck_assert_int_eq(PARSE_CAPTURED("--bogus", "--help"), CONFIG_ERROR);
	ck_assert_uint_eq(out_len, 0);
	free(out_buf);
}
END_TEST

START_TEST(test_small_error_buffer)
{
	char small[8];
	char *args[] = {"minivmm", "--mem", "12Q", NULL};

	ck_assert_int_eq(config_parse(&cfg, 3, args, small, sizeof(small), NULL), CONFIG_ERROR);
	ck_assert_uint_eq(strlen(small), sizeof(small) - 1);
	/* No buffer at all is tolerated too. */
	ck_assert_int_eq(config_parse(&cfg, 3, args, NULL, 0, NULL), CONFIG_ERROR);
}
END_TEST

/* ---- rejected input ---- */

static char long_cmdline[CONFIG_USER_CMDLINE_MAX + 2];
static char long_path[CONFIG_PATH_MAX + 2];

static const struct bad_case {
	const char *args[MAX_ARGS];
	const char *needle;
} bad[] = {
    /* Options themselves. */
    {{"--kernel", "k", "--bogus"}, "unknown option '--bogus'"},
    {{"--kernel", "k", "--seccomp=no"}, "--seccomp no: expected on or off"},
    {{"--kernel", "k", "--seccomp", "OFF"}, "--seccomp OFF: expected on or off"},
    {{"--kernel", "k", "--seccomp"}, "--seccomp: missing value"},
    {{"--kernel", "k", "--seccomp="}, "--seccomp: empty value"},
    {{"--kernel", "k", "--s=x"}, "ambiguous option '--s'"},
    {{"--kernel", "k", "--bogus=1"}, "unknown option '--bogus'"},
    {{"--kernel", "k", "-x"}, "unknown option '-x'"},
    {{"--kernel", "k", "-kernel"}, "unknown option '-k' (long options start with '--')"},
    {{"--kernel", "k", "-x"}, "unknown option '-x' (see --help)"},
    {{"--kernel", "k", "--cpus="}, "--cpus: empty value"},
    {{"--kernel", "k", "--net="}, "--net: empty tap name"},
    {{"--kernel", "k", "--mem="}, "--mem: empty size"},
    {{"--kernel", "k", "--console="}, "--console: empty value"},
    {{"--c", "x", "--kernel", "k"}, "ambiguous option '--c'"},
    {{"--cpu=2", "--kernel", "k"}, "could be --cpus, --cpu-profile"},
    {{"--kernel", "k", "--verbose=1"}, "--verbose does not take a value"},
    {{"--kernel", "k", "--hugepages=yes"}, "--hugepages does not take a value"},
    {{"--kernel"}, "--kernel: missing value"},
    {{"--kernel", "k", "--mem"}, "--mem: missing value"},
    {{"--kernel", "k", "--disk"}, "--disk: missing value"},
    {{"--kernel", "--mem", "64M"}, "--kernel: missing value (next argument is the option '--mem')"},
    {{"--kernel", "k", "--initrd", "--cmdline=x"}, "--initrd: missing value"},
    {{"--mem", "64M"}, "missing --kernel"},
    {{NULL}, "missing --kernel"},
    {{"--kernel", "k", "extra"}, "unexpected argument 'extra'"},
    /* Control characters in a value do not break the one-line message (found by fuzz_cmdline). */
    {{"--kernel", "k", "a\nb"}, "unexpected argument 'a?b'"},
    {{"--kernel", "k", "--mem", "1\n\x1b[2J"}, "--mem 1??[2J:"},
    {{"--kernel", "k", "--h\nx"}, "unknown option '--h?x'"},
    {{"stray", "--kernel", "k"}, "unexpected argument 'stray'"},
    {{"--kernel", "k", "--", "after"}, "unexpected argument 'after'"},
    {{"--kernel", "k", "--stats", "out.txt"}, "--stats=PATH"},
    {{"--kernel", "k", "-"}, "unexpected argument '-'"},
    /* x86 guests have no device tree to dump (the unit tests run on x86 only). */
    {{"--kernel", "k", "--dump-dtb", "x.dtb"}, "--dump-dtb: x86 guests are described by ACPI"},
    {{"--kernel", "k", "--dump-dtb="}, "--dump-dtb: empty path"},
    /* Paths. */
    {{"--kernel", ""}, "--kernel: empty path"},
    {{"--kernel=", "--mem", "64M"}, "--kernel: empty path"},
    {{"--kernel", "k", "--initrd", ""}, "--initrd: empty path"},
    {{"--kernel", "k", "--stats="}, "--stats: empty path"},
    /* --mem */
    {{"--kernel", "k", "--mem", "0"}, "--mem 0: size must not be zero"},
    {{"--kernel", "k", "--mem", "0G"}, "--mem 0G: size must not be zero"},
    {{"--kernel", "k", "--mem", "12Q"}, "--mem 12Q: unknown size suffix 'Q'"},
    {{"--kernel", "k", "--mem", "64Mb"}, "unknown size suffix 'Mb'"},
    {{"--kernel", "k", "--mem", "64iB"}, "unknown size suffix 'iB'"},
    {{"--kernel", "k", "--mem", "64MM"}, "unknown size suffix 'MM'"},
    {{"--kernel", "k", "--mem", "64M "}, "unknown size suffix 'M '"},
    {{"--kernel", "k", "--mem", " 64M"}, "--mem  64M: not a number"},
    {{"--kernel", "k", "--mem", "lots"}, "--mem lots: not a number"},
    {{"--kernel", "k", "--mem", "+64M"}, "not a number"},
    {{"--kernel", "k", "--mem", ""}, "--mem: empty size"},
    {{"--kernel", "k", "--mem", "-1"}, "--mem -1: negative size"},
    {{"--kernel", "k", "--mem", "-64M"}, "negative size"},
    {{"--kernel", "k", "--mem", "0x1000000"}, "hexadecimal"},
    {{"--kernel", "k", "--mem", "1.5G"}, "fractions"},
    {{"--kernel", "k", "--mem", "99999999999999999999999"}, "too large"},
    {{"--kernel", "k", "--mem", "16777216T"}, "too large"},
    {{"--kernel", "k", "--mem", "18446744073709551615"}, "above the 1 TiB maximum"},
    {{"--kernel", "k", "--mem", "1025G"}, "--mem 1025G: above the 1 TiB maximum"},
    {{"--kernel", "k", "--mem", "2T"}, "above the 1 TiB maximum"},
    {{"--kernel", "k", "--mem", "15M"}, "--mem 15M: below the 16 MiB minimum"},
    {{"--kernel", "k", "--mem", "16777215"}, "below the 16 MiB minimum (Linux kernels load"},
    {{"--kernel", "k", "--mem", "1"}, "below the 16 MiB minimum"},
    /* --cpus */
    {{"--kernel", "k", "--cpus", "0"}, "--cpus 0: at least 1 vCPU is needed"},
    {{"--kernel", "k", "--cpus", "00"}, "at least 1 vCPU"},
    {{"--kernel", "k", "--cpus", "two"}, "--cpus two: not a number"},
    {{"--kernel", "k", "--cpus", "-1"}, "--cpus -1: not a number"},
    {{"--kernel", "k", "--cpus", "1.0"}, "not a number"},
    {{"--kernel", "k", "--cpus", " 1"}, "not a number"},
    {{"--kernel", "k", "--cpus", "4k"}, "not a number"},
    {{"--kernel", "k", "--cpus", ""}, "--cpus: empty value"},
    {{"--kernel", "k", "--cpus", "65"}, "--cpus 65: above the maximum of 64 vCPUs"},
    {{"--kernel", "k", "--cpus", "640"}, "above the maximum of 64"},
    {{"--kernel", "k", "--cpus", "99999999999999999999999999"}, "above the maximum of 64"},
    /* --disk */
    {{"--kernel", "k", "--disk", ""}, "--disk: empty path"},
    {{"--kernel", "k", "--disk", ",ro"}, "--disk ,ro: empty path"},
    {{"--kernel", "k", "--disk", "a.img,"}, "empty disk option"},
    {{"--kernel", "k", "--disk", "a.img,ro,,cache=none"}, "empty disk option"},
    {{"--kernel", "k", "--disk", "a.img,rw"}, "--disk a.img,rw: unknown disk option 'rw'"},
    {{"--kernel", "k", "--disk", "a.img,ro=1"}, "unknown disk option 'ro=1'"},
    {{"--kernel", "k", "--disk", "a.img,cache"}, "unknown disk option 'cache'"},
    {{"--kernel", "k", "--disk", "a.img,cache=unsafe"}, "unknown cache mode 'unsafe'"},
    {{"--kernel", "k", "--disk", "a.img,cache="}, "unknown cache mode ''"},
    {{"--kernel", "k", "--disk", "a.img,engine=aio"}, "unknown engine 'aio'"},
    {{"--kernel", "k", "--disk", "a.img,engine=io_uring2"}, "unknown engine 'io_uring2'"},
    {{"--kernel", "k", "--disk", "a.img,model=virtio"}, "unknown disk option 'model=virtio'"},
    {{"--kernel", "k", "--disk", "vhost-user="},
     "--disk vhost-user=: empty vhost-user socket path"},
    {{"--kernel", "k", "--disk", "vhost-user=s,ro"},
     "'ro' does not apply to a vhost-user disk (the back-end opens the image"},
    {{"--kernel", "k", "--disk", "vhost-user=s,cache=none"}, "'cache=none' does not apply"},
    {{"--kernel", "k", "--disk", "vhost-user=s,"}, "empty disk option"},
    {{"--kernel", "k", "--disk",
      "vhost-user=/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/"
      "0123456789/0123456789/0123456789/0123456789"},
     "vhost-user socket path longer than 107 characters"},
    /* --net */
    {{"--kernel", "k", "--net", ""}, "--net: empty tap name"},
    {{"--kernel", "k", "--net", ",model=e1000"}, "empty tap name"},
    {{"--kernel", "k", "--net", "1234567890123456"}, "longer than 15 characters"},
    {{"--kernel", "k", "--net", "a/b"}, "'a/b' is not a valid interface name"},
    {{"--kernel", "k", "--net", "a:b"}, "not a valid interface name"},
    {{"--kernel", "k", "--net", "a b"}, "not a valid interface name"},
    {{"--kernel", "k", "--net", ".."}, "not a valid interface name"},
    {{"--kernel", "k", "--net", "tap0,"}, "empty net option"},
    {{"--kernel", "k", "--net", "tap0,ro"}, "unknown net option 'ro'"},
    {{"--kernel", "k", "--net", "tap0,model=rtl8139"}, "unknown model 'rtl8139'"},
    {{"--kernel", "k", "--net", "tap0,mac="}, "bad MAC ''"},
    {{"--kernel", "k", "--net", "tap0,mac=52:54:00:12:34"}, "bad MAC '52:54:00:12:34': expected 6"},
    {{"--kernel", "k", "--net", "tap0,mac=52:54:00:12:34:56:78"}, "expected 6 hex octets"},
    {{"--kernel", "k", "--net", "tap0,mac=52:54:00:12:34:5"}, "expected 6 hex octets"},
    {{"--kernel", "k", "--net", "tap0,mac=525400123456"}, "expected 6 hex octets"},
    {{"--kernel", "k", "--net", "tap0,mac=52:54:00:12:34:zz"}, "not a hex digit"},
    {{"--kernel", "k", "--net", "vhost-user="}, "--net vhost-user=: empty vhost-user socket path"},
    {{"--kernel", "k", "--net", "vhost-user=s,model=e1000"},
     "a vhost-user back-end serves virtio-net only"},
    {{"--kernel", "k", "--net", "vhost-user=s,queue=2"}, "unknown net option 'queue=2'"},
    {{"--kernel", "k", "--net",
      "vhost-user=/0123456789/0123456789/0123456789/0123456789/0123456789/0123456789/"
      "0123456789/0123456789/0123456789/0123456789"},
     "vhost-user socket path longer than 107 characters"},
    /* queues= */
    {{"--kernel", "k", "--disk", "a.img,queues=0"},
     "--disk a.img,queues=0: queues=0 is out of range (expected 1 to 8 queues)"},
    {{"--kernel", "k", "--disk", "a.img,queues=9"}, "queues=9 is out of range"},
    {{"--kernel", "k", "--disk", "a.img,queues=00"}, "queues=00 is out of range"},
    {{"--kernel", "k", "--disk", "a.img,queues=99999999999999999999"}, "is out of range"},
    {{"--kernel", "k", "--disk", "a.img,queues="},
     "--disk a.img,queues=: queues= needs a number (1 to 8 queues)"},
    {{"--kernel", "k", "--disk", "a.img,queues=two"},
     "--disk a.img,queues=two: queues 'two' is not a number (expected 1 to 8 queues)"},
    {{"--kernel", "k", "--disk", "a.img,queues=-1"}, "queues '-1' is not a number"},
    {{"--kernel", "k", "--disk", "a.img,queues=+2"}, "queues '+2' is not a number"},
    {{"--kernel", "k", "--disk", "a.img,queues=0x2"}, "queues '0x2' is not a number"},
    {{"--kernel", "k", "--disk", "a.img,queues= 2"}, "queues ' 2' is not a number"},
    {{"--kernel", "k", "--disk", "a.img,queues"}, "unknown disk option 'queues'"},
    {{"--kernel", "k", "--disk", "a.img,rw"}, "(expected ro, cache=, engine= or queues=)"},
    {{"--kernel", "k", "--disk", "vhost-user=s,queues=2"},
     "--disk vhost-user=s,queues=2: a vhost-user disk has one queue (multi-queue is not "
     "supported with vhost-user yet"},
    {{"--kernel", "k", "--disk", "vhost-user=s,queues=9"}, "queues=9 is out of range"},
    {{"--kernel", "k", "--disk", "vhost-user=s,queues=1,ro"}, "'ro' does not apply"},
    {{"--kernel", "k", "--net", "tap0,queues=0"},
     "--net tap0,queues=0: queues=0 is out of range (expected 1 to 8 queue pairs)"},
    {{"--kernel", "k", "--net", "tap0,queues=9"}, "queues=9 is out of range"},
    {{"--kernel", "k", "--net", "tap0,queues=x"}, "queues 'x' is not a number"},
    {{"--kernel", "k", "--net", "tap0,queues=2,model=e1000"},
     "--net tap0,queues=2,model=e1000: the e1000 has one queue (queues= above 1 needs "
     "model=virtio)"},
    {{"--kernel", "k", "--net", "tap0,model=e1000,queues=8"}, "the e1000 has one queue"},
    {{"--kernel", "k", "--net", "vhost-user=s,queues=2"},
     "--net vhost-user=s,queues=2: a vhost-user card has one queue pair (multi-queue is not "
     "supported with vhost-user yet"},
    {{"--kernel", "k", "--net", "tap0,ro"}, "(expected model=, mac=, ip= or queues=)"},
    /* --memory-backend */
    {{"--kernel", "k", "--memory-backend", "shm"},
     "--memory-backend shm: expected anon, memfd or hugetlb"},
    {{"--kernel", "k", "--memory-backend", "anon", "--disk", "vhost-user=s"},
     "a vhost-user back-end must map guest RAM; use memfd or hugetlb"},
    {{"--kernel", "k", "--memory-backend", "hugetlb", "--mem", "63M"},
     "--mem must be a multiple of 2 MiB"},
    {{"--kernel", "k", "--net", "tap0,mac=52:54:00:12:34:5g"}, "not a hex digit"},
    {{"--kernel", "k", "--net", "tap0,mac=52:54:00: 2:34:56"}, "not a hex digit"},
    {{"--kernel", "k", "--net", "tap0,mac=52-54-00-12-34-56"}, "separated by ':'"},
    {{"--kernel", "k", "--net", "tap0,mac=01:00:5e:00:00:01"}, "multicast"},
    {{"--kernel", "k", "--net", "tap0,mac=53:54:00:12:34:56"}, "multicast"},
    {{"--kernel", "k", "--net", "tap0,mac=ff:ff:ff:ff:ff:ff"}, "multicast"},
    {{"--kernel", "k", "--net", "tap0,mac=00:00:00:00:00:00"}, "all-zero"},
    {{"--kernel", "k", "--net", "tap0,mac=52:54:00:12:34:56,mac=bad"}, "bad MAC 'bad'"},
    {{"--kernel", "k", "--net", "t0", "--net", "t1", "--net", "t2", "--net", "t3", "--net", "t4"},
     "--net t4: too many network interfaces (at most 4)"},
    /* --console, --cpu-profile, --cmdline */
    {{"--kernel", "k", "--console", "tty"}, "--console tty: expected stdio, none or file:PATH"},
    {{"--kernel", "k", "--console", ""}, "--console: empty value"},
    {{"--kernel", "k", "--console", "STDIO"}, "expected stdio"},
    {{"--kernel", "k", "--console", "file"}, "expected stdio"},
    {{"--kernel", "k", "--console", "file:"}, "--console file:: empty path"},
    {{"--kernel", "k", "--cpu-profile", "fast"},
     "--cpu-profile fast: expected auto, host or compat"},
    {{"--kernel", "k", "--cpu-profile", ""}, "--cpu-profile: empty value"},
    /* --cpu-affinity (the list syntax itself: test_cpu_affinity.c) */
    {{"--kernel", "k", "--cpu-affinity", ""}, "--cpu-affinity: empty value"},
    {{"--kernel", "k", "--cpu-affinity"}, "--cpu-affinity: missing value"},
    {{"--kernel", "k", "--cpu-affinity", "vcpus=9999"},
     "--cpu-affinity vcpus=9999: vcpus=9999: CPU 9999 is out of range (CPU numbers go from 0 "
     "to 1023)"},
    {{"--kernel", "k", "--cpu-affinity", "vcpus=0-1024"}, "CPU 1024 is out of range"},
    {{"--kernel", "k", "--cpu-affinity", "vcpus=0,,io=1"},
     "--cpu-affinity vcpus=0,,io=1: vcpus=0,: empty entry in the CPU list"},
    {{"--kernel", "k", "--cpu-affinity", "vcpus="}, "vcpus=: empty CPU list"},
    {{"--kernel", "k", "--cpu-affinity", "vcpus=0,io=two"}, "'two' is not a CPU number"},
    {{"--kernel", "k", "--cpu-affinity", "cpus=0"},
     "--cpu-affinity cpus=0: unknown key 'cpus' (expected vcpus=, vcpuN= or io=)"},
    {{"--kernel", "k", "--cpu-affinity", "0"}, "'0' belongs to no list"},
    {{"--kernel", "k", "--cpu-affinity", "vcpus=0,vcpus=0"}, "vcpus= given twice"},
    {{"--kernel", "k", "--cpu-affinity", "vcpu1=0"},
     "--cpu-affinity vcpu1=0: vcpu1=: no such vCPU (with --cpus 1 there is only vcpu0)"},
    {{"--kernel", "k", "--cpus", "64", "--cpu-affinity", "vcpu64=0"},
     "vcpu64=: no such vCPU (at most 64 vCPUs"},
    {{"--cpu=2", "--kernel", "k"}, "could be --cpus, --cpu-profile, --cpu-affinity"},
    {{"--kernel", "k", "--cmdline", long_cmdline}, "--cmdline: 2049 characters, at most 2048"},
    {{"--kernel", "k", "--disk", long_path}, "--disk: path longer than 4095 characters"},
};

START_TEST(test_bad_input)
{
	const struct bad_case *c = &bad[_i];

	memset(long_cmdline, 'c', CONFIG_USER_CMDLINE_MAX + 1);
	memset(long_path, 'p', CONFIG_PATH_MAX + 1);
	check_one_line_error(parse_argv(c->args, NULL), c->needle);
}
END_TEST

START_TEST(test_too_many_disks)
{
	EXPECT_ERROR("--disk 8: too many disks (at most 8)", "--kernel", "k", "--disk", "0",
		     "--disk", "1", "--disk", "2", "--disk", "3", "--disk", "4", "--disk", "5",
		     "--disk", "6", "--disk", "7", "--disk", "8");
}
END_TEST

START_TEST(test_error_stops_at_first_problem)
{
	/* The first bad option is reported, even if --help follows. */
	EXPECT_ERROR("--mem 0", "--mem", "0", "--cpus", "0", "--help");
	EXPECT_ERROR("--cpus 0", "--kernel", "k", "--cpus", "0", "--mem", "0");
}
END_TEST

/* ---- config_parse_size and config_parse_mac directly ---- */

START_TEST(test_parse_size)
{
	static const struct {
		const char *s;
		int ret;
		uint64_t value;
	} cases[] = {
	    {"1", 0, 1},
	    {"1B", 0, 1},
	    {"512", 0, 512},
	    {"1k", 0, 1024},
	    {"1K", 0, 1024},
	    {"1KB", 0, 1024},
	    {"1KiB", 0, 1024},
	    {"3m", 0, 3ULL << 20},
	    {"3MiB", 0, 3ULL << 20},
	    {"5g", 0, 5ULL << 30},
	    {"5GB", 0, 5ULL << 30},
	    {"7t", 0, 7ULL << 40},
	    {"7TiB", 0, 7ULL << 40},
	    {"16777215T", 0, 16777215ULL << 40},
	    {"18446744073709551615", 0, UINT64_MAX},
	    {"18446744073709551616", -ERANGE, 0},
	    {"99999999999999999999999999999", -ERANGE, 0},
	    {"16777216T", -ERANGE, 0},
	    {"17179869184G", -ERANGE, 0},
	    {"0", -ERANGE, 0},
	    {"000", -ERANGE, 0},
	    {"0k", -ERANGE, 0},
	    {"", -EINVAL, 0},
	    {"-1", -EINVAL, 0},
	    {"+1", -EINVAL, 0},
	    {" 1", -EINVAL, 0},
	    {"1 ", -EINVAL, 0},
	    {"1 K", -EINVAL, 0},
	    {"0x10", -EINVAL, 0},
	    {"0X10", -EINVAL, 0},
	    {"1.5", -EINVAL, 0},
	    {"1e6", -EINVAL, 0},
	    {"K", -EINVAL, 0},
	    {"1iB", -EINVAL, 0},
	    {"1kb", -EINVAL, 0},
	    {"1kib", -EINVAL, 0},
	    {"1KiBB", -EINVAL, 0},
	    {"1P", -EINVAL, 0},
	    {"1KM", -EINVAL, 0},
	    {"1\n", -EINVAL, 0},
	};
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t value = 0xdeadbeef;
		int ret = config_parse_size(cases[i].s, &value);

		ck_assert_msg(ret == cases[i].ret, "'%s': got %d, want %d", cases[i].s, ret,
			      cases[i].ret);
		if (ret == 0)
			ck_assert_msg(value == cases[i].value, "'%s': got %llu", cases[i].s,
				      (unsigned long long)value);
		else
			ck_assert_msg(value == 0xdeadbeef, "'%s': output written on error",
				      cases[i].s);
	}
}
END_TEST

START_TEST(test_parse_mac)
{
	static const uint8_t expect[6] = {0x52, 0x54, 0x00, 0xab, 0xCD, 0xef};
	static const char *const bad_macs[] = {
	    "",
	    "52:54:00:ab:cd",
	    "52:54:00:ab:cd:ef:",
	    "52:54:00:ab:cd:ef:01",
	    "52:54:00:ab:cd:e",
	    "52:54:00:ab:cd:eg",
	    "5254.00ab.cdef.01",
	    "52:54:00:ab:cd-ef",
	    "x2:54:00:ab:cd:ef",
	    "01:00:00:00:00:00",
	    "ff:ff:ff:ff:ff:ff",
	    "00:00:00:00:00:00",
	};
	uint8_t mac[6], untouched[6];
	unsigned int i;

	ck_assert_int_eq(config_parse_mac("52:54:00:AB:cd:EF", mac), 0);
	ck_assert_mem_eq(mac, expect, 6);
	ck_assert_int_eq(config_parse_mac("02:00:00:00:00:00", mac), 0);
	ck_assert_int_eq(config_parse_mac("fe:ff:ff:ff:ff:ff", mac), 0);
	for (i = 0; i < sizeof(bad_macs) / sizeof(bad_macs[0]); i++) {
		memset(mac, 0x5a, sizeof(mac));
		memset(untouched, 0x5a, sizeof(untouched));
		ck_assert_msg(config_parse_mac(bad_macs[i], mac) == -EINVAL, "accepted '%s'",
			      bad_macs[i]);
		ck_assert_mem_eq(mac, untouched, 6);
	}
}
END_TEST

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *good, *errors;

	good = unit_tcase(
	    s, "accepted", NULL, NULL,
	    UNIT_TESTS(test_defaults, test_all_options, test_long_verbose_and_abbreviation,
		       test_option_order_free, test_last_one_wins, test_cpus_good,
		       test_disk_defaults, test_disk_suboptions, test_disk_max_count,
		       test_disk_path_with_commas, test_disk_path_max_length, test_net_defaults,
		       test_net_suboptions, test_console_values, test_stats_forms,
		       test_cpu_profiles, test_seccomp_values, test_cmdline_values,
		       test_double_dash_ends_options, test_repeated_calls_start_afresh,
		       test_cpu_affinity_default_none, test_cpu_affinity_values,
		       test_vhost_user_devices, test_queues));
	tcase_add_loop_test(good, test_mem_good, 0, sizeof(good_mem) / sizeof(good_mem[0]));
	unit_tcase(s, "help-version", NULL, NULL,
		   UNIT_TESTS(test_help, test_help_lines_fit, test_version,
			      test_error_writes_nothing_to_out));
	errors = unit_tcase(s, "rejected", NULL, NULL,
			    UNIT_TESTS(test_too_many_disks, test_error_stops_at_first_problem,
				       test_small_error_buffer, test_cpu_affinity_not_allowed));
	tcase_add_loop_test(errors, test_bad_input, 0, sizeof(bad) / sizeof(bad[0]));
	unit_tcase(s, "helpers", NULL, NULL, UNIT_TESTS(test_parse_size, test_parse_mac));
	return s;
}
