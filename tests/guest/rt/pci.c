#include "rt.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA	   0xcfc

static uint32_t pci_cfg_address(unsigned int slot, unsigned int reg)
{
	return 0x80000000u | slot << 11 | (reg & 0xfc);
}

uint32_t pci_cfg_read32(unsigned int slot, unsigned int reg)
{
	outl(PCI_CONFIG_ADDRESS, pci_cfg_address(slot, reg));
	return inl(PCI_CONFIG_DATA);
}

void pci_cfg_write32(unsigned int slot, unsigned int reg, uint32_t v)
{
	outl(PCI_CONFIG_ADDRESS, pci_cfg_address(slot, reg));
	outl(PCI_CONFIG_DATA, v);
}
