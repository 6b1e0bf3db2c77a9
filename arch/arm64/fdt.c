/*
 * The arm64 guest's device tree, written with libfdt's sequential-write API
 * (fdt_create ... fdt_finish): nodes in order, each property once, no
 * offsets to keep.  Every value comes from struct arm64_fdt_machine, which is
 * validated first; libfdt refuses to write past the buffer, and every one of
 * its return codes is checked.  docs/arm64.md, "The device tree".
 */
#include <inttypes.h>
#include <libfdt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fdt.h"

/* The GIC's only phandle: every interrupt specifier points at it. */
#define GIC_PHANDLE 1

/* The GIC binding's interrupt specifier: <type number flags>. */
#define GIC_SPI 0
#define GIC_PPI 1
/* Trigger flags (interrupt-controller/irq.h); SPIs allow only these two. */
#define IRQ_EDGE_RISING 1
#define IRQ_LEVEL_HIGH	4
/* GICv2 only: bits 8..15 of a PPI's flags name the CPUs it is wired to. */
#define GICV2_PPI_CPU_SHIFT 8

/* The architected timer's PPIs (INTID - 16), as KVM wires them by default. */
#define TIMER_PPI_SECURE_PHYS 13
#define TIMER_PPI_PHYS	      14
#define TIMER_PPI_VIRT	      11
#define TIMER_PPI_HYP	      10

/* A cpu node's reg holds only the affinity fields Aff3 (39:32), Aff2..Aff0 (23:0). */
#define MPIDR_AFFINITY_MASK UINT64_C(0xff00ffffff)

/* PCI bus binding: phys.hi space code, and the device field of phys.hi. */
#define PCI_SPACE_IO	 0x01000000u
#define PCI_SPACE_MEM32	 0x02000000u
#define PCI_DEVICE_SHIFT 11
/*
 * interrupt-map-mask: the low two bits of the device number and the pin.
 * The swizzle repeats every four slots, so 4 x 4 entries route every slot.
 */
#define PCI_MAP_MASK_DEVICE 0x1800u
#define PCI_MAP_MASK_PIN    7u
#define PCI_MAP_SLOTS	    4
#define PCI_PINS	    4
/*
 * One interrupt-map entry: child unit address (3) and pin (1), the parent's
 * phandle (1), its unit address (0 cells: the GIC has #address-cells = 0)
 * and its interrupt specifier (3).
 */
#define PCI_MAP_ENTRY_CELLS 8
#define GIC_ADDRESS_CELLS   0

