/*
 * The seccomp filter of the user-mode networking helper (minivmm-net-user):
 * what libslirp needs to reach the outside world over IPv4 and to serve its
 * socket pair, nothing else (no files opened for writing, no other socket
 * families, no new processes).  A forbidden call ends the helper with
 * NET_USER_SECCOMP_STATUS after one line naming the call.
 */
#ifndef MINIVMM_NET_USER_SANDBOX_H
#define MINIVMM_NET_USER_SANDBOX_H

/* 128 + SIGSYS, as minivmm's own filters (vmm/seccomp.h). */
#define NET_USER_SECCOMP_STATUS 159

/* Put the calling process (one thread) under the filter.  0, or -1 (err filled in). */
int net_user_sandbox(char *err, unsigned long errlen);

#endif
