/*
 * 16550A UART model.
 *
 * The transmitter is infinitely fast: a byte written to THR leaves at once,
 * so THR and the transmit shift register always read as empty (LSR THRE and
 * TEMT set) and every THR write re-arms the THRE interrupt, exactly as a real
 * UART does when its transmitter drains.  Linux's interrupt handler keeps
 * refilling THR until its buffer is empty and then clears IER.ETBEI.
 *
 * The receiver has the 16-byte FIFO Linux expects of a 16550A (one holding
 * byte when FIFOs are off).  Input that arrives while the FIFO is full waits
 * in a larger backlog, playing the part of characters still "on the wire",
 * so pasted text is not lost; only a full backlog drops bytes and reports an
 * overrun.  The character-timeout interrupt fires as soon as the FIFO holds
 * fewer bytes than the trigger level: input comes in bursts from the
 * console, so there is never a later byte to wait for.
 */
#include "serial.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <json-c/json.h>

#include "counters.h"
#include "log.h"
#include "util.h"
#include "vm.h"

#define SERIAL_NR_PORTS	    8
#define SERIAL_FIFO_SIZE    16
#define SERIAL_BACKLOG_SIZE 16384
#define SERIAL_TX_BUF_SIZE  4096
/* A pipe that poll() calls writable takes a write of up to PIPE_BUF bytes without blocking. */
_Static_assert(SERIAL_TX_BUF_SIZE <= PIPE_BUF, "TX chunks must not block on a pipe");
/*
 * How long a THR write may wait for out_fd to accept data.  A slow reader
 * slows the guest down instead of losing output; a reader that stops
 * reading costs this once, after which output is buffered and then dropped
 * until it reads again.
 */
#define SERIAL_TX_WAIT_MS 500

/* Register offsets from the base port. */
#define REG_RBR_THR 0 /* DLL when LCR.DLAB */
#define REG_IER	    1 /* DLM when LCR.DLAB */
#define REG_IIR_FCR 2
#define REG_LCR	    3
#define REG_MCR	    4
#define REG_LSR	    5
#define REG_MSR	    6
#define REG_SCR	    7

#define IER_RDI	 0x01 /* received data available */
#define IER_THRI 0x02 /* transmitter holding register empty */
#define IER_RLSI 0x04 /* receiver line status */
#define IER_MSI	 0x08 /* modem status */
#define IER_MASK 0x0f /* upper bits read as 0 on a 16550A */

#define IIR_NO_INT	 0x01
#define IIR_MSI		 0x00
#define IIR_THRI	 0x02
#define IIR_RDI		 0x04
#define IIR_RLSI	 0x06
#define IIR_CTI		 0x0c /* character timeout */
#define IIR_FIFO_ENABLED 0xc0

#define FCR_ENABLE	 0x01
#define FCR_CLEAR_RX	 0x02
#define FCR_TRIGGER_MASK 0xc0

#define LCR_DLAB 0x80

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08 /* gates the IRQ output on PC boards */
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR	 0x01
#define LSR_OE	 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS   0x01
#define MSR_DDSR   0x02
#define MSR_TERI   0x04
#define MSR_DDCD   0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS	   0x10
#define MSR_DSR	   0x20
#define MSR_RI	   0x40
#define MSR_DCD	   0x80

struct byte_ring {
	uint8_t *buf;
	size_t size, head, count;
};

/* tx: guest -> console output; rx: console input -> guest; overruns of the loopback FIFO. */
#define SERIAL_COUNTERS(X) X(tx_bytes) X(tx_dropped) X(rx_bytes) X(rx_dropped) X(loopback_overruns)
struct serial_counters {
	SERIAL_COUNTERS(COUNTER_FIELD)
};
#define SERIAL_COUNTER_DESC(name) COUNTER_DESC(struct serial_counters, name)
static const struct counter_desc serial_counter_descs[] = {SERIAL_COUNTERS(SERIAL_COUNTER_DESC)};

struct serial {
	pthread_mutex_t lock;
	struct vm *vm;
	uint64_t port; /* base: an I/O port, or an MMIO address */
	char name[16]; /* "serial-0x3f8": its key in --stats */
	unsigned int irq;
	int out_fd;

