/* The ACPI power registers and power button (devices/acpi_power.c) on the fake VM. */
#include <check.h>

#include "devices/acpi_power.h"
#include "fake_vm.h"
#include "helpers.h"
#include "vm.h"

#define PORT 0x600
#define GSI  12

#define SLP_TYP(t) ((t) << ACPI_SLEEP_TYPE_SHIFT)

static struct vm *vm;
static struct acpi_power *power;

static void power_setup(void)
{
	vm = fake_vm_create(4096);
	power = acpi_power_create(vm, PORT, GSI);
	ck_assert_ptr_nonnull(power);
}

static void power_teardown(void)
{
	acpi_power_destroy(power);
	fake_vm_destroy(vm);
}

static int stop_reason(void)
{
	return atomic_load(&vm->stop_reason);
}

/* Linux's acpi_hw_extended_sleep(S5): clear WAK_STS, then SLP_TYP | SLP_EN. */
START_TEST(test_s5_powers_off_with_status_0)
{
	fake_vm_pio_write(vm, PORT + ACPI_POWER_SLEEP_STATUS, 0x80, 1);
	ck_assert_int_eq(stop_reason(), VM_RUNNING);
	fake_vm_pio_write(vm, PORT + ACPI_POWER_SLEEP_CONTROL,
			  SLP_TYP(ACPI_POWER_S5_TYPE) | ACPI_SLEEP_ENABLE, 1);
	ck_assert_int_eq(stop_reason(), VM_STOP_POWEROFF);
	ck_assert_int_eq(atomic_load(&vm->stop_status), 0);
}
END_TEST

START_TEST(test_type_without_enable_ignored)
{
	fake_vm_pio_write(vm, PORT, SLP_TYP(ACPI_POWER_S5_TYPE), 1);
	ck_assert_int_eq(stop_reason(), VM_RUNNING);
}
END_TEST

START_TEST(test_other_sleep_types_ignored)
{
	unit_stderr_capture();
	for (unsigned int t = 0; t < 8; t++)
		if (t != ACPI_POWER_S5_TYPE)
			fake_vm_pio_write(vm, PORT, SLP_TYP(t) | ACPI_SLEEP_ENABLE, 1);
	/* Logged, within the guest-error budget. */
	ck_assert_uint_ge(unit_stderr_lines(), 1);
	ck_assert_int_eq(stop_reason(), VM_RUNNING);
}
END_TEST

START_TEST(test_reset_register)
{
	fake_vm_pio_write(vm, PORT + ACPI_POWER_RESET, 0x06, 1); /* not the FADT's value */
	ck_assert_int_eq(stop_reason(), VM_RUNNING);
	fake_vm_pio_write(vm, PORT + ACPI_POWER_RESET, ACPI_POWER_RESET_VALUE, 1);
	ck_assert_int_eq(stop_reason(), VM_STOP_RESET);
}
END_TEST

/* A wide access is one access per byte register: a word at +1 also writes +2 (reset). */
START_TEST(test_wide_write_is_per_byte)
{
	fake_vm_pio_write(vm, PORT + ACPI_POWER_SLEEP_STATUS, ACPI_POWER_RESET_VALUE << 8, 2);
	ck_assert_int_eq(stop_reason(), VM_STOP_RESET);
}
END_TEST

START_TEST(test_reads_zero)
{
	for (unsigned int off = 0; off < ACPI_POWER_PORTS; off++)
		ck_assert_uint_eq(fake_vm_pio_read(vm, PORT + off, 1), 0);
	ck_assert_uint_eq(fake_vm_pio_read(vm, PORT, 2), 0);
}
END_TEST

START_TEST(test_button_pulses_ged_line)
{
	ck_assert_int_eq(acpi_power_press_button(power), 0);
	ck_assert_uint_eq(fake_vm.irq_pulses[GSI], 1);
	ck_assert_uint_eq(acpi_power_button_gsi(power), GSI);
	ck_assert_int_eq(stop_reason(), VM_RUNNING); /* only the guest decides to power off */
}
END_TEST

START_TEST(test_ports_taken)
{
	unit_stderr_capture();
	ck_assert_ptr_null(acpi_power_create(vm, PORT + 2, GSI));
	ck_assert_uint_eq(unit_stderr_lines(), 1); /* says which ports */
}
END_TEST

Suite *acpi_power_suite(void)
{
	return unit_suite("acpi_power", power_setup, power_teardown,
			  UNIT_TESTS(test_s5_powers_off_with_status_0,
				     test_type_without_enable_ignored,
				     test_other_sleep_types_ignored, test_reset_register,
				     test_wide_write_is_per_byte, test_reads_zero,
				     test_button_pulses_ged_line, test_ports_taken));
}
