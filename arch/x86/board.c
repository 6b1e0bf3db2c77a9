/* The x86 board: the fixed legacy devices every guest gets, and ACPI's power registers. */
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "devices/acpi_power.h"
#include "devices/i8042.h"
#include "devices/legacy_ports.h"
#include "devices/serial.h"
#include "devices/test_exit.h"
#include "log.h"
#include "vm.h"

#define IOAPIC_REDIR_MASKED (1ULL << 16)

/* One VM per process: the power button arch_request_poweroff() presses. */
static struct acpi_power *board_power;

struct serial *arch_board_init(struct vm *vm, int console_fd)
{
	struct serial *console = serial_create(vm, ARCH_COM1_PORT, ARCH_COM1_IRQ, console_fd);

	if (!console || i8042_create(vm) < 0 || legacy_ports_create(vm) < 0 ||
	    test_exit_create(vm, ARCH_EXIT_PORT) < 0) {
		log_error("cannot create the legacy devices");
		return NULL;
	}
	if (vm->cfg->acpi) {
		board_power = acpi_power_create(vm, ARCH_ACPI_POWER_PORT, ARCH_ACPI_GED_GSI);
		if (!board_power)
			return NULL;
	}
	return console;
}

/*
 * Has the guest set up the GED's line?  Its IOAPIC pin stays masked until a
 * driver requests the interrupt, so a masked pin means a kernel without ACPI
 * (the MP table's identity routing leaves pin 12 unused), or one that has
 * not got that far: a press would be lost.  (The one KVM ioctl of this
 * file; in unit tests, whose VM has no descriptor, it fails: "not heard".)
 */
static bool board_button_heard(struct vm *vm, unsigned int gsi)
{
	struct kvm_irqchip ic = {.chip_id = KVM_IRQCHIP_IOAPIC};

	if (gsi >= KVM_IOAPIC_NUM_PINS || ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &ic) < 0)
		return false;
	return !(ic.chip.ioapic.redirtbl[gsi].bits & IOAPIC_REDIR_MASKED);
}

bool arch_request_poweroff(struct vm *vm)
{
	if (!board_power || !board_button_heard(vm, acpi_power_button_gsi(board_power)))
		return false;
	return acpi_power_press_button(board_power) == 0;
}
