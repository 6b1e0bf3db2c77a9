/*
 * The 16550A UART register by register, as Linux's 8250 driver uses it, plus
 * hostile register sequences; and the console's escape handling, output
 * files and input thread.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vmm/console.h"
#include "devices/serial.h"
#include "fake_vm.h"
#include "vm.h"
#include "helpers.h"
#include "stats_query.h"

#define BASE 0x3f8
#define IRQ  4

#define RBR 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_IDLE 0x60 /* THRE | TEMT */

static struct vm *vm;
static struct serial *uart;
static int out_pipe[2];

static uint8_t rd(unsigned int reg)
{
	return fake_vm_pio_read(vm, BASE + reg, 1);
}

static void wr(unsigned int reg, uint8_t v)
{
	fake_vm_pio_write(vm, BASE + reg, v, 1);
}

static void feed(const char *s)
{
	serial_receive(uart, (const uint8_t *)s, strlen(s));
}

/* Everything written to the output pipe so far (the pipe is non-blocking on our side). */
static size_t drain_output(char *buf, size_t size)
{
	size_t total = 0;
	ssize_t n;

	while (total < size && (n = read(out_pipe[0], buf + total, size - total)) > 0)
		total += (size_t)n;
	return total;
}

static void serial_setup(void)
{
	vm = fake_vm_create(4096);
	ck_assert_int_eq(pipe2(out_pipe, O_CLOEXEC), 0);
	ck_assert_int_eq(fcntl(out_pipe[0], F_SETFL, O_NONBLOCK), 0);
	uart = serial_create(vm, BASE, IRQ, out_pipe[1]);
	ck_assert_ptr_nonnull(uart);
}

static void serial_teardown(void)
{
	serial_destroy(uart);
	close(out_pipe[0]);
	close(out_pipe[1]);
	fake_vm_destroy(vm);
}

/* Registers */

START_TEST(test_reset_values)
{
	ck_assert_uint_eq(rd(IER), 0);
	ck_assert_uint_eq(rd(IIR), 0x01);
	ck_assert_uint_eq(rd(LCR), 0);
	ck_assert_uint_eq(rd(MCR), 0);
	ck_assert_uint_eq(rd(LSR), LSR_IDLE);
	ck_assert_uint_eq(rd(MSR), 0xb0); /* CTS, DSR, DCD: a terminal is attached */
	ck_assert_uint_eq(rd(MSR), 0xb0);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
	ck_assert_uint_eq(fake_vm.irq_raises[IRQ], 0);
}
END_TEST

START_TEST(test_registration)
{
	/* The 8 ports are taken; a second UART on them must fail, an adjacent one not. */
	ck_assert_ptr_null(serial_create(vm, BASE + 4, 3, -1));
	struct serial *com2 = serial_create(vm, BASE + 8, 3, -1);

	ck_assert_ptr_nonnull(com2);
	ck_assert_ptr_null(serial_create(vm, BASE - 7, 3, -1));
	serial_destroy(com2);
	serial_destroy(NULL);
}
END_TEST

START_TEST(test_scratch)
{
	for (unsigned int v = 0; v < 256; v++) {
		wr(SCR, (uint8_t)v);
		ck_assert_uint_eq(rd(SCR), v);
	}
}
END_TEST

START_TEST(test_dlab)
{
	wr(IER, 0x05);
	wr(LCR, 0x83); /* DLAB, 8 data bits */
	wr(RBR, 0x01); /* DLL */
	wr(IER, 0x02); /* DLM */
	ck_assert_uint_eq(rd(RBR), 0x01);
	ck_assert_uint_eq(rd(IER), 0x02);
	ck_assert_uint_eq(rd(LCR), 0x83);
	wr(LCR, 0x03);
	ck_assert_uint_eq(rd(IER), 0x05); /* IER untouched by the DLM write */
	ck_assert_uint_eq(rd(LCR), 0x03);
	wr(LCR, 0x80);
	ck_assert_uint_eq(rd(RBR), 0x01); /* divisor kept */
	ck_assert_uint_eq(rd(IER), 0x02);
	/* Nothing was transmitted: the DLL write is not a THR write. */
	char buf[8];

	ck_assert_uint_eq(drain_output(buf, sizeof(buf)), 0);
}
END_TEST

