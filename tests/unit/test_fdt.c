/*
 * The arm64 device tree (arch/arm64/fdt.c) as a guest kernel reads it: the
 * blob is parsed back with libfdt's read-only API, every node and property
 * compared with the description, phandles and the PCI interrupt-map resolved
 * the way Linux resolves them, and the whole blob handed to dtc, whose checks
 * are an independent reader.  Refusals: a buffer of every size too small, and
 * invalid descriptions, leave the buffer untouched past its end.
 */
#include <check.h>
#include <libfdt.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/arm64/fdt.h"
#include "helpers.h"

#define BLOB_ROOM (64 * 1024)

/* A QEMU-virt-like map; the builder takes every address from here. */
#define RAM_BASE      0x40000000ULL
#define RAM_SIZE      0x20000000ULL
#define GIC_DIST      0x08000000ULL
#define GICV3_REDIST  0x080a0000ULL
#define GICV2_CPU_IF  0x08010000ULL
#define UART_BASE     0x09000000ULL
#define UART_INTID    33
#define UART_CLOCK    1843200
#define VIRTIO_BASE   0x0a000000ULL
#define VIRTIO_STRIDE 0x200ULL
#define VIRTIO_INTID  48
#define ECAM_BASE     0x3f000000ULL
#define ECAM_SIZE     0x01000000ULL /* 16 buses */
#define MEM32_BASE    0x10000000ULL
#define MEM32_SIZE    0x2eff0000ULL
#define PCI_IO_BASE   0x3eff0000ULL
#define PCI_IO_SIZE   0x10000ULL
#define INTX_INTID    35
#define INITRD_BASE   0x48000000ULL
#define INITRD_SIZE   0x123000ULL
#define BOOTARGS      "console=ttyS0 earlycon root=/dev/vda"

static struct arm64_fdt_machine m;
static uint8_t *blob;
static char err[256];

/* KVM's reset MPIDR: Aff0 = id & 15, Aff1 = id >> 4, bit 31 (RES1) set. */
static uint64_t kvm_mpidr(unsigned int id)
{
	return (1ULL << 31) | ((uint64_t)(id >> 4) << 8) | (id & 15);
}

static void describe(enum arm64_gic_version gic, unsigned int ncpus, unsigned int nvirtio)
{
	memset(&m, 0, sizeof(m));
	m.ram = (struct arm64_fdt_region){RAM_BASE, RAM_SIZE};
	m.ncpus = ncpus;
	for (unsigned int i = 0; i < ncpus; i++)
		m.mpidr[i] = kvm_mpidr(i);
	m.gic.version = gic;
	if (gic == ARM64_GIC_V3) {
		m.gic.dist = (struct arm64_fdt_region){GIC_DIST, 0x10000};
		m.gic.redist =
		    (struct arm64_fdt_region){GICV3_REDIST, ncpus * ARM64_FDT_GICV3_REDIST_SIZE};
	} else {
		m.gic.dist = (struct arm64_fdt_region){GIC_DIST, 0x1000};
		m.gic.cpu_if = (struct arm64_fdt_region){GICV2_CPU_IF, 0x2000};
	}
	m.uart.window = (struct arm64_fdt_region){UART_BASE, 0x1000};
	m.uart.intid = UART_INTID;
	m.uart.clock_hz = UART_CLOCK;
	m.nvirtio = nvirtio;
	for (unsigned int i = 0; i < nvirtio; i++) {
		m.virtio[i].window =
		    (struct arm64_fdt_region){VIRTIO_BASE + i * VIRTIO_STRIDE, VIRTIO_STRIDE};
		m.virtio[i].intid = VIRTIO_INTID + i;
	}
	m.pci.ecam = (struct arm64_fdt_region){ECAM_BASE, ECAM_SIZE};
	m.pci.mem32 = (struct arm64_fdt_region){MEM32_BASE, MEM32_SIZE};
	m.pci.io = (struct arm64_fdt_region){PCI_IO_BASE, PCI_IO_SIZE};
	m.pci.intx_intid = INTX_INTID;
	m.bootargs = BOOTARGS;
	m.initrd = (struct arm64_fdt_region){INITRD_BASE, INITRD_SIZE};
}

static void fdt_setup(void)
{
	blob = malloc(BLOB_ROOM);
	ck_assert_ptr_nonnull(blob);
	memset(blob, 0xa5, BLOB_ROOM);
	err[0] = '\0';
	describe(ARM64_GIC_V3, 4, 3);
}

static void fdt_teardown(void)
{
	free(blob);
}

