/*
 * A 16550A UART (the 8250 family member Linux's 8250 driver detects as
 * "16550A"): eight I/O ports, one interrupt line, output to a host file
 * descriptor, input queued from the console thread.
 */
#ifndef MINIVMM_SERIAL_H
#define MINIVMM_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct serial;

/*
 * Register the UART at ports [port, port + 8) of vm->pio, interrupt line
 * irq.  Transmitted bytes go to out_fd (none when out_fd < 0); the UART does
 * not close out_fd.  Returns NULL after logging why on failure.
 */
struct serial *serial_create(struct vm *vm, uint16_t port, unsigned int irq, int out_fd);

struct bus;
/*
 * The same UART at [base, base + 8) of any bus: arm64 boards put it on the
 * MMIO bus, one byte per register (arch/arm64/board.c).
 */
struct serial *serial_create_at(struct vm *vm, struct bus *bus, uint64_t base, unsigned int irq,
				int out_fd);

/* Queue bytes typed on the console for the guest.  Safe from any thread. */
void serial_receive(struct serial *s, const uint8_t *buf, size_t len);

/*
 * Does the guest's output so far end in the middle of a line (a shell
 * prompt, say)?  minivmm's final line then needs a line of its own where
 * the console and stderr are the same file.
 */
bool serial_output_mid_line(struct serial *s);

/*
 * Flush pending output (waiting a bounded time) and free the UART.  Call
 * only after the vCPUs, the console input (console_stop_input()) and the
 * --stats printers are done with it.
 */
void serial_destroy(struct serial *s);

#endif
