/* Creating and tearing down the KVM VM (vmm/core/kvm.c). */
#ifndef MINIVMM_KVM_H
#define MINIVMM_KVM_H

#include "vm.h"

/*
 * Open /dev/kvm, check the API, create the VM and its memory.  0 or -1
 * (logged).  The architecture's host checks and VM set-up come next, from
 * the machine (vmm/main.c: arch_check_host, arch_vm_init).
 */
int vm_create(struct vm *vm, const struct vm_config *cfg);
void vm_destroy(struct vm *vm);

/* Check a KVM capability on the VM (or /dev/kvm before the VM exists). */
int vm_check_extension(const struct vm *vm, long cap);

#endif
