/*
 * The e1000 device: creation on a tap, the PCI function and its two
 * windows onto the registers, reset, the I/O thread that receives, the
 * statistics registers and --stats.  The register behaviour is in
 * e1000_regs.c, transmit in e1000_tx.c, receive in e1000_rx.c.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <json-c/json.h>

#include "byteorder.h"
#include "devices/e1000/e1000_internal.h"
#include "devices/pci.h"
#include "iothread.h"
#include "log.h"
#include "util.h"
#include "vm.h"
#include "vm_config.h"

/* Frames one wake-up of the I/O thread receives before it looks at its ring again. */
#define E1000_RX_BURST 64
/* The I/O thread's ring: two watches, a timer, their updates and cancels. */
#define E1000_IO_RING_ENTRIES 8

#define E1000_COUNTER_DESC(name) COUNTER_DESC(struct e1000_counters, name)
static const struct counter_desc e1000_counter_descs[] = {E1000_COUNTERS(E1000_COUNTER_DESC)};

/* ---- statistics registers ---- */

bool e1000_is_broadcast(const uint8_t *mac)
{
	static const uint8_t bc[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	return !memcmp(mac, bc, 6);
}

void e1000_stat_add(struct e1000 *e, uint32_t off, uint32_t n)
{
	uint32_t *r = &E1000_REG(e, off);

	/* Counters saturate instead of wrapping, as the 8254x's do. */
	*r = *r > UINT32_MAX - n ? UINT32_MAX : *r + n;
}

static void e1000_stat_add64(struct e1000 *e, uint32_t low, uint64_t n)
{
	uint64_t v = E1000_REG(e, low) | (uint64_t)E1000_REG(e, low + 4) << 32;

	v += n;
	E1000_REG(e, low) = (uint32_t)v;
	E1000_REG(e, low + 4) = (uint32_t)(v >> 32);
}

/* PRC64/PTC64 and the five size bins after them. */
static void e1000_stat_size_bin(struct e1000 *e, uint32_t bin64, uint32_t len)
{
	static const uint32_t limits[] = {64, 127, 255, 511, 1023, 1522};

	for (unsigned int i = 0; i < ARRAY_SIZE(limits); i++) {
		if (len <= limits[i]) {
			e1000_stat_add(e, bin64 + 4 * i, 1);
			return;
		}
	}
}

const struct e1000_stat_regs e1000_stat_rx = {
    E1000_GPRC, E1000_TPR, E1000_GORCL, E1000_TORL, E1000_PRC64, E1000_BPRC, E1000_MPRC,
};
const struct e1000_stat_regs e1000_stat_tx = {
    E1000_GPTC, E1000_TPT, E1000_GOTCL, E1000_TOTL, E1000_PTC64, E1000_BPTC, E1000_MPTC,
};

void e1000_stat_frame(struct e1000 *e, const struct e1000_stat_regs *regs, const uint8_t *frame,
		      uint32_t len)
{
	e1000_stat_add(e, regs->good, 1);
	e1000_stat_add(e, regs->total, 1);
	e1000_stat_add64(e, regs->good_octets, len);
	e1000_stat_add64(e, regs->total_octets, len);
	e1000_stat_size_bin(e, regs->size64, len);
	if (frame[0] & 1)
		e1000_stat_add(e, e1000_is_broadcast(frame) ? regs->bcast : regs->mcast, 1);
}

/* ---- the PCI windows ---- */

static void e1000_bar_mmio(void *opaque, uint64_t offset, uint8_t *data, uint32_t len,
			   bool is_write)
{
	struct e1000 *e = opaque;

	pthread_mutex_lock(&e->lock);
	/* The 8254x registers are 32-bit; other widths are ignored (reads give 0). */
	if (len != 4 || (offset & 3) || offset >= E1000_MMIO_SIZE) {
		counter_add(&e->counters.bad_accesses, 1);
		if (!is_write)
			memset(data, 0, len);
	} else if (is_write) {
		e1000_reg_write(e, (uint32_t)offset, get_le32(data));
	} else {
		put_le32(data, e1000_reg_read(e, (uint32_t)offset));
	}
	pthread_mutex_unlock(&e->lock);
}

/*
 * The I/O BAR: IOADDR (offset 0) selects a register, IODATA (offset 4)
 * accesses it.  Linux resets the 82540EM through here because the chip
 * cannot acknowledge a memory write that resets it.
 */
static void e1000_bar_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct e1000 *e = opaque;
	uint32_t addr;

	if (len != 4 || (offset != 0 && offset != 4)) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&e->lock);
	if (offset == 0 && is_write)
		e->io_addr = get_le32(data) & (E1000_MMIO_SIZE - 4);
	else if (offset == 0)
		put_le32(data, e->io_addr);
	addr = e->io_addr;
	pthread_mutex_unlock(&e->lock);
	if (offset == 4)
		e1000_bar_mmio(e, addr, data, len, is_write);
}

