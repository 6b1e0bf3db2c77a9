/* COM1 output, polled: works with interrupts off, at CPL0 and at CPL3 (see run_at_cpl3). */
#include "internal.h"

#define COM1	      0x3f8
#define UART_IER      1
#define UART_LCR      3
#define UART_LSR      5
#define UART_LSR_THRE 0x20
#define UART_LSR_DR   0x01
/* Bound the THRE poll so a UART that never drains cannot hang the guest silently. */
#define THRE_POLL_LIMIT 100000

/*
 * Serialises lines from different CPUs.  A handler interrupting a printf on
 * the same CPU (an exception report, say) must not deadlock: it prints
 * without the lock.
 */
static struct spinlock console_lock;
static volatile int console_owner = -1;

static bool console_acquire(void)
{
	int me = (int)this_cpu();

	if (console_owner == me)
		return false;
	spin_lock(&console_lock);
	console_owner = me;
	return true;
}

static void console_release(bool locked)
{
	if (!locked)
		return;
	console_owner = -1;
	spin_unlock(&console_lock);
}

void rt_console_init(void)
{
	outb(COM1 + UART_IER, 0);    /* polled: no UART interrupts */
	outb(COM1 + UART_LCR, 0x03); /* 8N1, DLAB off */
}

static void serial_putc(char c)
{
	for (int i = 0; i < THRE_POLL_LIMIT; i++)
		if (inb(COM1 + UART_LSR) & UART_LSR_THRE)
			break;
	outb(COM1, (uint8_t)c);
}

static void console_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
	}
}

void puts_raw(const char *s)
{
	bool locked = console_acquire();

	console_write(s, strlen(s));
	console_release(locked);
}

int vprintf(const char *fmt, va_list ap)
{
	char buf[256];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t len = n < 0 ? 0 : (size_t)n;
	bool locked;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	locked = console_acquire();
	console_write(buf, len);
	console_release(locked);
	return n;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

void spin_lock(struct spinlock *l)
{
	uint32_t one;

	for (;;) {
		one = 1;
		__asm__ volatile("xchgl %0, %1" : "+r"(one), "+m"(l->locked) : : "memory");
		if (!one)
			return;
		while (l->locked)
			cpu_relax();
	}
}

void spin_unlock(struct spinlock *l)
{
	__asm__ volatile("" ::: "memory");
	l->locked = 0;
}

static bool console_byte_ready(void *arg)
{
	(void)arg;
	return inb(COM1 + UART_LSR) & UART_LSR_DR;
}

int console_getc(uint64_t timeout_ms)
{
	if (!spin_until(console_byte_ready, NULL, timeout_ms))
		return -1;
	return inb(COM1);
}
