#include "test_exit.h"

#include <string.h>

#include "log.h"
#include "vm.h"

#define TEST_EXIT_PORTS 4 /* so a 32-bit `out` at the base port is routed here */

static void test_exit_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct vm *vm = opaque;
	uint32_t value = 0;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* Only writes that start at the base port count: 1, 2 or 4 bytes of v. */
	if (offset != 0 || len > sizeof(value)) {
		log_debug("test-exit: ignoring %u-byte write at offset %llu", len,
			  (unsigned long long)offset);
		return;
	}
	memcpy(&value, data, len); /* little-endian host, like the guest */
	log_debug("test-exit: guest wrote 0x%x", value);
	vm_request_stop(vm, VM_STOP_POWEROFF, (int)(value & 0xff));
}

int test_exit_create(struct vm *vm, uint16_t port)
{
	return test_exit_create_at(vm, &vm->pio, port);
}

int test_exit_create_at(struct vm *vm, struct bus *bus, uint64_t base)
{
	int ret = bus_register(bus, base, TEST_EXIT_PORTS, test_exit_io, vm, "test-exit");

	if (ret < 0) {
		log_error("test-exit: cannot register 0x%llx-0x%llx: error %d",
			  (unsigned long long)base, (unsigned long long)base + TEST_EXIT_PORTS - 1,
			  ret);
		return -1;
	}
	return 0;
}
