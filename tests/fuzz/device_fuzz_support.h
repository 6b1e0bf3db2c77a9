/*
 * Helpers shared by the device fuzz targets (fuzz_e1000, fuzz_pci): one
 * bus access as a vCPU exit makes it (without Check's assertions, which
 * need a test runner), PCI configuration mechanism #1, and a socketpair
 * standing in for a tap.  Names start with dfuzz_ so they cannot collide
 * with other support files linked into the same targets.
 */
#ifndef MINIVMM_DEVICE_FUZZ_SUPPORT_H
#define MINIVMM_DEVICE_FUZZ_SUPPORT_H

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct tap;

/*
 * For the harness's own checking loops: coverage of them would only
 * mislead the fuzzer, and its instrumentation of a byte-by-byte loop over
 * RAM costs more than the model under test.
 */
#define DFUZZ_NO_COVERAGE __attribute__((no_sanitize("coverage")))

/*
 * One access of len (1, 2, 4, or 8 for MMIO) bytes; reads start from a 0xaa
 * poison so bytes a handler leaves unwritten show.  Returns whether a
 * device claimed the address; *value is the value written or read.
 */
bool dfuzz_pio(struct vm *vm, uint16_t port, uint32_t len, bool is_write, uint32_t *value);
bool dfuzz_mmio(struct vm *vm, uint64_t addr, uint32_t len, bool is_write, uint64_t *value);

/* Configuration space of bus 0, function 0 of slot, through 0xCF8/0xCFC. */
uint32_t dfuzz_pci_read(struct vm *vm, unsigned int slot, unsigned int reg, uint32_t len);
void dfuzz_pci_write(struct vm *vm, unsigned int slot, unsigned int reg, uint32_t value,
		     uint32_t len);

/*
 * A SOCK_SEQPACKET socketpair (one datagram, one frame), both ends
 * non-blocking: *tap wraps one end for the device, *peer is the host's end.
 * Aborts if the host cannot make one.
 */
void dfuzz_socket_tap(struct tap *tap, int *peer);

/* Read and discard every datagram waiting on fd; returns how many. */
unsigned int dfuzz_drain(int fd);

#endif
