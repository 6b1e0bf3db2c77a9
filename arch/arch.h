/*
 * The interface between generic VMM code and the architecture.  Generic code
 * (vmm/, devices/, virtio/) includes only this header from arch/.
 */
#ifndef MINIVMM_ARCH_H
#define MINIVMM_ARCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "layout.h"

struct vm;
struct vcpu;

/* Probe host quirks (arch/x86/compat.c); logs what it finds. */
int arch_check_host(struct vm *vm);

/* In-kernel irqchip, PIT, TSS/identity-map addresses.  After KVM_CREATE_VM. */
int arch_vm_init(struct vm *vm);

struct serial;

/*
 * The board's fixed devices: serial console (output to console_fd, -1 for
 * none), i8042, legacy ports, test-exit port.  Returns the console UART, or
 * NULL after logging why.
 */
struct serial *arch_board_init(struct vm *vm, int console_fd);

/*
 * Ask the guest to power off, as pressing a power button would (the
 * control socket's "stop").  Safe from any thread once the vCPUs run.
 * Returns false when this guest has no way to hear it (--no-acpi), so the
 * caller knows only a forced stop is left.
 */
bool arch_request_poweroff(struct vm *vm);

/* Load kernel and initrd, build boot_params, MP table, ACPI tables (unless
 * --no-acpi), e820.  After all devices are created (they append to the
 * command line, and the tables describe them). */
int arch_load_kernel(struct vm *vm);

/* CPUID, MSRs, registers (BSP in long mode at the kernel entry). */
int arch_vcpu_init(struct vcpu *vcpu);

/*
 * Exits the generic loop does not handle (emulation failures, ...).
 * Returns true if handled and the vCPU may continue.
 */
bool arch_handle_exit(struct vcpu *vcpu);

/* Exit reason, RIP, instruction bytes and registers, for fatal exits. */
void arch_dump_vcpu(struct vcpu *vcpu, FILE *out);

#endif
