/*
 * --cpu-affinity: which host CPUs minivmm's vCPU threads and I/O threads
 * run on.  The value is parsed into a struct cpu_affinity_config
 * (vm_config.h); each thread moves itself to its CPUs as it starts.
 */
#ifndef MINIVMM_CPU_AFFINITY_H
#define MINIVMM_CPU_AFFINITY_H

#include <sched.h>
#include <stddef.h>

#include "vm_config.h"

struct vcpu;
struct vm;

/*
 * Parse "vcpus=0,2,io=1,vcpu1=3": comma-separated KEY=LIST, where KEY is
 * vcpus, io or vcpuN (N < CONFIG_MAX_CPUS) and LIST is a CPU list
 * (cpu_list.h) whose entries continue up to the next KEY=.  Each key at
 * most once.  Syntax and ranges only: see cpu_affinity_check().  0 with
 * *out replaced, or -1 with *out untouched and why holding one line that
 * names the key and the bad entry.
 */
int cpu_affinity_parse(const char *arg, struct cpu_affinity_config *out, char *why, size_t whylen);

/*
 * What parsing cannot know: every vcpuN= names one of the VM's nr_vcpus
 * vCPUs, and every CPU is in allowed (the process's own affinity, so a
 * placement is never silently narrowed by the kernel).  0, or -1 with why
 * naming the key and the first offending vCPU or CPU.
 */
int cpu_affinity_check(const struct cpu_affinity_config *a, unsigned int nr_vcpus,
		       const cpu_set_t *allowed, char *why, size_t whylen);

/* The CPUs of vCPU id: its vcpuN= list, else the vcpus= list, else NULL (not placed). */
const cpu_set_t *cpu_affinity_of_vcpu(const struct cpu_affinity_config *a, unsigned int id);

/*
 * In a vCPU thread, before its first KVM_RUN: move the thread to the vCPU's
 * CPUs, if it has any.  When the kernel refuses (the CPUs left the
 * process's cpuset since start-up), logs why and stops the VM with
 * VM_STOP_ERROR, so no run is reported with threads not where asked.
 */
void cpu_affinity_place_vcpu(struct vcpu *vcpu);

/*
 * Before the devices are created: every I/O thread created from now on
 * runs on the io= CPUs (iothread_set_default_affinity()); one that cannot
 * be moved there stops the VM with VM_STOP_ERROR.
 */
void cpu_affinity_place_io_threads(struct vm *vm);

#endif
