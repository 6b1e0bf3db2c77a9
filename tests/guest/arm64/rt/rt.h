/*
 * The arm64 test-guest runtime: what a freestanding minivmm arm64 test guest
 * needs between "minivmm jumped to the ELF entry at EL1" and "the test
 * reports pass or fail".  The machine is arch/arm64/layout.h's; the boot
 * protocol is Linux's (x0 = the device tree).  See docs/arm64.md.
 *
 * The same names as the x86 runtime (tests/guest/rt/rt.h) wherever the x86
 * guests' shared drivers call them (virtio_blk_lib.c, virtio_net_lib.c,
 * e1000_lib.c, net_frames.c, rt/virtio_mmio.c), so those compile here
 * unchanged: rdtsc() reads the generic timer's virtual counter,
 * run_at_cpl3() just calls its function at EL1, pci_cfg_* go through ECAM.
 *
 * A guest defines `int main(void)`; the runtime calls it with the MMU on
 * (an identity map: RAM normal write-back memory, the low 1 GiB device
 * memory) and passes its return value to test_exit().
 */
#ifndef RT_H
#define RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The machine (a copy of arch/arm64/layout.h's values: guests build without the VMM's headers). */
#define RT_UART_BASE	    0x09000000ULL
#define RT_EXIT_MMIO	    0x09010000ULL
#define RT_GICD_BASE	    0x08000000ULL
#define RT_VIRTIO_MMIO_BASE 0x0A000000ULL
#ifdef RT_QEMU_VIRT
#define RT_VIRTIO_MMIO_SIZE 0x200ULL /* QEMU's virt board packs its transports closer */
#else
#define RT_VIRTIO_MMIO_SIZE 0x1000ULL
#endif
#define RT_VIRTIO_SPI_BASE 16
#define RT_PCI_ECAM_BASE   0x3F000000ULL
#define RT_PCI_MMIO_BASE   0x10000000ULL
#define RT_PCI_MMIO_END	   0x3EFF0000ULL
#define RT_PCI_IO_BASE	   0xC000
#define RT_PCI_IO_END	   0xD000
#ifdef RT_QEMU_VIRT
#define RT_PCI_INTX_SPI 3 /* QEMU's virt board starts its INTx lines one lower */
#else
#define RT_PCI_INTX_SPI 4
#endif
#define RT_RAM_BASE	      0x40000000ULL
#define RT_GIC_SPI_INTID(spi) (32 + (spi))

/* Exit codes the runtime itself uses (as on x86); a guest may use any other value. */
#define RT_EXIT_PASS	  0
#define RT_EXIT_FAIL	  1 /* TEST_ASSERT or a guest-detected failure */
#define RT_EXIT_EXCEPTION 2 /* an exception nobody expected */
#define RT_EXIT_TIMEOUT	  3 /* a bounded wait ran out */

/* ---- ending the test ---- */

/* 32-bit write of code to the test-exit register; minivmm exits with code & 0xff. */
__attribute__((noreturn)) void test_exit(uint32_t code);

/* Assertions, the console's printf family and string helpers, as on x86. */
#include "../../rt/rt_common.h"

/* ---- barriers ---- */

/*
 * The x86 drivers call barrier() where x86 needs only the compiler to keep
 * order: between filling ring entries and publishing their index, between
 * reading an index and the entries it covers, before an MMIO doorbell.
 * arm64 reorders all of those, so here it is a full barrier: every load and
 * store before it, to normal or device memory, is observed by every agent
 * (the VMM's threads included) before any after it.
 */
static inline void barrier(void)
{
	__asm__ volatile("dmb sy" ::: "memory");
}
/* As barrier(), and complete: also orders against what is not a memory access. */
static inline void mb(void)
{
	__asm__ volatile("dsb sy" ::: "memory");
}

/* ---- MMIO accessors ---- */

/*
 * One access of exactly the given width, like Linux's readl()/writel():
 * a write is ordered after every earlier memory access (the descriptors a
 * doorbell announces), a read before every later one (the ring entries an
 * interrupt-status or head register announces).  Device memory alone keeps
 * device accesses in order, but not against normal memory.
 */
