#include "pci.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "byteorder.h"
#include "log.h"
#include "vm.h"

#define HOST_BRIDGE_VENDOR    0x8086
#define HOST_BRIDGE_DEVICE    0x29C0
#define PCI_CLASS_HOST_BRIDGE 0x060000

struct pci_device {
	struct pci_bus *bus;
	struct vm *vm;
	unsigned int slot;
	unsigned int gsi; /* INTA#'s IOAPIC pin, handed out with the slot */
	struct pci_device_desc desc;
	uint8_t cfg[PCI_CONFIG_SIZE];
	uint8_t wmask[PCI_CONFIG_SIZE]; /* bits the guest may change */
	/*
	 * Copies of the command register and BAR addresses that the MMIO and
	 * I/O dispatch read without taking the config lock.
	 */
	_Atomic uint16_t command;
	_Atomic uint32_t bar_addr[PCI_NUM_BARS];
	/* Where each BAR was pre-assigned: its reservation with the VM's allocator. */
	uint32_t bar_home[PCI_NUM_BARS];
	atomic_int irq_level; /* INTA# as the device drives it */
	int irq_out;	      /* what the IOAPIC pin was last told (under bus->lock) */
};

struct pci_bus {
	struct vm *vm;
	pthread_mutex_t lock; /* config address register and config space */
	uint32_t config_address;
	struct pci_device *slots[ARCH_PCI_MAX_SLOTS];
	atomic_ulong unclaimed; /* window accesses that hit no enabled BAR */
};

static struct pci_bus *bus_of(struct vm *vm)
{
	return vm->pci;
}

static void setup_header(struct pci_device *dev)
{
	const struct pci_device_desc *d = &dev->desc;
	uint8_t *c = dev->cfg;

	put_le16(c + PCI_CFG_VENDOR_ID, d->vendor_id);
	put_le16(c + PCI_CFG_DEVICE_ID, d->device_id);
	c[PCI_CFG_REVISION] = d->revision;
	c[PCI_CFG_CLASS_PROG] = d->class_code;
	c[PCI_CFG_CLASS_PROG + 1] = d->class_code >> 8;
	c[PCI_CFG_CLASS_PROG + 2] = d->class_code >> 16;
	c[PCI_CFG_HEADER_TYPE] = 0; /* type 0, single function */
	put_le16(c + PCI_CFG_SUBSYS_VENDOR, d->subsys_vendor_id);
	put_le16(c + PCI_CFG_SUBSYS_ID, d->subsys_id);

	put_le16(dev->wmask + PCI_CFG_COMMAND, PCI_CMD_IO | PCI_CMD_MEMORY | PCI_CMD_MASTER |
						   PCI_CMD_PARITY | PCI_CMD_SERR |
						   PCI_CMD_INTX_DISABLE);
	dev->wmask[PCI_CFG_CACHE_LINE] = 0xff;
	dev->wmask[PCI_CFG_LATENCY] = 0xff;
	if (d->intx) {
		c[PCI_CFG_INT_PIN] = 1; /* INTA# */
		c[PCI_CFG_INT_LINE] = dev->gsi;
		dev->wmask[PCI_CFG_INT_LINE] = 0xff;
	}
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &d->bars[i];

		if (bar->type == PCI_BAR_NONE)
			continue;
		/* Address bits above the size are writable; the low ones read as flags. */
		put_le32(dev->wmask + PCI_CFG_BAR0 + 4 * i, ~(bar->size - 1));
		put_le32(c + PCI_CFG_BAR0 + 4 * i,
			 atomic_load(&dev->bar_addr[i]) |
			     (bar->type == PCI_BAR_IO ? PCI_BAR_IO_FLAG : 0));
	}
}

static void sync_irq(struct pci_device *dev)
{
	uint16_t status = get_le16(dev->cfg + PCI_CFG_STATUS);
	int level = atomic_load(&dev->irq_level);
	int out = level && !(atomic_load(&dev->command) & PCI_CMD_INTX_DISABLE);

	status = level ? status | PCI_STATUS_INTERRUPT : status & ~PCI_STATUS_INTERRUPT;
	put_le16(dev->cfg + PCI_CFG_STATUS, status);
	if (out != dev->irq_out) {
		dev->irq_out = out;
		vm_set_irq(dev->vm, dev->gsi, out);
	}
}

