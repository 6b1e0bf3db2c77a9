/*
 * The arm64 guest's physical address and interrupt map (docs/arm64.md).
 * One place, so the device tree, the devices and the test guests agree.
 * Interrupt "lines" (the gsi of vm_set_irq, vm_add_irqfd and the resource
 * allocator) are SPI numbers: line n is GIC INTID 32 + n, which is how KVM's
 * default routing maps an irqfd's gsi on arm64.
 *
 *   0x08000000  GIC distributor (64 KiB)
 *   0x08010000  GICv2 CPU interface (8 KiB; GICv2 only)
 *   0x080A0000  GICv3 redistributors, 128 KiB per vCPU (GICv3 only)
 *   0x09000000  16550A UART, one byte per register (SPI 1)
 *   0x09010000  test-exit register: a write of v stops the VM, status v & 0xff
 *   0x0A000000  virtio-mmio windows, 4 KiB each (SPIs 16..23)
 *   0x10000000  PCI memory BARs (32-bit window, PCI address = CPU address)
 *   0x3EFF0000  PCI I/O space, ports 0..0xFFFF as MMIO
 *   0x3F000000  PCI ECAM, bus 0 (1 MiB)
 *   0x40000000  RAM: kernel at the start, device tree and initrd at the top
 */
#ifndef MINIVMM_ARM64_LAYOUT_H
#define MINIVMM_ARM64_LAYOUT_H

/* KVM capabilities the arm64 set-up needs besides the generic ones (vmm/core/kvm.c). */
#define ARCH_REQUIRED_KVM_CAPS(cap) cap(KVM_CAP_ARM_PSCI_0_2), cap(KVM_CAP_DEVICE_CTRL)

/* KVM_IRQ_LINE's irq for a line: type SPI (1) in bits 24-27, the INTID below. */
static inline unsigned int arch_kvm_irq_line(unsigned int spi)
{
	return 1u << 24 | (32 + spi);
}

/* The machine is described by a device tree (arch/arm64/fdt.h). */
#define ARCH_HAS_DEVICE_TREE 1

#define ARCH_RAM_BASE 0x40000000ULL
/* No hole: RAM runs on past 4 GiB (guest_mem lays the part above it out there). */
#define ARCH_MMIO_HOLE_START 0x100000000ULL

#define ARM64_GIC_DIST_BASE	 0x08000000ULL
#define ARM64_GIC_DIST_SIZE	 0x10000ULL
#define ARM64_GIC_CPU_IF_BASE	 0x08010000ULL
#define ARM64_GIC_CPU_IF_SIZE	 0x2000ULL
#define ARM64_GIC_REDIST_BASE	 0x080A0000ULL
#define ARM64_GIC_REDIST_PER_CPU 0x20000ULL

#define ARM64_UART_BASE	    0x09000000ULL
#define ARM64_UART_SIZE	    0x1000ULL
#define ARM64_UART_SPI	    1
#define ARM64_UART_CLOCK_HZ 1843200

/*
 * Test-exit / power-off register (devices/test_exit.h on the MMIO bus): a
 * write of v (1, 2 or 4 bytes) stops the VM and minivmm exits with status
 * v & 0xff.  The test guests' way out; a Linux guest uses PSCI SYSTEM_OFF.
 */
#define ARM64_EXIT_MMIO 0x09010000ULL

/* virtio-mmio: 4 KiB windows, one SPI each (edge, via irqfd). */
#define ARCH_VIRTIO_MMIO_BASE 0x0A000000ULL
#define ARCH_VIRTIO_MMIO_SIZE 0x1000ULL
#define ARCH_VIRTIO_MMIO_MAX  8
#define ARCH_VIRTIO_IRQ_BASE  16 /* SPIs 16..23 */
/* The device tree names every window; the command line stays the user's. */
#define ARCH_VIRTIO_MMIO_ON_CMDLINE 0

/*
 * PCI: a generic ECAM host bridge with one bus.  Slot 0 is the host bridge;
 * slots 1..4 take one NIC each.  INTA# of slot n is level-triggered on SPI
 * ARM64_PCI_INTX_SPI + n % 4, the standard swizzle the device tree's
 * interrupt-map states.  I/O BARs live in port space [ARCH_PCI_IO_BASE,
 * +ARCH_PCI_IO_SIZE), which the guest reaches as MMIO at
 * ARM64_PCI_IO_MMIO_BASE + port.
 */
#define ARCH_PCI_MMIO_BASE     0x10000000ULL
#define ARCH_PCI_MMIO_SIZE     0x2EFF0000ULL
#define ARM64_PCI_IO_MMIO_BASE 0x3EFF0000ULL
#define ARM64_PCI_IO_MMIO_SIZE 0x10000ULL
#define ARCH_PCI_ECAM_BASE     0x3F000000ULL
#define ARCH_PCI_ECAM_SIZE     0x100000ULL
#define ARM64_PCI_INTX_SPI     4 /* SPIs 4..7 */
#define ARCH_PCI_MAX_SLOTS     5
#define ARCH_PCI_IO_BASE       0xC000
#define ARCH_PCI_IO_SIZE       0x1000

/* Interrupt lines the resource allocator hands out: SPIs 0..31. */
#define ARCH_IRQ_LINES 32

/* SPI of slot's INTA#; 0 (no line) for the host bridge. */
static inline unsigned int arch_pci_slot_irq(unsigned int slot)
{
	return slot > 0 && slot < ARCH_PCI_MAX_SLOTS ? ARM64_PCI_INTX_SPI + slot % 4 : 0;
}

/* Is line some PCI slot's INTA#? */
static inline int arch_pci_irq_pin(unsigned int pin)
{
	for (unsigned int slot = 1; slot < ARCH_PCI_MAX_SLOTS; slot++)
		if (arch_pci_slot_irq(slot) == pin)
			return 1;
	return 0;
}

#endif