static int build(void)
{
	int size = arm64_fdt_build(&m, blob, BLOB_ROOM, err, sizeof(err));

	ck_assert_msg(size > 0, "build failed: %s", err);
	ck_assert_int_eq(fdt_check_header(blob), 0);
	ck_assert_int_eq(fdt_totalsize(blob), size);
	return size;
}

static int node(const char *path)
{
	int off = fdt_path_offset(blob, path);

	ck_assert_msg(off >= 0, "no node %s: %s", path, fdt_strerror(off));
	return off;
}

/* A property of cells; its length must be a whole number of cells. */
static const fdt32_t *cells(int off, const char *name, int *ncells)
{
	int len;
	const fdt32_t *p = fdt_getprop(blob, off, name, &len);

	ck_assert_msg(p != NULL, "no property %s in %s", name, fdt_get_name(blob, off, NULL));
	ck_assert_int_eq(len % 4, 0);
	*ncells = len / 4;
	return p;
}

static uint32_t cell(const fdt32_t *p, int i)
{
	return fdt32_ld(&p[i]);
}

static void assert_u32(int off, const char *name, uint32_t want)
{
	int n;
	const fdt32_t *p = cells(off, name, &n);

	ck_assert_int_eq(n, 1);
	ck_assert_uint_eq(cell(p, 0), want);
}

/* Cells given as uint32_t varargs, compared one by one. */
static void assert_cells(int off, const char *name, int want_n, ...)
{
	int n;
	const fdt32_t *p = cells(off, name, &n);
	va_list ap;

	ck_assert_msg(n == want_n, "%s: %d cells, want %d", name, n, want_n);
	va_start(ap, want_n);
	for (int i = 0; i < n; i++) {
		uint32_t want = va_arg(ap, uint32_t);

		ck_assert_msg(cell(p, i) == want, "%s cell %d: 0x%x, want 0x%x", name, i,
			      cell(p, i), want);
	}
	va_end(ap);
}

/* reg as base/size pairs in 2 + 2 cells. */
static void assert_reg(int off, int nregions, const uint64_t *pairs)
{
	int n;
	const fdt32_t *p = cells(off, "reg", &n);

	ck_assert_int_eq(n, 4 * nregions);
	for (int i = 0; i < 2 * nregions; i++) {
		uint64_t v = (uint64_t)cell(p, 2 * i) << 32 | cell(p, 2 * i + 1);

		ck_assert_msg(v == pairs[i], "reg value %d: 0x%llx, want 0x%llx", i,
			      (unsigned long long)v, (unsigned long long)pairs[i]);
	}
}

static void assert_string(int off, const char *name, const char *want)
{
	int len;
	const char *s = fdt_getprop(blob, off, name, &len);

	ck_assert_msg(s != NULL, "no property %s", name);
	ck_assert_int_eq(len, (int)strlen(want) + 1);
	ck_assert_str_eq(s, want);
}

static void assert_empty(int off, const char *name)
{
	int len = -1;

	ck_assert_ptr_nonnull(fdt_getprop(blob, off, name, &len));
	ck_assert_int_eq(len, 0);
}

static void assert_absent(int off, const char *name)
{
	ck_assert_ptr_null(fdt_getprop(blob, off, name, NULL));
}

/* The node's properties, counted: no property the tests do not know about. */
static void assert_nprops(int off, int want)
{
	int n = 0, prop;

	fdt_for_each_property_offset(prop, blob, off)
	{
		n++;
	}
	ck_assert_msg(n == want, "%s has %d properties, want %d", fdt_get_name(blob, off, NULL), n,
		      want);
}

static int gic_node(void)
{
	int off = fdt_node_offset_by_phandle(blob, 1);

	ck_assert_int_ge(off, 0);
	return off;
}

/* An interrupt specifier's parent: interrupt-parent, inherited from the root. */
static void assert_parent_is_gic(int off)
{
	int n;

	for (; off >= 0; off = fdt_parent_offset(blob, off)) {
		const fdt32_t *p = fdt_getprop(blob, off, "interrupt-parent", &n);

		if (p) {
			ck_assert_int_eq(n, 4);
			ck_assert_int_eq(fdt_node_offset_by_phandle(blob, fdt32_ld(p)), gic_node());
			return;
		}
		if (off == 0)
			break;
	}
	ck_abort_msg("no interrupt-parent above the node");
}

