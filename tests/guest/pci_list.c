/*
 * Lists what a guest finds on PCI bus 0 through configuration mechanism #1,
 * one line per present device:
 *     pci 00:SS.0 VVVV:DDDD irq LINE pin PIN
 * so a test can check how many devices there are and which interrupt line
 * each was given (tests/integration/e1000.sh: four e1000 cards).
 */
#include "rt.h"

#define PCI_SLOTS 32

int main(void)
{
	unsigned int found = 0;

	for (unsigned int slot = 0; slot < PCI_SLOTS; slot++) {
		uint32_t id = pci_cfg_read32(slot, 0), irq;

		if ((id & 0xffff) == 0xffff)
			continue;
		irq = pci_cfg_read32(slot, 0x3c);
		printf("pci 00:%02x.0 %04x:%04x irq %u pin %u\n", slot, id & 0xffff, id >> 16,
		       irq & 0xff, (irq >> 8) & 0xff);
		found++;
	}
	printf("pci: %u devices\n", found);
	return 0;
}
