/*
 * seccomp filters per thread kind (docs/security.md, "seccomp").
 *
 * vmm_seccomp_prepare() builds one BPF program per thread kind (main, vCPU,
 * I/O, console) with libseccomp and installs the SIGSYS handler; from then on
 * vmm_seccomp_install_self() puts the calling thread under its kind's filter.
 * A forbidden system call traps (SCMP_ACT_TRAP): the handler writes one line
 * naming the thread and the call, restores the terminal and ends the process
 * with EXIT_STATUS_SECCOMP.
 */
#ifndef MINIVMM_SECCOMP_H
#define MINIVMM_SECCOMP_H

#include "threads.h"

/* 128 + SIGSYS, what a shell shows for "Bad system call". */
#define EXIT_STATUS_SECCOMP 159

/*
 * Build the filters and install the SIGSYS handler, in a thread that is not
 * filtered yet.  0, or -1 with the reason logged.
 */
int vmm_seccomp_prepare(void);

/*
 * The same in two steps, to keep libseccomp off the start-up path:
 * _start() builds the vCPU filter and installs the handler; _rest(), once
 * the vCPUs run, the main, I/O and console filters and the names for the
 * log line.  A thread installing a filter not built yet waits for it (and
 * ends the process if building it failed).  0, or -1 (logged).
 */
int vmm_seccomp_prepare_start(void);
int vmm_seccomp_prepare_rest(void);

/*
 * Put the calling thread under the filter of its kind; name is what the log
 * line calls it.  Filters stack: a thread created by a filtered thread keeps
 * its creator's filter as well.  Does nothing before vmm_seccomp_prepare().
 * A thread that cannot be filtered ends the process (logged).
 */
void vmm_seccomp_install_self(const char *name, enum thread_role role);

#endif