START_TEST(test_root_and_node_list)
{
	static const char *const want[] = {
	    "chosen",
	    "memory@40000000",
	    "cpus",
	    "psci",
	    "interrupt-controller@8000000",
	    "timer",
	    "serial@9000000",
	    "virtio_mmio@a000000",
	    "virtio_mmio@a000200",
	    "virtio_mmio@a000400",
	    "pcie@3f000000",
	};
	int root, child, i = 0;

	build();
	root = node("/");
	assert_string(root, "compatible", "linux,dummy-virt");
	assert_u32(root, "#address-cells", 2);
	assert_u32(root, "#size-cells", 2);
	assert_u32(root, "interrupt-parent", 1);
	assert_nprops(root, 4);
	fdt_for_each_subnode(child, blob, root)
	{
		ck_assert_int_lt(i, (int)(sizeof(want) / sizeof(want[0])));
		ck_assert_str_eq(fdt_get_name(blob, child, NULL), want[i]);
		i++;
	}
	ck_assert_int_eq(i, (int)(sizeof(want) / sizeof(want[0])));
	/* No memory reservations: the caller reserves nothing yet. */
	ck_assert_int_eq(fdt_num_mem_rsv(blob), 0);
}
END_TEST

START_TEST(test_memory)
{
	const uint64_t reg[] = {RAM_BASE, RAM_SIZE};
	int off;

	build();
	off = node("/memory@40000000");
	assert_string(off, "device_type", "memory");
	assert_reg(off, 1, reg);
	assert_nprops(off, 2);
}
END_TEST

START_TEST(test_chosen_with_initrd)
{
	int off;

	build();
	off = node("/chosen");
	assert_string(off, "bootargs", BOOTARGS);
	assert_string(off, "stdout-path", "/serial@9000000");
	/* 64-bit values; the end is exclusive (start + size). */
	assert_cells(off, "linux,initrd-start", 2, 0u, (uint32_t)INITRD_BASE);
	assert_cells(off, "linux,initrd-end", 2, 0u, (uint32_t)(INITRD_BASE + INITRD_SIZE));
	assert_nprops(off, 4);
	/* stdout-path names the UART node itself. */
	ck_assert_int_eq(fdt_path_offset(blob, "/serial@9000000"),
			 fdt_node_offset_by_compatible(blob, -1, "ns16550a"));
}
END_TEST

START_TEST(test_chosen_without_initrd)
{
	int off;

	m.initrd = (struct arm64_fdt_region){0, 0};
	m.bootargs = NULL;
	build();
	off = node("/chosen");
	assert_string(off, "bootargs", "");
	assert_absent(off, "linux,initrd-start");
	assert_absent(off, "linux,initrd-end");
	assert_nprops(off, 2);
}
END_TEST

/* Every cpu node against the MPIDRs, in order. */
static void check_cpus(void)
{
	int cpus = node("/cpus"), cpu, i = 0;

	assert_u32(cpus, "#address-cells", 2);
	assert_u32(cpus, "#size-cells", 0);
	assert_nprops(cpus, 2);
	fdt_for_each_subnode(cpu, blob, cpus)
	{
		uint64_t affinity = m.mpidr[i] & 0xff00ffffffULL;
		char name[32];

		ck_assert_int_lt(i, (int)m.ncpus);
		snprintf(name, sizeof(name), "cpu@%llx", (unsigned long long)affinity);
		ck_assert_str_eq(fdt_get_name(blob, cpu, NULL), name);
		assert_string(cpu, "device_type", "cpu");
		assert_string(cpu, "compatible", "arm,arm-v8");
		assert_string(cpu, "enable-method", "psci");
		assert_cells(cpu, "reg", 2, (uint32_t)(affinity >> 32), (uint32_t)affinity);
		assert_nprops(cpu, 4);
		i++;
	}
	ck_assert_int_eq(i, (int)m.ncpus);
}

START_TEST(test_one_cpu)
{
	describe(ARM64_GIC_V3, 1, 1);
	build();
	check_cpus();
	assert_cells(node("/cpus/cpu@0"), "reg", 2, 0u, 0u);
}
END_TEST

START_TEST(test_many_cpus)
{
	describe(ARM64_GIC_V3, 64, 1);
	build();
	check_cpus();
	/* vCPU 37: Aff1 2, Aff0 5; bit 31 of MPIDR is not affinity. */
	assert_cells(node("/cpus/cpu@205"), "reg", 2, 0u, 0x205u);
}
END_TEST

