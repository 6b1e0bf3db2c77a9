/* The x86 board: the fixed legacy devices every guest gets. */
#include "arch/arch.h"
#include "devices/i8042.h"
#include "devices/legacy_ports.h"
#include "devices/serial.h"
#include "devices/test_exit.h"
#include "log.h"
#include "vm.h"

struct serial *arch_board_init(struct vm *vm, int console_fd)
{
	struct serial *console = serial_create(vm, ARCH_COM1_PORT, ARCH_COM1_IRQ, console_fd);

	if (!console || i8042_create(vm) < 0 || legacy_ports_create(vm) < 0 ||
	    test_exit_create(vm, ARCH_EXIT_PORT) < 0) {
		log_error("cannot create the legacy devices");
		return NULL;
	}
	return console;
}

/* Until the ACPI power button exists, no guest can be asked (arch.h). */
bool arch_request_poweroff(struct vm *vm)
{
	(void)vm;
	return false;
}
