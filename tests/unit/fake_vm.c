#include "fake_vm.h"

#include <check.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fake_vm_state fake_vm;

struct vm *fake_vm_create(uint64_t ram_size)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	void *ram = calloc(1, ram_size);
	static struct vm_config cfg;

	if (!vm || !ram)
		abort();
	memset(&fake_vm, 0, sizeof(fake_vm));
	memset(&cfg, 0, sizeof(cfg));
	vm->cfg = &cfg;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->stop_pipe[0] = vm->stop_pipe[1] = -1;
	guest_mem_add_region(&vm->mem, 0, ram_size, ram);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm_resources_init(&vm->resources);
	vm->has_ioeventfd = vm->has_irqfd = true;
	return vm;
}

void fake_vm_destroy(struct vm *vm)
{
	free(vm->mem.regions[0].host);
	free(vm);
}

uint32_t fake_vm_pio_read(struct vm *vm, uint16_t port, uint32_t len)
{
	uint8_t data[4];
	uint32_t value = 0;

	ck_assert_uint_le(len, sizeof(data));
	memset(data, 0xaa, sizeof(data));
	ck_assert(bus_dispatch(&vm->pio, port, data, len, false));
	memcpy(&value, data, len);
	return value;
}

void fake_vm_pio_write(struct vm *vm, uint16_t port, uint32_t value, uint32_t len)
{
	uint8_t data[4];

	ck_assert_uint_le(len, sizeof(data));
	memcpy(data, &value, sizeof(data));
	ck_assert(bus_dispatch(&vm->pio, port, data, len, true));
}

int vm_set_irq(struct vm *vm, unsigned int gsi, int level)
{
	(void)vm;
	if (gsi >= 256)
		return -EINVAL;
	if (level && !fake_vm.irq_level[gsi])
		fake_vm.irq_raises[gsi]++;
	fake_vm.irq_level[gsi] = level;
	return 0;
}

int vm_pulse_irq(struct vm *vm, unsigned int gsi)
{
	(void)vm;
	if (gsi >= 256)
		return -EINVAL;
	fake_vm.irq_pulses[gsi]++;
	return 0;
}

int vm_add_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int efd)
{
	(void)vm;
	if (fake_vm.ioeventfd_result)
		return fake_vm.ioeventfd_result;
	if (fake_vm.nr_ioeventfds >= FAKE_VM_MAX_EVENTFDS)
		return -ENOSPC;
	fake_vm.ioeventfds[fake_vm.nr_ioeventfds].addr = addr;
	fake_vm.ioeventfds[fake_vm.nr_ioeventfds].len = len;
	fake_vm.ioeventfds[fake_vm.nr_ioeventfds].datamatch = datamatch;
	fake_vm.ioeventfds[fake_vm.nr_ioeventfds].fd = efd;
	fake_vm.nr_ioeventfds++;
	return 0;
}

int vm_del_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int efd)
{
	(void)vm;
	for (unsigned int i = 0; i < fake_vm.nr_ioeventfds; i++) {
		if (fake_vm.ioeventfds[i].addr == addr && fake_vm.ioeventfds[i].len == len &&
		    fake_vm.ioeventfds[i].datamatch == datamatch &&
		    fake_vm.ioeventfds[i].fd == efd) {
			fake_vm.ioeventfds[i] = fake_vm.ioeventfds[--fake_vm.nr_ioeventfds];
			return 0;
		}
	}
	return -ENOENT;
}

int vm_add_irqfd(struct vm *vm, unsigned int gsi, int efd, int resample_fd)
{
	(void)vm;
	if (fake_vm.nr_irqfds >= FAKE_VM_MAX_EVENTFDS)
		return -ENOSPC;
	fake_vm.irqfds[fake_vm.nr_irqfds].gsi = gsi;
	fake_vm.irqfds[fake_vm.nr_irqfds].fd = efd;
	fake_vm.irqfds[fake_vm.nr_irqfds].resample_fd = resample_fd;
	fake_vm.nr_irqfds++;
	return 0;
}
