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

/* Probe host quirks (x86: arch/x86/compat.c); logs what it finds. */
int arch_check_host(struct vm *vm);

/*
 * The in-kernel interrupt controller and timers (x86: irqchip, PIT,
 * TSS/identity-map addresses; arm64: the vGIC device).  After KVM_CREATE_VM.
 */
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

/* Load kernel and initrd; x86 also builds boot_params, the MP table, ACPI
 * tables (unless --no-acpi) and e820.  After all devices are created (they
 * append to the command line, and the tables describe them). */
int arch_load_kernel(struct vm *vm);

/*
 * One vCPU just created: x86 sets CPUID, MSRs and registers (the BSP in
 * long mode at the kernel entry); arm64 runs KVM_ARM_VCPU_INIT (PSCI, the
 * secondaries powered off) and points the boot vCPU at the kernel.
 */
int arch_vcpu_init(struct vcpu *vcpu);

/*
 * Every vCPU exists, none runs yet: what needs them all.  arm64 initialises
 * its vGIC and writes the device tree (each vCPU's MPIDR); x86 has nothing
 * left to do.
 */
int arch_vcpus_ready(struct vm *vm);

/*
 * Exits the generic loop does not handle (emulation failures, ...).
 * Returns true if handled and the vCPU may continue.
 */
bool arch_handle_exit(struct vcpu *vcpu);

/* Exit reason, program counter and registers (x86: and instruction bytes), for fatal exits. */
void arch_dump_vcpu(struct vcpu *vcpu, FILE *out);

#endif
