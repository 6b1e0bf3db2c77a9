#include "resources.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/layout.h"
#include "util.h"
#include "vm.h"

_Static_assert(ARCH_IRQ_LINES <= 32, "vm_resources.gsis holds one bit per interrupt line");
_Static_assert(ARCH_VIRTIO_MMIO_MAX <= 32, "vm_resources.virtio_windows is a 32-bit mask");
_Static_assert(ARCH_PCI_MAX_SLOTS <= 32, "vm_resources.pci_slots is a 32-bit mask");

void vm_resources_init(struct vm_resources *res)
{
	memset(res, 0, sizeof(*res));
	res->pci_mmio.base = ARCH_PCI_MMIO_BASE;
	res->pci_mmio.size = ARCH_PCI_MMIO_SIZE;
	res->pci_io.base = ARCH_PCI_IO_BASE;
	res->pci_io.size = ARCH_PCI_IO_SIZE;
}

/* Every device gets a line of its own: refuse one that is already out. */
static int resources_claim_gsi(struct vm_resources *res, unsigned int gsi)
{
	if (gsi >= ARCH_IRQ_LINES)
		return -EINVAL;
	if (res->gsis & BIT(gsi))
		return -EBUSY;
	res->gsis |= BIT(gsi);
	return 0;
}

int vm_alloc_virtio_mmio(struct vm *vm, struct vm_virtio_window *window)
{
	struct vm_resources *res = &vm->resources;

	for (unsigned int n = 0; n < ARCH_VIRTIO_MMIO_MAX; n++) {
		int ret;

		if (res->virtio_windows & BIT(n))
			continue;
		ret = resources_claim_gsi(res, ARCH_VIRTIO_IRQ_BASE + n);
		if (ret)
			return ret;
		res->virtio_windows |= BIT(n);
		window->index = n;
		window->base = ARCH_VIRTIO_MMIO_BASE + n * ARCH_VIRTIO_MMIO_SIZE;
		window->size = ARCH_VIRTIO_MMIO_SIZE;
		window->gsi = ARCH_VIRTIO_IRQ_BASE + n;
		return 0;
	}
	return -ENOSPC;
}

int vm_alloc_pci_slot(struct vm *vm, unsigned int *slot, unsigned int *gsi)
{
	struct vm_resources *res = &vm->resources;

	for (unsigned int s = 1; s < ARCH_PCI_MAX_SLOTS; s++) {
		int ret;

		if (res->pci_slots & BIT(s))
			continue;
		ret = resources_claim_gsi(res, arch_pci_slot_irq(s));
		if (ret)
			return ret;
		res->pci_slots |= BIT(s);
		*slot = s;
		*gsi = arch_pci_slot_irq(s);
		return 0;
	}
	return -ENOSPC;
}

void vm_free_pci_slot(struct vm *vm, unsigned int slot)
{
	struct vm_resources *res = &vm->resources;

	if (slot == 0 || slot >= ARCH_PCI_MAX_SLOTS || !(res->pci_slots & BIT(slot)))
		return;
	res->pci_slots &= ~(uint32_t)BIT(slot);
	res->gsis &= ~(uint32_t)BIT(arch_pci_slot_irq(slot));
}

/* The lowest multiple of align >= start, or false if it does not exist in 64 bits. */
static bool resources_align_up(uint64_t start, uint64_t align, uint64_t *out)
{
	uint64_t sum;

	if (__builtin_add_overflow(start, align - 1, &sum))
		return false;
	*out = sum & ~(align - 1);
	return true;
}

/* First fit: the lowest aligned gap between reservations that holds size bytes. */
static int resources_pool_alloc(struct vm_res_pool *pool, uint64_t size, uint64_t align,
				uint64_t *out)
{
	uint64_t start = pool->base, at;

	if (size == 0 || align == 0 || (align & (align - 1)))
		return -EINVAL;
	if (pool->nr_used == VM_RES_POOL_MAX)
		return -ENOSPC;
	for (unsigned int i = 0; i <= pool->nr_used; i++) {
		uint64_t limit = i < pool->nr_used ? pool->used[i].start : pool->base + pool->size;

		if (resources_align_up(start, align, &at) && at <= limit && limit - at >= size) {
			memmove(&pool->used[i + 1], &pool->used[i],
				(pool->nr_used - i) * sizeof(pool->used[0]));
			pool->used[i].start = at;
			pool->used[i].size = size;
			pool->nr_used++;
			*out = at;
			return 0;
		}
		if (i < pool->nr_used)
			start = pool->used[i].start + pool->used[i].size;
	}
	return -ENOSPC;
}

static int resources_pool_free(struct vm_res_pool *pool, uint64_t addr)
{
	for (unsigned int i = 0; i < pool->nr_used; i++) {
		if (pool->used[i].start != addr)
			continue;
		pool->nr_used--;
		memmove(&pool->used[i], &pool->used[i + 1],
			(pool->nr_used - i) * sizeof(pool->used[0]));
		return 0;
	}
	return -ENOENT;
}

int vm_alloc_mmio(struct vm *vm, uint64_t size, uint64_t align, uint64_t *addr)
{
	return resources_pool_alloc(&vm->resources.pci_mmio, size, align, addr);
}

int vm_alloc_pio(struct vm *vm, uint64_t size, uint64_t align, uint64_t *port)
{
	return resources_pool_alloc(&vm->resources.pci_io, size, align, port);
}

int vm_free_mmio(struct vm *vm, uint64_t addr)
{
	return resources_pool_free(&vm->resources.pci_mmio, addr);
}

int vm_free_pio(struct vm *vm, uint64_t port)
{
	return resources_pool_free(&vm->resources.pci_io, port);
}
