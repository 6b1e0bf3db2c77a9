/*
 * The flattened device tree that describes an arm64 guest to its kernel
 * (docs/arm64.md, "The device tree").  The builder knows no VM and no
 * address map: every address, size and interrupt comes from the caller's
 * description, which is checked before a byte is written.
 */
#ifndef MINIVMM_ARCH_ARM64_FDT_H
#define MINIVMM_ARCH_ARM64_FDT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* KVM's arm64 limit on vCPUs (KVM_MAX_VCPUS). */
#define ARM64_FDT_MAX_CPUS 512
/* GICv2 targets at most 8 CPUs (its PPI CPU mask is 8 bits wide). */
#define ARM64_FDT_MAX_CPUS_GICV2 8
#define ARM64_FDT_MAX_VIRTIO	 32
/* One GICv3 redistributor: RD_base and SGI_base frames, 64 KiB each. */
#define ARM64_FDT_GICV3_REDIST_SIZE 0x20000
/* An ECAM bus: 32 devices x 8 functions x 4 KiB of configuration space. */
#define ARM64_FDT_ECAM_BUS_SIZE 0x100000
/* The PCI bridge routes INTA..INTD of every slot onto this many SPIs. */
#define ARM64_FDT_PCI_INTX_LINES 4

/*
 * Interrupts are GIC INTIDs (SPIs are 32..1019): what KVM_IRQ_LINE and the
 * GIC manuals call them.  The builder writes them as the binding's SPI
 * numbers (INTID - 32).
 */
#define ARM64_FDT_SPI_FIRST 32
#define ARM64_FDT_SPI_LAST  1019

enum arm64_gic_version {
	ARM64_GIC_V2 = 2,
	ARM64_GIC_V3 = 3,
};

struct arm64_fdt_region {
	uint64_t base;
	uint64_t size;
};

struct arm64_fdt_virtio {
	struct arm64_fdt_region window;
	uint32_t intid;
};

struct arm64_fdt_machine {
	struct arm64_fdt_region ram;

	unsigned int ncpus;
	/* MPIDR_EL1 of each vCPU as KVM reports it (KVM_GET_ONE_REG). */
	uint64_t mpidr[ARM64_FDT_MAX_CPUS];

	struct {
		enum arm64_gic_version version;
		struct arm64_fdt_region dist;
		/* GICv3 only: the redistributors, one per vCPU, contiguous. */
		struct arm64_fdt_region redist;
		/* GICv2 only: the CPU interface. */
		struct arm64_fdt_region cpu_if;
	} gic;

	/* The 8250 console, MMIO with one byte per register. */
	struct {
		struct arm64_fdt_region window;
		uint32_t intid;
		uint32_t clock_hz;
	} uart;

	unsigned int nvirtio;
	struct arm64_fdt_virtio virtio[ARM64_FDT_MAX_VIRTIO];

	/* A generic ECAM host bridge; absent when ecam.size is 0. */
	struct {
		struct arm64_fdt_region ecam;
		/* 32-bit memory window, identity-mapped (PCI address = CPU address). */
		struct arm64_fdt_region mem32;
		/* I/O window at PCI port 0; absent when size is 0. */
		struct arm64_fdt_region io;
		/* INTA..INTD land on intx_intid .. intx_intid + 3 (swizzled). */
		uint32_t intx_intid;
	} pci;

	const char *bootargs;		/* NULL: empty command line */
	struct arm64_fdt_region initrd; /* size 0: no initrd */
};

/*
 * Writes the device tree of @m into @buf (at most @size bytes).  Returns the
 * blob's size, or -1 with a one-line reason in @err (an invalid description,
 * or a buffer too small).
 */
int arm64_fdt_build(const struct arm64_fdt_machine *m, void *buf, size_t size, char *err,
		    size_t err_size);

#endif
