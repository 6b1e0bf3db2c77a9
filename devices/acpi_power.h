/*
 * The power registers of a hardware-reduced ACPI platform (ACPI 6.x,
 * 4.8.3.6-4.8.3.7), in three consecutive I/O ports the architecture
 * chooses, and a power button the VMM can press:
 *
 *   port + 0  sleep control: a write of SLP_EN with SLP_TYP = the \_S5_
 *             type (ACPI_POWER_S5_TYPE) powers the VM off, status 0; other
 *             sleep types are ignored (the DSDT offers only S5)
 *   port + 1  sleep status: reads 0 (WAK_STS never set: nothing sleeps)
 *   port + 2  reset: a write of ACPI_POWER_RESET_VALUE resets (stops) the VM
 *
 * The button pulses the Generic Event Device's interrupt line (edge); the
 * GED's _EVT method in the DSDT notifies the power button device (0x80),
 * and Linux's ACPI button driver reports KEY_POWER.  The FADT and DSDT
 * (arch/x86/acpi.c) describe exactly these values.
 */
#ifndef MINIVMM_ACPI_POWER_H
#define MINIVMM_ACPI_POWER_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

#define ACPI_POWER_PORTS	 3
#define ACPI_POWER_SLEEP_CONTROL 0 /* port offsets */
#define ACPI_POWER_SLEEP_STATUS	 1
#define ACPI_POWER_RESET	 2

#define ACPI_SLEEP_TYPE_SHIFT  2 /* SLP_TYPx: bits 4:2 of sleep control */
#define ACPI_SLEEP_TYPE_MASK   0x1c
#define ACPI_SLEEP_ENABLE      0x20 /* SLP_EN */
#define ACPI_POWER_S5_TYPE     5    /* the SLP_TYP the DSDT's \_S5_ package names */
#define ACPI_POWER_RESET_VALUE 0x01 /* the FADT's RESET_VALUE */

struct acpi_power;

/*
 * Register the three ports at port and remember button_gsi, the GED's
 * line.  Returns the device, or NULL after logging why.
 */
struct acpi_power *acpi_power_create(struct vm *vm, uint16_t port, unsigned int button_gsi);

/* Press the power button: one edge on the GED line.  Any thread. 0 or -errno. */
int acpi_power_press_button(struct acpi_power *p);

/* The GED line (for the architecture's "can the guest hear it" check). */
unsigned int acpi_power_button_gsi(const struct acpi_power *p);

/* Free p (unit tests; minivmm keeps it until exit).  Its ports must not be used again. */
void acpi_power_destroy(struct acpi_power *p);

#endif