START_TEST(test_max_cpus_with_aff3)
{
	describe(ARM64_GIC_V3, ARM64_FDT_MAX_CPUS, 0);
	/* 512 redistributors (64 MiB) do not fit below the UART: put them high. */
	m.gic.redist.base = 0x4000000000ULL;
	/* Aff3 lands in the first cell, bits 7:0; bits 31..24 are dropped. */
	m.mpidr[ARM64_FDT_MAX_CPUS - 1] = (0x12ULL << 32) | 0x7f000003ULL;
	build();
	check_cpus();
	assert_cells(node("/cpus/cpu@1200000003"), "reg", 2, 0x12u, 3u);
}
END_TEST

START_TEST(test_psci)
{
	int off;

	build();
	off = node("/psci");
	ck_assert_int_eq(fdt_stringlist_count(blob, off, "compatible"), 3);
	ck_assert_str_eq(fdt_stringlist_get(blob, off, "compatible", 0, NULL), "arm,psci-1.0");
	ck_assert_str_eq(fdt_stringlist_get(blob, off, "compatible", 1, NULL), "arm,psci-0.2");
	ck_assert_str_eq(fdt_stringlist_get(blob, off, "compatible", 2, NULL), "arm,psci");
	assert_string(off, "method", "hvc");
	/* PSCI 0.2 function IDs (SMC64 where the call takes an address). */
	assert_u32(off, "cpu_suspend", 0xc4000001);
	assert_u32(off, "cpu_off", 0x84000002);
	assert_u32(off, "cpu_on", 0xc4000003);
	assert_u32(off, "migrate", 0xc4000005);
	assert_nprops(off, 6);
}
END_TEST

static void check_gic_common(int off)
{
	assert_empty(off, "interrupt-controller");
	assert_u32(off, "#interrupt-cells", 3);
	assert_u32(off, "#address-cells", 0);
	assert_u32(off, "phandle", 1);
	ck_assert_uint_eq(fdt_get_phandle(blob, off), 1);
	assert_nprops(off, 6);
}

START_TEST(test_gicv3)
{
	const uint64_t reg[] = {GIC_DIST, 0x10000, GICV3_REDIST, 4 * 0x20000};
	int off;

	build();
	off = node("/interrupt-controller@8000000");
	ck_assert_int_eq(fdt_node_offset_by_compatible(blob, -1, "arm,gic-v3"), off);
	ck_assert_int_eq(gic_node(), off);
	assert_string(off, "compatible", "arm,gic-v3");
	assert_reg(off, 2, reg);
	check_gic_common(off);
}
END_TEST

START_TEST(test_gicv2)
{
	const uint64_t reg[] = {GIC_DIST, 0x1000, GICV2_CPU_IF, 0x2000};
	int off;

	describe(ARM64_GIC_V2, 8, 2);
	build();
	off = node("/interrupt-controller@8000000");
	ck_assert_int_eq(fdt_node_offset_by_compatible(blob, -1, "arm,cortex-a15-gic"), off);
	ck_assert_int_lt(fdt_node_offset_by_compatible(blob, -1, "arm,gic-v3"), 0);
	ck_assert_int_eq(gic_node(), off);
	assert_string(off, "compatible", "arm,cortex-a15-gic");
	assert_reg(off, 2, reg);
	check_gic_common(off);
}
END_TEST

/* The four PPIs in the binding's order, each with @flags. */
static void check_timer(uint32_t flags)
{
	int off = node("/timer");

	ck_assert_int_eq(fdt_node_offset_by_compatible(blob, -1, "arm,armv8-timer"), off);
	assert_string(off, "compatible", "arm,armv8-timer");
	assert_cells(off, "interrupts", 12, 1u, 13u, flags, 1u, 14u, flags, 1u, 11u, flags, 1u, 10u,
		     flags);
	assert_empty(off, "always-on");
	assert_nprops(off, 3);
	assert_parent_is_gic(off);
}

START_TEST(test_timer_gicv3)
{
	describe(ARM64_GIC_V3, 8, 0);
	build();
	/* Level high; GICv3 specifiers have no CPU mask. */
	check_timer(0x4);
}
END_TEST

START_TEST(test_timer_gicv2)
{
	describe(ARM64_GIC_V2, 3, 0);
	build();
	/* Level high, PPI wired to CPUs 0..2. */
	check_timer(0x704);
	describe(ARM64_GIC_V2, 8, 0);
	build();
	check_timer(0xff04);
	describe(ARM64_GIC_V2, 1, 0);
	build();
	check_timer(0x104);
}
END_TEST

