/*
 * PC ports that Linux touches at boot even on a machine without the device
 * behind them.  Each gets the smallest answer that keeps Linux happy; see
 * docs/devices-legacy.md for the list and for the ports left unregistered
 * on purpose (an empty ISA bus reads 0xff, which is what probes expect).
 */
#include "legacy_ports.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "vm.h"

/* WHY: Linux's default io_delay writes to port 0x80 (the POST-code port) after slow I/O. */
#define POST_PORT 0x80
/* WHY: Linux reads the wall clock from the MC146818 RTC when kvmclock is absent, and
 * the rtc-cmos/nvram drivers probe it; a frozen or missing RTC makes the time 1970/2000. */
#define CMOS_INDEX_PORT 0x70
#define CMOS_DATA_PORT	0x71
/* WHY: delay and PIT-calibration loops poll port B's refresh and timer-2 bits for a change. */
#define PORT_B 0x61

#define CMOS_SIZE	128
#define CMOS_INDEX_MASK 0x7f /* bit 7 of the index write masks NMIs */

#define RTC_SECONDS	 0x00
#define RTC_MINUTES	 0x02
#define RTC_HOURS	 0x04
#define RTC_DAY_OF_WEEK	 0x06
#define RTC_DAY_OF_MONTH 0x07
#define RTC_MONTH	 0x08
#define RTC_YEAR	 0x09
#define RTC_REG_A	 0x0a
#define RTC_REG_B	 0x0b
#define RTC_REG_C	 0x0c
#define RTC_REG_D	 0x0d
#define RTC_CENTURY	 0x32

#define RTC_A_DEFAULT  0x26 /* 32.768 kHz time base, 1024 Hz rate; UIP never set */
#define RTC_B_24H      0x02
#define RTC_B_BINARY   0x04
#define RTC_B_DEFAULT  RTC_B_24H /* BCD, 24-hour: what PC firmware leaves */
#define RTC_B_WRITABLE 0xfe	 /* bit 0 (daylight saving) is not implemented */
#define RTC_D_VALID    0x80	 /* battery good; bit 6 must read 0 for Linux */
#define RTC_HOUR_PM    0x80	 /* 12-hour mode */

#define PORT_B_WRITABLE	  0x0f /* timer-2 gate, speaker, parity/channel check enables */
#define PORT_B_REFRESH	  0x10
#define PORT_B_TIMER2_OUT 0x20

struct legacy_ports {
	pthread_mutex_t lock;
	uint8_t cmos_index;
	uint8_t cmos[CMOS_SIZE]; /* RTC control registers and battery-backed RAM */
	uint8_t port_b;
	bool port_b_toggle;
};