void pci_set_irq(struct pci_device *dev, int level)
{
	pthread_mutex_lock(&dev->bus->lock);
	atomic_store(&dev->irq_level, !!level);
	sync_irq(dev);
	pthread_mutex_unlock(&dev->bus->lock);
}

/* After the guest wrote config bytes: refresh what dispatch uses. */
static void config_written(struct pci_device *dev)
{
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &dev->desc.bars[i];
		uint8_t *reg = dev->cfg + PCI_CFG_BAR0 + 4 * i;

		if (bar->type == PCI_BAR_NONE)
			continue;
		atomic_store(&dev->bar_addr[i], get_le32(reg) & ~(bar->size - 1));
	}
	atomic_store(&dev->command, get_le16(dev->cfg + PCI_CFG_COMMAND));
	sync_irq(dev);
}

static void config_read(struct pci_device *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	if (off >= 0x40 && dev->desc.cfg_read) {
		memset(data, 0, len);
		dev->desc.cfg_read(dev->desc.opaque, off, data, len);
		return;
	}
	memcpy(data, dev->cfg + off, len);
}

static void config_write(struct pci_device *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	if (off >= 0x40) {
		if (dev->desc.cfg_write)
			dev->desc.cfg_write(dev->desc.opaque, off, data, len);
		return;
	}
	for (uint32_t i = 0; i < len; i++) {
		uint8_t m = dev->wmask[off + i];

		dev->cfg[off + i] = (dev->cfg[off + i] & ~m) | (data[i] & m);
	}
	config_written(dev);
}

static struct pci_device *addressed_device(struct pci_bus *bus, uint32_t addr)
{
	unsigned int busnr = (addr >> 16) & 0xff, slot = (addr >> 11) & 0x1f, fn = (addr >> 8) & 7;

	if (!(addr & 0x80000000u) || busnr != 0 || fn != 0 || slot >= ARCH_PCI_MAX_SLOTS)
		return NULL;
	return bus->slots[slot];
}

#ifndef ARCH_PCI_ECAM_BASE
/* Configuration mechanism #1 (x86): the address at 0xCF8, the data at 0xCFC. */
static void config_port(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;
	struct pci_device *dev;

	pthread_mutex_lock(&bus->lock);
	if (offset < 4) {
		/*
		 * Only a full dword at 0xCF8 is the address register; Linux's
		 * type-1 probe relies on a byte write to 0xCFB not landing there.
		 */
		if (offset == 0 && len == 4) {
			if (is_write)
				bus->config_address = get_le32(data) & 0x80FFFFFCu;
			else
				put_le32(data, bus->config_address);
		} else if (!is_write) {
			memset(data, 0xff, len);
		}
		goto out;
	}
	dev = addressed_device(bus, bus->config_address);
	offset = (bus->config_address & 0xFC) + (offset - 4);
	if (!dev || len > 4 || (offset & 3) + len > 4) {
		if (!is_write)
			memset(data, 0xff, len);
		goto out;
	}
	if (is_write)
		config_write(dev, offset, data, len);
	else
		config_read(dev, offset, data, len);
out:
	pthread_mutex_unlock(&bus->lock);
}
#else
/*
 * ECAM (arm64's pci-host-ecam-generic): configuration space as MMIO, 4 KiB
 * per function at bus << 20 | device << 15 | function << 12.  Only bus 0 is
 * mapped; the 256-byte conventional header is all a device has, so the rest
 * of its 4 KiB reads as all-ones, like an absent device.
 */
static void ecam_access(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct pci_bus *bus = opaque;
	uint32_t reg = offset & 0xfff;
	struct pci_device *dev;

	pthread_mutex_lock(&bus->lock);
	dev = addressed_device(bus, 0x80000000u | (uint32_t)(offset >> 12) << 8);
	if (!dev || len > 4 || (reg & 3) + len > 4 || reg + len > PCI_CONFIG_SIZE) {
		if (!is_write)
			memset(data, 0xff, len);
	} else if (is_write) {
		config_write(dev, reg, data, len);
	} else {
		config_read(dev, reg, data, len);
	}
	pthread_mutex_unlock(&bus->lock);
}
#endif