/* ---- reset and the I/O thread ---- */

void e1000_reset(struct e1000 *e)
{
	e1000_regs_reset(e);
	e1000_tx_reset(&e->tx);
	e1000_rx_reset(e);
}

void e1000_kick_io(struct e1000 *e)
{
	/* Only EAGAIN can fail: the counter is at its maximum, a wake-up is pending anyway. */
	if (e->kick_fd >= 0)
		eventfd_write(e->kick_fd, 1);
}

/*
 * Whatever woke the I/O thread (the kick eventfd, the tap, the ITR timer),
 * it does the same: one turn of the transmit work a TDT write left over,
 * deliver an interrupt ITR held back if it is due (else set the timer for
 * it), then receive until the tap is empty, the ring is full or a burst is
 * done, and watch the tap again unless the ring is full.
 */
static void e1000_io_wake(void *opaque)
{
	struct e1000 *e = opaque;
	enum e1000_rx_pass_end end;
	int64_t wait;
	int delivered;

	pthread_mutex_lock(&e->lock);
	e1000_tx_process(e); /* transmit a TDT write left over; kicks again if more */
	wait = e1000_irq_deferred_wait(e);
	pthread_mutex_unlock(&e->lock);
	if (wait >= 0)
		iothread_arm_timer(e->io, e->irq_timer, (uint64_t)wait);
	end = e1000_rx_pass(e, E1000_RX_BURST, &delivered);
	if (end != E1000_RX_PASS_WAITING)
		iothread_arm_readable(e->io, e->tap_watch);
}

int e1000_rx_poll(struct e1000 *e)
{
	int delivered;

	pthread_mutex_lock(&e->lock);
	e1000_irq_deferred_wait(e);
	pthread_mutex_unlock(&e->lock);
	e1000_rx_pass(e, UINT_MAX, &delivered);
	return delivered;
}

bool e1000_tx_poll(struct e1000 *e)
{
	bool more;

	pthread_mutex_lock(&e->lock);
	more = e1000_tx_process(e);
	pthread_mutex_unlock(&e->lock);
	return more;
}

/* The I/O thread: the kick eventfd, a watch on the tap, the ITR timer. */
static int e1000_io_start(struct e1000 *e)
{
	int ret;

	e->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (e->kick_fd < 0)
		return -errno;
	e->io = iothread_create(e->name, E1000_IO_RING_ENTRIES);
	if (!e->io)
		return -errno;
	ret = iothread_watch_eventfd(e->io, e->kick_fd, e1000_io_wake, e);
	if (ret < 0)
		return ret;
	e->tap_watch = iothread_watch_readable(e->io, e->tap.fd, e1000_io_wake, e);
	if (e->tap_watch < 0)
		return e->tap_watch;
	e->irq_timer = iothread_add_timer(e->io, e1000_io_wake, e);
	if (e->irq_timer < 0)
		return e->irq_timer;
	return iothread_start(e->io);
}

/* ---- --stats ---- */

/* "REG.r"/"REG.w": exits per register and direction, registers never touched left out. */
static void e1000_report_register_exits(struct e1000 *e, struct json_object *obj)
{
	struct json_object *regs = json_object_new_object();
	char key[32];

	pthread_mutex_lock(&e->lock);
	for (unsigned int r = 0; r < E1000_NR_REG_ROWS; r++) {
		if (e->reads[r]) {
			snprintf(key, sizeof(key), "%s.r", e1000_regs[r].name);
			json_object_object_add(regs, key, json_object_new_uint64(e->reads[r]));
		}
		if (e->writes[r]) {
			snprintf(key, sizeof(key), "%s.w", e1000_regs[r].name);
			json_object_object_add(regs, key, json_object_new_uint64(e->writes[r]));
		}
	}
	pthread_mutex_unlock(&e->lock);
	json_object_object_add(obj, "exits_by_register", regs);
}

static void e1000_report_stats(void *opaque, struct json_object *obj)
{
	struct e1000 *e = opaque;
	struct json_object *counters = json_object_new_object();

	json_object_object_add(obj, "model", json_object_new_string("e1000"));
	json_object_object_add(obj, "tap", json_object_new_string(e->tap.ifname));
	json_object_object_add(obj, "interrupts_via", json_object_new_string("KVM_IRQ_LINE"));
	counters_to_json(counters, &e->counters, e1000_counter_descs,
			 ARRAY_SIZE(e1000_counter_descs));
	json_object_object_add(obj, "counters", counters);
	e1000_report_register_exits(e, obj);
	iothread_report_stats(e->io, obj);
}

/* ---- creation ---- */

/* The allocator of the device and its buffers; unit tests make it fail. */
static void *(*e1000_allocator)(size_t size);

void e1000_set_allocator(void *(*alloc)(size_t size))
{
	e1000_allocator = alloc;
}

