/*
 * The VM's configuration: what the user asked for (vmm/config.c parses it
 * from the command line; devices and the VM only read it).
 */
#ifndef MINIVMM_VM_CONFIG_H
#define MINIVMM_VM_CONFIG_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most vCPUs (--cpus); vm.h's VM_MAX_CPUS is the same number (config.c checks). */
#define CONFIG_MAX_CPUS 64

#define CONFIG_MAX_DISKS 8
#define CONFIG_MAX_NETS	 4
/*
 * Most queues=N of a --disk (request queues) or a --net (queue pairs).  Each
 * queue or pair may get an I/O thread, and a guest uses at most one per
 * vCPU; 8 keeps 8 disks and 4 NICs under 100 I/O threads, and 8 pairs and a
 * control queue within virtio-mmio's 17 queues (vmm/config.c checks).
 */
#define CONFIG_MAX_QUEUES  8
#define CONFIG_CMDLINE_MAX 4096
/* --cmdline may use at most half of the guest command line; devices append the rest. */
#define CONFIG_USER_CMDLINE_MAX 2048
/* Longest --disk path and --net tap name (without the NUL); the tap limit is IFNAMSIZ - 1. */
#define CONFIG_PATH_MAX	    4095
#define CONFIG_TAP_NAME_MAX 15
/* Longest vhost-user socket path: a UNIX socket address holds 108 bytes with the NUL. */
#define CONFIG_SOCKET_PATH_MAX 107
/*
 * Linux x86-64 kernels are linked to load at 16 MiB (CONFIG_PHYSICAL_START);
 * less RAM cannot hold one.  The maximum only catches typos: whether the host
 * can really map the RAM is found out by mmap.
 */
#define CONFIG_MIN_MEM (16ULL << 20)
#define CONFIG_MAX_MEM (1ULL << 40)

#define MINIVMM_VERSION "0.1.0"

enum disk_cache { DISK_CACHE_WRITEBACK, DISK_CACHE_NONE };
enum disk_engine { DISK_ENGINE_IO_URING, DISK_ENGINE_SYNC };
enum net_model { NET_MODEL_VIRTIO, NET_MODEL_E1000 };
enum console_kind { CONSOLE_STDIO, CONSOLE_NONE, CONSOLE_FILE };
enum cpu_profile { CPU_PROFILE_AUTO, CPU_PROFILE_HOST, CPU_PROFILE_COMPAT };
/* --memory-backend; AUTO is anonymous memory unless a vhost-user device needs a memfd. */
enum mem_backend { MEM_BACKEND_AUTO, MEM_BACKEND_ANON, MEM_BACKEND_MEMFD, MEM_BACKEND_HUGETLB };

struct disk_config {
	const char *path; /* the image, or the back-end's socket when vhost_user is set */
	bool vhost_user;  /* vhost-user=SOCKET: another process serves the queues */
	bool read_only;
	enum disk_cache cache;
	enum disk_engine engine;
	unsigned int queues; /* queues=N: request queues, 1 (default) to CONFIG_MAX_QUEUES */
};

/* Most hostfwd= of one --net user. */
#define CONFIG_MAX_HOSTFWDS 8

/* One hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT; IPv4, host byte order. */
struct net_hostfwd {
	bool udp;
	uint32_t host_addr; /* default 127.0.0.1 */
	uint16_t host_port;
	uint32_t guest_addr; /* default NET_USER_GUEST_ADDR */
	uint16_t guest_port;
};

/* --net user: the guest network, as QEMU's user-mode networking has it. */
#define NET_USER_NETWORK    0x0a000200u /* 10.0.2.0/24 */
#define NET_USER_PREFIX_LEN 24
#define NET_USER_GATEWAY    0x0a000202u /* 10.0.2.2: the host, as the guest sees it */
#define NET_USER_DNS	    0x0a000203u /* 10.0.2.3 */
#define NET_USER_GUEST_ADDR 0x0a00020fu /* 10.0.2.15: the first address DHCP hands out */

struct net_config {
	const char *tap;	/* interface name; "user" with user; NULL with vhost_user */
	const char *vhost_user; /* vhost-user=SOCKET: the back-end's socket, or NULL */
	bool user;		/* --net user: user-mode networking (libslirp), no tap */
	enum net_model model;
	uint8_t mac[6];
	bool mac_set;
	/* user: hostfwd= port forwards, host to guest */
	struct net_hostfwd hostfwd[CONFIG_MAX_HOSTFWDS];
	unsigned int nr_hostfwd;
	/* tap: ip=ADDR/LEN, the host end's IPv4 address on a tap minivmm creates (host order) */
	bool ip_set;
	uint32_t ip_addr;
	unsigned int ip_prefix_len;
	/* queues=N: queue pairs, 1 (default) to CONFIG_MAX_QUEUES; above 1 only for
	 * model=virtio on a tap (a multi-queue tap, one queue of it per pair). */
	unsigned int queues;
};

/* Where one group of minivmm's threads runs (--cpu-affinity). */
struct cpu_placement {
	bool set;	/* false: not placed; the threads keep the affinity they inherit */
	cpu_set_t cpus; /* the host CPUs, when set */
};

/*
 * --cpu-affinity, all unset by default.  A vCPU runs on vcpu[id] if that is
 * set, else on vcpus (cpu_affinity_of_vcpu() in vmm/cpu_affinity.h).
 */
struct cpu_affinity_config {
	struct cpu_placement vcpus;		    /* vcpus=LIST: every vCPU */
	struct cpu_placement vcpu[CONFIG_MAX_CPUS]; /* vcpuN=LIST: vCPU N, overriding vcpus= */
	struct cpu_placement io;		    /* io=LIST: every I/O thread */
};

struct vm_config {
	const char *kernel;
	const char *initrd;
	const char *cmdline; /* user part; NULL means the default */
	uint64_t mem_size;
	unsigned int cpus;
	struct disk_config disks[CONFIG_MAX_DISKS];
	unsigned int nr_disks;
	struct net_config nets[CONFIG_MAX_NETS];
	unsigned int nr_nets;
	enum console_kind console;
	const char *console_path;
	bool stats;
	const char *stats_path; /* NULL: stderr */
	bool hugepages;
	enum mem_backend mem_backend;
	enum cpu_profile cpu_profile;
	struct cpu_affinity_config cpu_affinity;
	bool verbose;
	bool seccomp;		/* --seccomp=on (default): every thread under its seccomp filter */
	bool acpi;		/* ACPI tables for the guest (default); false with --no-acpi */
	const char *api_socket; /* --api-socket PATH: the control socket, or NULL */
	const char *pidfile;	/* --pidfile PATH, or NULL */
	const char *dump_dtb; /* --dump-dtb PATH (arm64: the device tree written there), or NULL */

	/*
	 * Backing store for disks[].path, nets[].tap and nets[].vhost_user, which are cut out of
	 * "PATH,opt,..." arguments.  Other strings point into argv, so argv
	 * must outlive the config, and the struct must not be copied.
	 */
	char disk_path_buf[CONFIG_MAX_DISKS][CONFIG_PATH_MAX + 1];
	char net_tap_buf[CONFIG_MAX_NETS][CONFIG_TAP_NAME_MAX + 1];
	char net_socket_buf[CONFIG_MAX_NETS][CONFIG_SOCKET_PATH_MAX + 1];
};

#define CONFIG_DEFAULT_MEM     (256ULL << 20)
#define CONFIG_DEFAULT_CMDLINE "console=ttyS0"

#endif
