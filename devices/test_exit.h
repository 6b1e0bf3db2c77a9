/*
 * The test-exit / power-off port: a write of v stops the VM and minivmm
 * exits with status v & 0xff.  Test guests report pass/fail through it, and
 * a Linux guest's /init powers off through /dev/port.
 */
#ifndef MINIVMM_TEST_EXIT_H
#define MINIVMM_TEST_EXIT_H

#include <stdint.h>

struct vm;

/* Register ports [port, port + 4) on vm->pio.  Returns 0, or -1 after logging why. */
int test_exit_create(struct vm *vm, uint16_t port);

struct bus;
/* The same register at [base, base + 4) of any bus (arm64: MMIO, arch/arm64/layout.h). */
int test_exit_create_at(struct vm *vm, struct bus *bus, uint64_t base);

#endif
