/*
 * The VM's resource allocator (vmm/core/resources.c) alone, and the map it
 * gives a machine with 2 virtio-blk, 2 virtio-net, 2 e1000 and 4 vCPUs, as
 * the guest sees it: the virtio_mmio.device= entries, PCI configuration
 * space and the MP table.  The numbers are the documented ones
 * (docs/architecture.md, docs/virtio.md, docs/e1000.md); the test guests
 * hard-code some of them.
 */
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch/layout.h"
#include "arch/x86/boot.h"
#include "devices/e1000/e1000.h"
#include "devices/net/tap.h"
#include "devices/pci.h"
#include "fake_vm.h"
#include "helpers.h"
#include "virtio/blk.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "vmm/devices.h"

static struct vm *vm;

static void vm_setup(void)
{
	vm = fake_vm_create(4096);
}

static void vm_teardown(void)
{
	fake_vm_destroy(vm);
}

/* ------------------------------------------------------------------ */
/* The allocator alone. */

START_TEST(virtio_windows_follow_the_map)
{
	struct vm_virtio_window w;

	for (unsigned int n = 0; n < ARCH_VIRTIO_MMIO_MAX; n++) {
		ck_assert_int_eq(vm_alloc_virtio_mmio(vm, &w), 0);
		ck_assert_uint_eq(w.index, n);
		ck_assert_uint_eq(w.base, 0xd0000000ULL + n * 0x1000);
		ck_assert_uint_eq(w.size, 0x1000);
		ck_assert_uint_eq(w.gsi, 16 + n);
	}
	ck_assert_int_eq(vm_alloc_virtio_mmio(vm, &w), -ENOSPC);
	ck_assert_uint_eq(vm->resources.gsis, 0xff0000); /* pins 16..23 */
}
END_TEST

START_TEST(pci_slots_and_their_lines)
{
	static const unsigned int lines[] = {0, 10, 11, 5, 9};
	unsigned int slot, gsi;

	for (unsigned int s = 1; s < ARCH_PCI_MAX_SLOTS; s++) {
		ck_assert_int_eq(vm_alloc_pci_slot(vm, &slot, &gsi), 0);
		ck_assert_uint_eq(slot, s);
		ck_assert_uint_eq(gsi, lines[s]);
		ck_assert_uint_eq(gsi, arch_pci_slot_irq(s));
	}
	ck_assert_int_eq(vm_alloc_pci_slot(vm, &slot, &gsi), -ENOSPC);

	/* A slot given back is the lowest free one again, with the same line. */
	vm_free_pci_slot(vm, 2);
	ck_assert(!(vm->resources.gsis & (1u << 11)));
	ck_assert_int_eq(vm_alloc_pci_slot(vm, &slot, &gsi), 0);
	ck_assert_uint_eq(slot, 2);
	ck_assert_uint_eq(gsi, 11);
	/* The host bridge's slot and slots beyond the map are not the allocator's. */
	vm_free_pci_slot(vm, 0);
	vm_free_pci_slot(vm, ARCH_PCI_MAX_SLOTS);
	ck_assert_int_eq(vm_alloc_pci_slot(vm, &slot, &gsi), -ENOSPC);
}
END_TEST

START_TEST(every_line_handed_out_once)
{
	struct vm_virtio_window w;
	unsigned int slot, gsi, count = 0;
	uint32_t seen = 0;

	while (vm_alloc_virtio_mmio(vm, &w) == 0) {
		ck_assert_uint_lt(w.gsi, ARCH_IOAPIC_PINS);
		ck_assert(!(seen & (1u << w.gsi)));
		seen |= 1u << w.gsi;
		count++;
	}
	while (vm_alloc_pci_slot(vm, &slot, &gsi) == 0) {
		ck_assert_uint_lt(gsi, ARCH_IOAPIC_PINS);
		ck_assert(!(seen & (1u << gsi)));
		seen |= 1u << gsi;
		count++;
	}
	ck_assert_uint_eq(count, ARCH_VIRTIO_MMIO_MAX + ARCH_PCI_MAX_SLOTS - 1);
	ck_assert_uint_eq(vm->resources.gsis, seen);
	/* None of them is a line the board's legacy devices use. */
	ck_assert(!(seen & (1u << ARCH_COM1_IRQ)));
	ck_assert(!(seen & (1u << 1 | 1u << 12))); /* i8042 keyboard, mouse */
}
END_TEST