static inline uint8_t mmio_read8(uint64_t addr)
{
	uint8_t v = *(volatile uint8_t *)addr;

	barrier();
	return v;
}
static inline uint16_t mmio_read16(uint64_t addr)
{
	uint16_t v = *(volatile uint16_t *)addr;

	barrier();
	return v;
}
static inline uint32_t mmio_read32(uint64_t addr)
{
	uint32_t v = *(volatile uint32_t *)addr;

	barrier();
	return v;
}
static inline uint64_t mmio_read64(uint64_t addr)
{
	uint64_t v = *(volatile uint64_t *)addr;

	barrier();
	return v;
}
static inline void mmio_write8(uint64_t addr, uint8_t v)
{
	barrier();
	*(volatile uint8_t *)addr = v;
}
static inline void mmio_write16(uint64_t addr, uint16_t v)
{
	barrier();
	*(volatile uint16_t *)addr = v;
}
static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	barrier();
	*(volatile uint32_t *)addr = v;
}
static inline void mmio_write64(uint64_t addr, uint64_t v)
{
	barrier();
	*(volatile uint64_t *)addr = v;
}

/* ---- CPU ---- */

static inline void cpu_relax(void)
{
	__asm__ volatile("yield" ::: "memory");
}
/*
 * The x86 drivers' clock: here the generic timer's virtual counter
 * (CNTVCT_EL0), which counts at tsc_per_ms() * 1000 Hz.  The isb keeps the
 * read from being taken early, as rdtsc's callers expect of a deadline check.
 */
static inline uint64_t rdtsc(void)
{
	uint64_t v;

	__asm__ volatile("isb\n\tmrs %0, cntvct_el0" : "=r"(v) : : "memory");
	return v;
}
/* Counter ticks per millisecond (CNTFRQ_EL0; an assumed 62.5 MHz if that is 0). */
uint64_t tsc_per_ms(void);
/* Runs fn(arg) on this CPU at EL1 (there is no user mode here) and returns its result. */
uint64_t run_at_cpl3(uint64_t (*fn)(void *arg), void *arg);
/*
 * Spins until cond(arg) is true or timeout_ms pass; returns whether cond
 * became true.  On true, later loads are ordered after cond's (a barrier),
 * so the data a ring index covers is read after the index.
 */
bool spin_until(bool (*cond)(void *arg), void *arg, uint64_t timeout_ms);
void delay_us(uint64_t us);

/* ---- the device tree and the command line ---- */

/* The blob minivmm passed in x0 (NULL if it had no valid header). */
const void *fdt_blob(void);
/* /chosen/bootargs, "" if absent. */
const char *cmdline(void);

struct virtio_mmio_dev {
	uint64_t size;
	uint64_t base;
	uint32_t irq; /* the SPI number, as the device tree gives it (INTID - 32) */
};
/*
 * Fills devs[] with the device tree's `virtio,mmio` nodes whose window
 * answers with the virtio magic and a device ID other than 0 (a window with
 * no device behind it, as QEMU's virt board has, is skipped), in the order
 * of their addresses.  Returns how many were found (at most max);
 * *malformed (if not NULL) counts the nodes without a usable reg or SPI.
 * The x86 runtime takes the same from `virtio_mmio.device=` words, hence the name.
 */
int cmdline_virtio_mmio(struct virtio_mmio_dev *devs, int max, int *malformed);

/* ---- PCI configuration space through ECAM, bus 0, function 0 ---- */

uint32_t pci_cfg_read32(unsigned int slot, unsigned int reg);
void pci_cfg_write32(unsigned int slot, unsigned int reg, uint32_t v);

/* ---- the GIC distributor, polled (no interrupt is ever taken) ---- */

/*
 * The guests poll instead of taking interrupts, but check that the device
 * raised its line: the distributor's pending bit of the SPI (the same
 * registers in GICv2 and GICv3).  An SPI the device signals by irqfd pulses
 * must be configured edge-triggered first, or a pulse leaves nothing pending.
 */
void gic_spi_config_edge(unsigned int spi);
bool gic_spi_pending(unsigned int spi);
void gic_spi_clear_pending(unsigned int spi);

#endif
