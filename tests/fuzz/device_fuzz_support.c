/* Helpers of the device fuzz targets; see device_fuzz_support.h. */
#include "device_fuzz_support.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bus.h"
#include "devices/net/tap.h"
#include "vm.h"

/* One access of len bytes (at most 8) on bus; reads start from a 0xaa poison. */
static bool dfuzz_access(struct bus *bus, uint64_t addr, uint32_t len, bool is_write,
			 uint64_t *value)
{
	uint8_t data[8];
	bool claimed;

	if (len > sizeof(data))
		abort();
	memset(data, 0xaa, sizeof(data));
	if (is_write)
		memcpy(data, value, len);
	claimed = bus_dispatch(bus, addr, data, len, is_write);
	if (!is_write) {
		*value = 0;
		memcpy(value, data, len);
	}
	return claimed;
}

bool dfuzz_pio(struct vm *vm, uint16_t port, uint32_t len, bool is_write, uint32_t *value)
{
	uint64_t v = *value;
	bool claimed;

	if (len > sizeof(*value))
		abort();
	claimed = dfuzz_access(&vm->pio, port, len, is_write, &v);
	if (!is_write)
		*value = (uint32_t)v;
	return claimed;
}

bool dfuzz_mmio(struct vm *vm, uint64_t addr, uint32_t len, bool is_write, uint64_t *value)
{
	return dfuzz_access(&vm->mmio, addr, len, is_write, value);
}

static void dfuzz_pci_address(struct vm *vm, unsigned int slot, unsigned int reg)
{
	uint32_t addr = 0x80000000u | slot << 11 | (reg & 0xfc);

	dfuzz_pio(vm, 0xCF8, 4, true, &addr);
}

uint32_t dfuzz_pci_read(struct vm *vm, unsigned int slot, unsigned int reg, uint32_t len)
{
	uint32_t v;

	dfuzz_pci_address(vm, slot, reg);
	dfuzz_pio(vm, (uint16_t)(0xCFC + (reg & 3)), len, false, &v);
	return v;
}

void dfuzz_pci_write(struct vm *vm, unsigned int slot, unsigned int reg, uint32_t value,
		     uint32_t len)
{
	dfuzz_pci_address(vm, slot, reg);
	dfuzz_pio(vm, (uint16_t)(0xCFC + (reg & 3)), len, true, &value);
}

void dfuzz_socket_tap(struct tap *tap, int *peer)
{
	int sv[2], big = 1 << 20;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
		abort();
	for (int i = 0; i < 2; i++) {
		fcntl(sv[i], F_SETFL, O_NONBLOCK);
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	}
	tap_init_fd(tap, sv[0], "fuzz", false);
	*peer = sv[1];
}

unsigned int dfuzz_drain(int fd)
{
	static uint8_t sink[65536];
	unsigned int n = 0;

	while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) >= 0)
		n++;
	return n;
}