static uint8_t to_bcd(unsigned int v)
{
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

/* The RTC always shows the host's current UTC time; guest writes to it are ignored. */
static uint8_t rtc_time_register(const struct legacy_ports *lp, uint8_t index)
{
	bool binary = lp->cmos[RTC_REG_B] & RTC_B_BINARY;
	time_t now = time(NULL);
	unsigned int v;
	struct tm tm;

	gmtime_r(&now, &tm);
	switch (index) {
	case RTC_SECONDS:
		/* Leap second 60 would be an invalid RTC value. */
		v = tm.tm_sec > 59 ? 59 : (unsigned int)tm.tm_sec;
		break;
	case RTC_MINUTES:
		v = (unsigned int)tm.tm_min;
		break;
	case RTC_HOURS:
		v = (unsigned int)tm.tm_hour;
		if (!(lp->cmos[RTC_REG_B] & RTC_B_24H)) {
			bool pm = v >= 12;
			uint8_t hour12;

			v %= 12;
			if (v == 0)
				v = 12;
			hour12 = binary ? (uint8_t)v : to_bcd(v);
			return pm ? hour12 | RTC_HOUR_PM : hour12;
		}
		break;
	case RTC_DAY_OF_WEEK:
		v = (unsigned int)tm.tm_wday + 1;
		break;
	case RTC_DAY_OF_MONTH:
		v = (unsigned int)tm.tm_mday;
		break;
	case RTC_MONTH:
		v = (unsigned int)tm.tm_mon + 1;
		break;
	case RTC_YEAR:
		v = (unsigned int)(tm.tm_year + 1900) % 100;
		break;
	default: /* RTC_CENTURY */
		v = (unsigned int)(tm.tm_year + 1900) / 100;
		break;
	}
	return binary ? (uint8_t)v : to_bcd(v);
}

static bool is_time_register(uint8_t index)
{
	return index <= RTC_YEAR ? !(index & 1) || index >= RTC_DAY_OF_WEEK : index == RTC_CENTURY;
}

static uint8_t cmos_read(struct legacy_ports *lp)
{
	uint8_t index = lp->cmos_index;

	if (is_time_register(index))
		return rtc_time_register(lp, index);
	switch (index) {
	case RTC_REG_A:
		return RTC_A_DEFAULT;
	case RTC_REG_C:
		return 0; /* no interrupt flags: IRQ 8 is never raised */
	case RTC_REG_D:
		return RTC_D_VALID;
	default:
		/* Alarm registers, register B and the RAM bytes read back what was written. */
		return lp->cmos[index];
	}
}

static void cmos_write(struct legacy_ports *lp, uint8_t val)
{
	uint8_t index = lp->cmos_index;

	if (is_time_register(index) || index == RTC_REG_A || index == RTC_REG_C ||
	    index == RTC_REG_D)
		return;
	if (index == RTC_REG_B)
		val &= RTC_B_WRITABLE;
	lp->cmos[index] = val;
}

static uint8_t port_b_read(struct legacy_ports *lp)
{
	uint8_t val = lp->port_b & PORT_B_WRITABLE;

	/* Flip on every read so any loop waiting for either bit to change terminates. */
	lp->port_b_toggle = !lp->port_b_toggle;
	if (lp->port_b_toggle)
		val |= PORT_B_REFRESH | PORT_B_TIMER2_OUT;
	return val;
}

static void cmos_io_byte(struct legacy_ports *lp, uint64_t port, uint8_t *data, bool is_write)
{
	if (port == CMOS_INDEX_PORT) {
		if (is_write)
			lp->cmos_index = *data & CMOS_INDEX_MASK;
		else
			*data = lp->cmos_index;
	} else {
		if (is_write)
			cmos_write(lp, *data);
		else
			*data = cmos_read(lp);
	}
}

static void cmos_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct legacy_ports *lp = opaque;

	pthread_mutex_lock(&lp->lock);
	/* Wider accesses act as byte accesses to consecutive ports, as on ISA. */
	for (uint32_t i = 0; i < len; i++)
		cmos_io_byte(lp, CMOS_INDEX_PORT + offset + i, &data[i], is_write);
	pthread_mutex_unlock(&lp->lock);
}

static void port_b_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct legacy_ports *lp = opaque;

	(void)offset;
	(void)len; /* 1-port range: the bus routes only 1-byte accesses here */
	pthread_mutex_lock(&lp->lock);
	if (is_write)
		lp->port_b = *data & PORT_B_WRITABLE;
	else
		*data = port_b_read(lp);
	pthread_mutex_unlock(&lp->lock);
}

static void post_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	(void)opaque;
	(void)offset;
	(void)len;
	if (!is_write)
		data[0] = 0;
}

int legacy_ports_create(struct vm *vm)
{
	struct legacy_ports *lp = calloc(1, sizeof(*lp));
	int ret;

	if (!lp) {
		log_error("legacy ports: out of memory");
		return -1;
	}
	lp->cmos[RTC_REG_B] = RTC_B_DEFAULT;
	pthread_mutex_init(&lp->lock, NULL);
	/* The CMOS range first: legacy_ports_destroy() finds lp through it. */
	ret = bus_register(&vm->pio, CMOS_INDEX_PORT, 2, cmos_io, lp, "cmos-rtc");
	if (ret < 0) {
		log_error("legacy ports: cannot register CMOS ports 0x70-0x71: error %d", ret);
		pthread_mutex_destroy(&lp->lock);
		free(lp);
		return -1;
	}
	/* lp stays allocated on later failures: the CMOS range points at it. */
	ret = bus_register(&vm->pio, PORT_B, 1, port_b_io, lp, "port-b");
	if (ret < 0) {
		log_error("legacy ports: cannot register port 0x61: error %d", ret);
		return -1;
	}
	ret = bus_register(&vm->pio, POST_PORT, 1, post_io, NULL, "post");
	if (ret < 0) {
		log_error("legacy ports: cannot register port 0x80: error %d", ret);
		return -1;
	}
	return 0;
}

void legacy_ports_destroy(struct vm *vm)
{
	struct legacy_ports *lp = bus_owner(&vm->pio, CMOS_INDEX_PORT, cmos_io);

	if (!lp)
		return;
	pthread_mutex_destroy(&lp->lock);
	free(lp);
}