void *e1000_alloc(size_t size)
{
	return e1000_allocator ? e1000_allocator(size) : calloc(1, size);
}

void e1000_set_clock(struct e1000 *e, uint64_t (*now_ns)(void))
{
	pthread_mutex_lock(&e->lock);
	e->now_ns = now_ns;
	pthread_mutex_unlock(&e->lock);
}

struct pci_device *e1000_pci_device(struct e1000 *e)
{
	return e->pci;
}

static void e1000_free(struct e1000 *e)
{
	iothread_destroy(e->io); /* stops it first */
	if (e->kick_fd >= 0)
		close(e->kick_fd);
	e1000_tx_free(&e->tx);
	e1000_rx_free(&e->rx);
	free(e);
}

static int e1000_register_pci(struct vm *vm, struct e1000 *e)
{
	struct pci_device_desc desc;

	memset(&desc, 0, sizeof(desc));
	desc.name = e->name;
	desc.vendor_id = E1000_VENDOR_ID;
	desc.device_id = E1000_DEVICE_ID;
	desc.subsys_vendor_id = E1000_VENDOR_ID;
	desc.subsys_id = 0;
	desc.revision = 3;
	desc.class_code = 0x020000; /* Ethernet controller */
	desc.intx = true;
	desc.bars[0] = (struct pci_bar){PCI_BAR_MEM32, E1000_MMIO_SIZE, e1000_bar_mmio, e};
	desc.bars[1] = (struct pci_bar){PCI_BAR_IO, E1000_IO_SIZE, e1000_bar_io, e};
	return pci_register_device(vm, &desc, &e->pci);
}

int e1000_create_on_tap(struct vm *vm, unsigned int index, const uint8_t mac[6],
			const struct tap *tap, bool io_thread, struct e1000 **out)
{
	struct e1000 *e = e1000_alloc(sizeof(*e));
	int ret;

	if (!e)
		return -ENOMEM;
	/* Before anything can fail: e1000_free() closes kick_fd unless it is -1. */
	e->kick_fd = -1;
	if (e1000_tx_alloc(&e->tx) || e1000_rx_alloc(&e->rx)) {
		e1000_free(e);
		return -ENOMEM;
	}
	e->vm = vm;
	e->tap = *tap;
	e->now_ns = iothread_now_ns; /* the clock of the ITR timer */
	memcpy(e->mac, mac, 6);
	snprintf(e->name, sizeof(e->name), "e1000.%u", index);
	pthread_mutex_init(&e->lock, NULL);
	e1000_eeprom_image(mac, e->eeprom);
	ret = e1000_register_pci(vm, e);
	if (!ret) {
		pthread_mutex_lock(&e->lock);
		e1000_reset(e);
		pthread_mutex_unlock(&e->lock);
		ret = io_thread ? e1000_io_start(e) : 0;
		if (ret)
			pci_unregister_device(e->pci);
	}
	if (ret) {
		pthread_mutex_destroy(&e->lock);
		e1000_free(e);
		return ret;
	}
	*out = e;
	return 0;
}

void e1000_destroy(struct e1000 *e)
{
	/* The thread first: it polls and reads the tap. */
	iothread_destroy(e->io);
	e->io = NULL;
	tap_close(&e->tap);
	pthread_mutex_destroy(&e->lock);
	e1000_free(e);
}

int e1000_create_with_tap(struct vm *vm, const struct net_config *cfg, unsigned int index,
			  const struct tap *tap, struct e1000 **out)
{
	uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + index)};
	struct e1000 *e;
	int ret;

	if (cfg->mac_set)
		memcpy(mac, cfg->mac, 6);
	ret = e1000_create_on_tap(vm, index, mac, tap, true, &e);
	if (ret) {
		struct tap t = *tap;

		log_error("--net %s: cannot create the e1000 device: %s", cfg->tap, strerror(-ret));
		tap_close(&t);
		return ret;
	}
	vm_register_stats(vm, e->name, e1000_report_stats, e);
	log_debug("%s: tap %s, MAC %02x:%02x:%02x:%02x:%02x:%02x, PCI 00:%02x.0, IRQ %u", e->name,
		  e->tap.ifname, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
		  pci_device_slot(e->pci), pci_device_gsi(e->pci));
	if (out)
		*out = e;
	return 0;
}

int e1000_create(struct vm *vm, const struct net_config *cfg, unsigned int index,
		 struct e1000 **out)
{
	struct tap tap;
	char err[256];
	int ret;

	/*
	 * No vnet header: the model segments TSO packets and computes checksums
	 * itself, as the real chip does, so the tap carries plain frames.
	 */
	ret = tap_open(&tap, cfg->tap, 0, err, sizeof(err));
	if (ret) {
		log_error("--net %s: %s", cfg->tap, err);
		return ret;
	}
	return e1000_create_with_tap(vm, cfg, index, &tap, out);
}
