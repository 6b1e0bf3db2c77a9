/* Facts about the host a benchmark result depends on, for --stats (vmm/host_info.c). */
#ifndef MINIVMM_HOST_INFO_H
#define MINIVMM_HOST_INFO_H

#include <stddef.h>

struct json_object;

/*
 * The KVM flavour from the module directory (/sys/module, which lists
 * built-in modules too, unlike /proc/modules): the vendor module
 * ("kvm_intel", "kvm_amd", "kvm_pvm", ...), else "kvm" if only the core is
 * there (arm64), else NULL.  Written into buf.
 */
const char *host_kvm_module(const char *sys_module_dir, char *buf, size_t size);

/* The first "model name" of a /proc/cpuinfo text, into buf ("" if none). */
const char *host_cpu_model(const char *cpuinfo, char *buf, size_t size);

/* {"kernel", "machine", "cpu_model", "cpus_online", "kvm_module"} of this host. */
struct json_object *host_info(void);

/* [1 min, 5 min, 15 min] load averages now, or null. */
struct json_object *host_loadavg(void);

#endif