START_TEST(a_line_already_out_is_refused)
{
	struct vm_virtio_window w;
	unsigned int slot, gsi;

	/* As if the map wired two things to one pin: the second is refused. */
	vm->resources.gsis |= 1u << ARCH_VIRTIO_IRQ_BASE;
	ck_assert_int_eq(vm_alloc_virtio_mmio(vm, &w), -EBUSY);
	vm->resources.gsis |= 1u << arch_pci_slot_irq(1);
	ck_assert_int_eq(vm_alloc_pci_slot(vm, &slot, &gsi), -EBUSY);
	/* Nothing was taken by the refusals. */
	ck_assert_uint_eq(vm->resources.virtio_windows, 0);
	ck_assert_uint_eq(vm->resources.pci_slots, 0);
}
END_TEST

START_TEST(mmio_is_aligned_and_first_fit)
{
	uint64_t a, b, c, d;

	ck_assert_int_eq(vm_alloc_mmio(vm, 16, 16, &a), 0);
	ck_assert_uint_eq(a, ARCH_PCI_MMIO_BASE);
	ck_assert_int_eq(vm_alloc_mmio(vm, 0x20000, 0x20000, &b), 0);
	ck_assert_uint_eq(b, ARCH_PCI_MMIO_BASE + 0x20000);
	/* The gap the alignment left is used by the next piece that fits it. */
	ck_assert_int_eq(vm_alloc_mmio(vm, 0x100, 0x100, &c), 0);
	ck_assert_uint_eq(c, ARCH_PCI_MMIO_BASE + 0x100);
	ck_assert_int_eq(vm_alloc_mmio(vm, 0x1000, 0x1000000, &d), 0);
	ck_assert_uint_eq(d, ARCH_PCI_MMIO_BASE + 0x1000000);
	ck_assert_uint_eq(d % 0x1000000, 0);
	/* Given back: the same address again. */
	ck_assert_int_eq(vm_free_mmio(vm, b), 0);
	ck_assert_int_eq(vm_alloc_mmio(vm, 0x20000, 0x20000, &b), 0);
	ck_assert_uint_eq(b, ARCH_PCI_MMIO_BASE + 0x20000);
}
END_TEST

START_TEST(mmio_runs_out)
{
	uint64_t a, b;

	ck_assert_int_eq(vm_alloc_mmio(vm, ARCH_PCI_MMIO_SIZE + 1, 1, &a), -ENOSPC);
	ck_assert_int_eq(vm_alloc_mmio(vm, UINT64_MAX, 1, &a), -ENOSPC);
	/* An alignment no address in the window has. */
	ck_assert_int_eq(vm_alloc_mmio(vm, 16, 1ULL << 63, &a), -ENOSPC);
	ck_assert_int_eq(vm_alloc_mmio(vm, ARCH_PCI_MMIO_SIZE, 16, &a), 0);
	ck_assert_uint_eq(a, ARCH_PCI_MMIO_BASE);
	ck_assert_int_eq(vm_alloc_mmio(vm, 16, 16, &b), -ENOSPC);
	ck_assert_int_eq(vm_free_mmio(vm, a), 0);
	/* Half, then the other half, then nothing. */
	ck_assert_int_eq(vm_alloc_mmio(vm, ARCH_PCI_MMIO_SIZE / 2, 16, &a), 0);
	ck_assert_int_eq(vm_alloc_mmio(vm, ARCH_PCI_MMIO_SIZE / 2, ARCH_PCI_MMIO_SIZE / 2, &b), 0);
	ck_assert_uint_eq(b, ARCH_PCI_MMIO_BASE + ARCH_PCI_MMIO_SIZE / 2);
	ck_assert_int_eq(vm_alloc_mmio(vm, 1, 1, &b), -ENOSPC);
}
END_TEST

