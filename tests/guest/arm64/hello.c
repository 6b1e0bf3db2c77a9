/*
 * The smallest arm64 guest: greets on the UART, shows the command line
 * (/chosen/bootargs) and the virtio-mmio devices of the device tree, so the
 * runtime's tree reader is tested too.
 */
#include "rt.h"

int main(void)
{
	struct virtio_mmio_dev devs[8];
	int malformed, n;

	printf("Hello from minivmm arm64 test guest\n");
	printf("cmdline: %s\n", cmdline());
	n = cmdline_virtio_mmio(devs, 8, &malformed);
	for (int i = 0; i < n; i++)
		printf("virtio-mmio %d: base 0x%lx size 0x%lx irq %u\n", i, devs[i].base,
		       devs[i].size, devs[i].irq);
	if (malformed)
		printf("virtio-mmio: %d malformed entries ignored\n", malformed);
	return 0;
}