START_TEST(test_dlab_hides_received_data)
{
	feed("A");
	wr(LCR, 0x80);
	ck_assert_uint_ne(rd(RBR), 'A');
	ck_assert_uint_eq(rd(LSR) & 0x01, 0x01); /* still there */
	wr(LCR, 0x00);
	ck_assert_uint_eq(rd(RBR), 'A');
	ck_assert_uint_eq(rd(LSR) & 0x01, 0);
}
END_TEST

START_TEST(test_ier_mask)
{
	/* Linux's autoconfig writes 0 then 0x0f and reads back the low nibble. */
	wr(IER, 0x00);
	ck_assert_uint_eq(rd(IER) & 0x0f, 0);
	wr(IER, 0xff);
	ck_assert_uint_eq(rd(IER), 0x0f);
}
END_TEST

START_TEST(test_mcr_mask_and_lsr_msr_writes_ignored)
{
	wr(MCR, 0xff);
	ck_assert_uint_eq(rd(MCR), 0x1f);
	wr(MCR, 0);
	rd(MSR);
	wr(LSR, 0x00);
	wr(MSR, 0x00);
	ck_assert_uint_eq(rd(LSR), LSR_IDLE);
	ck_assert_uint_eq(rd(MSR), 0xb0);
}
END_TEST

/* Transmit */

START_TEST(test_tx_bytes_reach_fd)
{
	const char *msg = "Hello, 8250!\r\n";
	char buf[64];

	for (const char *p = msg; *p; p++) {
		ck_assert_uint_eq(rd(LSR) & 0x20, 0x20);
		wr(RBR, (uint8_t)*p);
	}
	ck_assert_uint_eq(rd(LSR), LSR_IDLE);
	ck_assert_uint_eq(drain_output(buf, sizeof(buf)), strlen(msg));
	ck_assert_mem_eq(buf, msg, strlen(msg));
}
END_TEST

/* Whether the output ends mid-line follows the last byte sent (main's final line). */
START_TEST(test_tx_mid_line_follows_last_byte)
{
	char buf[16];

	ck_assert(!serial_output_mid_line(uart));
	wr(RBR, '$');
	wr(RBR, ' ');
	ck_assert(serial_output_mid_line(uart));
	wr(RBR, '\r');
	ck_assert(serial_output_mid_line(uart));
	wr(RBR, '\n');
	ck_assert(!serial_output_mid_line(uart));
	wr(RBR, 'x');
	ck_assert(serial_output_mid_line(uart));
	ck_assert_uint_eq(drain_output(buf, sizeof(buf)), 5);
}
END_TEST

/* The --stats report: bytes each way, nothing dropped. */
START_TEST(test_stats_report)
{
	char buf[64];
	struct json_object *dev;

	wr(RBR, 'a');
	wr(RBR, 'b');
	feed("xyz");
	ck_assert_uint_eq(drain_output(buf, sizeof(buf)), 2);
	dev = unit_device_stats(vm, "serial-0x3f8");
	ck_assert_str_eq(unit_json_str(dev, "model"), "16550a");
	ck_assert_uint_eq(unit_json_u64(dev, "port"), 0x3f8);
	ck_assert_uint_eq(unit_json_u64(dev, "counters.tx_bytes"), 2);
	ck_assert_uint_eq(unit_json_u64(dev, "counters.rx_bytes"), 3);
	ck_assert_uint_eq(unit_json_u64(dev, "counters.tx_dropped"), 0);
	ck_assert_uint_eq(unit_json_u64(dev, "counters.rx_dropped"), 0);
	ck_assert_uint_eq(unit_json_u64(dev, "counters.loopback_overruns"), 0);
	json_object_put(dev);
}
END_TEST

START_TEST(test_tx_all_byte_values)
{
	char buf[300];

	for (unsigned int v = 0; v < 256; v++)
		wr(RBR, (uint8_t)v);
	ck_assert_uint_eq(drain_output(buf, sizeof(buf)), 256);
	for (unsigned int v = 0; v < 256; v++)
		ck_assert_uint_eq((uint8_t)buf[v], v);
}
END_TEST