START_TEST(test_uart)
{
	const uint64_t reg[] = {UART_BASE, 0x1000};
	int off;

	build();
	off = node("/serial@9000000");
	assert_string(off, "compatible", "ns16550a");
	assert_reg(off, 1, reg);
	/* SPI 1 (INTID 33), level high. */
	assert_cells(off, "interrupts", 3, 0u, 1u, 4u);
	assert_u32(off, "clock-frequency", UART_CLOCK);
	assert_nprops(off, 4);
	assert_parent_is_gic(off);
}
END_TEST

/* Every virtio-mmio node, found by compatible as the guest's driver finds it. */
static void check_virtio(void)
{
	int off = -1;
	unsigned int i = 0;

	while ((off = fdt_node_offset_by_compatible(blob, off, "virtio,mmio")) >= 0) {
		const uint64_t reg[] = {m.virtio[i].window.base, m.virtio[i].window.size};

		ck_assert_uint_lt(i, m.nvirtio);
		assert_string(off, "compatible", "virtio,mmio");
		assert_reg(off, 1, reg);
		/* Edge rising. */
		assert_cells(off, "interrupts", 3, 0u, m.virtio[i].intid - 32, 1u);
		assert_empty(off, "dma-coherent");
		assert_nprops(off, 4);
		assert_parent_is_gic(off);
		i++;
	}
	ck_assert_int_eq(off, -FDT_ERR_NOTFOUND);
	ck_assert_uint_eq(i, m.nvirtio);
}

START_TEST(test_virtio_none)
{
	describe(ARM64_GIC_V3, 2, 0);
	build();
	check_virtio();
}
END_TEST

START_TEST(test_virtio_many)
{
	describe(ARM64_GIC_V3, 2, ARM64_FDT_MAX_VIRTIO);
	/* Not in address order, SPIs not contiguous: the builder keeps both as given. */
	m.virtio[5].window.base = 0x0c000000;
	m.virtio[5].intid = 900;
	build();
	check_virtio();
	assert_cells(node("/virtio_mmio@c000000"), "interrupts", 3, 0u, 868u, 1u);
	assert_cells(node("/virtio_mmio@a003e00"), "interrupts", 3, 0u,
		     (uint32_t)(VIRTIO_INTID + 31 - 32), 1u);
}
END_TEST

/*
 * The interrupt a guest finds for (slot, pin), resolved as Linux's
 * of_irq_parse_raw() does: mask the child unit address and pin, find the
 * matching entry, read the parent's phandle and specifier.
 */
static uint32_t pci_route(int bridge, uint32_t slot, uint32_t pin)
{
	int nmask, nmap;
	const fdt32_t *mask = cells(bridge, "interrupt-map-mask", &nmask);
	const fdt32_t *map = cells(bridge, "interrupt-map", &nmap);
	const uint32_t child[4] = {slot << 11, 0, 0, pin};

	ck_assert_int_eq(nmask, 4);
	for (int i = 0; i + 8 <= nmap; i += 8) {
		bool match = true;
		int parent;

		for (int c = 0; c < 4; c++)
			match = match && (child[c] & cell(mask, c)) == cell(map, i + c);
		if (!match)
			continue;
		parent = fdt_node_offset_by_phandle(blob, cell(map, i + 4));
		ck_assert_int_eq(parent, gic_node());
		/* 0 parent unit-address cells (the GIC's #address-cells), then 3. */
		ck_assert_uint_eq(cell(map, i + 5), 0); /* SPI */
		ck_assert_uint_eq(cell(map, i + 7), 4); /* level high */
		return cell(map, i + 6) + 32;
	}
	ck_abort_msg("no interrupt-map entry for slot %u pin %u", slot, pin);
	return 0;
}

static void check_pci(bool io)
{
	const uint64_t reg[] = {ECAM_BASE, ECAM_SIZE};
	int off = node("/pcie@3f000000");

	ck_assert_int_eq(fdt_node_offset_by_compatible(blob, -1, "pci-host-ecam-generic"), off);
	assert_string(off, "compatible", "pci-host-ecam-generic");
	assert_string(off, "device_type", "pci");
	assert_u32(off, "#address-cells", 3);
	assert_u32(off, "#size-cells", 2);
	assert_u32(off, "#interrupt-cells", 1);
	assert_reg(off, 1, reg);
	assert_cells(off, "bus-range", 2, 0u, 15u);
	if (io)
		assert_cells(off, "ranges", 14, 0x01000000u, 0u, 0u, 0u, (uint32_t)PCI_IO_BASE, 0u,
			     (uint32_t)PCI_IO_SIZE, 0x02000000u, 0u, (uint32_t)MEM32_BASE, 0u,
			     (uint32_t)MEM32_BASE, 0u, (uint32_t)MEM32_SIZE);
	else
		assert_cells(off, "ranges", 7, 0x02000000u, 0u, (uint32_t)MEM32_BASE, 0u,
			     (uint32_t)MEM32_BASE, 0u, (uint32_t)MEM32_SIZE);
	assert_cells(off, "interrupt-map-mask", 4, 0x1800u, 0u, 0u, 7u);
	assert_empty(off, "dma-coherent");
	assert_nprops(off, 11);
}

