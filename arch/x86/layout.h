/*
 * The x86 guest's physical address and interrupt map.  One place, so the
 * e820 map, the MP table, the command line and the devices agree.  The
 * devices' windows, BARs, PCI slots and lines are handed out from it by the
 * VM's allocator (vmm/core/resources.h), lowest first in creation order.
 *
 *   0x00000500  GDT
 *   0x00007000  boot_params ("zero page")
 *   0x00009000  page tables (PML4, PDPT, 4 PDs: identity map of 4 GiB, 2 MiB pages)
 *   0x00020000  kernel command line
 *   0x0009fc00  MP floating pointer and configuration table (reserved in e820)
 *   0x000e0000  ACPI tables, RSDP first (reserved in e820 with the BIOS area)
 *   0x00100000  kernel (ELF p_paddr or bzImage preferred address)
 *   ...         initrd, at the top of low RAM below initrd_addr_max
 *   0xC0000000  32-bit MMIO hole: virtio-mmio windows, PCI BARs, IOAPIC, LAPIC
 *   4 GiB       RAM above the hole, when the guest has more than 3 GiB
 */
#ifndef MINIVMM_X86_LAYOUT_H
#define MINIVMM_X86_LAYOUT_H

#define ARCH_GDT_ADDR	       0x500ULL
#define ARCH_BOOT_PARAMS_ADDR  0x7000ULL
#define ARCH_PAGE_TABLE_ADDR   0x9000ULL
#define ARCH_CMDLINE_ADDR      0x20000ULL
#define ARCH_MPTABLE_ADDR      0x9fc00ULL
#define ARCH_EBDA_START	       0x9fc00ULL
#define ARCH_HIGH_MEMORY_START 0x100000ULL

/*
 * ACPI tables (arch/x86/acpi.c; not with --no-acpi): in the BIOS area,
 * where Linux also scans for the RSDP on 16-byte boundaries, besides
 * finding it in boot_params.acpi_rsdp_addr.  Up to 1 MiB.
 */
#define ARCH_ACPI_TABLES_ADDR 0xE0000ULL
#define ARCH_ACPI_TABLES_SIZE (ARCH_HIGH_MEMORY_START - ARCH_ACPI_TABLES_ADDR)

/* KVM capabilities the x86 set-up needs besides the generic ones (vmm/core/kvm.c). */
#define ARCH_REQUIRED_KVM_CAPS(cap)                                                                \
	cap(KVM_CAP_SET_TSS_ADDR), cap(KVM_CAP_EXT_CPUID), cap(KVM_CAP_PIT2)

/* KVM_IRQ_LINE's irq for an interrupt line: the GSI itself. */
static inline unsigned int arch_kvm_irq_line(unsigned int gsi)
{
	return gsi;
}

/* No device tree: boot_params, the MP table and ACPI describe the machine. */
#define ARCH_HAS_DEVICE_TREE 0

#define ARCH_RAM_BASE	     0x0ULL
#define ARCH_MMIO_HOLE_START 0xC0000000ULL

/* virtio-mmio: 4 KiB windows, one IOAPIC pin each (edge, via irqfd). */
#define ARCH_VIRTIO_MMIO_BASE 0xD0000000ULL
#define ARCH_VIRTIO_MMIO_SIZE 0x1000ULL
#define ARCH_VIRTIO_MMIO_MAX  8
#define ARCH_VIRTIO_IRQ_BASE  16 /* pins 16..23 */
/* Each window is also named on the kernel command line (virtio_mmio.device=). */
#define ARCH_VIRTIO_MMIO_ON_CMDLINE 1

/*
 * PCI: memory BARs are placed in this window.  Slot 0 is the host bridge;
 * slots 1..4 take one NIC each (--net accepts CONFIG_MAX_NETS = 4).  INTA#
 * of slot n is level-triggered, active high, on I/O APIC pin
 * arch_pci_slot_irq(n): 10, 11, 5, 9, the lines PC firmware gives PCI
 * because no legacy device uses them.  The others are taken or claimed by
 * kernels that probe ISA devices: 0 timer, 1 keyboard, 2 cascade, 3/4 COM,
 * 6 floppy, 7 LPT, 8 RTC, 12 PS/2 mouse (the ACPI power button's line,
 * ARCH_ACPI_GED_GSI: minivmm's i8042 has no mouse), 13 FPU, 14/15 IDE;
 * 16..23 are virtio-mmio's.
 */
#define ARCH_PCI_MMIO_BASE 0xE0000000ULL
#define ARCH_PCI_MMIO_SIZE 0x10000000ULL
#define ARCH_PCI_MAX_SLOTS 5

/* I/O APIC pin of slot's INTA#; 0 (no line) for the host bridge. */
static inline unsigned int arch_pci_slot_irq(unsigned int slot)
{
	static const unsigned char pins[ARCH_PCI_MAX_SLOTS] = {0, 10, 11, 5, 9};

	return slot < ARCH_PCI_MAX_SLOTS ? pins[slot] : 0;
}

/* Is pin some PCI slot's INTA# line? */
static inline int arch_pci_irq_pin(unsigned int pin)
{
	for (unsigned int slot = 1; slot < ARCH_PCI_MAX_SLOTS; slot++)
		if (arch_pci_slot_irq(slot) == pin)
			return 1;
	return 0;
}

/* I/O-port window for PCI I/O BARs, above the legacy ISA ports. */
#define ARCH_PCI_IO_BASE 0xC000
#define ARCH_PCI_IO_SIZE 0x1000

#define ARCH_IOAPIC_ADDR 0xFEC00000ULL
#define ARCH_LAPIC_ADDR	 0xFEE00000ULL
#define ARCH_IOAPIC_PINS 24
/* Interrupt lines the resource allocator hands out: the I/O APIC's pins. */
#define ARCH_IRQ_LINES		   ARCH_IOAPIC_PINS
#define ARCH_KVM_IDENTITY_MAP_ADDR 0xFFFBC000ULL
#define ARCH_KVM_TSS_ADDR	   0xFFFBD000ULL

/* Legacy devices. */
#define ARCH_COM1_PORT	     0x3F8
#define ARCH_COM1_IRQ	     4
#define ARCH_I8042_DATA_PORT 0x60
#define ARCH_I8042_CMD_PORT  0x64

/*
 * Test-exit / power-off port: a write of v (1, 2 or 4 bytes) stops the VM
 * and minivmm exits with status v & 0xff.  Used by the test guests and by the Linux
 * guest's /init (through /dev/port) to power off.
 */
#define ARCH_EXIT_PORT 0x501

/*
 * ACPI power registers (devices/acpi_power.h; only with ACPI): sleep
 * control at the port, sleep status at +1, reset at +2; the FADT points at
 * them.  The Generic Event Device that carries the power button raises
 * ARCH_ACPI_GED_GSI (edge, active high): pin 12, the PS/2 mouse's ISA line,
 * which no minivmm device uses and a kernel that found minivmm's i8042
 * through ACPI (keyboard only) does not claim.
 */
#define ARCH_ACPI_POWER_PORT 0x600
#define ARCH_ACPI_GED_GSI    12

#endif