START_TEST(test_tx_without_output)
{
	struct vm *vm2 = fake_vm_create(4096);
	struct serial *quiet = serial_create(vm2, BASE, IRQ, -1);
	uint8_t v = 'x';

	ck_assert_ptr_nonnull(quiet);
	v = MCR_OUT2;
	bus_dispatch(&vm2->pio, BASE + MCR, &v, 1, true);
	v = 0x02;
	bus_dispatch(&vm2->pio, BASE + IER, &v, 1, true);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	bus_dispatch(&vm2->pio, BASE + IIR, &v, 1, false);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
	v = 'x';
	bus_dispatch(&vm2->pio, BASE + RBR, &v, 1, true);
	/* Output is discarded, but the transmitter still drains and interrupts. */
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	bus_dispatch(&vm2->pio, BASE + LSR, &v, 1, false);
	ck_assert_uint_eq(v, LSR_IDLE);
	serial_destroy(quiet);
	fake_vm_destroy(vm2);
}
END_TEST

START_TEST(test_tx_to_closed_pipe)
{
	char buf[8];

	signal(SIGPIPE, SIG_IGN); /* as minivmm's main does */
	wr(RBR, 'a');
	ck_assert_uint_eq(drain_output(buf, sizeof(buf)), 1);
	close(out_pipe[0]);
	wr(RBR, 'b'); /* EPIPE: output is switched off, the guest carries on */
	wr(RBR, 'c');
	ck_assert_uint_eq(rd(LSR), LSR_IDLE);
	out_pipe[0] = open("/dev/null", O_RDONLY); /* for teardown */
}
END_TEST

START_TEST(test_tx_reader_stalls)
{
	char buf[70000];
	size_t got;
	int cap;

	/* Fill the pipe so the UART's next write cannot proceed. */
	cap = fcntl(out_pipe[1], F_SETPIPE_SZ, 4096);
	ck_assert_int_eq(cap, 4096);
	ck_assert_int_eq(fcntl(out_pipe[1], F_SETFL, O_NONBLOCK), 0);
	memset(buf, '.', sizeof(buf));
	while (write(out_pipe[1], buf, sizeof(buf)) > 0)
		;
	ck_assert_int_eq(fcntl(out_pipe[1], F_SETFL, 0), 0);

	/* The first byte waits a bounded time, the rest neither block nor spin. */
	for (unsigned int i = 0; i < 5000; i++)
		wr(RBR, (uint8_t)('a' + i % 26));
	ck_assert_uint_eq(rd(LSR), LSR_IDLE);

	/* Reader catches up: the buffered bytes come out, in order, on the next write. */
	got = drain_output(buf, sizeof(buf));
	ck_assert_uint_eq(got, (size_t)cap);
	wr(RBR, '!');
	got = drain_output(buf, sizeof(buf));
	ck_assert_uint_eq(got, 4096); /* the TX buffer; the bytes beyond it were dropped */
	for (unsigned int i = 0; i < 4096; i++)
		ck_assert_int_eq(buf[i], 'a' + i % 26);
	wr(RBR, '?');
	ck_assert_uint_eq(drain_output(buf, sizeof(buf)), 2);
	ck_assert_mem_eq(buf, "!?", 2);
}
END_TEST

/* Transmitter-empty interrupt */

START_TEST(test_thre_interrupt)
{
	wr(MCR, MCR_OUT2);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
	wr(IER, 0x02); /* ETBEI while THR is empty */
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	ck_assert_uint_eq(rd(IIR), 0x02);
	/* The IIR read that reported THRE acknowledged it. */
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
	ck_assert_uint_eq(rd(IIR), 0x01);
	/* A THR write empties at once and re-arms THRE. */
	wr(RBR, 'x');
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	ck_assert_uint_eq(fake_vm.irq_raises[IRQ], 2);
	/* Clearing ETBEI drops it without any IIR read. */
	wr(IER, 0x00);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
	ck_assert_uint_eq(rd(IIR), 0x01);
	/* Rewriting IER with ETBEI already set does not re-arm an acknowledged THRE. */
	wr(IER, 0x02);
	ck_assert_uint_eq(rd(IIR), 0x02);
	wr(IER, 0x03);
	ck_assert_uint_eq(rd(IIR), 0x01);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
}
END_TEST