START_TEST(test_pci)
{
	int off, n;

	build();
	check_pci(true);
	off = node("/pcie@3f000000");
	cells(off, "interrupt-map", &n);
	ck_assert_int_eq(n, 16 * 8);
	/* A few by hand: the swizzle INTA of slot s on line s % 4. */
	ck_assert_uint_eq(pci_route(off, 0, 1), INTX_INTID + 0);
	ck_assert_uint_eq(pci_route(off, 1, 1), INTX_INTID + 1);
	ck_assert_uint_eq(pci_route(off, 1, 4), INTX_INTID + 0);
	ck_assert_uint_eq(pci_route(off, 3, 2), INTX_INTID + 0);
	ck_assert_uint_eq(pci_route(off, 2, 3), INTX_INTID + 0);
	ck_assert_uint_eq(pci_route(off, 2, 4), INTX_INTID + 1);
	/* Slot 5 masks to slot 1. */
	ck_assert_uint_eq(pci_route(off, 5, 1), INTX_INTID + 1);
	ck_assert_uint_eq(pci_route(off, 31, 4), INTX_INTID + 2);
	/* And every slot and pin of a bus. */
	for (uint32_t slot = 0; slot < 32; slot++)
		for (uint32_t pin = 1; pin <= 4; pin++)
			ck_assert_uint_eq(pci_route(off, slot, pin),
					  INTX_INTID + (slot + pin - 1) % 4);
}
END_TEST

START_TEST(test_pci_without_io)
{
	m.pci.io = (struct arm64_fdt_region){0, 0};
	build();
	check_pci(false);
}
END_TEST

START_TEST(test_no_pci)
{
	m.pci.ecam.size = 0;
	build();
	ck_assert_int_eq(fdt_path_offset(blob, "/pcie@3f000000"), -FDT_ERR_NOTFOUND);
	ck_assert_int_eq(fdt_node_offset_by_compatible(blob, -1, "pci-host-ecam-generic"),
			 -FDT_ERR_NOTFOUND);
}
END_TEST

/* The first byte from @from up to @to that is not the fill pattern, or @to. */
static int first_written(int from, int to)
{
	while (from < to && blob[from] == 0xa5)
		from++;
	return from;
}

/*
 * Every buffer size short of what the tree needs is refused with a message,
 * and not one byte past the buffer is written; the exact size suffices.
 */
START_TEST(test_buffer_too_small)
{
	int need;

	describe(ARM64_GIC_V3, 2, 4);
	need = build();
	for (int size = 0; size < need; size++) {
		memset(blob, 0xa5, (size_t)need + 64);
		err[0] = '\0';
		ck_assert_int_eq(arm64_fdt_build(&m, blob, (size_t)size, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "too small") != NULL, "size %d: %s", size, err);
		ck_assert_msg(first_written(size, need + 64) == need + 64,
			      "size %d: byte %d written", size, first_written(size, need + 64));
	}
	memset(blob, 0xa5, BLOB_ROOM);
	ck_assert_int_eq(arm64_fdt_build(&m, blob, (size_t)need, err, sizeof(err)), need);
	ck_assert_int_eq(fdt_check_header(blob), 0);
	ck_assert_uint_eq(blob[need], 0xa5);
}
END_TEST

