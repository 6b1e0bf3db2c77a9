/*
 * The arm64 board: the 16550A console and the test-exit register on the
 * MMIO bus, and the PCI I/O window, through which the guest reaches the port
 * bus (I/O BARs) as memory.  The GIC and the timer are KVM's (vgic.c).
 */
#include "arch/arch.h"
#include "devices/serial.h"
#include "devices/test_exit.h"
#include "log.h"
#include "vm.h"

/* MMIO at ARM64_PCI_IO_MMIO_BASE + port is an access to port (nobody there: all-ones). */
static void pci_io_window(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct vm *vm = opaque;

	bus_dispatch(&vm->pio, offset, data, len, is_write);
}

struct serial *arch_board_init(struct vm *vm, int console_fd)
{
	struct serial *console =
	    serial_create_at(vm, &vm->mmio, ARM64_UART_BASE, ARM64_UART_SPI, console_fd);

	if (!console || test_exit_create_at(vm, &vm->mmio, ARM64_EXIT_MMIO) < 0 ||
	    bus_register(&vm->mmio, ARM64_PCI_IO_MMIO_BASE, ARM64_PCI_IO_MMIO_SIZE, pci_io_window,
			 vm, "pci-io-window") < 0) {
		log_error("cannot create the board's devices");
		return NULL;
	}
	return console;
}

bool arch_request_poweroff(struct vm *vm)
{
	/* No power button yet (a gpio-keys node would be one): only a forced stop. */
	(void)vm;
	return false;
}