START_TEST(test_thre_linux_startup_probe)
{
	/* serial8250_do_startup's check that THRE is re-asserted (else UART_BUG_THRE). */
	uint8_t iir1, iir;

	wr(FCR, 0x01);
	wr(IER, 0x02);
	iir1 = rd(IIR);
	wr(IER, 0x00);
	wr(IER, 0x02);
	iir = rd(IIR);
	wr(IER, 0x00);
	ck_assert_uint_eq(iir1, 0xc2);
	ck_assert_uint_eq(iir, 0xc2);
	/* UART_BUG_TXEN check: THRI enabled, LSR then IIR must show the interrupt. */
	wr(IER, 0x02);
	ck_assert_uint_eq(rd(LSR) & 0x40, 0x40);
	ck_assert_uint_eq(rd(IIR) & 0x01, 0);
	wr(IER, 0x00);
}
END_TEST

START_TEST(test_out2_gates_irq)
{
	wr(IER, 0x02);				     /* THRE pending... */
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0); /* ...but OUT2 is low */
	wr(MCR, MCR_OUT2);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	wr(MCR, 0x03); /* DTR|RTS without OUT2 */
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
	wr(MCR, 0x0b);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	ck_assert_uint_eq(fake_vm.irq_raises[IRQ], 2);
}
END_TEST

/* Receive */

START_TEST(test_rx_non_fifo)
{
	char expect[200];

	for (unsigned int i = 0; i < sizeof(expect); i++)
		expect[i] = (char)('A' + i % 50);
	serial_receive(uart, (const uint8_t *)expect, sizeof(expect));
	/* One holding register, the rest waits: nothing is lost. */
	for (unsigned int i = 0; i < sizeof(expect); i++) {
		ck_assert_uint_eq(rd(LSR), LSR_IDLE | 0x01);
		ck_assert_uint_eq(rd(RBR), (uint8_t)expect[i]);
	}
	ck_assert_uint_eq(rd(LSR), LSR_IDLE);
	ck_assert_uint_eq(rd(RBR), 0); /* empty receiver */
}
END_TEST

START_TEST(test_rx_interrupt)
{
	wr(MCR, MCR_OUT2);
	feed("ab");
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0); /* ERBFI off */
	ck_assert_uint_eq(rd(IIR), 0x01);
	wr(IER, 0x01);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	ck_assert_uint_eq(rd(IIR), 0x04);
	ck_assert_uint_eq(rd(IIR), 0x04); /* not acknowledged by reading IIR */
	ck_assert_uint_eq(rd(RBR), 'a');
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	ck_assert_uint_eq(rd(RBR), 'b');
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
	ck_assert_uint_eq(rd(IIR), 0x01);
	feed("c");
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	ck_assert_uint_eq(fake_vm.irq_raises[IRQ], 2);
}
END_TEST

START_TEST(test_rx_fifo_trigger_levels)
{
	static const unsigned int level[4] = {1, 4, 8, 14};
	unsigned int t = (unsigned int)_i;
	char buf[20];

	memset(buf, 'z', sizeof(buf));
	wr(FCR, (uint8_t)(0x07 | t << 6));
	wr(IER, 0x01);
	for (unsigned int n = 1; n <= 16; n++) {
		serial_receive(uart, (const uint8_t *)buf, 1);
		/* Below the trigger level the character timeout reports the data. */
		ck_assert_uint_eq(rd(IIR), n < level[t] ? 0xcc : 0xc4);
	}
	for (unsigned int n = 16; n > 0; n--) {
		ck_assert_uint_eq(rd(IIR), n < level[t] ? 0xcc : 0xc4);
		ck_assert_uint_eq(rd(RBR), 'z');
	}
	ck_assert_uint_eq(rd(IIR), 0xc1);
}
END_TEST