START_TEST(test_error_buffer_optional)
{
	m.ncpus = 0;
	ck_assert_int_eq(arm64_fdt_build(&m, blob, BLOB_ROOM, NULL, 0), -1);
	ck_assert_int_eq(arm64_fdt_build(NULL, blob, BLOB_ROOM, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no description"));
	ck_assert_int_eq(arm64_fdt_build(&m, NULL, 100, err, sizeof(err)), -1);
	/* A short error buffer gets a truncated, terminated message. */
	ck_assert_int_eq(arm64_fdt_build(&m, blob, BLOB_ROOM, err, 8), -1);
	ck_assert_uint_eq(strlen(err), 7);
}
END_TEST

/* One invalid description each, and the words its refusal must contain. */
struct refusal {
	void (*spoil)(void);
	const char *says;
};

static void no_cpus(void)
{
	m.ncpus = 0;
}
static void too_many_cpus(void)
{
	m.ncpus = ARM64_FDT_MAX_CPUS + 1;
}
static void gicv2_nine_cpus(void)
{
	describe(ARM64_GIC_V2, 8, 1);
	m.ncpus = 9;
	m.mpidr[8] = kvm_mpidr(8);
}
static void same_mpidr(void)
{
	/* Differs only outside the affinity fields. */
	m.mpidr[3] = m.mpidr[1] | (1ULL << 30);
}
static void no_ram(void)
{
	m.ram.size = 0;
}
static void gic_v4(void)
{
	m.gic.version = 4;
}
static void redist_too_small(void)
{
	m.gic.redist.size = 3 * ARM64_FDT_GICV3_REDIST_SIZE;
}
static void gicv2_no_cpu_if(void)
{
	describe(ARM64_GIC_V2, 2, 1);
	m.gic.cpu_if.size = 0;
}
static void uart_no_clock(void)
{
	m.uart.clock_hz = 0;
}
static void too_many_virtio(void)
{
	m.nvirtio = ARM64_FDT_MAX_VIRTIO + 1;
}
static void virtio_empty_window(void)
{
	m.virtio[2].window.size = 0;
}
static void virtio_windows_overlap(void)
{
	m.virtio[2].window.base = m.virtio[1].window.base + 0x100;
}
static void virtio_in_ram(void)
{
	m.virtio[0].window.base = RAM_BASE + RAM_SIZE - 0x100;
}
static void uart_in_gic(void)
{
	m.uart.window.base = GICV3_REDIST + 0x10000;
}
static void ram_wraps(void)
{
	m.ram.base = 0xfffffffff0000000ULL;
	m.ram.size = 0x20000000ULL;
}
static void uart_ppi(void)
{
	m.uart.intid = 27;
}
static void virtio_spi_too_high(void)
{
	m.virtio[1].intid = 1020;
}
static void virtio_shares_uart_spi(void)
{
	m.virtio[2].intid = UART_INTID;
}
static void intx_overlaps_virtio(void)
{
	m.pci.intx_intid = VIRTIO_INTID - 2;
}
static void intx_wraps(void)
{
	m.pci.intx_intid = UINT32_MAX - 1;
}
static void ecam_not_whole_buses(void)
{
	m.pci.ecam.size = 0x180000;
}
static void ecam_too_many_buses(void)
{
	m.pci.ecam.size = 257 * ARM64_FDT_ECAM_BUS_SIZE;
}
static void mem32_above_4g(void)
{
	m.pci.mem32.base = 0xf0000000ULL;
	m.pci.mem32.size = 0x20000000ULL;
}
static void mem32_empty(void)
{
	m.pci.mem32.size = 0;
}
static void io_overlaps_ecam(void)
{
	m.pci.io.base = ECAM_BASE + 0x1000;
}
static void initrd_past_ram(void)
{
	m.initrd.base = RAM_BASE + RAM_SIZE - 0x1000;
}
static void initrd_below_ram(void)
{
	m.initrd.base = RAM_BASE - 0x1000;
}

static const struct refusal refusals[] = {
    {no_cpus, "0 vCPUs"},
    {too_many_cpus, "513 vCPUs"},
    {gicv2_nine_cpus, "9 vCPUs (GICv2: 1..8)"},
    {same_mpidr, "vCPUs 1 and 3 have the same MPIDR affinity 0x1"},
    {no_ram, "RAM has size 0"},
    {gic_v4, "GIC version 4"},
    {redist_too_small, "too small for 4 vCPUs"},
    {gicv2_no_cpu_if, "GIC CPU interface has size 0"},
    {uart_no_clock, "UART clock"},
    {too_many_virtio, "33 virtio-mmio devices"},
    {virtio_empty_window, "virtio-mmio 2 has size 0"},
    {virtio_windows_overlap, "virtio-mmio 2 at 0xa000300 overlaps virtio-mmio 1"},
    {virtio_in_ram, "overlaps RAM"},
    {uart_in_gic, "UART at 0x80b0000 overlaps GIC redistributors"},
    {ram_wraps, "wraps around"},
    {uart_ppi, "UART interrupt 27 is not an SPI"},
    {virtio_spi_too_high, "virtio-mmio 1 interrupt 1020 is not an SPI"},
    {virtio_shares_uart_spi, "UART and virtio-mmio 2 share interrupt 33"},
    {intx_overlaps_virtio, "virtio-mmio 0 and PCI INTx line 2 share interrupt 48"},
    {intx_wraps, "is not an SPI"},
    {ecam_not_whole_buses, "not 1..256 buses"},
    {ecam_too_many_buses, "not 1..256 buses"},
    {mem32_above_4g, "ends above 4 GiB"},
    {mem32_empty, "is empty"},
    {io_overlaps_ecam, "PCI I/O window at 0x3f001000 overlaps PCI ECAM"},
    {initrd_past_ram, "initrd at 0x5ffff000"},
    {initrd_below_ram, "is not inside RAM"},
};

#define NREFUSALS ((int)(sizeof(refusals) / sizeof(refusals[0])))

START_TEST(test_refusals)
{
	const struct refusal *r = &refusals[_i];

	refusals[_i].spoil();
	ck_assert_int_eq(arm64_fdt_build(&m, blob, BLOB_ROOM, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, r->says) != NULL, "refusal %d: \"%s\" lacks \"%s\"", _i, err,
		      r->says);
	/* Refused before libfdt ran: the buffer is untouched. */
	ck_assert_int_eq(first_written(0, BLOB_ROOM), BLOB_ROOM);
}
END_TEST

/* The description each refusal spoils is itself valid. */
START_TEST(test_refusals_start_valid)
{
	build();
	describe(ARM64_GIC_V2, 8, 1);
	build();
	describe(ARM64_GIC_V2, 2, 1);
	build();
}
END_TEST

/* dtc's output for the blob (decompiled, its checks' warnings with it). */
static char *run_dtc(int size, int *status)
{
	char path[64], cmd[160];
	int fd = unit_temp_file("fdt", path, sizeof(path));
	size_t cap = 1 << 20, len = 0, got;
	char *out = malloc(cap);
	FILE *p;

	ck_assert_ptr_nonnull(out);
	ck_assert_int_eq(write(fd, blob, (size_t)size), size);
	close(fd);
	snprintf(cmd, sizeof(cmd), "dtc -I dtb -O dts '%s' 2>&1", path);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while ((got = fread(out + len, 1, cap - 1 - len, p)) > 0)
		len += got;
	out[len] = '\0';
	*status = pclose(p);
	unlink(path);
	return out;
}

static void check_with_dtc(const char *gic_compatible)
{
	int status, size = build();
	char *out = run_dtc(size, &status);
	char want[64];

	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "dtc failed (is device-tree-compiler installed?), status 0x%x:\n%s", status,
		      out);
	ck_assert_msg(strstr(out, "Warning") == NULL && strstr(out, "ERROR") == NULL,
		      "dtc complains:\n%s", out);
	ck_assert_ptr_nonnull(strstr(out, "/dts-v1/;"));
	ck_assert_ptr_nonnull(strstr(out, "compatible = \"virtio,mmio\";"));
	ck_assert_ptr_nonnull(strstr(out, "compatible = \"pci-host-ecam-generic\";"));
	ck_assert_ptr_nonnull(strstr(out, "stdout-path = \"/serial@9000000\";"));
	snprintf(want, sizeof(want), "compatible = \"%s\";", gic_compatible);
	ck_assert_msg(strstr(out, want) != NULL, "no %s in:\n%s", want, out);
	free(out);
}

START_TEST(test_dtc_gicv3)
{
	describe(ARM64_GIC_V3, 8, 8);
	check_with_dtc("arm,gic-v3");
}
END_TEST

START_TEST(test_dtc_gicv2)
{
	describe(ARM64_GIC_V2, 2, 3);
	m.pci.io.size = 0;
	check_with_dtc("arm,cortex-a15-gic");
}
END_TEST

Suite *fdt_suite(void)
{
	Suite *s = suite_create("fdt");
	TCase *tc =
	    unit_tcase(s, "fdt", fdt_setup, fdt_teardown,
		       UNIT_TESTS(test_root_and_node_list, test_memory, test_chosen_with_initrd,
				  test_chosen_without_initrd, test_one_cpu, test_many_cpus,
				  test_max_cpus_with_aff3, test_psci, test_gicv3, test_gicv2,
				  test_timer_gicv3, test_timer_gicv2, test_uart, test_virtio_none,
				  test_virtio_many, test_pci, test_pci_without_io, test_no_pci,
				  test_buffer_too_small, test_error_buffer_optional,
				  test_refusals_start_valid, test_dtc_gicv3, test_dtc_gicv2));

	unit_loop_tests(tc, NREFUSALS, UNIT_TESTS(test_refusals));
	return s;
}
