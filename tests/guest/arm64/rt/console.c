/*
 * The console: minivmm's 16550A at RT_UART_BASE (one byte per register),
 * polled.  Built with -DRT_QEMU_VIRT, a PL011 at the same address instead,
 * for smoke tests on QEMU's virt board.  No lock: the guests run on one vCPU.
 */
#include "internal.h"

#ifdef RT_QEMU_VIRT
#define PL011_DR      0x00
#define PL011_FR      0x18
#define PL011_FR_RXFE (1u << 4)
#define PL011_FR_TXFF (1u << 5)
#else
#define UART_IER      1
#define UART_LCR      3
#define UART_LSR      5
#define UART_LSR_DR   0x01
#define UART_LSR_THRE 0x20
#endif
/* Bound the transmitter poll so a UART that never drains cannot hang the guest silently. */
#define TX_POLL_LIMIT 100000

void rt_console_init(void)
{
#ifndef RT_QEMU_VIRT
	mmio_write8(RT_UART_BASE + UART_IER, 0);    /* polled: no UART interrupts */
	mmio_write8(RT_UART_BASE + UART_LCR, 0x03); /* 8N1, DLAB off */
#endif
}

static bool tx_ready(void)
{
#ifdef RT_QEMU_VIRT
	return !(mmio_read32(RT_UART_BASE + PL011_FR) & PL011_FR_TXFF);
#else
	return mmio_read8(RT_UART_BASE + UART_LSR) & UART_LSR_THRE;
#endif
}

static void serial_putc(char c)
{
	for (int i = 0; i < TX_POLL_LIMIT && !tx_ready(); i++)
		cpu_relax();
#ifdef RT_QEMU_VIRT
	mmio_write32(RT_UART_BASE + PL011_DR, (uint8_t)c);
#else
	mmio_write8(RT_UART_BASE, (uint8_t)c);
#endif
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
	console_write(s, strlen(s));
}

int vprintf(const char *fmt, va_list ap)
{
	char buf[256];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	size_t len = n < 0 ? 0 : (size_t)n;

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	console_write(buf, len);
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

static bool rx_ready(void *arg)
{
	(void)arg;
#ifdef RT_QEMU_VIRT
	return !(mmio_read32(RT_UART_BASE + PL011_FR) & PL011_FR_RXFE);
#else
	return mmio_read8(RT_UART_BASE + UART_LSR) & UART_LSR_DR;
#endif
}

int console_getc(uint64_t timeout_ms)
{
	if (!spin_until(rx_ready, NULL, timeout_ms))
		return -1;
#ifdef RT_QEMU_VIRT
	return (int)(mmio_read32(RT_UART_BASE + PL011_DR) & 0xff);
#else
	return mmio_read8(RT_UART_BASE);
#endif
}
