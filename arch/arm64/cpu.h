/* arm64 vCPUs: what the rest of arch/arm64 asks of them. */
#ifndef MINIVMM_ARCH_ARM64_CPU_H
#define MINIVMM_ARCH_ARM64_CPU_H

#include <stdint.h>

struct vcpu;

/* MPIDR_EL1 as KVM gave it to the vCPU (the device tree's cpu reg).  0 or -1. */
int arm64_vcpu_mpidr(struct vcpu *vcpu, uint64_t *mpidr);

/* Where the boot vCPU finds the device tree (x0), set by the loader (setup.c). */
uint64_t arm64_boot_dtb_address(void);

#endif
