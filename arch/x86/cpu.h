/* x86 vCPU helpers: guest_virt.c (virtual-address reads) and compat.c (the compat profile). */
#ifndef MINIVMM_X86_CPU_H
#define MINIVMM_X86_CPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vcpu;

/* Read len bytes at guest virtual address gva (through the vCPU's page
 * tables).  0 or -1.  guest_virt.c. */
int x86_read_guest_virt(struct vcpu *vcpu, uint64_t gva, void *buf, size_t len);

/* Compat profile (compat.c). */
void compat_filter_cpuid(const struct vm *vm, struct kvm_cpuid2 *cpuid);
int compat_append_cmdline(struct vm *vm);
/* On a host that emulates guest kernel code, warns that a bzImage is slow to start. */
void compat_note_kernel_format(const struct vm *vm, bool is_bzimage);
bool compat_handle_emulation_failure(struct vcpu *vcpu);

#endif
