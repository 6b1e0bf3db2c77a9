/*
 * The guest's address and interrupt map, for the devices and the VM core:
 * data only, so any layer may include it.  arch.h is the architecture's
 * code, which only the machine (vmm/) calls.
 */
#ifndef MINIVMM_ARCH_LAYOUT_H
#define MINIVMM_ARCH_LAYOUT_H

/* The compiler's target picks the map: `make ARCH=arm64` cross-compiles. */
#if defined(__aarch64__)
#include "arm64/layout.h"
#else
#include "x86/layout.h"
#endif

#endif
