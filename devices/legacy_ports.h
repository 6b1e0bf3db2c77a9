/*
 * Benign answers for the PC ports Linux probes at boot that minivmm has no
 * real device for: POST/delay port 0x80, CMOS/RTC 0x70-0x71, system control
 * port B 0x61.  The list and the reasons are in docs/devices-legacy.md.
 */
#ifndef MINIVMM_LEGACY_PORTS_H
#define MINIVMM_LEGACY_PORTS_H

struct vm;

/* Register the ports on vm->pio.  Returns 0, or -1 after logging why. */
int legacy_ports_create(struct vm *vm);

/* Free their state; only once the vCPUs have stopped. */
void legacy_ports_destroy(struct vm *vm);

#endif
