/*
 * The benign legacy ports (POST, CMOS/RTC, port B), the ports deliberately
 * left empty, and the test-exit port.
 */
#include <check.h>
#include <time.h>

#include "devices/legacy_ports.h"
#include "devices/test_exit.h"
#include "fake_vm.h"
#include "vm.h"
#include "helpers.h"

#define EXIT_PORT 0x501

static struct vm *vm;

static uint8_t cmos(uint8_t index)
{
	fake_vm_pio_write(vm, 0x70, index, 1);
	return fake_vm_pio_read(vm, 0x71, 1);
}

static void cmos_set(uint8_t index, uint8_t v)
{
	fake_vm_pio_write(vm, 0x70, index, 1);
	fake_vm_pio_write(vm, 0x71, v, 1);
}

static void legacy_ports_setup(void)
{
	vm = fake_vm_create(4096);
	ck_assert_int_eq(legacy_ports_create(vm), 0);
	ck_assert_int_eq(test_exit_create(vm, EXIT_PORT), 0);
}

static void legacy_ports_teardown(void)
{
	legacy_ports_destroy(vm);
	fake_vm_destroy(vm);
}

static bool is_bcd(uint8_t v)
{
	return (v & 0x0f) <= 9 && (v >> 4) <= 9;
}

static unsigned int bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

START_TEST(test_post_port)
{
	for (unsigned int v = 0; v < 256; v += 17)
		fake_vm_pio_write(vm, 0x80, (uint8_t)v, 1);
	ck_assert_uint_eq(fake_vm_pio_read(vm, 0x80, 1), 0);
}
END_TEST

START_TEST(test_port_b_toggles)
{
	uint8_t a = fake_vm_pio_read(vm, 0x61, 1), b = fake_vm_pio_read(vm, 0x61, 1),
		c = fake_vm_pio_read(vm, 0x61, 1);

	/* Refresh (bit 4) and timer-2 output (bit 5) change on every read. */
	ck_assert_uint_eq((a ^ b) & 0x30, 0x30);
	ck_assert_uint_eq((b ^ c) & 0x30, 0x30);
	ck_assert_uint_eq(a & 0xc0, 0); /* no NMI sources */
	fake_vm_pio_write(vm, 0x61, 0xff, 1);
	ck_assert_uint_eq(fake_vm_pio_read(vm, 0x61, 1) & 0xcf, 0x0f);
	fake_vm_pio_write(vm, 0x61, 0x01, 1);
	ck_assert_uint_eq(fake_vm_pio_read(vm, 0x61, 1) & 0x0f, 0x01);
}
END_TEST

START_TEST(test_rtc_status_registers)
{
	ck_assert_uint_eq(cmos(0x0a) & 0x80, 0); /* never "update in progress" */
	ck_assert_uint_eq(cmos(0x0b), 0x02);	 /* BCD, 24-hour */
	ck_assert_uint_eq(cmos(0x0c), 0);
	ck_assert_uint_eq(cmos(0x0d), 0x80); /* valid; bit 6 clear as Linux checks */
	/* A, C and D are read-only here. */
	cmos_set(0x0a, 0xff);
	cmos_set(0x0c, 0xff);
	cmos_set(0x0d, 0x40);
	ck_assert_uint_eq(cmos(0x0a) & 0x80, 0);
	ck_assert_uint_eq(cmos(0x0c), 0);
	ck_assert_uint_eq(cmos(0x0d), 0x80);
}
END_TEST