static int fdt_fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fdt_fail(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	if (err && err_size) {
		va_start(ap, fmt);
		vsnprintf(err, err_size, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* ---- Validation ---- */

struct named_region {
	char name[32];
	struct arm64_fdt_region r;
};

static struct named_region named(const char *name, int index, struct arm64_fdt_region r)
{
	struct named_region n = {.r = r};

	if (index < 0)
		snprintf(n.name, sizeof(n.name), "%s", name);
	else
		snprintf(n.name, sizeof(n.name), "%s %d", name, index);
	return n;
}

/* Room for every region the description can name. */
#define MAX_REGIONS (8 + ARM64_FDT_MAX_VIRTIO)

static bool region_wraps(struct arm64_fdt_region r)
{
	return r.base + r.size < r.base && r.base + r.size != 0;
}

static bool regions_overlap(struct arm64_fdt_region a, struct arm64_fdt_region b)
{
	/* Ends computed as last bytes, so a region ending at 2^64 is fine. */
	uint64_t a_last = a.base + (a.size - 1), b_last = b.base + (b.size - 1);

	return a.base <= b_last && b.base <= a_last;
}

static bool intid_is_spi(uint32_t intid)
{
	return intid >= ARM64_FDT_SPI_FIRST && intid <= ARM64_FDT_SPI_LAST;
}

static int check_regions(const struct named_region *regions, unsigned int n, char *err,
			 size_t err_size)
{
	for (unsigned int i = 0; i < n; i++) {
		const struct named_region *a = &regions[i];

		if (a->r.size == 0)
			return fdt_fail(err, err_size, "device tree: %s has size 0", a->name);
		if (region_wraps(a->r))
			return fdt_fail(err, err_size,
					"device tree: %s (0x%" PRIx64 ", size 0x%" PRIx64
					") wraps around the address space",
					a->name, a->r.base, a->r.size);
		for (unsigned int j = 0; j < i; j++) {
			const struct named_region *b = &regions[j];

			if (regions_overlap(a->r, b->r))
				return fdt_fail(err, err_size,
						"device tree: %s at 0x%" PRIx64
						" overlaps %s at 0x%" PRIx64,
						a->name, a->r.base, b->name, b->r.base);
		}
	}
	return 0;
}

static int check_spis(const uint32_t *intids, const char (*names)[32], unsigned int n, char *err,
		      size_t err_size)
{
	for (unsigned int i = 0; i < n; i++) {
		if (!intid_is_spi(intids[i]))
			return fdt_fail(
			    err, err_size,
			    "device tree: %s interrupt %" PRIu32 " is not an SPI (%d..%d)",
			    names[i], intids[i], ARM64_FDT_SPI_FIRST, ARM64_FDT_SPI_LAST);
		for (unsigned int j = 0; j < i; j++)
			if (intids[i] == intids[j])
				return fdt_fail(err, err_size,
						"device tree: %s and %s share interrupt %" PRIu32,
						names[j], names[i], intids[i]);
	}
	return 0;
}

static int check_cpus(const struct arm64_fdt_machine *m, char *err, size_t err_size)
{
	unsigned int max =
	    m->gic.version == ARM64_GIC_V2 ? ARM64_FDT_MAX_CPUS_GICV2 : ARM64_FDT_MAX_CPUS;

	if (m->ncpus == 0 || m->ncpus > max)
		return fdt_fail(err, err_size, "device tree: %u vCPUs (GICv%d: 1..%u)", m->ncpus,
				m->gic.version, max);
	/* Two cpu nodes with one reg would be one CPU to the guest: refuse. */
	for (unsigned int i = 0; i < m->ncpus; i++)
		for (unsigned int j = 0; j < i; j++)
			if ((m->mpidr[i] & MPIDR_AFFINITY_MASK) ==
			    (m->mpidr[j] & MPIDR_AFFINITY_MASK))
				return fdt_fail(err, err_size,
						"device tree: vCPUs %u and %u have the same "
						"MPIDR affinity 0x%" PRIx64,
						j, i, m->mpidr[i] & MPIDR_AFFINITY_MASK);
	return 0;
}

static int check_gic(const struct arm64_fdt_machine *m, char *err, size_t err_size)
{
	if (m->gic.version == ARM64_GIC_V3) {
		uint64_t needed = (uint64_t)m->ncpus * ARM64_FDT_GICV3_REDIST_SIZE;

		if (m->gic.redist.size < needed)
			return fdt_fail(err, err_size,
					"device tree: GICv3 redistributor region of 0x%" PRIx64
					" bytes is too small for %u vCPUs (0x%" PRIx64 ")",
					m->gic.redist.size, m->ncpus, needed);
	} else if (m->gic.version != ARM64_GIC_V2) {
		return fdt_fail(err, err_size, "device tree: GIC version %d (2 or 3)",
				m->gic.version);
	}
	return 0;
}

static int check_pci(const struct arm64_fdt_machine *m, char *err, size_t err_size)
{
	uint64_t buses = m->pci.ecam.size / ARM64_FDT_ECAM_BUS_SIZE;

	if (m->pci.ecam.size % ARM64_FDT_ECAM_BUS_SIZE || buses > 256)
		return fdt_fail(err, err_size,
				"device tree: PCI ECAM size 0x%" PRIx64
				" is not 1..256 buses of 1 MiB",
				m->pci.ecam.size);
	/* A 32-bit window: PCI address = CPU address, both below 4 GiB. */
	if (m->pci.mem32.size == 0 || m->pci.mem32.base + m->pci.mem32.size > (1ULL << 32) ||
	    m->pci.mem32.base + m->pci.mem32.size < m->pci.mem32.base)
		return fdt_fail(err, err_size,
				"device tree: PCI 32-bit window 0x%" PRIx64 ", size 0x%" PRIx64
				" is empty or ends above 4 GiB",
				m->pci.mem32.base, m->pci.mem32.size);
	/* The I/O window starts at PCI port 0; its ports are 32-bit. */
	if (m->pci.io.size > (1ULL << 32))
		return fdt_fail(err, err_size,
				"device tree: PCI I/O window size 0x%" PRIx64 " exceeds 4 GiB",
				m->pci.io.size);
	return 0;
}

static int validate(const struct arm64_fdt_machine *m, char *err, size_t err_size)
{
	struct named_region regions[MAX_REGIONS];
	uint32_t intids[2 + ARM64_FDT_MAX_VIRTIO + ARM64_FDT_PCI_INTX_LINES];
	char intid_names[2 + ARM64_FDT_MAX_VIRTIO + ARM64_FDT_PCI_INTX_LINES][32];
	unsigned int nregions = 0, nintids = 0;
	bool pci = m->pci.ecam.size != 0;

	if (check_gic(m, err, err_size) || check_cpus(m, err, err_size))
		return -1;
	if (m->nvirtio > ARM64_FDT_MAX_VIRTIO)
		return fdt_fail(err, err_size, "device tree: %u virtio-mmio devices (at most %d)",
				m->nvirtio, ARM64_FDT_MAX_VIRTIO);
	if (m->uart.clock_hz == 0)
		return fdt_fail(err, err_size, "device tree: UART clock of 0 Hz");
	if (pci && check_pci(m, err, err_size))
		return -1;

	regions[nregions++] = named("RAM", -1, m->ram);
	regions[nregions++] = named("GIC distributor", -1, m->gic.dist);
	if (m->gic.version == ARM64_GIC_V3)
		regions[nregions++] = named("GIC redistributors", -1, m->gic.redist);
	else
		regions[nregions++] = named("GIC CPU interface", -1, m->gic.cpu_if);
	regions[nregions++] = named("UART", -1, m->uart.window);
	for (unsigned int i = 0; i < m->nvirtio; i++)
		regions[nregions++] = named("virtio-mmio", (int)i, m->virtio[i].window);
	if (pci) {
		regions[nregions++] = named("PCI ECAM", -1, m->pci.ecam);
		regions[nregions++] = named("PCI 32-bit window", -1, m->pci.mem32);
		if (m->pci.io.size)
			regions[nregions++] = named("PCI I/O window", -1, m->pci.io);
	}
	if (check_regions(regions, nregions, err, err_size))
		return -1;

	snprintf(intid_names[nintids], sizeof(intid_names[0]), "UART");
	intids[nintids++] = m->uart.intid;
	for (unsigned int i = 0; i < m->nvirtio; i++) {
		snprintf(intid_names[nintids], sizeof(intid_names[0]), "virtio-mmio %u", i);
		intids[nintids++] = m->virtio[i].intid;
	}
	for (unsigned int i = 0; pci && i < ARM64_FDT_PCI_INTX_LINES; i++) {
		snprintf(intid_names[nintids], sizeof(intid_names[0]), "PCI INTx line %u", i);
		/* A base near UINT32_MAX must not wrap into the SPI range. */
		intids[nintids++] = m->pci.intx_intid > UINT32_MAX - i ? 0 : m->pci.intx_intid + i;
	}
	if (check_spis(intids, intid_names, nintids, err, err_size))
		return -1;

	if (m->initrd.size) {
		uint64_t ram_last = m->ram.base + (m->ram.size - 1);

		if (region_wraps(m->initrd) || m->initrd.base < m->ram.base ||
		    m->initrd.base + (m->initrd.size - 1) > ram_last)
			return fdt_fail(err, err_size,
					"device tree: initrd at 0x%" PRIx64 ", size 0x%" PRIx64
					" is not inside RAM",
					m->initrd.base, m->initrd.size);
	}
	return 0;
}

/* ---- Writing ---- */

#define TRY(expr)                                                                                  \
	do {                                                                                       \
		int ret_ = (expr);                                                                 \
		if (ret_ < 0)                                                                      \
			return ret_;                                                               \
	} while (0)

/* A property of @n 32-bit cells, written big-endian straight into the blob. */
static int prop_cells(void *fdt, const char *name, const uint32_t *cells, size_t n)
{
	void *val;

	TRY(fdt_property_placeholder(fdt, name, (int)(n * sizeof(uint32_t)), &val));
	for (size_t i = 0; i < n; i++) {
		fdt32_t be = cpu_to_fdt32(cells[i]);

		memcpy((char *)val + i * sizeof(be), &be, sizeof(be));
	}
	return 0;
}

/* reg = <base size> pairs in the root's 2 + 2 cells. */
static int prop_reg(void *fdt, const struct arm64_fdt_region *regions, size_t n)
{
	uint32_t cells[4 * 2];

	for (size_t i = 0; i < n; i++) {
		cells[4 * i + 0] = (uint32_t)(regions[i].base >> 32);
		cells[4 * i + 1] = (uint32_t)regions[i].base;
		cells[4 * i + 2] = (uint32_t)(regions[i].size >> 32);
		cells[4 * i + 3] = (uint32_t)regions[i].size;
	}
	return prop_cells(fdt, "reg", cells, 4 * n);
}

static int prop_spi(void *fdt, uint32_t intid, uint32_t flags)
{
	const uint32_t cells[3] = {GIC_SPI, intid - ARM64_FDT_SPI_FIRST, flags};

	return prop_cells(fdt, "interrupts", cells, 3);
}

static int begin_node_at(void *fdt, const char *name, uint64_t addr)
{
	char node[64];

	snprintf(node, sizeof(node), "%s@%" PRIx64, name, addr);
	return fdt_begin_node(fdt, node);
}

static int write_chosen(void *fdt, const struct arm64_fdt_machine *m)
{
	char stdout_path[64];

	TRY(fdt_begin_node(fdt, "chosen"));
	TRY(fdt_property_string(fdt, "bootargs", m->bootargs ? m->bootargs : ""));
	/* The console Linux picks with no console= (and earlycon's default). */
	snprintf(stdout_path, sizeof(stdout_path), "/serial@%" PRIx64, m->uart.window.base);
	TRY(fdt_property_string(fdt, "stdout-path", stdout_path));
	if (m->initrd.size) {
		/* 64-bit values: Linux reads them with the length they have. */
		TRY(fdt_property_u64(fdt, "linux,initrd-start", m->initrd.base));
		TRY(fdt_property_u64(fdt, "linux,initrd-end", m->initrd.base + m->initrd.size));
	}
	return fdt_end_node(fdt);
}

static int write_memory(void *fdt, const struct arm64_fdt_machine *m)
{
	TRY(begin_node_at(fdt, "memory", m->ram.base));
	TRY(fdt_property_string(fdt, "device_type", "memory"));
	TRY(prop_reg(fdt, &m->ram, 1));
	return fdt_end_node(fdt);
}

static int write_cpus(void *fdt, const struct arm64_fdt_machine *m)
{
	TRY(fdt_begin_node(fdt, "cpus"));
	/* Two cells, so that Aff3 fits; a cpu's reg has no size. */
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (unsigned int i = 0; i < m->ncpus; i++) {
		uint64_t affinity = m->mpidr[i] & MPIDR_AFFINITY_MASK;

		TRY(begin_node_at(fdt, "cpu", affinity));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_string(fdt, "compatible", "arm,arm-v8"));
		/* How Linux maps a logical CPU to the MPIDR it names in PSCI CPU_ON. */
		TRY(fdt_property_u64(fdt, "reg", affinity));
		/* Secondary vCPUs start powered off; the guest starts them by PSCI. */
		TRY(fdt_property_string(fdt, "enable-method", "psci"));
		TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

static int write_psci(void *fdt)
{
	/*
	 * KVM implements PSCI 1.0 (0.2 with KVM_ARM_VCPU_PSCI_0_2) behind HVC.
	 * "arm,psci" last, for guests that know only PSCI 0.1: they need the
	 * function IDs, which are the 0.2 ones KVM answers.
	 */
	static const char compatible[] = "arm,psci-1.0\0arm,psci-0.2\0arm,psci";

	TRY(fdt_begin_node(fdt, "psci"));
	TRY(fdt_property(fdt, "compatible", compatible, sizeof(compatible)));
	TRY(fdt_property_string(fdt, "method", "hvc"));
	TRY(fdt_property_u32(fdt, "cpu_suspend", 0xc4000001));
	TRY(fdt_property_u32(fdt, "cpu_off", 0x84000002));
	TRY(fdt_property_u32(fdt, "cpu_on", 0xc4000003));
	TRY(fdt_property_u32(fdt, "migrate", 0xc4000005));
	return fdt_end_node(fdt);
}

static int write_gic(void *fdt, const struct arm64_fdt_machine *m)
{
	struct arm64_fdt_region reg[2] = {m->gic.dist, m->gic.redist};

	if (m->gic.version == ARM64_GIC_V2)
		reg[1] = m->gic.cpu_if;
	TRY(begin_node_at(fdt, "interrupt-controller", m->gic.dist.base));
	/* No GICv3 ITS (so no MSIs, and no child nodes) and no GICv2m. */
	TRY(fdt_property_string(fdt, "compatible",
				m->gic.version == ARM64_GIC_V3 ? "arm,gic-v3"
							       : "arm,cortex-a15-gic"));
	TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
	/* <type number flags>: SPI or PPI, its number, trigger (and v2 CPU mask). */
	TRY(fdt_property_u32(fdt, "#interrupt-cells", 3));
	/*
	 * Stated, not left to a default: the PCI interrupt-map's entries carry
	 * as many parent unit-address cells as this says.
	 */
	TRY(fdt_property_u32(fdt, "#address-cells", GIC_ADDRESS_CELLS));
	/* v3: distributor, redistributors.  v2: distributor, CPU interface. */
	TRY(prop_reg(fdt, reg, 2));
	TRY(fdt_property_u32(fdt, "phandle", GIC_PHANDLE));
	return fdt_end_node(fdt);
}

static int write_timer(void *fdt, const struct arm64_fdt_machine *m)
{
	/* The binding's order: secure, non-secure physical, virtual, hypervisor. */
	static const uint32_t ppis[4] = {TIMER_PPI_SECURE_PHYS, TIMER_PPI_PHYS, TIMER_PPI_VIRT,
					 TIMER_PPI_HYP};
	/*
	 * The timer's outputs are levels the GIC samples active-high, and KVM
	 * models them as level interrupts.  GICv2 also wants the CPUs a PPI
	 * reaches; GICv3's binding has no such field.
	 */
	uint32_t flags = IRQ_LEVEL_HIGH;
	uint32_t cells[4 * 3];

	if (m->gic.version == ARM64_GIC_V2)
		flags |= ((1u << m->ncpus) - 1) << GICV2_PPI_CPU_SHIFT;
	for (unsigned int i = 0; i < 4; i++) {
		cells[3 * i + 0] = GIC_PPI;
		cells[3 * i + 1] = ppis[i];
		cells[3 * i + 2] = flags;
	}
	TRY(fdt_begin_node(fdt, "timer"));
	TRY(fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
	TRY(prop_cells(fdt, "interrupts", cells, 4 * 3));
	/*
	 * KVM keeps a vCPU's timer through every PSCI suspend, so Linux need not
	 * fall back to a broadcast timer in idle.
	 */
	TRY(fdt_property(fdt, "always-on", NULL, 0));
	return fdt_end_node(fdt);
}

static int write_uart(void *fdt, const struct arm64_fdt_machine *m)
{
	TRY(begin_node_at(fdt, "serial", m->uart.window.base));
	TRY(fdt_property_string(fdt, "compatible", "ns16550a"));
	/* reg-shift 0 and reg-io-width 1 are the defaults: one byte per register. */
	TRY(prop_reg(fdt, &m->uart.window, 1));
	/* The 8250 model drives its line as a level (raised while IIR pends). */
	TRY(prop_spi(fdt, m->uart.intid, IRQ_LEVEL_HIGH));
	/* Enough for Linux's 8250_of: no clock node, no "clocks" phandle. */
	TRY(fdt_property_u32(fdt, "clock-frequency", m->uart.clock_hz));
	return fdt_end_node(fdt);
}

static int write_virtio(void *fdt, const struct arm64_fdt_virtio *dev)
{
	TRY(begin_node_at(fdt, "virtio_mmio", dev->window.base));
	TRY(fdt_property_string(fdt, "compatible", "virtio,mmio"));
	TRY(prop_reg(fdt, &dev->window, 1));
	/*
	 * Edge: virtio signals through an irqfd, which KVM delivers as a pulse;
	 * a level SPI would drop a pulse the guest has not yet taken.
	 */
	TRY(prop_spi(fdt, dev->intid, IRQ_EDGE_RISING));
	/* The device is the host, which sees guest RAM through the caches. */
	TRY(fdt_property(fdt, "dma-coherent", NULL, 0));
	return fdt_end_node(fdt);
}

static int write_pci_ranges(void *fdt, const struct arm64_fdt_machine *m)
{
	/* <phys.hi phys.mid phys.lo  cpu.hi cpu.lo  size.hi size.lo> per window. */
	uint32_t cells[2 * 7];
	size_t n = 0;

	if (m->pci.io.size) {
		const uint32_t io[7] = {PCI_SPACE_IO,
					0,
					0,
					(uint32_t)(m->pci.io.base >> 32),
					(uint32_t)m->pci.io.base,
					(uint32_t)(m->pci.io.size >> 32),
					(uint32_t)m->pci.io.size};

		memcpy(&cells[n], io, sizeof(io));
		n += 7;
	}
	const uint32_t mem[7] = {PCI_SPACE_MEM32,
				 0,
				 (uint32_t)m->pci.mem32.base,
				 (uint32_t)(m->pci.mem32.base >> 32),
				 (uint32_t)m->pci.mem32.base,
				 (uint32_t)(m->pci.mem32.size >> 32),
				 (uint32_t)m->pci.mem32.size};

	memcpy(&cells[n], mem, sizeof(mem));
	n += 7;
	return prop_cells(fdt, "ranges", cells, n);
}

static int write_pci_interrupt_map(void *fdt, const struct arm64_fdt_machine *m)
{
	static const uint32_t mask[4] = {PCI_MAP_MASK_DEVICE, 0, 0, PCI_MAP_MASK_PIN};
	uint32_t cells[PCI_MAP_SLOTS * PCI_PINS * PCI_MAP_ENTRY_CELLS];
	size_t n = 0;

	for (uint32_t slot = 0; slot < PCI_MAP_SLOTS; slot++) {
		for (uint32_t pin = 1; pin <= PCI_PINS; pin++) {
			/* The standard swizzle: INTA of slot s on line s, INTB on s+1... */
			uint32_t line = (slot + pin - 1) % ARM64_FDT_PCI_INTX_LINES;

			cells[n++] = slot << PCI_DEVICE_SHIFT;
			cells[n++] = 0;
			cells[n++] = 0;
			cells[n++] = pin;
			cells[n++] = GIC_PHANDLE;
			cells[n++] = GIC_SPI;
			cells[n++] = m->pci.intx_intid + line - ARM64_FDT_SPI_FIRST;
			/* INTx is level: the device holds it until serviced. */
			cells[n++] = IRQ_LEVEL_HIGH;
		}
	}
	TRY(prop_cells(fdt, "interrupt-map-mask", mask, 4));
	return prop_cells(fdt, "interrupt-map", cells, n);
}

static int write_pci(void *fdt, const struct arm64_fdt_machine *m)
{
	uint32_t bus_range[2] = {0, (uint32_t)(m->pci.ecam.size / ARM64_FDT_ECAM_BUS_SIZE) - 1};

	TRY(begin_node_at(fdt, "pcie", m->pci.ecam.base));
	TRY(fdt_property_string(fdt, "compatible", "pci-host-ecam-generic"));
	TRY(fdt_property_string(fdt, "device_type", "pci"));
	/* The PCI bus binding: 3-cell addresses (space, 64-bit address), 2-cell sizes. */
	TRY(fdt_property_u32(fdt, "#address-cells", 3));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	/* A device's interrupt is its pin, 1..4 (INTA..INTD). */
	TRY(fdt_property_u32(fdt, "#interrupt-cells", 1));
	TRY(prop_reg(fdt, &m->pci.ecam, 1));
	/* Buses the ECAM window covers, so Linux maps no configuration space beyond. */
	TRY(prop_cells(fdt, "bus-range", bus_range, 2));
	TRY(write_pci_ranges(fdt, m));
	TRY(write_pci_interrupt_map(fdt, m));
	/* No msi-map/msi-parent: without an ITS or GICv2m there are no MSIs. */
	TRY(fdt_property(fdt, "dma-coherent", NULL, 0));
	return fdt_end_node(fdt);
}

static int write_tree(void *fdt, const struct arm64_fdt_machine *m)
{
	/* The generic board name Linux and QEMU/kvmtool use for a virtual machine. */
	TRY(fdt_finish_reservemap(fdt));
	TRY(fdt_begin_node(fdt, ""));
	TRY(fdt_property_string(fdt, "compatible", "linux,dummy-virt"));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	/* Inherited by every node with "interrupts": one GIC serves them all. */
	TRY(fdt_property_u32(fdt, "interrupt-parent", GIC_PHANDLE));
	TRY(write_chosen(fdt, m));
	TRY(write_memory(fdt, m));
	TRY(write_cpus(fdt, m));
	TRY(write_psci(fdt));
	TRY(write_gic(fdt, m));
	TRY(write_timer(fdt, m));
	TRY(write_uart(fdt, m));
	for (unsigned int i = 0; i < m->nvirtio; i++)
		TRY(write_virtio(fdt, &m->virtio[i]));
	if (m->pci.ecam.size)
		TRY(write_pci(fdt, m));
	TRY(fdt_end_node(fdt));
	return fdt_finish(fdt);
}

int arm64_fdt_build(const struct arm64_fdt_machine *m, void *buf, size_t size, char *err,
		    size_t err_size)
{
	int ret;

	if (!m || !buf)
		return fdt_fail(err, err_size, "device tree: no description or no buffer");
	if (validate(m, err, err_size))
		return -1;
	/* libfdt sizes are ints; a larger buffer is simply not used beyond that. */
	ret = fdt_create(buf, size > INT_MAX ? INT_MAX : (int)size);
	if (ret == 0)
		ret = write_tree(buf, m);
	if (ret == -FDT_ERR_NOSPACE)
		return fdt_fail(err, err_size, "device tree: a buffer of %zu bytes is too small",
				size);
	if (ret < 0)
		return fdt_fail(err, err_size, "device tree: libfdt: %s", fdt_strerror(ret));
	return (int)fdt_totalsize(buf);
}