START_TEST(pool_runs_out_of_entries)
{
	uint64_t a[VM_RES_POOL_MAX], extra;

	for (unsigned int i = 0; i < VM_RES_POOL_MAX; i++) {
		ck_assert_int_eq(vm_alloc_mmio(vm, 16, 16, &a[i]), 0);
		ck_assert_uint_eq(a[i], ARCH_PCI_MMIO_BASE + 16 * i);
	}
	ck_assert_int_eq(vm_alloc_mmio(vm, 16, 16, &extra), -ENOSPC);
	ck_assert_int_eq(vm_free_mmio(vm, a[3]), 0);
	ck_assert_int_eq(vm_alloc_mmio(vm, 16, 16, &extra), 0);
	ck_assert_uint_eq(extra, a[3]);
}
END_TEST

START_TEST(pio_window)
{
	uint64_t p, q;

	for (unsigned int i = 0; i < 4; i++) {
		ck_assert_int_eq(vm_alloc_pio(vm, 0x40, 0x40, &p), 0);
		ck_assert_uint_eq(p, 0xC000 + 0x40 * i);
	}
	ck_assert_int_eq(vm_alloc_pio(vm, 0x100, 0x100, &p), 0);
	ck_assert_uint_eq(p, 0xC100);
	ck_assert_int_eq(vm_alloc_pio(vm, ARCH_PCI_IO_SIZE, 4, &q), -ENOSPC);
	ck_assert_int_eq(vm_alloc_pio(vm, 0x1000 - 0x200, 4, &q), 0);
	ck_assert_uint_eq(q, 0xC200);
	ck_assert_int_eq(vm_alloc_pio(vm, 4, 4, &q), -ENOSPC);
	/* The two windows are separate pools. */
	ck_assert_int_eq(vm_alloc_mmio(vm, 0x40, 0x40, &q), 0);
	ck_assert_uint_eq(q, ARCH_PCI_MMIO_BASE);
	ck_assert_int_eq(vm_free_pio(vm, ARCH_PCI_MMIO_BASE), -ENOENT);
}
END_TEST

START_TEST(bad_requests_refused)
{
	uint64_t a;

	ck_assert_int_eq(vm_alloc_mmio(vm, 0, 16, &a), -EINVAL);
	ck_assert_int_eq(vm_alloc_mmio(vm, 16, 0, &a), -EINVAL);
	ck_assert_int_eq(vm_alloc_mmio(vm, 16, 24, &a), -EINVAL);
	ck_assert_int_eq(vm_alloc_pio(vm, 4, 3, &a), -EINVAL);
	ck_assert_int_eq(vm_free_mmio(vm, ARCH_PCI_MMIO_BASE), -ENOENT);
	ck_assert_int_eq(vm_alloc_mmio(vm, 32, 32, &a), 0);
	ck_assert_int_eq(vm_free_mmio(vm, a + 16), -ENOENT); /* not where it starts */
	ck_assert_int_eq(vm_free_mmio(vm, a), 0);
	ck_assert_int_eq(vm_free_mmio(vm, a), -ENOENT); /* twice */
}
END_TEST

/* ------------------------------------------------------------------ */
/* The machine: --disk x2, --net virtio, e1000, virtio, e1000; 4 vCPUs. */

#define NR_DISKS 2
#define NR_NETS	 4

static struct vm_config machine_cfg;
static char disk_path[NR_DISKS][64];

static void machine_config(void)
{
	static const enum net_model models[NR_NETS] = {NET_MODEL_VIRTIO, NET_MODEL_E1000,
						       NET_MODEL_VIRTIO, NET_MODEL_E1000};
	static const char *const taps[NR_NETS] = {"mvres0", "mvres1", "mvres2", "mvres3"};

	memset(&machine_cfg, 0, sizeof(machine_cfg));
	machine_cfg.cpus = 4;
	machine_cfg.mem_size = 64 << 20;
	machine_cfg.nr_disks = NR_DISKS;
	for (unsigned int i = 0; i < NR_DISKS; i++) {
		int fd = unit_temp_file("res", disk_path[i], sizeof(disk_path[i]));

		ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
		close(fd);
		machine_cfg.disks[i].path = disk_path[i];
	}
	machine_cfg.nr_nets = NR_NETS;
	for (unsigned int i = 0; i < NR_NETS; i++) {
		machine_cfg.nets[i].tap = taps[i];
		machine_cfg.nets[i].model = models[i];
	}
	vm = fake_vm_create(4096);
	vm->cfg = &machine_cfg;
}