	uint8_t ier, lcr, mcr, fcr, scr, dll, dlm;
	uint8_t msr_deltas;
	bool overrun;	   /* LSR.OE, cleared by reading LSR */
	bool thre_pending; /* THRE interrupt, cleared by IIR read or IER */
	int irq_level;	   /* last level passed to vm_set_irq */

	struct byte_ring fifo, backlog, tx;
	uint8_t fifo_buf[SERIAL_FIFO_SIZE];
	uint8_t backlog_buf[SERIAL_BACKLOG_SIZE];
	uint8_t tx_buf[SERIAL_TX_BUF_SIZE];
	bool tx_stalled;  /* out_fd did not drain within SERIAL_TX_WAIT_MS */
	bool tx_failed;	  /* write error: output is discarded */
	bool tx_mid_line; /* the last byte queued for out_fd was not '\n' */

	struct serial_counters counters;
};

static bool ring_push(struct byte_ring *r, uint8_t byte)
{
	if (r->count == r->size)
		return false;
	r->buf[(r->head + r->count) % r->size] = byte;
	r->count++;
	return true;
}

static uint8_t ring_pop(struct byte_ring *r)
{
	uint8_t byte = r->buf[r->head];

	r->head = (r->head + 1) % r->size;
	r->count--;
	return byte;
}

static void ring_init(struct byte_ring *r, uint8_t *buf, size_t size)
{
	r->buf = buf;
	r->size = size;
	r->head = r->count = 0;
}

static size_t fifo_capacity(const struct serial *s)
{
	return s->fcr & FCR_ENABLE ? SERIAL_FIFO_SIZE : 1;
}

static size_t rx_trigger_level(const struct serial *s)
{
	static const size_t levels[4] = {1, 4, 8, 14};

	if (!(s->fcr & FCR_ENABLE))
		return 1;
	return levels[(s->fcr & FCR_TRIGGER_MASK) >> 6];
}

/* Modem status inputs: a terminal that is always there, or MCR in loopback. */
static uint8_t modem_lines(uint8_t mcr)
{
	uint8_t lines = 0;

	if (!(mcr & MCR_LOOP))
		return MSR_CTS | MSR_DSR | MSR_DCD;
	if (mcr & MCR_RTS)
		lines |= MSR_CTS;
	if (mcr & MCR_DTR)
		lines |= MSR_DSR;
	if (mcr & MCR_OUT1)
		lines |= MSR_RI;
	if (mcr & MCR_OUT2)
		lines |= MSR_DCD;
	return lines;
}

/* The highest-priority enabled interrupt, as IIR bits 0-3. */
static uint8_t pending_interrupt(const struct serial *s)
{
	if ((s->ier & IER_RLSI) && s->overrun)
		return IIR_RLSI;
	if ((s->ier & IER_RDI) && s->fifo.count)
		return (s->fcr & FCR_ENABLE) && s->fifo.count < rx_trigger_level(s) ? IIR_CTI
										    : IIR_RDI;
	if ((s->ier & IER_THRI) && s->thre_pending)
		return IIR_THRI;
	if ((s->ier & IER_MSI) && s->msr_deltas)
		return IIR_MSI;
	return IIR_NO_INT;
}

static void serial_update_irq(struct serial *s)
{
	/* In loopback the OUT2 pin is forced inactive, which also cuts the IRQ. */
	int level =
	    pending_interrupt(s) != IIR_NO_INT && (s->mcr & MCR_OUT2) && !(s->mcr & MCR_LOOP);

	if (level != s->irq_level) {
		s->irq_level = level;
		vm_set_irq(s->vm, s->irq, level);
	}
}

/* Move waiting input into the FIFO; the receiver is disconnected in loopback. */
static void refill_fifo(struct serial *s)
{
	if (s->mcr & MCR_LOOP)
		return;
	while (s->backlog.count && s->fifo.count < fifo_capacity(s))
		ring_push(&s->fifo, ring_pop(&s->backlog));
}