START_TEST(test_rx_backlog_and_overrun)
{
	enum { SENT = 16 + 16384 + 10 };
	uint8_t *in = malloc(SENT);
	size_t got = 0;

	ck_assert_ptr_nonnull(in);
	for (size_t i = 0; i < SENT; i++)
		in[i] = (uint8_t)(i * 7);
	wr(FCR, 0x01);
	wr(IER, 0x05); /* data and line status */
	wr(MCR, MCR_OUT2);
	serial_receive(uart, in, SENT);
	/* The receiver-line-status interrupt outranks data available. */
	ck_assert_uint_eq(rd(IIR), 0xc6);
	ck_assert_uint_eq(rd(LSR), LSR_IDLE | 0x03); /* DR, OE */
	ck_assert_uint_eq(rd(LSR), LSR_IDLE | 0x01); /* OE cleared by the read */
	ck_assert_uint_eq(rd(IIR), 0xc4);
	while (rd(LSR) & 0x01) {
		ck_assert_uint_eq(rd(RBR), in[got]);
		got++;
	}
	/* FIFO and backlog held everything up to the overflow, in order. */
	ck_assert_uint_eq(got, 16 + 16384);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
	free(in);
}
END_TEST

START_TEST(test_fcr)
{
	char buf[21];

	for (unsigned int i = 0; i < 20; i++)
		buf[i] = (char)('a' + i);
	ck_assert_uint_eq(rd(IIR) & 0xc0, 0);
	wr(FCR, 0x01);
	ck_assert_uint_eq(rd(IIR), 0xc1);
	serial_receive(uart, (const uint8_t *)buf, 20);
	/* Clearing the RX FIFO drops its 16 bytes; the 4 still waiting move in. */
	wr(FCR, 0x03);
	for (unsigned int i = 16; i < 20; i++)
		ck_assert_uint_eq(rd(RBR), (uint8_t)buf[i]);
	ck_assert_uint_eq(rd(LSR) & 0x01, 0);
	/* Switching FIFOs off resets them too. */
	feed("xy");
	wr(FCR, 0x00);
	ck_assert_uint_eq(rd(LSR) & 0x01, 0);
	ck_assert_uint_eq(rd(IIR), 0x01);
	/* Trigger bits written without the enable bit have no effect. */
	wr(FCR, 0xc0);
	ck_assert_uint_eq(rd(IIR), 0x01);
	wr(IER, 0x01);
	feed("q");
	ck_assert_uint_eq(rd(IIR), 0x04);
	wr(FCR, 0xc7);
	feed("r");
	ck_assert_uint_eq(rd(IIR), 0xcc); /* 1 byte < trigger 14 */
	/* Writing FCR with the same enable bit keeps the data. */
	wr(FCR, 0xc1);
	ck_assert_uint_eq(rd(RBR), 'r');
}
END_TEST

/* Loopback and modem status */

START_TEST(test_loopback_data)
{
	char buf[8];

	wr(MCR, MCR_LOOP | MCR_OUT2);
	wr(IER, 0x01);
	wr(RBR, 'L');
	ck_assert_uint_eq(drain_output(buf, sizeof(buf)), 0); /* not sent out */
	ck_assert_uint_eq(rd(LSR), LSR_IDLE | 0x01);
	ck_assert_uint_eq(rd(IIR), 0x04);
	/* In loopback the OUT2 pin is inactive, so no IRQ leaves the chip. */
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
	ck_assert_uint_eq(rd(RBR), 'L');
	/* Console input waits while the receiver is disconnected. */
	feed("in");
	ck_assert_uint_eq(rd(LSR) & 0x01, 0);
	wr(MCR, MCR_OUT2);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	ck_assert_uint_eq(rd(RBR), 'i');
	ck_assert_uint_eq(rd(RBR), 'n');
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
}
END_TEST

START_TEST(test_loopback_overrun)
{
	wr(FCR, 0x01);
	wr(MCR, MCR_LOOP);
	for (unsigned int i = 0; i < 17; i++)
		wr(RBR, (uint8_t)i);
	ck_assert_uint_eq(rd(LSR), LSR_IDLE | 0x03);
	for (unsigned int i = 0; i < 16; i++)
		ck_assert_uint_eq(rd(RBR), i); /* the 17th byte was lost */
	ck_assert_uint_eq(rd(LSR), LSR_IDLE);
	/* Without FIFOs the second byte already overruns. */
	wr(FCR, 0x00);
	wr(RBR, 'a');
	wr(RBR, 'b');
	ck_assert_uint_eq(rd(LSR), LSR_IDLE | 0x03);
	ck_assert_uint_eq(rd(RBR), 'a');
}
END_TEST

