/*
 * The smallest guest: greets on COM1, shows the command line and decodes
 * any virtio_mmio.device= entries (so the runtime's parser is tested too).
 */
#include "rt.h"

int main(void)
{
	struct virtio_mmio_dev devs[8];
	int malformed, n;

	printf("Hello from minivmm test guest\n");
	printf("cmdline: %s\n", cmdline());
	n = cmdline_virtio_mmio(devs, 8, &malformed);
	for (int i = 0; i < n; i++)
		printf("virtio-mmio %d: base 0x%lx size 0x%lx irq %u\n", i, devs[i].base,
		       devs[i].size, devs[i].irq);
	if (malformed)
		printf("virtio-mmio: %d malformed entries ignored\n", malformed);
	return 0;
}
