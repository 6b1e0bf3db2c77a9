/*
 * The GIC distributor's per-interrupt registers, the same in GICv2 and
 * GICv3: the guests read pending state instead of taking interrupts, so
 * nothing else of the GIC (CPU interface, redistributors) is touched.
 */
#include "internal.h"

#define GICD_ISPENDR 0x200
#define GICD_ICPENDR 0x280
#define GICD_ICFGR   0xc00

static uint64_t bit_register(unsigned int base, unsigned int intid)
{
	return RT_GICD_BASE + base + 4 * (intid / 32);
}

void gic_spi_config_edge(unsigned int spi)
{
	unsigned int intid = RT_GIC_SPI_INTID(spi);
	uint64_t reg = RT_GICD_BASE + GICD_ICFGR + 4 * (intid / 16);

	/* Two bits per interrupt; the upper one set means edge-triggered. */
	mmio_write32(reg, mmio_read32(reg) | 2u << (2 * (intid % 16)));
}

bool gic_spi_pending(unsigned int spi)
{
	unsigned int intid = RT_GIC_SPI_INTID(spi);

	return (mmio_read32(bit_register(GICD_ISPENDR, intid)) >> (intid % 32)) & 1;
}

void gic_spi_clear_pending(unsigned int spi)
{
	unsigned int intid = RT_GIC_SPI_INTID(spi);

	mmio_write32(bit_register(GICD_ICPENDR, intid), 1u << (intid % 32));
}