START_TEST(test_loopback_modem_lines)
{
	/* Linux's autoconfig: MCR = LOOP|OUT2|RTS must read MSR high nibble 0x90. */
	wr(MCR, MCR_LOOP | 0x0a);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x90);
	wr(MCR, MCR_LOOP | 0x01); /* DTR -> DSR */
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x20);
	wr(MCR, MCR_LOOP | 0x04); /* OUT1 -> RI */
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0x40);
	wr(MCR, MCR_LOOP | 0x0f);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0xf0);
	wr(MCR, 0);
	ck_assert_uint_eq(rd(MSR) & 0xf0, 0xb0);
}
END_TEST

START_TEST(test_msr_deltas_and_interrupt)
{
	wr(IER, 0x08);
	wr(MCR, MCR_OUT2);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
	/* Entering loopback with all outputs low drops CTS, DSR and DCD. */
	wr(MCR, MCR_LOOP);
	ck_assert_uint_eq(rd(IIR), 0x00);
	ck_assert_uint_eq(rd(MSR), 0x0b); /* DCTS | DDSR | DDCD */
	ck_assert_uint_eq(rd(MSR), 0x00); /* deltas clear on read */
	ck_assert_uint_eq(rd(IIR), 0x01);
	/* RI rising edge: no delta; trailing edge: TERI. */
	wr(MCR, MCR_LOOP | 0x04);
	ck_assert_uint_eq(rd(MSR), 0x40);
	wr(MCR, MCR_LOOP);
	ck_assert_uint_eq(rd(MSR), 0x04);
	/* Leaving loopback raises the lines again: a delta interrupt through OUT2. */
	wr(MCR, MCR_OUT2);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 1);
	ck_assert_uint_eq(rd(MSR), 0xbb);
	ck_assert_int_eq(fake_vm.irq_level[IRQ], 0);
}
END_TEST

START_TEST(test_iir_priorities)
{
	wr(MCR, MCR_LOOP);
	wr(MCR, MCR_LOOP | 0x02); /* CTS delta pending */
	wr(RBR, '1');
	wr(RBR, '2'); /* overrun: non-FIFO holding register full */
	wr(IER, 0x0f);
	ck_assert_uint_eq(rd(IIR), 0x06); /* line status */
	rd(LSR);
	ck_assert_uint_eq(rd(IIR), 0x04); /* data */
	ck_assert_uint_eq(rd(RBR), '1');
	ck_assert_uint_eq(rd(IIR), 0x02); /* THRE, acknowledged by this read */
	ck_assert_uint_eq(rd(IIR), 0x00); /* modem status */
	rd(MSR);
	ck_assert_uint_eq(rd(IIR), 0x01);
}
END_TEST

/* Access widths and hostile sequences */

START_TEST(test_wide_accesses)
{
	uint8_t d[4];

	/* A 16-bit access is two byte accesses to consecutive ports. */
	wr(SCR, 0x5a);
	ck_assert(bus_dispatch(&vm->pio, BASE + MSR, d, 2, false));
	ck_assert_uint_eq(d[0], 0xb0);
	ck_assert_uint_eq(d[1], 0x5a);
	d[0] = 'h';
	d[1] = 0x02;
	ck_assert(bus_dispatch(&vm->pio, BASE + RBR, d, 2, true)); /* THR, IER */
	ck_assert_uint_eq(rd(IER), 0x02);
	ck_assert(bus_dispatch(&vm->pio, BASE + 4, d, 4, false)); /* MCR LSR MSR SCR */
	ck_assert_uint_eq(d[1], LSR_IDLE);
	ck_assert_uint_eq(d[3], 0x5a);
	/* Accesses running past the last port are not the UART's. */
	memset(d, 0, sizeof(d));
	ck_assert(!bus_dispatch(&vm->pio, BASE + 6, d, 4, false));
	ck_assert_uint_eq(d[0], 0xff);
	char out[4];

	ck_assert_uint_eq(drain_output(out, sizeof(out)), 1);
	ck_assert_int_eq(out[0], 'h');
}
END_TEST

static uint32_t prng_state;

static uint32_t prng(void)
{
	prng_state = prng_state * 1103515245u + 12345u;
	return prng_state >> 8;
}

