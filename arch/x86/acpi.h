/*
 * The x86 guest's ACPI tables (ACPI 6.0, hardware-reduced): RSDP (revision
 * 2) -> XSDT -> FADT (-> DSDT) and MADT.  Built from layout.h and what the
 * VM has (docs/acpi.md):
 *   FADT  HW_REDUCED_ACPI; the 8042 boot-architecture flag (reboot=k uses
 *         the i8042); sleep control/status and reset registers at
 *         ARCH_ACPI_POWER_PORT (devices/acpi_power.h); no FACS, no SCI
 *   MADT  one enabled local APIC per vCPU (APIC ID = vCPU index), the
 *         IOAPIC (ID ncpus, as in the MP table), the PCI INTx pins as level
 *         / active-low overrides (as the _PRT's GSIs), LINT1 as NMI on every CPU
 *   DSDT  COM1 (PNP0501), the i8042 (PNP0303), each virtio-mmio window in
 *         use (LNRO0005), the PCI host bridge (PNP0A03, with _PRT) when
 *         there is one, the power button (PNP0C0C) and the Generic Event
 *         Device (ACPI0013) that notifies it, and \_S5_
 * Pure functions over a buffer: tests/unit/test_acpi.c reads them back.
 */
#ifndef MINIVMM_X86_ACPI_H
#define MINIVMM_X86_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct acpi_table_header {
	char signature[4];
	uint32_t length; /* of the whole table, header included */
	uint8_t revision;
	uint8_t checksum; /* the table's bytes sum to 0 */
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
	char signature[8]; /* "RSD PTR " */
	uint8_t checksum;  /* of the first 20 bytes (the ACPI 1.0 part) */
	char oem_id[6];
	uint8_t revision; /* 2: the XSDT fields are valid */
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* of all 36 bytes */
	uint8_t reserved[3];
} __attribute__((packed));

/* Generic Address Structure. */
struct acpi_gas {
	uint8_t space_id; /* ACPI_GAS_SYSTEM_IO, ... */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size; /* 1 = byte */
	uint64_t address;
} __attribute__((packed));

#define ACPI_GAS_SYSTEM_IO   1
#define ACPI_GAS_ACCESS_BYTE 1

struct acpi_fadt {
	struct acpi_table_header header; /* "FACP" */
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
	uint32_t pm1a_evt_blk, pm1b_evt_blk, pm1a_cnt_blk, pm1b_cnt_blk;
	uint32_t pm2_cnt_blk, pm_tmr_blk, gpe0_blk, gpe1_blk;
	uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len;
	uint8_t gpe0_blk_len, gpe1_blk_len, gpe1_base, cst_cnt;
	uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
	uint8_t duty_offset, duty_width, day_alrm, mon_alrm, century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk, x_pm1b_evt_blk, x_pm1a_cnt_blk, x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk, x_pm_tmr_blk, x_gpe0_blk, x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_id;
} __attribute__((packed));

/* FADT flags and IA-PC boot architecture flags used here. */
#define ACPI_FADT_PWR_BUTTON	    (1U << 4) /* power button is a device, not fixed */
#define ACPI_FADT_SLP_BUTTON	    (1U << 5) /* no fixed sleep button */
#define ACPI_FADT_RESET_REG_SUP	    (1U << 10)
#define ACPI_FADT_HW_REDUCED_ACPI   (1U << 20)
#define ACPI_IAPC_LEGACY_DEVICES    (1U << 0)
#define ACPI_IAPC_8042		    (1U << 1)
#define ACPI_IAPC_VGA_NOT_PRESENT   (1U << 2)
#define ACPI_IAPC_MSI_NOT_SUPPORTED (1U << 3)

struct acpi_madt {
	struct acpi_table_header header; /* "APIC" */
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));

#define ACPI_MADT_PCAT_COMPAT 1 /* a pair of 8259s is present */

enum acpi_madt_type {
	ACPI_MADT_LAPIC = 0,
	ACPI_MADT_IOAPIC = 1,
	ACPI_MADT_OVERRIDE = 2,
	ACPI_MADT_LAPIC_NMI = 4,
};

struct acpi_madt_lapic {
	uint8_t type, length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags; /* bit 0: enabled */
} __attribute__((packed));

struct acpi_madt_ioapic {
	uint8_t type, length;
	uint8_t id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));

struct acpi_madt_override {
	uint8_t type, length;
	uint8_t bus; /* 0: ISA */
	uint8_t source;
	uint32_t gsi;
	uint16_t flags; /* polarity in bits 1:0, trigger in 3:2 */
} __attribute__((packed));

struct acpi_madt_lapic_nmi {
	uint8_t type, length;
	uint8_t processor_uid; /* 0xff: every processor */
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));

#define ACPI_MADT_LAPIC_ENABLED	 1
#define ACPI_MADT_ACTIVE_HIGH	 1
#define ACPI_MADT_ACTIVE_LOW	 3
#define ACPI_MADT_LEVEL		 (3 << 2)
#define ACPI_MADT_ALL_PROCESSORS 0xff

/* What the tables describe besides the fixed map of layout.h. */
struct x86_acpi_machine {
	unsigned int ncpus;	 /* 1 .. 254 (the IOAPIC takes ID ncpus) */
	uint32_t virtio_windows; /* bit n: virtio-mmio window n is in use */
	bool pci;		 /* the PCI host bridge exists */
};

/*
 * All the tables into buf, which will live at guest address gpa: the RSDP
 * at offset 0 (so gpa, 16-byte aligned, is what boot_params.acpi_rsdp_addr
 * gets), the others after it.  Returns the bytes used, or 0 when room is too
 * small or m is out of range.
 */
size_t x86_build_acpi(uint8_t *buf, size_t room, uint64_t gpa, const struct x86_acpi_machine *m);

/* The DSDT alone (a complete table, header and checksum included); 0 if room is too small. */
size_t x86_build_dsdt(uint8_t *buf, size_t room, const struct x86_acpi_machine *m);

#endif