static void remove_disks(void)
{
	for (unsigned int i = 0; i < NR_DISKS; i++)
		unlink(disk_path[i]);
}

/* The map the documents give this machine. */
static const struct {
	uint32_t device_id;
	uint64_t base;
	unsigned int gsi;
} want_virtio[] = {
    {VIRTIO_ID_BLOCK, 0xd0000000, 16}, /* --disk 0 */
    {VIRTIO_ID_BLOCK, 0xd0001000, 17}, /* --disk 1 */
    {VIRTIO_ID_NET, 0xd0002000, 18},   /* --net 0 */
    {VIRTIO_ID_NET, 0xd0003000, 19},   /* --net 2 */
};
static const struct {
	unsigned int slot;
	uint32_t bar0, bar1;
	unsigned int gsi;
} want_e1000[] = {
    {1, 0xe0000000, 0xc000, 10}, /* --net 1 */
    {2, 0xe0020000, 0xc040, 11}, /* --net 3 */
};

#define WANT_CMDLINE                                                                               \
	"virtio_mmio.device=4K@0xd0000000:16 virtio_mmio.device=4K@0xd0001000:17 "                 \
	"virtio_mmio.device=4K@0xd0002000:18 virtio_mmio.device=4K@0xd0003000:19"

struct placed {
	uint64_t base, size;
	unsigned int gsi;
};

static uint32_t mmio_read32(uint64_t addr)
{
	uint32_t v = 0;

	ck_assert(bus_dispatch(&vm->mmio, addr, (uint8_t *)&v, 4, false));
	return v;
}

static uint32_t pci_cfg_read(unsigned int slot, unsigned int reg, uint32_t len)
{
	fake_vm_pio_write(vm, PCI_CONFIG_ADDRESS_PORT, 0x80000000u | slot << 11 | (reg & 0xfc), 4);
	return fake_vm_pio_read(vm, PCI_CONFIG_DATA_PORT + (reg & 3), len);
}

/* The virtio-mmio devices: windows answer as the right device type. */
static unsigned int check_virtio_map(struct placed *out)
{
	unsigned int n = 0;

	ck_assert_str_eq(vm->cmdline, WANT_CMDLINE);
	for (unsigned int i = 0; i < sizeof(want_virtio) / sizeof(want_virtio[0]); i++) {
		uint64_t base = want_virtio[i].base;

		ck_assert_uint_eq(mmio_read32(base + VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
		ck_assert_uint_eq(mmio_read32(base + VIRTIO_MMIO_DEVICE_ID),
				  want_virtio[i].device_id);
		ck_assert_uint_ge(base, ARCH_VIRTIO_MMIO_BASE);
		ck_assert_uint_le(base + ARCH_VIRTIO_MMIO_SIZE,
				  ARCH_VIRTIO_MMIO_BASE +
				      ARCH_VIRTIO_MMIO_MAX * ARCH_VIRTIO_MMIO_SIZE);
		out[n++] = (struct placed){base, ARCH_VIRTIO_MMIO_SIZE, want_virtio[i].gsi};
	}
	/* Nothing answers in the window after the last device. */
	ck_assert_ptr_null(bus_find(&vm->mmio, 0xd0004000, 4));
	return n;
}

/* The e1000s: slot, BARs and interrupt line as PCI configuration space shows them. */
static unsigned int check_pci_map(struct placed *out)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < sizeof(want_e1000) / sizeof(want_e1000[0]); i++) {
		unsigned int slot = want_e1000[i].slot;
		uint32_t bar0 = pci_cfg_read(slot, PCI_CFG_BAR0, 4);
		uint32_t bar1 = pci_cfg_read(slot, PCI_CFG_BAR0 + 4, 4);

		ck_assert_uint_eq(pci_cfg_read(slot, PCI_CFG_VENDOR_ID, 4),
				  E1000_DEVICE_ID << 16 | E1000_VENDOR_ID);
		ck_assert_uint_eq(bar0, want_e1000[i].bar0);
		ck_assert_uint_eq(bar1, want_e1000[i].bar1 | PCI_BAR_IO_FLAG);
		ck_assert_uint_eq(pci_cfg_read(slot, PCI_CFG_INT_LINE, 1), want_e1000[i].gsi);
		ck_assert_uint_eq(pci_cfg_read(slot, PCI_CFG_INT_PIN, 1), 1);
		ck_assert_uint_ge(bar0, ARCH_PCI_MMIO_BASE);
		ck_assert_uint_le(bar0 + E1000_MMIO_SIZE, ARCH_PCI_MMIO_BASE + ARCH_PCI_MMIO_SIZE);
		ck_assert_uint_ge(bar1, ARCH_PCI_IO_BASE);
		ck_assert_uint_le(bar1 + E1000_IO_SIZE, ARCH_PCI_IO_BASE + ARCH_PCI_IO_SIZE);
		out[n++] = (struct placed){bar0, E1000_MMIO_SIZE, want_e1000[i].gsi};
	}
	ck_assert_uint_eq(pci_cfg_read(3, PCI_CFG_VENDOR_ID, 4), 0xffffffff); /* slot 3 empty */
	/* The I/O BARs do not overlap each other either. */
	ck_assert_uint_ge(want_e1000[1].bar1, want_e1000[0].bar1 + E1000_IO_SIZE);
	return n;
}

