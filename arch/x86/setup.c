/*
 * Putting a kernel into the guest: files, command line, boot_params, MP
 * table, ACPI tables, page tables and GDT for a 64-bit entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acpi.h"
#include "arch/arch.h"
#include "boot.h"
#include "cpu.h"
#include "log.h"
#include "vm.h"

#define PTE_PRESENT	 (1ULL << 0)
#define PTE_WRITE	 (1ULL << 1)
#define PTE_LARGE	 (1ULL << 7)
#define IDENTITY_MAP_GIB 4

/* Identity map of the first 4 GiB with 2 MiB pages: PML4, PDPT, 4 PDs. */
static int write_page_tables(struct guest_mem *gm)
{
	uint64_t *pml4 = guest_mem_ptr(gm, ARCH_PAGE_TABLE_ADDR, 4096);
	uint64_t *pdpt = guest_mem_ptr(gm, ARCH_PAGE_TABLE_ADDR + 0x1000, 4096);
	uint64_t *pd = guest_mem_ptr(gm, ARCH_PAGE_TABLE_ADDR + 0x2000, 4096 * IDENTITY_MAP_GIB);

	if (!pml4 || !pdpt || !pd)
		return -1;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = (ARCH_PAGE_TABLE_ADDR + 0x1000) | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < IDENTITY_MAP_GIB; i++)
		pdpt[i] = (ARCH_PAGE_TABLE_ADDR + 0x2000 + i * 4096) | PTE_PRESENT | PTE_WRITE;
	for (uint64_t i = 0; i < 512 * IDENTITY_MAP_GIB; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_WRITE | PTE_LARGE;
	return 0;
}

/* The boot protocol's GDT: 0x10 = 64-bit code, 0x18 = data, 0x20 = TSS. */
static int write_gdt(struct guest_mem *gm)
{
	uint64_t *gdt = guest_mem_ptr(gm, ARCH_GDT_ADDR, 6 * 8);

	if (!gdt)
		return -1;
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffULL; /* code: present, DPL0, L=1 */
	gdt[3] = 0x00cf93000000ffffULL; /* data: present, DPL0, 4 GiB */
	gdt[4] = 0x00008b0000000067ULL; /* TSS: busy, base 0, limit 0x67 */
	gdt[5] = 0;
	return 0;
}

static int write_cmdline(struct vm *vm, size_t *len)
{
	size_t n = strlen(vm->cmdline) + 1;
	char *dst = guest_mem_ptr(&vm->mem, ARCH_CMDLINE_ADDR, n);

	if (!dst)
		return -1;
	memcpy(dst, vm->cmdline, n);
	*len = n - 1;
	return 0;
}

/*
 * The 8259s as firmware leaves them: vectors 0x20-0x2f, every line masked.
 * KVM creates them unprogrammed (vector base 0, nothing masked), and a
 * kernel told by the FADT that the platform is hardware-reduced never
 * touches them, so each ISA interrupt (COM1's, through KVM's default
 * routing to both the PIC and the IOAPIC) would also arrive through
 * LINT0's ExtINT as exception vector 4.  Kernels that use the PIC program
 * it themselves.
 */
static int setup_mask_pic(struct vm *vm)
{
	for (unsigned int chip = KVM_IRQCHIP_PIC_MASTER; chip <= KVM_IRQCHIP_PIC_SLAVE; chip++) {
		struct kvm_irqchip ic = {.chip_id = chip};

		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &ic) < 0) {
			log_errno("KVM_GET_IRQCHIP (PIC)");
			return -1;
		}
		ic.chip.pic.imr = 0xff;
		ic.chip.pic.irq_base = chip == KVM_IRQCHIP_PIC_MASTER ? 0x20 : 0x28;
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &ic) < 0) {
			log_errno("KVM_SET_IRQCHIP (PIC)");
			return -1;
		}
	}
	return 0;
}

