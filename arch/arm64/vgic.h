/*
 * The in-kernel interrupt controller of an arm64 guest: KVM's vGICv3, or
 * its vGICv2 where the host has only that (docs/arm64.md).  One per VM, so
 * one per process.
 */
#ifndef MINIVMM_ARCH_ARM64_VGIC_H
#define MINIVMM_ARCH_ARM64_VGIC_H

#include "fdt.h"

struct vm;

/*
 * Create the vGIC (v3 first, v2 if the host refuses v3 and the guest has at
 * most 8 vCPUs) and place its frames (arch/arm64/layout.h).  Before any
 * vCPU exists.  0, or -1 after logging why.
 */
int arm64_vgic_create(struct vm *vm);

/* Which one arm64_vgic_create() made. */
enum arm64_gic_version arm64_vgic_version(void);

/* Size its SPIs and initialise it: after every vCPU exists, before any runs. */
int arm64_vgic_finalize(struct vm *vm);

#endif