/* Read the clock the way Linux's mc146818_get_time() does; seconds since the epoch. */
static time_t read_rtc(bool binary)
{
	struct tm tm = {0};
	uint8_t sec, r[7];

	for (int tries = 0; tries < 5; tries++) {
		sec = cmos(0x00);
		ck_assert_uint_eq(cmos(0x0a) & 0x80, 0);
		r[0] = cmos(0x02);
		r[1] = cmos(0x04);
		r[2] = cmos(0x07);
		r[3] = cmos(0x08);
		r[4] = cmos(0x09);
		r[5] = cmos(0x32);
		r[6] = cmos(0x06);
		if (cmos(0x00) != sec)
			continue;
		if (!binary) {
			ck_assert(is_bcd(sec));
			for (int i = 0; i < 7; i++)
				ck_assert_msg(is_bcd(r[i]), "register %d = 0x%02x", i, r[i]);
		}
		unsigned int (*conv)(uint8_t) = binary ? NULL : bcd;
		tm.tm_sec = (int)(conv ? conv(sec) : sec);
		tm.tm_min = (int)(conv ? conv(r[0]) : r[0]);
		tm.tm_hour = (int)(conv ? conv(r[1]) : r[1]);
		tm.tm_mday = (int)(conv ? conv(r[2]) : r[2]);
		tm.tm_mon = (int)(conv ? conv(r[3]) : r[3]) - 1;
		tm.tm_year =
		    (int)((conv ? conv(r[5]) : r[5]) * 100 + (conv ? conv(r[4]) : r[4])) - 1900;
		ck_assert_int_ge(conv ? conv(r[6]) : r[6], 1); /* day of week 1..7 */
		ck_assert_int_le(conv ? conv(r[6]) : r[6], 7);
		return timegm(&tm);
	}
	ck_abort_msg("RTC seconds never stable");
	return 0;
}

START_TEST(test_rtc_time_bcd)
{
	time_t before = time(NULL), rtc = read_rtc(false), after = time(NULL);

	ck_assert_int_ge(rtc, before - 1);
	ck_assert_int_le(rtc, after);
}
END_TEST

START_TEST(test_rtc_time_binary)
{
	time_t before, rtc, after;

	cmos_set(0x0b, 0x06); /* binary, 24-hour */
	ck_assert_uint_eq(cmos(0x0b), 0x06);
	before = time(NULL);
	rtc = read_rtc(true);
	after = time(NULL);
	ck_assert_int_ge(rtc, before - 1);
	ck_assert_int_le(rtc, after);
}
END_TEST

START_TEST(test_rtc_12_hour)
{
	for (int tries = 0; tries < 5; tries++) {
		time_t now = time(NULL);
		struct tm tm;
		uint8_t h;
		unsigned int expect;

		gmtime_r(&now, &tm);
		cmos_set(0x0b, 0x00); /* BCD, 12-hour */
		h = cmos(0x04);
		if (time(NULL) / 3600 != now / 3600)
			continue; /* the hour changed under us */
		expect = (unsigned int)(tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12);
		ck_assert_uint_eq(bcd(h & 0x7f), expect);
		ck_assert_uint_eq(!!(h & 0x80), tm.tm_hour >= 12);
		return;
	}
	ck_abort_msg("hour kept changing");
}
END_TEST

START_TEST(test_cmos_ram_and_index)
{
	cmos_set(0x40, 0x12);
	cmos_set(0x7f, 0x34);
	ck_assert_uint_eq(cmos(0x40), 0x12);
	ck_assert_uint_eq(cmos(0x7f), 0x34);
	/* Bit 7 of the index is the NMI mask, not part of the address. */
	ck_assert_uint_eq(cmos(0xc0), 0x12);
	ck_assert_uint_eq(fake_vm_pio_read(vm, 0x70, 1), 0x40);
	/* Alarm registers are plain storage; time registers ignore writes. */
	cmos_set(0x01, 0x59);
	ck_assert_uint_eq(cmos(0x01), 0x59);
	cmos_set(0x09, 0x99);
	cmos_set(0x32, 0x99);
	ck_assert_uint_ne(cmos(0x32), 0x99);
	/* A 16-bit access writes the index and then the data port. */
	uint8_t d[2] = {0x41, 0x77};

	ck_assert(bus_dispatch(&vm->pio, 0x70, d, 2, true));
	ck_assert_uint_eq(cmos(0x41), 0x77);
	/* Every index is safe to read and write. */
	for (unsigned int i = 0; i < 256; i++) {
		cmos_set((uint8_t)i, (uint8_t)i);
		cmos((uint8_t)i);
	}
	ck_assert_uint_eq(cmos(0x0d), 0x80);
}
END_TEST