START_TEST(test_register_fuzz)
{
	char sink[4096];

	prng_state = 0x8250;
	for (unsigned int i = 0; i < 200000; i++) {
		unsigned int reg = prng() % 8;
		uint32_t r = prng();

		if (r % 3 == 0) {
			rd(reg);
		} else if (r % 97 == 1) {
			feed("fuzz input");
		} else {
			wr(reg, (uint8_t)(r >> 8));
		}
		/* The IRQ line always matches IIR, OUT2 and loopback. */
		if (i % 64 == 0) {
			uint8_t mcr = rd(MCR), lcr = rd(LCR);
			int pending;

			wr(LCR, lcr & 0x7f);
			pending = (rd(IER) & 0x02) ? -1 : !(rd(IIR) & 0x01);
			wr(LCR, lcr);
			if (pending >= 0)
				ck_assert_int_eq(fake_vm.irq_level[IRQ],
						 pending && (mcr & MCR_OUT2) && !(mcr & MCR_LOOP));
			drain_output(sink, sizeof(sink));
		}
		ck_assert_uint_eq(rd(LSR) & 0x60, 0x60);
	}
}
END_TEST

/* Console */

static size_t filter(struct console_escape *esc, const char *in, size_t len, uint8_t *out,
		     unsigned int *events)
{
	return console_filter(esc, (const uint8_t *)in, len, out, events);
}

START_TEST(test_console_filter)
{
	struct console_escape esc = {0};
	unsigned int ev;
	uint8_t out[16];
	size_t n;

	n = filter(&esc, "ls -l\r", 6, out, &ev);
	ck_assert_uint_eq(n, 6);
	ck_assert_mem_eq(out, "ls -l\r", 6);
	ck_assert_uint_eq(ev, 0);

	n = filter(&esc, "a\001\001b", 4, out, &ev); /* Ctrl-A Ctrl-A sends one */
	ck_assert_uint_eq(n, 3);
	ck_assert_mem_eq(out, "a\001b", 3);
	ck_assert_uint_eq(ev, 0);

	n = filter(&esc, "\001z", 2, out, &ev); /* unknown command: both bytes */
	ck_assert_uint_eq(n, 2);
	ck_assert_mem_eq(out, "\001z", 2);

	n = filter(&esc, "q\001", 2, out, &ev); /* escape split across reads */
	ck_assert_uint_eq(n, 1);
	ck_assert(esc.after_escape);
	n = filter(&esc, "xafter", 6, out, &ev);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(ev, CONSOLE_EVENT_QUIT);

	esc.after_escape = false;
	n = filter(&esc, "1\001X2", 4, out, &ev);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(out[0], '1');
	ck_assert_uint_eq(ev, CONSOLE_EVENT_QUIT);

	esc.after_escape = false;
	n = filter(&esc, "\001h!", 3, out, &ev);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(out[0], '!');
	ck_assert_uint_eq(ev, CONSOLE_EVENT_HELP);

	/* Worst case output: len + 1 bytes. */
	esc.after_escape = false;
	filter(&esc, "\001", 1, out, &ev);
	n = filter(&esc, "\002\001\003", 3, out, &ev);
	ck_assert_uint_eq(n, 4);
	ck_assert_mem_eq(out, "\001\002\001\003", 4);
}
END_TEST

START_TEST(test_console_output_targets)
{
	struct vm_config cfg = {0};
	char path[64];
	struct stat st;
	int fd, old;

	cfg.console = CONSOLE_NONE;
	ck_assert_int_eq(console_open_output(&cfg), -1);
	cfg.console = CONSOLE_STDIO;
	ck_assert_int_eq(console_open_output(&cfg), STDOUT_FILENO);

	old = unit_temp_file("console", path, sizeof(path));
	ck_assert_int_eq(write(old, "stale", 5), 5);
	close(old);
	cfg.console = CONSOLE_FILE;
	cfg.console_path = path;
	fd = console_open_output(&cfg);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 5); /* kept until the VM starts... */
	console_output_abandon(&cfg);
	ck_assert_int_eq(access(path, F_OK), 0); /* ...and not removed: it existed */
	console_output_begin();
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 0); /* truncated once the VM starts */
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_int_eq(write(fd, "new", 3), 3);
	close(fd);
	unlink(path);

	/* A file console_open_output() created is removed if the VM never starts. */
	fd = console_open_output(&cfg);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(access(path, F_OK), 0);
	console_output_abandon(&cfg);
	ck_assert_int_ne(access(path, F_OK), 0);

	cfg.console_path = "/nonexistent-dir/console.log";
	ck_assert_int_eq(console_open_output(&cfg), -2);
}
END_TEST