/* MP table bytes (spec 1.4), for this machine's vCPU count. */
#define MP_CONFIG_HDR 44
#define MP_CPU_ENTRY  20
#define MP_OTHER      8

/*
 * Does the MP table route pin to the IOAPIC, from the PCI bus (INTA# of
 * slot, level) or as an ISA-style edge line (slot 0)?
 */
static bool mp_routes(const uint8_t *mp, uint8_t ioapic_id, unsigned int pin, unsigned int slot)
{
	uint32_t table;
	uint16_t count;
	const uint8_t *e;

	memcpy(&table, mp + 4, 4);
	memcpy(&count, mp + table + 34, 2);
	e = mp + table + MP_CONFIG_HDR;
	for (unsigned int i = 0; i < count; i++) {
		if (e[0] == 3 && e[6] == ioapic_id && e[7] == pin) {
			uint16_t flags;

			memcpy(&flags, e + 2, 2);
			if (slot ? flags == (1 | 3 << 2) && e[4] == 0 && e[5] == slot << 2
				 : flags == 0 && e[4] == 1 && e[5] == pin)
				return true;
		}
		e += e[0] == 0 ? MP_CPU_ENTRY : MP_OTHER;
	}
	return false;
}

static void check_machine_map(void)
{
	struct placed p[8];
	unsigned int n = check_virtio_map(p);
	uint8_t mp[1024];

	n += check_pci_map(p + n);
	ck_assert_uint_eq(n, 6);
	/* Every device has its own window/BAR and its own line. */
	for (unsigned int i = 0; i < n; i++) {
		ck_assert_uint_lt(p[i].gsi, ARCH_IOAPIC_PINS);
		ck_assert_uint_ne(p[i].gsi, ARCH_COM1_IRQ);
		for (unsigned int j = i + 1; j < n; j++) {
			ck_assert_uint_ne(p[i].gsi, p[j].gsi);
			ck_assert(p[i].base + p[i].size <= p[j].base ||
				  p[j].base + p[j].size <= p[i].base);
		}
	}
	/* The allocator's record agrees: exactly these six lines are out. */
	ck_assert_uint_eq(vm->resources.gsis,
			  1u << 16 | 1u << 17 | 1u << 18 | 1u << 19 | 1u << 10 | 1u << 11);
	/* With 4 vCPUs the IOAPIC is APIC ID 4; the table routes every device line to it. */
	ck_assert_uint_gt(x86_build_mptable(mp, sizeof(mp), 0, machine_cfg.cpus), 0);
	for (unsigned int i = 0; i < 4; i++)
		ck_assert(mp_routes(mp, 4, want_virtio[i].gsi, 0));
	for (unsigned int i = 0; i < 2; i++)
		ck_assert(mp_routes(mp, 4, want_e1000[i].gsi, want_e1000[i].slot));
}

static int tap_ops_hdr_size(struct tap *tap, int size)
{
	(void)tap;
	(void)size;
	return 0;
}

static int tap_ops_offload(struct tap *tap, unsigned int flags)
{
	(void)tap;
	(void)flags;
	return 0;
}