static void tx_flush(struct serial *s)
{
	while (s->tx.count && !s->tx_failed) {
		struct pollfd pfd = {.fd = s->out_fd, .events = POLLOUT};
		size_t chunk = s->tx.size - s->tx.head;
		ssize_t n;
		int ready;

		ready = poll(&pfd, 1, s->tx_stalled ? 0 : SERIAL_TX_WAIT_MS);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready == 0) {
			s->tx_stalled = true;
			return;
		}
		if (chunk > s->tx.count)
			chunk = s->tx.count;
		n = write(s->out_fd, s->tx.buf + s->tx.head, chunk);
		if (n > 0) {
			s->tx.head = (s->tx.head + (size_t)n) % s->tx.size;
			s->tx.count -= (size_t)n;
			s->tx_stalled = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* poll said writable but it was not: retry on the next byte, never spin. */
			s->tx_stalled = true;
			return;
		}
		log_errno("serial 0x%llx: console output failed, discarding further output",
			  (unsigned long long)s->port);
		s->tx_failed = true;
		counter_add(&s->counters.tx_dropped, s->tx.count);
		s->tx.count = 0;
	}
}

static void transmit(struct serial *s, uint8_t byte)
{
	if (s->mcr & MCR_LOOP) {
		/* The byte arrives in the receiver; a full FIFO loses it. */
		if (s->fifo.count >= fifo_capacity(s) || !ring_push(&s->fifo, byte)) {
			s->overrun = true;
			counter_add(&s->counters.loopback_overruns, 1);
		}
		return;
	}
	if (s->out_fd < 0 || s->tx_failed) {
		counter_add(&s->counters.tx_dropped, 1);
		return;
	}
	/* A full buffer may only mean the reader has caught up since the last byte. */
	if (s->tx.count == s->tx.size)
		tx_flush(s);
	if (!ring_push(&s->tx, byte)) {
		counter_add(&s->counters.tx_dropped, 1);
		return;
	}
	counter_add(&s->counters.tx_bytes, 1);
	s->tx_mid_line = byte != '\n';
	tx_flush(s);
}

static uint8_t serial_read_reg(struct serial *s, unsigned int reg)
{
	uint8_t val;

	switch (reg) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (!s->fifo.count)
			return 0;
		val = ring_pop(&s->fifo);
		refill_fifo(s);
		return val;
	case REG_IER:
		return s->lcr & LCR_DLAB ? s->dlm : s->ier;
	case REG_IIR_FCR:
		val = pending_interrupt(s);
		/* Reading IIR acknowledges THRE only when it is what IIR reports. */
		if (val == IIR_THRI)
			s->thre_pending = false;
		return val | (s->fcr & FCR_ENABLE ? IIR_FIFO_ENABLED : 0);
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		val = LSR_THRE | LSR_TEMT;
		if (s->fifo.count)
			val |= LSR_DR;
		if (s->overrun)
			val |= LSR_OE;
		s->overrun = false;
		return val;
	case REG_MSR:
		val = modem_lines(s->mcr) | s->msr_deltas;
		s->msr_deltas = 0;
		return val;
	default:
		return s->scr;
	}
}

static void write_mcr(struct serial *s, uint8_t val)
{
	uint8_t old_lines = modem_lines(s->mcr);
	uint8_t new_lines = modem_lines(val & MCR_MASK);
	uint8_t changed = old_lines ^ new_lines;

	s->mcr = val & MCR_MASK;
	if (changed & MSR_CTS)
		s->msr_deltas |= MSR_DCTS;
	if (changed & MSR_DSR)
		s->msr_deltas |= MSR_DDSR;
	if (changed & MSR_DCD)
		s->msr_deltas |= MSR_DDCD;
	/* TERI reports only the trailing edge of RI. */
	if ((old_lines & MSR_RI) && !(new_lines & MSR_RI))
		s->msr_deltas |= MSR_TERI;
	refill_fifo(s);
}

static void write_fcr(struct serial *s, uint8_t val)
{
	/* Toggling FIFO mode resets the FIFO, and so does FCR_CLEAR_RX. */
	if (((val ^ s->fcr) & FCR_ENABLE) || (val & FCR_CLEAR_RX))
		s->fifo.count = 0;
	/* The other FCR bits only take effect together with FCR_ENABLE. */
	s->fcr = val & FCR_ENABLE ? val & (FCR_ENABLE | FCR_TRIGGER_MASK) : 0;
	refill_fifo(s);
}

