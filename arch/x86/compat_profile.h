/*
 * What the "compat" CPU profile changes for a guest on a host whose KVM
 * emulates guest kernel code (docs/compat.md): CPUID bits and kernel
 * command-line options.  Pure functions, no KVM calls, so they are
 * unit-tested (tests/unit/test_compat_profile.c); arch/x86/compat.c decides
 * when they apply.
 */
#ifndef MINIVMM_X86_COMPAT_PROFILE_H
#define MINIVMM_X86_COMPAT_PROFILE_H

#include <linux/kvm.h>
#include <stddef.h>

/* Hides the CPUID features the host cannot emulate or run (in place). */
void compat_profile_filter_cpuid(struct kvm_cpuid2 *cpuid);

/*
 * Adds the profile's options to the NUL-terminated command line in a buffer
 * of size bytes: its features merged into the last clearcpuid= (Linux acts
 * on that one only) or a new clearcpuid= appended, and nofsgsbase; nothing
 * the line already says is repeated.  0, or -ENOSPC with cmdline unchanged.
 */
int compat_profile_cmdline(char *cmdline, size_t size);

#endif
