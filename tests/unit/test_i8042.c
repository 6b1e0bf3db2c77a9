/* The i8042 keyboard controller: Linux's probe commands and the reset line. */
#include <check.h>

#include "devices/i8042.h"
#include "fake_vm.h"
#include "vm.h"
#include "helpers.h"

#define DATA 0x60
#define CMD  0x64

#define ST_OBF 0x01
#define ST_IBF 0x02
#define ST_SYS 0x04
#define ST_CMD 0x08
#define ST_AUX 0x20

static struct vm *vm;

/* A command with one reply byte, as Linux's i8042_command() does it. */
static uint8_t command_reply(uint8_t cmd)
{
	fake_vm_pio_write(vm, CMD, cmd, 1);
	ck_assert_uint_eq(fake_vm_pio_read(vm, CMD, 1) & (ST_OBF | ST_IBF), ST_OBF);
	return fake_vm_pio_read(vm, DATA, 1);
}

static void i8042_setup(void)
{
	vm = fake_vm_create(4096);
	ck_assert_int_eq(i8042_create(vm), 0);
}

static void i8042_teardown(void)
{
	i8042_destroy(vm);
	fake_vm_destroy(vm);
}

START_TEST(test_initial_status)
{
	uint8_t st = fake_vm_pio_read(vm, CMD, 1);

	ck_assert_uint_eq(st & (ST_OBF | ST_IBF), 0); /* nothing to read, ready for input */
	ck_assert_uint_eq(st & ST_SYS, ST_SYS);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING);
}
END_TEST

START_TEST(test_reset_command)
{
	fake_vm_pio_write(vm, CMD, 0xfe, 1);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_RESET);
	ck_assert_int_eq(atomic_load(&vm->stop_status), 0);
}
END_TEST

START_TEST(test_linux_reboot_loop)
{
	/* reboot=k: wait for IBF clear (bounded poll), then pulse; repeated 10 times. */
	for (int i = 0; i < 10; i++) {
		int spins = 0;

		while (fake_vm_pio_read(vm, CMD, 1) & ST_IBF)
			ck_assert_int_lt(++spins, 0x10000);
		fake_vm_pio_write(vm, CMD, 0xfe, 1);
	}
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_RESET);
}
END_TEST

START_TEST(test_pulse_commands)
{
	/* 0xf0-0xff pulse the output lines whose bits are 0; bit 0 is reset. */
	uint8_t cmd = (uint8_t)(0xf0 + _i);

	fake_vm_pio_write(vm, CMD, cmd, 1);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), cmd & 1 ? VM_RUNNING : VM_STOP_RESET);
}
END_TEST

START_TEST(test_output_port)
{
	ck_assert_uint_eq(command_reply(0xd0) & 0x03, 0x03); /* not in reset, A20 on */
	fake_vm_pio_write(vm, CMD, 0xd1, 1);
	fake_vm_pio_write(vm, DATA, 0x03, 1);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING);
	fake_vm_pio_write(vm, CMD, 0xd1, 1);
	fake_vm_pio_write(vm, DATA, 0x02, 1); /* bit 0 low: reset */
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_RESET);
}
END_TEST

START_TEST(test_command_byte)
{
	uint8_t ctr = command_reply(0x20);

	ck_assert_uint_eq(ctr & 0x04, 0x04); /* system flag */
	fake_vm_pio_write(vm, CMD, 0x60, 1);
	ck_assert_uint_eq(fake_vm_pio_read(vm, CMD, 1) & ST_CMD, ST_CMD);
	fake_vm_pio_write(vm, DATA, 0x65, 1);
	ck_assert_uint_eq(fake_vm_pio_read(vm, CMD, 1) & ST_CMD, 0);
	ck_assert_uint_eq(command_reply(0x20), 0x65);
	/* The other internal RAM bytes behave the same way. */
	fake_vm_pio_write(vm, CMD, 0x7f, 1);
	fake_vm_pio_write(vm, DATA, 0x99, 1);
	ck_assert_uint_eq(command_reply(0x3f), 0x99);
	ck_assert_uint_eq(command_reply(0x20), 0x65);
}
END_TEST

START_TEST(test_tests_and_port_enables)
{
	ck_assert_uint_eq(command_reply(0xaa), 0x55);
	ck_assert_uint_eq(command_reply(0xab), 0x00);
	ck_assert_uint_eq(command_reply(0xa9), 0x00);
	fake_vm_pio_write(vm, CMD, 0xad, 1);
	ck_assert_uint_eq(command_reply(0x20) & 0x10, 0x10);
	fake_vm_pio_write(vm, CMD, 0xae, 1);
	ck_assert_uint_eq(command_reply(0x20) & 0x10, 0);
	fake_vm_pio_write(vm, CMD, 0xa7, 1);
	ck_assert_uint_eq(command_reply(0x20) & 0x20, 0x20);
	fake_vm_pio_write(vm, CMD, 0xa8, 1);
	ck_assert_uint_eq(command_reply(0x20) & 0x20, 0);
	ck_assert_uint_eq(fake_vm_pio_read(vm, CMD, 1) & ST_OBF, 0);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING);
}
END_TEST

