/* PCI configuration space of bus 0 through the ECAM window (4 KiB per function). */
#include "internal.h"

static uint64_t ecam_address(unsigned int slot, unsigned int reg)
{
	return RT_PCI_ECAM_BASE + ((uint64_t)(slot & 31) << 15) + (reg & 0xffc);
}

uint32_t pci_cfg_read32(unsigned int slot, unsigned int reg)
{
	return mmio_read32(ecam_address(slot, reg));
}

void pci_cfg_write32(unsigned int slot, unsigned int reg, uint32_t v)
{
	mmio_write32(ecam_address(slot, reg), v);
}