/* Route a window access to the enabled BAR covering it. */
static void window_access(struct pci_bus *bus, enum pci_bar_type type, uint64_t addr, uint8_t *data,
			  uint32_t len, bool is_write)
{
	uint16_t enable = type == PCI_BAR_IO ? PCI_CMD_IO : PCI_CMD_MEMORY;

	for (unsigned int s = 1; s < ARCH_PCI_MAX_SLOTS; s++) {
		struct pci_device *dev = bus->slots[s];

		if (!dev || !(atomic_load(&dev->command) & enable))
			continue;
		for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
			const struct pci_bar *bar = &dev->desc.bars[i];
			uint64_t base = atomic_load(&dev->bar_addr[i]);

			if (bar->type != type || addr < base || addr - base >= bar->size)
				continue;
			if (len > bar->size - (addr - base))
				break; /* straddles the BAR's end */
			bar->handler(bar->opaque, addr - base, data, len, is_write);
			return;
		}
	}
	atomic_fetch_add_explicit(&bus->unclaimed, 1, memory_order_relaxed);
	if (!is_write)
		memset(data, 0xff, len);
}

static void mmio_window(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	window_access(opaque, PCI_BAR_MEM32, ARCH_PCI_MMIO_BASE + offset, data, len, is_write);
}

static void io_window(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	window_access(opaque, PCI_BAR_IO, PCI_IO_BASE + offset, data, len, is_write);
}

static void host_bridge_desc(struct pci_device_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->name = "host-bridge";
	d->vendor_id = HOST_BRIDGE_VENDOR;
	d->device_id = HOST_BRIDGE_DEVICE;
	d->class_code = PCI_CLASS_HOST_BRIDGE;
}

static struct pci_device *new_device(struct pci_bus *bus, unsigned int slot,
				     const struct pci_device_desc *desc)
{
	struct pci_device *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return NULL;
	dev->bus = bus;
	dev->vm = bus->vm;
	dev->slot = slot;
	dev->desc = *desc;
	return dev;
}

int pci_init(struct vm *vm)
{
	struct pci_device_desc hb;
	struct pci_bus *bus;
	int ret;

	if (bus_of(vm))
		return -EEXIST;
	bus = calloc(1, sizeof(*bus));
	if (!bus)
		return -ENOMEM;
	bus->vm = vm;
	pthread_mutex_init(&bus->lock, NULL);
	host_bridge_desc(&hb);
	bus->slots[0] = new_device(bus, 0, &hb);
	if (!bus->slots[0]) {
		free(bus);
		return -ENOMEM;
	}
	setup_header(bus->slots[0]);

#ifdef ARCH_PCI_ECAM_BASE
	ret = bus_register(&vm->mmio, ARCH_PCI_ECAM_BASE, ARCH_PCI_ECAM_SIZE, ecam_access, bus,
			   "pci-ecam");
#else
	ret = bus_register(&vm->pio, PCI_CONFIG_ADDRESS_PORT, 8, config_port, bus, "pci-config");
#endif
	if (!ret)
		ret = bus_register(&vm->mmio, ARCH_PCI_MMIO_BASE, ARCH_PCI_MMIO_SIZE, mmio_window,
				   bus, "pci-mmio");
	if (!ret)
		ret = bus_register(&vm->pio, PCI_IO_BASE, PCI_IO_SIZE, io_window, bus, "pci-io");
	if (ret) {
		/* Bus ranges cannot be unregistered; minivmm exits on this error. */
		log_error("pci: cannot register the configuration ports or BAR windows: %s",
			  strerror(-ret));
		free(bus->slots[0]);
		free(bus);
		return ret;
	}
	vm->pci = bus;
	return 0;
}

