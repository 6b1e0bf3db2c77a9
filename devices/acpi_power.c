/* ACPI sleep control/status and reset registers, and the power button (acpi_power.h). */
#include "acpi_power.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vm.h"

struct acpi_power {
	struct vm *vm;
	uint16_t port;
	unsigned int button_gsi;
	struct log_budget log_budget;
};

static void acpi_power_sleep_control(struct acpi_power *p, uint8_t value)
{
	unsigned int type = (value & ACPI_SLEEP_TYPE_MASK) >> ACPI_SLEEP_TYPE_SHIFT;

	if (!(value & ACPI_SLEEP_ENABLE))
		return; /* SLP_TYP is latched only together with SLP_EN */
	if (type != ACPI_POWER_S5_TYPE) {
		log_guest_error(&p->log_budget,
				"acpi: guest asked for sleep type %u, which this VM does not offer "
				"(only S5, type %u): ignored",
				type, ACPI_POWER_S5_TYPE);
		return;
	}
	log_debug("acpi: guest entered S5 (soft off) through the sleep control register");
	vm_request_stop(p->vm, VM_STOP_POWEROFF, 0);
}

/* Each byte of an access is the register at its own port, as on an 8-bit bus. */
static void acpi_power_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct acpi_power *p = opaque;

	if (!is_write) {
		memset(data, 0, len); /* control and reset are write-only; WAK_STS stays 0 */
		return;
	}
	for (uint32_t i = 0; i < len && offset + i < ACPI_POWER_PORTS; i++) {
		switch (offset + i) {
		case ACPI_POWER_SLEEP_CONTROL:
			acpi_power_sleep_control(p, data[i]);
			break;
		case ACPI_POWER_RESET:
			if (data[i] == ACPI_POWER_RESET_VALUE) {
				log_debug("acpi: guest wrote the reset register");
				vm_request_stop(p->vm, VM_STOP_RESET, 0);
			}
			break;
		default: /* sleep status: writing WAK_STS clears a bit that is never set */
			break;
		}
	}
}

struct acpi_power *acpi_power_create(struct vm *vm, uint16_t port, unsigned int button_gsi)
{
	struct acpi_power *p = calloc(1, sizeof(*p));
	int ret;

	if (!p) {
		log_error("acpi: out of memory");
		return NULL;
	}
	p->vm = vm;
	p->port = port;
	p->button_gsi = button_gsi;
	ret = bus_register(&vm->pio, port, ACPI_POWER_PORTS, acpi_power_io, p, "acpi-power");
	if (ret < 0) {
		log_error("acpi: cannot register ports 0x%x-0x%x: error %d", port,
			  port + ACPI_POWER_PORTS - 1, ret);
		free(p);
		return NULL;
	}
	return p;
}

int acpi_power_press_button(struct acpi_power *p)
{
	log_debug("acpi: pressing the power button (GED line %u)", p->button_gsi);
	return vm_pulse_irq(p->vm, p->button_gsi);
}

unsigned int acpi_power_button_gsi(const struct acpi_power *p)
{
	return p->button_gsi;
}

void acpi_power_destroy(struct acpi_power *p)
{
	free(p);
}