static const struct virtio_net_tap_ops socket_tap_ops = {
    .set_vnet_hdr_size = tap_ops_hdr_size,
    .set_offload = tap_ops_offload,
};

static struct {
	struct virtio_blk *blk[NR_DISKS];
	struct virtio_net *net[NR_NETS];
	struct e1000 *e1000[NR_NETS];
	int peer[NR_NETS];
} machine;

/* A socketpair stands in for the tap; the test keeps the other end. */
static struct tap machine_socket_tap(unsigned int i, bool vnet_hdr)
{
	struct tap tap;
	int sv[2];

	ck_assert_int_eq(
	    socketpair(AF_UNIX, (vnet_hdr ? SOCK_DGRAM : SOCK_SEQPACKET) | SOCK_CLOEXEC, 0, sv), 0);
	tap_init_fd(&tap, sv[0], machine_cfg.nets[i].tap, vnet_hdr);
	machine.peer[i] = sv[1];
	return tap;
}

/*
 * What devices_create() does, in its order (disks, then NICs in
 * command-line order; the PCI bus before the first e1000), with
 * socketpairs for taps so no privilege is needed.
 */
static void create_on_socket_taps(void)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	bool pci_ready = false;

	memset(&machine, 0, sizeof(machine));
	for (unsigned int i = 0; i < NR_DISKS; i++)
		ck_assert_int_eq(virtio_blk_create(vm, &machine_cfg.disks[i], i, &machine.blk[i]),
				 0);
	for (unsigned int i = 0; i < NR_NETS; i++) {
		struct tap tap =
		    machine_socket_tap(i, machine_cfg.nets[i].model == NET_MODEL_VIRTIO);

		if (machine_cfg.nets[i].model == NET_MODEL_VIRTIO) {
			ck_assert_int_eq(virtio_net_create_on_tap(vm, &machine_cfg.nets[i], i, &tap,
								  &socket_tap_ops, &machine.net[i]),
					 0);
			continue;
		}
		if (!pci_ready)
			ck_assert_int_eq(pci_init(vm), 0);
		pci_ready = true;
		ck_assert_int_eq(e1000_create_on_tap(vm, i, mac, &tap, false, &machine.e1000[i]),
				 0);
	}
}

static void destroy_socket_machine(void)
{
	for (unsigned int i = 0; i < NR_DISKS; i++)
		virtio_blk_destroy(machine.blk[i]);
	for (unsigned int i = 0; i < NR_NETS; i++) {
		virtio_net_destroy(machine.net[i]);
		if (machine.e1000[i])
			e1000_destroy(machine.e1000[i]);
		close(machine.peer[i]);
	}
	pci_destroy(vm);
	fake_vm_destroy(vm);
}

START_TEST(machine_map_on_socket_taps)
{
	machine_config();
	create_on_socket_taps();
	check_machine_map();
	destroy_socket_machine();
	remove_disks();
}
END_TEST

/*
 * devices_create() itself, on real taps: only as root, inside a private
 * network namespace of the forked test process (as test_tap.c does).  The
 * devices it makes have no handle to destroy them by; they go with the
 * process, which is why this needs Check's fork mode.
 */
START_TEST(machine_map_from_devices_create)
{
	const char *fork_mode = getenv("CK_FORK");

	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0 ||
	    (fork_mode && strcmp(fork_mode, "no") == 0) || unshare(CLONE_NEWNET) != 0)
		return;
	machine_config();
	ck_assert_int_eq(devices_create(vm), 0);
	remove_disks();
	check_machine_map();
}
END_TEST

Suite *resources_suite(void)
{
	Suite *s =
	    unit_suite("resources", vm_setup, vm_teardown,
		       UNIT_TESTS(virtio_windows_follow_the_map, pci_slots_and_their_lines,
				  every_line_handed_out_once, a_line_already_out_is_refused,
				  mmio_is_aligned_and_first_fit, mmio_runs_out,
				  pool_runs_out_of_entries, pio_window, bad_requests_refused));

	unit_tcase(s, "machine", NULL, NULL,
		   UNIT_TESTS(machine_map_on_socket_taps, machine_map_from_devices_create));
	return s;
}