START_TEST(test_absent_devices_read_ff)
{
	/* COM2-4 and LPT1 are deliberately not registered: probes must see 0xff. */
	static const uint16_t ports[] = {0x2f8, 0x2fd, 0x3e8, 0x2e8, 0x378, 0x379, 0x3f2};

	for (unsigned int i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		uint8_t v = 0;

		ck_assert(!bus_dispatch(&vm->pio, ports[i], &v, 1, false));
		ck_assert_uint_eq(v, 0xff);
	}
}
END_TEST

START_TEST(test_double_create_fails)
{
	ck_assert_int_eq(legacy_ports_create(vm), -1);
	ck_assert_int_eq(test_exit_create(vm, EXIT_PORT + 2), -1);
}
END_TEST

/* Test-exit port */

START_TEST(test_exit_32bit)
{
	uint32_t v = 0x1234;

	ck_assert(bus_dispatch(&vm->pio, EXIT_PORT, (uint8_t *)&v, 4, true));
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_POWEROFF);
	ck_assert_int_eq(atomic_load(&vm->stop_status), 0x34);
	/* The first stop wins. */
	v = 7;
	ck_assert(bus_dispatch(&vm->pio, EXIT_PORT, (uint8_t *)&v, 4, true));
	ck_assert_int_eq(atomic_load(&vm->stop_status), 0x34);
}
END_TEST

START_TEST(test_exit_narrow_writes)
{
	uint16_t w = 0x0100; /* low byte 0: success */
	uint8_t b = 0xff;

	ck_assert(bus_dispatch(&vm->pio, EXIT_PORT, (uint8_t *)&w, 2, true));
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_POWEROFF);
	ck_assert_int_eq(atomic_load(&vm->stop_status), 0);
	atomic_store(&vm->stop_reason, VM_RUNNING);
	ck_assert(bus_dispatch(&vm->pio, EXIT_PORT, &b, 1, true));
	ck_assert_int_eq(atomic_load(&vm->stop_status), 0xff);
}
END_TEST

START_TEST(test_exit_reads_and_offsets)
{
	uint32_t v = 0xffffffff;

	ck_assert(bus_dispatch(&vm->pio, EXIT_PORT, (uint8_t *)&v, 4, false));
	ck_assert_uint_eq(v, 0);
	/* Writes that do not start at the port itself are ignored. */
	v = 3;
	ck_assert(bus_dispatch(&vm->pio, EXIT_PORT + 1, (uint8_t *)&v, 1, true));
	ck_assert(bus_dispatch(&vm->pio, EXIT_PORT + 2, (uint8_t *)&v, 2, true));
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING);
	/* Nor is the port wider than 4 bytes. */
	ck_assert(!bus_dispatch(&vm->pio, EXIT_PORT + 1, (uint8_t *)&v, 4, true));
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_RUNNING);
}
END_TEST

Suite *legacy_ports_suite(void)
{
	Suite *s = suite_create("legacy_ports");

	unit_tcase(s, "ports", legacy_ports_setup, legacy_ports_teardown,
		   UNIT_TESTS(test_post_port, test_port_b_toggles, test_rtc_status_registers,
			      test_rtc_time_bcd, test_rtc_time_binary, test_rtc_12_hour,
			      test_cmos_ram_and_index, test_absent_devices_read_ff,
			      test_double_create_fails));
	unit_tcase(
	    s, "test-exit", legacy_ports_setup, legacy_ports_teardown,
	    UNIT_TESTS(test_exit_32bit, test_exit_narrow_writes, test_exit_reads_and_offsets));
	return s;
}