static void serial_write_reg(struct serial *s, unsigned int reg, uint8_t val)
{
	switch (reg) {
	case REG_RBR_THR:
		if (s->lcr & LCR_DLAB) {
			s->dll = val;
			break;
		}
		transmit(s, val);
		s->thre_pending = true;
		break;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = val;
			break;
		}
		/* Enabling ETBEI while THR is empty raises THRE again (Linux tests this). */
		if ((val & IER_THRI) && !(s->ier & IER_THRI))
			s->thre_pending = true;
		else if (!(val & IER_THRI))
			s->thre_pending = false;
		s->ier = val & IER_MASK;
		break;
	case REG_IIR_FCR:
		write_fcr(s, val);
		break;
	case REG_LCR:
		s->lcr = val;
		break;
	case REG_MCR:
		write_mcr(s, val);
		break;
	case REG_LSR:
	case REG_MSR:
		/* Factory-test writes on real parts; ignored. */
		break;
	default:
		s->scr = val;
		break;
	}
}

/* An ISA 8-bit device: wider accesses become byte accesses to consecutive ports. */
static void serial_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t reg = offset + i;

		if (reg >= SERIAL_NR_PORTS) {
			if (!is_write)
				data[i] = 0xff;
			continue;
		}
		if (is_write)
			serial_write_reg(s, (unsigned int)reg, data[i]);
		else
			data[i] = serial_read_reg(s, (unsigned int)reg);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

void serial_receive(struct serial *s, const uint8_t *buf, size_t len)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < len; i++) {
		if (ring_push(&s->backlog, buf[i])) {
			counter_add(&s->counters.rx_bytes, 1);
		} else {
			counter_add(&s->counters.rx_dropped, 1);
			s->overrun = true;
		}
		/* Keep the backlog from filling while the FIFO has room. */
		refill_fifo(s);
	}
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

static void serial_report_stats(void *opaque, struct json_object *obj)
{
	struct serial *s = opaque;
	struct json_object *counters = json_object_new_object();

	json_object_object_add(obj, "model", json_object_new_string("16550a"));
	json_object_object_add(obj, "port", json_object_new_int64((int64_t)s->port));
	counters_to_json(counters, &s->counters, serial_counter_descs,
			 ARRAY_SIZE(serial_counter_descs));
	json_object_object_add(obj, "counters", counters);
}

struct serial *serial_create(struct vm *vm, uint16_t port, unsigned int irq, int out_fd)
{
	return serial_create_at(vm, &vm->pio, port, irq, out_fd);
}

struct serial *serial_create_at(struct vm *vm, struct bus *bus, uint64_t port, unsigned int irq,
				int out_fd)
{
	struct serial *s = calloc(1, sizeof(*s));
	int ret;

	if (!s) {
		log_error("serial 0x%llx: out of memory", (unsigned long long)port);
		return NULL;
	}
	s->vm = vm;
	s->port = port;
	s->irq = irq;
	s->out_fd = out_fd;
	s->dll = 0x0c; /* 9600 baud, a typical firmware default */
	ring_init(&s->fifo, s->fifo_buf, sizeof(s->fifo_buf));
	ring_init(&s->backlog, s->backlog_buf, sizeof(s->backlog_buf));
	ring_init(&s->tx, s->tx_buf, sizeof(s->tx_buf));
	pthread_mutex_init(&s->lock, NULL);
	ret = bus_register(bus, port, SERIAL_NR_PORTS, serial_io, s, "serial");
	if (ret < 0) {
		log_error("serial: cannot register 0x%llx-0x%llx: error %d",
			  (unsigned long long)port, (unsigned long long)port + SERIAL_NR_PORTS - 1,
			  ret);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "serial-0x%llx", (unsigned long long)port);
	vm_register_stats(vm, s->name, serial_report_stats, s);
	return s;
}

bool serial_output_mid_line(struct serial *s)
{
	bool mid_line;

	pthread_mutex_lock(&s->lock);
	mid_line = s->tx_mid_line;
	pthread_mutex_unlock(&s->lock);
	return mid_line;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	if (s->out_fd >= 0)
		tx_flush(s);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