/* ACPI tables in the BIOS area, found through boot_params or Linux's scan of it (docs/acpi.md). */
static int setup_acpi(struct vm *vm, struct boot_params *bp)
{
	struct x86_acpi_machine m = {.ncpus = vm->cfg->cpus,
				     .virtio_windows = vm->resources.virtio_windows,
				     .pci = vm->pci != NULL};
	uint8_t *buf = guest_mem_ptr(&vm->mem, ARCH_ACPI_TABLES_ADDR, ARCH_ACPI_TABLES_SIZE);
	size_t len =
	    buf ? x86_build_acpi(buf, ARCH_ACPI_TABLES_SIZE, ARCH_ACPI_TABLES_ADDR, &m) : 0;

	if (!len) {
		log_error("cannot build the ACPI tables (guest RAM below 1 MiB?)");
		return -1;
	}
	bp->acpi_rsdp_addr = ARCH_ACPI_TABLES_ADDR;
	log_debug("ACPI tables at 0x%llx, %zu bytes: %u CPUs, virtio-mmio windows 0x%x, %s",
		  (unsigned long long)ARCH_ACPI_TABLES_ADDR, len, m.ncpus, m.virtio_windows,
		  m.pci ? "PCI host bridge" : "no PCI");
	return setup_mask_pic(vm);
}

int arch_load_kernel(struct vm *vm)
{
	struct guest_file kernel, initrd = {.fd = -1};
	struct x86_kernel k;
	struct boot_params *bp;
	uint64_t initrd_addr = 0;
	size_t cmdline_len, mp_len;
	uint8_t *mp;
	char err[256];
	int ret = -1;

	if (compat_append_cmdline(vm) < 0)
		return -1;
	if (guest_file_open("--kernel", vm->cfg->kernel, &kernel) < 0)
		return -1;
	if (x86_load_kernel(&vm->mem, &kernel, &k, err, sizeof(err)) < 0) {
		log_error("--kernel %s: %s", vm->cfg->kernel, err);
		goto out;
	}
	if (vm->cfg->initrd) {
		if (guest_file_open("--initrd", vm->cfg->initrd, &initrd) < 0)
			goto out;
		if (x86_load_initrd(&vm->mem, &k, &initrd, &initrd_addr, err, sizeof(err)) < 0) {
			log_error("--initrd %s: %s", vm->cfg->initrd, err);
			goto out;
		}
	}
	if (write_cmdline(vm, &cmdline_len) < 0 || write_page_tables(&vm->mem) < 0 ||
	    write_gdt(&vm->mem) < 0) {
		log_error("guest RAM too small for the boot structures");
		goto out;
	}
	mp = guest_mem_ptr(&vm->mem, ARCH_MPTABLE_ADDR, ARCH_ACPI_TABLES_ADDR - ARCH_MPTABLE_ADDR);
	mp_len = mp ? x86_build_mptable(mp, ARCH_ACPI_TABLES_ADDR - ARCH_MPTABLE_ADDR,
					ARCH_MPTABLE_ADDR, vm->cfg->cpus)
		    : 0;
	bp = guest_mem_ptr(&vm->mem, ARCH_BOOT_PARAMS_ADDR, sizeof(*bp));
	if (!mp_len || !bp) {
		log_error("cannot build the MP table or boot_params");
		goto out;
	}
	x86_build_boot_params(bp, &k, &vm->mem, ARCH_CMDLINE_ADDR, cmdline_len, initrd_addr,
			      vm->cfg->initrd ? initrd.len : 0);
	if (vm->cfg->acpi && setup_acpi(vm, bp) < 0)
		goto out;
	vm->kernel_entry = k.entry;
	if (vm->mem.nr_file_maps)
		log_debug("kernel files: %u ranges mapped copy-on-write, under read leases",
			  vm->mem.nr_file_maps);
	char initrd_at[40] = "no initrd";

	if (vm->cfg->initrd)
		snprintf(initrd_at, sizeof(initrd_at), "initrd at 0x%llx",
			 (unsigned long long)initrd_addr);
	log_debug("kernel: %s at 0x%llx-0x%llx, entry 0x%llx; %s; cmdline \"%s\"",
		  k.is_bzimage ? "bzImage" : "ELF", (unsigned long long)k.load_addr,
		  (unsigned long long)k.end, (unsigned long long)k.entry, initrd_at, vm->cmdline);
	compat_note_kernel_format(vm, k.is_bzimage);
	ret = 0;
out:
	guest_file_close(&initrd);
	guest_file_close(&kernel);
	return ret;
}
