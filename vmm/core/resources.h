/*
 * The VM's resource allocator: the one owner of the device windows and
 * interrupt lines of the guest's map (arch/layout.h).  A device asks it,
 * at creation, for
 *   - a virtio-mmio window and the IOAPIC pin wired to it,
 *   - a PCI slot and the pin its INTA# is wired to,
 *   - room for a PCI memory or I/O BAR,
 * instead of deriving addresses itself or probing the buses for a gap.
 * Answers come lowest first, so creation order alone fixes the map, and no
 * line or range is ever handed out twice.
 *
 * Creation time only: called from the main thread (or a test) before the
 * vCPUs run, so there is no lock.
 */
#ifndef MINIVMM_RESOURCES_H
#define MINIVMM_RESOURCES_H

#include <stdint.h>

struct vm;

/* Reservations per address pool: 4 PCI slots x 6 BARs fit. */
#define VM_RES_POOL_MAX 32

/* An address range handed out piece by piece (first fit, aligned). */
struct vm_res_pool {
	uint64_t base, size;
	unsigned int nr_used;
	struct {
		uint64_t start, size;
	} used[VM_RES_POOL_MAX]; /* sorted by start, never overlapping */
};

struct vm_resources {
	uint32_t virtio_windows; /* bit n: virtio-mmio window n is taken */
	uint32_t pci_slots;	 /* bit n: PCI slot n is taken */
	uint32_t gsis;		 /* bit n: IOAPIC pin n belongs to a device */
	struct vm_res_pool pci_mmio, pci_io;
};

/* One virtio-mmio window: its index in the map, guest address and line. */
struct vm_virtio_window {
	unsigned int index;
	uint64_t base, size;
	unsigned int gsi;
};

/* Start from the architecture's map with nothing handed out. */
void vm_resources_init(struct vm_resources *res);

/*
 * The lowest free virtio-mmio window (window n is at ARCH_VIRTIO_MMIO_BASE +
 * n * ARCH_VIRTIO_MMIO_SIZE, on pin ARCH_VIRTIO_IRQ_BASE + n).  Windows are
 * never given back: the MMIO bus cannot unregister a range.  0, or -ENOSPC
 * when all ARCH_VIRTIO_MMIO_MAX are taken.
 */
int vm_alloc_virtio_mmio(struct vm *vm, struct vm_virtio_window *window);

/*
 * The lowest free PCI slot (1 .. ARCH_PCI_MAX_SLOTS - 1; 0 is the host
 * bridge) and its INTA# pin arch_pci_slot_irq(slot).  0 or -ENOSPC.
 */
int vm_alloc_pci_slot(struct vm *vm, unsigned int *slot, unsigned int *gsi);
/* Give a slot and its line back (a device that failed to register, tests). */
void vm_free_pci_slot(struct vm *vm, unsigned int slot);

/*
 * size bytes at a multiple of align (a power of two) in the PCI memory BAR
 * window [ARCH_PCI_MMIO_BASE, +ARCH_PCI_MMIO_SIZE), the lowest that fits.
 * 0, -EINVAL (size 0, align not a power of two) or -ENOSPC.
 */
int vm_alloc_mmio(struct vm *vm, uint64_t size, uint64_t align, uint64_t *addr);
/* The same in the PCI I/O BAR window [ARCH_PCI_IO_BASE, +ARCH_PCI_IO_SIZE). */
int vm_alloc_pio(struct vm *vm, uint64_t size, uint64_t align, uint64_t *port);

/* Give back what vm_alloc_mmio/vm_alloc_pio returned at addr: 0 or -ENOENT. */
int vm_free_mmio(struct vm *vm, uint64_t addr);
int vm_free_pio(struct vm *vm, uint64_t port);

#endif