START_TEST(test_echo_commands)
{
	fake_vm_pio_write(vm, CMD, 0xd2, 1);
	fake_vm_pio_write(vm, DATA, 0x1c, 1);
	ck_assert_uint_eq(fake_vm_pio_read(vm, CMD, 1) & (ST_OBF | ST_AUX), ST_OBF);
	ck_assert_uint_eq(fake_vm_pio_read(vm, DATA, 1), 0x1c);
	fake_vm_pio_write(vm, CMD, 0xd3, 1); /* Linux's AUX loopback probe */
	fake_vm_pio_write(vm, DATA, 0xa5, 1);
	ck_assert_uint_eq(fake_vm_pio_read(vm, CMD, 1) & (ST_OBF | ST_AUX), ST_OBF | ST_AUX);
	ck_assert_uint_eq(fake_vm_pio_read(vm, DATA, 1), 0xa5);
	ck_assert_uint_eq(fake_vm_pio_read(vm, CMD, 1) & (ST_OBF | ST_AUX), 0);
	/* No mouse: bytes for it get no answer. */
	fake_vm_pio_write(vm, CMD, 0xd4, 1);
	fake_vm_pio_write(vm, DATA, 0xf2, 1);
	ck_assert_uint_eq(fake_vm_pio_read(vm, CMD, 1) & ST_OBF, 0);
}
END_TEST

START_TEST(test_empty_and_unknown)
{
	ck_assert_uint_eq(command_reply(0xaa), 0x55);
	/* An empty output buffer repeats the last byte, as the hardware latch does. */
	ck_assert_uint_eq(fake_vm_pio_read(vm, DATA, 1), 0x55);
	/* Keyboard commands with no keyboard, unknown controller commands: silence. */
	fake_vm_pio_write(vm, DATA, 0xff, 1);
	fake_vm_pio_write(vm, DATA, 0xf4, 1);
	for (unsigned int c = 0; c < 0xf0; c++) {
		if (c == 0x60 || (c >= 0x20 && c < 0x40) || (c >= 0x60 && c < 0x80) ||
		    (c >= 0xa9 && c <= 0xab) || c == 0xc0 || (c >= 0xd0 && c <= 0xd4))
			continue;
		fake_vm_pio_write(vm, CMD, (uint8_t)c, 1);
	}
	ck_assert_uint_eq(fake_vm_pio_read(vm, CMD, 1) & ST_OBF, 0);
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING);
}
END_TEST

START_TEST(test_output_queue_bounded)
{
	unsigned int n = 0;

	for (int i = 0; i < 1000; i++)
		fake_vm_pio_write(vm, CMD, 0xaa, 1);
	while (fake_vm_pio_read(vm, CMD, 1) & ST_OBF) {
		ck_assert_uint_eq(fake_vm_pio_read(vm, DATA, 1), 0x55);
		ck_assert_uint_lt(++n, 1000);
	}
	ck_assert_uint_gt(n, 0);
}
END_TEST

START_TEST(test_only_byte_accesses)
{
	uint8_t d[4] = {0};

	ck_assert(!bus_dispatch(&vm->pio, DATA, d, 2, false));
	ck_assert_uint_eq(d[0], 0xff);
	d[0] = 0xfe;
	ck_assert(!bus_dispatch(&vm->pio, CMD, d, 4, true));
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING);
	/* Port 0x61 in between belongs to someone else. */
	ck_assert(!bus_dispatch(&vm->pio, 0x61, d, 1, false));
}
END_TEST

START_TEST(test_double_create_fails)
{
	ck_assert_int_eq(i8042_create(vm), -1);
}
END_TEST

Suite *i8042_suite(void)
{
	Suite *s = suite_create("i8042");
	TCase *tc = unit_tcase(
	    s, "i8042", i8042_setup, i8042_teardown,
	    UNIT_TESTS(test_initial_status, test_reset_command, test_linux_reboot_loop,
		       test_output_port, test_command_byte, test_tests_and_port_enables,
		       test_echo_commands, test_empty_and_unknown, test_output_queue_bounded,
		       test_only_byte_accesses, test_double_create_fails));

	tcase_add_loop_test(tc, test_pulse_commands, 0, 16);
	return s;
}