/* Give the slot, its line and the BARs' reservations back to the VM's allocator. */
static void pci_release_resources(struct pci_device *dev)
{
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		if (!dev->bar_home[i])
			continue;
		if (dev->desc.bars[i].type == PCI_BAR_IO)
			vm_free_pio(dev->vm, dev->bar_home[i]);
		else
			vm_free_mmio(dev->vm, dev->bar_home[i]);
		dev->bar_home[i] = 0;
	}
	vm_free_pci_slot(dev->vm, dev->slot);
}

void pci_destroy(struct vm *vm)
{
	struct pci_bus *bus = bus_of(vm);

	if (!bus)
		return;
	vm->pci = NULL;
	for (unsigned int s = 0; s < ARCH_PCI_MAX_SLOTS; s++) {
		if (s > 0 && bus->slots[s])
			pci_release_resources(bus->slots[s]);
		free(bus->slots[s]);
	}
	pthread_mutex_destroy(&bus->lock);
	free(bus);
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int pci_check_bar(const struct pci_bar *bar)
{
	switch (bar->type) {
	case PCI_BAR_NONE:
		return 0;
	case PCI_BAR_MEM32:
		return is_pow2(bar->size) && bar->size >= 16 && bar->handler ? 0 : -EINVAL;
	case PCI_BAR_IO:
		return is_pow2(bar->size) && bar->size >= 4 && bar->size <= 256 && bar->handler
			   ? 0
			   : -EINVAL;
	default:
		return -EINVAL;
	}
}

/*
 * Pre-assign every BAR, naturally aligned, from the VM's allocator, as
 * firmware would.  On failure the caller releases what was assigned.
 */
static int pci_assign_bars(struct pci_device *dev)
{
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		int ret = pci_check_bar(&dev->desc.bars[i]);

		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar *bar = &dev->desc.bars[i];
		uint64_t addr;
		int ret;

		if (bar->type == PCI_BAR_NONE)
			continue;
		ret = bar->type == PCI_BAR_IO ? vm_alloc_pio(dev->vm, bar->size, bar->size, &addr)
					      : vm_alloc_mmio(dev->vm, bar->size, bar->size, &addr);
		if (ret)
			return ret;
		dev->bar_home[i] = (uint32_t)addr;
		atomic_store(&dev->bar_addr[i], (uint32_t)addr);
	}
	return 0;
}

int pci_register_device(struct vm *vm, const struct pci_device_desc *desc, struct pci_device **out)
{
	struct pci_bus *bus = bus_of(vm);
	struct pci_device *dev;
	unsigned int slot, gsi;
	int ret;

	if (!bus)
		return -ENODEV;
	ret = vm_alloc_pci_slot(vm, &slot, &gsi);
	if (ret)
		return ret;
	dev = new_device(bus, slot, desc);
	if (!dev) {
		vm_free_pci_slot(vm, slot);
		return -ENOMEM;
	}
	dev->gsi = gsi;
	ret = pci_assign_bars(dev);
	if (ret) {
		pci_release_resources(dev);
		free(dev);
		return ret;
	}
	setup_header(dev);
	pthread_mutex_lock(&bus->lock);
	bus->slots[slot] = dev;
	pthread_mutex_unlock(&bus->lock);
	log_debug("pci: %s at 00:%02x.0, INTA# -> IOAPIC pin %u", desc->name, slot, gsi);
	*out = dev;
	return 0;
}

void pci_unregister_device(struct pci_device *dev)
{
	struct pci_bus *bus = dev->bus;

	pthread_mutex_lock(&bus->lock);
	bus->slots[dev->slot] = NULL;
	pthread_mutex_unlock(&bus->lock);
	pci_release_resources(dev);
	free(dev);
}

bool pci_bus_master_enabled(const struct pci_device *dev)
{
	return atomic_load(&((struct pci_device *)dev)->command) & PCI_CMD_MASTER;
}

unsigned int pci_device_slot(const struct pci_device *dev)
{
	return dev->slot;
}

unsigned int pci_device_gsi(const struct pci_device *dev)
{
	return dev->gsi;
}

uint32_t pci_bar_address(const struct pci_device *dev, unsigned int bar)
{
	if (bar >= PCI_NUM_BARS)
		return 0;
	return atomic_load(&((struct pci_device *)dev)->bar_addr[bar]);
}
