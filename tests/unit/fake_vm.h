/*
 * A fake struct vm for device unit tests: guest memory backed by a calloc'd
 * buffer, real buses, and vm_* services that record what devices asked for.
 */
#ifndef MINIVMM_FAKE_VM_H
#define MINIVMM_FAKE_VM_H

#include <stdint.h>

#include "vm.h"

#define FAKE_VM_MAX_EVENTFDS 32

struct fake_vm_state {
	int irq_level[256]; /* last level set per gsi */
	unsigned int irq_pulses[256];
	unsigned int irq_raises[256]; /* 0->1 transitions */
	struct {
		uint64_t addr;
		uint32_t len;
		uint64_t datamatch;
		int fd;
	} ioeventfds[FAKE_VM_MAX_EVENTFDS];
	unsigned int nr_ioeventfds;
	struct {
		unsigned int gsi;
		int fd, resample_fd;
	} irqfds[FAKE_VM_MAX_EVENTFDS];
	unsigned int nr_irqfds;
	int ioeventfd_result; /* returned by vm_add_ioeventfd (0 or -ENOSYS) */
};

extern struct fake_vm_state fake_vm;

/* A vm with ram_size bytes of zeroed RAM at GPA 0; free with fake_vm_destroy. */
struct vm *fake_vm_create(uint64_t ram_size);
void fake_vm_destroy(struct vm *vm);

/*
 * A port I/O access of len (1, 2 or 4) bytes through vm->pio, as a vCPU exit
 * makes it; the test fails if no device claims the port.  Reads start from a
 * 0xaa poison, so a handler that leaves bytes unwritten is noticed.
 */
uint32_t fake_vm_pio_read(struct vm *vm, uint16_t port, uint32_t len);
void fake_vm_pio_write(struct vm *vm, uint16_t port, uint32_t value, uint32_t len);

#endif
