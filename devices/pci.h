/*
 * A minimal PCI bus 0: a host bridge at 00:00.0 and up to
 * ARCH_PCI_MAX_SLOTS - 1 single-function devices in slots 1, 2, ...
 *
 * Configuration space is reached through mechanism #1 (address register at
 * port 0xCF8, data at 0xCFC-0xCFF, any access size).  BARs are pre-assigned
 * like firmware would, by the VM's allocator (vmm/core/resources.h: memory
 * BARs in [ARCH_PCI_MMIO_BASE, +ARCH_PCI_MMIO_SIZE), I/O BARs in
 * [PCI_IO_BASE, +PCI_IO_SIZE), naturally aligned), and the guest may move
 * them within those windows: pci_init() registers one bus range per window
 * and routes each access to the BAR currently programmed there, because the
 * bus tables cannot change while vCPUs run.  A BAR decodes only while the
 * command register's memory (or I/O) enable bit is set.
 *
 * The device in slot n drives INTA#, wired to IOAPIC pin
 * arch_pci_slot_irq(n), which the allocator hands out with the slot
 * (level-triggered, active high; the MP table declares the same routing);
 * its interrupt line register reads that pin.
 */
#ifndef MINIVMM_PCI_H
#define MINIVMM_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "arch/layout.h"
#include "bus.h"

struct vm;

#define PCI_IO_BASE ARCH_PCI_IO_BASE
#define PCI_IO_SIZE ARCH_PCI_IO_SIZE

#define PCI_CONFIG_ADDRESS_PORT 0xCF8
#define PCI_CONFIG_DATA_PORT	0xCFC

#define PCI_NUM_BARS	6
#define PCI_CONFIG_SIZE 256

/* Standard configuration header offsets and bits used by minivmm. */
#define PCI_CFG_VENDOR_ID     0x00
#define PCI_CFG_DEVICE_ID     0x02
#define PCI_CFG_COMMAND	      0x04
#define PCI_CFG_STATUS	      0x06
#define PCI_CFG_REVISION      0x08
#define PCI_CFG_CLASS_PROG    0x09
#define PCI_CFG_CACHE_LINE    0x0C
#define PCI_CFG_LATENCY	      0x0D
#define PCI_CFG_HEADER_TYPE   0x0E
#define PCI_CFG_BAR0	      0x10
#define PCI_CFG_SUBSYS_VENDOR 0x2C
#define PCI_CFG_SUBSYS_ID     0x2E
#define PCI_CFG_ROM	      0x30
#define PCI_CFG_CAP_PTR	      0x34
#define PCI_CFG_INT_LINE      0x3C
#define PCI_CFG_INT_PIN	      0x3D

#define PCI_CMD_IO	     0x0001
#define PCI_CMD_MEMORY	     0x0002
#define PCI_CMD_MASTER	     0x0004
#define PCI_CMD_PARITY	     0x0040
#define PCI_CMD_SERR	     0x0100
#define PCI_CMD_INTX_DISABLE 0x0400
#define PCI_STATUS_INTERRUPT 0x0008

#define PCI_BAR_IO_FLAG 0x1

enum pci_bar_type { PCI_BAR_NONE, PCI_BAR_MEM32, PCI_BAR_IO };

struct pci_bar {
	enum pci_bar_type type;
	uint32_t size;		/* a power of two; memory >= 16, I/O >= 4 */
	bus_handler_fn handler; /* offset is relative to the BAR's start */
	void *opaque;
};

struct pci_device_desc {
	const char *name;
	uint16_t vendor_id, device_id;
	uint16_t subsys_vendor_id, subsys_id;
	uint8_t revision;
	uint32_t class_code; /* base class << 16 | subclass << 8 | prog-if */
	bool intx;	     /* drives INTA# */
	struct pci_bar bars[PCI_NUM_BARS];
	/* Optional: device-specific registers at 0x40..0xFF (reads default to 0). */
	void (*cfg_read)(void *opaque, uint32_t offset, uint8_t *data, uint32_t len);
	void (*cfg_write)(void *opaque, uint32_t offset, const uint8_t *data, uint32_t len);
	void *opaque;
};

struct pci_device;

/* Create bus 0 and its host bridge; registers 0xCF8-0xCFF and both windows. */
int pci_init(struct vm *vm);

/* Free the bus and give its slots and BARs back (unit tests; minivmm keeps it until exit). */
void pci_destroy(struct vm *vm);

/*
 * Put a device in the lowest free slot, assign its BARs (both from the VM's
 * allocator).  Returns 0 and the handle in *out, or -errno (no pci_init,
 * slots exhausted, bad BAR sizes, window full); on failure nothing stays
 * allocated.
 */
int pci_register_device(struct vm *vm, const struct pci_device_desc *desc, struct pci_device **out);

/* Take a registered device off the bus again (its owner failed to start):
 * the slot and BARs are free for the next device.  Before the vCPUs run. */
void pci_unregister_device(struct pci_device *dev);

/* Drive INTA# (level); masked while the command register's INTx-disable is set. */
void pci_set_irq(struct pci_device *dev, int level);

/* Bus mastering (DMA) allowed by the guest? */
bool pci_bus_master_enabled(const struct pci_device *dev);

unsigned int pci_device_slot(const struct pci_device *dev);
unsigned int pci_device_gsi(const struct pci_device *dev);
/* Current programmed address of a BAR (without flag bits). */
uint32_t pci_bar_address(const struct pci_device *dev, unsigned int bar);

#endif
