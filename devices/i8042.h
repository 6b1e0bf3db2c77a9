/*
 * The PC keyboard controller (i8042), without keyboard or mouse: enough for
 * Linux's boot-time probing and for the reset line it pulses to reboot.
 */
#ifndef MINIVMM_I8042_H
#define MINIVMM_I8042_H

struct vm;

/*
 * Register ports 0x60 (data) and 0x64 (status/command).  A reset pulse
 * stops the VM with VM_STOP_RESET.  Returns 0, or -1 after logging why.
 */
int i8042_create(struct vm *vm);

/* Free the controller state; only once the vCPUs have stopped. */
void i8042_destroy(struct vm *vm);

#endif