START_TEST(test_console_input_only_for_stdio)
{
	struct vm_config cfg = {.console = CONSOLE_FILE, .console_path = "/dev/null"};

	vm->cfg = &cfg;
	ck_assert_int_eq(console_start_input(vm, uart), 0);
	cfg.console = CONSOLE_NONE;
	ck_assert_int_eq(console_start_input(vm, uart), 0);
	console_restore(); /* nothing to restore: must be harmless, twice */
	console_restore();
}
END_TEST

START_TEST(test_console_input_thread)
{
	const char typed[] = "echo hi\r\001\001\001x ignored";
	struct timespec deadline, now;
	int in[2];
	char got[16];
	size_t n = 0;

	/* The thread reads the real stdin: only safe in a forked test. */
	if (getenv("CK_FORK") && strcmp(getenv("CK_FORK"), "no") == 0)
		return;
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_eq(dup2(in[0], STDIN_FILENO), STDIN_FILENO);
	close(in[0]);
	ck_assert_int_eq(console_start_input(vm, uart), 0);
	ck_assert_int_eq(console_start_input(vm, uart), -1); /* only one console */
	ck_assert_int_eq(write(in[1], typed, sizeof(typed) - 1), (ssize_t)sizeof(typed) - 1);

	/* Wait for the thread to act on Ctrl-A x (a deadline, not a sleep). */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 10;
	while (atomic_load(&vm->stop_reason) == VM_RUNNING) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ck_assert_msg(now.tv_sec < deadline.tv_sec, "console never saw Ctrl-A x");
		sched_yield();
	}
	ck_assert_int_eq(atomic_load(&vm->stop_reason), VM_STOP_CONSOLE);
	console_stop_input();
	while (n < sizeof(got) && (rd(LSR) & 0x01))
		got[n++] = (char)rd(RBR);
	ck_assert_uint_eq(n, 9);
	ck_assert_mem_eq(got, "echo hi\r\001", 9);
	close(in[1]);
}
END_TEST

Suite *serial_suite(void)
{
	Suite *s = suite_create("serial");
	TCase *rx, *hostile;

	unit_tcase(s, "registers", serial_setup, serial_teardown,
		   UNIT_TESTS(test_reset_values, test_registration, test_scratch, test_dlab,
			      test_dlab_hides_received_data, test_ier_mask,
			      test_mcr_mask_and_lsr_msr_writes_ignored, test_iir_priorities));
	unit_tcase(s, "transmit", serial_setup, serial_teardown,
		   UNIT_TESTS(test_tx_bytes_reach_fd, test_tx_mid_line_follows_last_byte,
			      test_stats_report, test_tx_all_byte_values, test_tx_without_output,
			      test_tx_to_closed_pipe, test_tx_reader_stalls, test_thre_interrupt,
			      test_thre_linux_startup_probe, test_out2_gates_irq));
	rx = unit_tcase(
	    s, "receive", serial_setup, serial_teardown,
	    UNIT_TESTS(test_rx_non_fifo, test_rx_interrupt, test_rx_backlog_and_overrun, test_fcr));
	tcase_add_loop_test(rx, test_rx_fifo_trigger_levels, 0, 4);
	unit_tcase(s, "loopback-modem", serial_setup, serial_teardown,
		   UNIT_TESTS(test_loopback_data, test_loopback_overrun, test_loopback_modem_lines,
			      test_msr_deltas_and_interrupt));
	hostile = unit_tcase(s, "hostile", serial_setup, serial_teardown,
			     UNIT_TESTS(test_wide_accesses, test_register_fuzz));
	tcase_set_timeout(hostile, 60);
	unit_tcase(s, "console", serial_setup, serial_teardown,
		   UNIT_TESTS(test_console_filter, test_console_output_targets,
			      test_console_input_only_for_stdio, test_console_input_thread));
	return s;
}
