/*
 * Booting an arm64 guest: the kernel and initrd into RAM (image.c), then,
 * once every vCPU exists, the vGIC initialised and the device tree (fdt.c)
 * written at the top of RAM for the boot vCPU's x0 (docs/arm64.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "cpu.h"
#include "fdt.h"
#include "image.h"
#include "log.h"
#include "util.h"
#include "vgic.h"
#include "vm.h"

/* One VM per process: where its device tree goes, fixed by arch_load_kernel. */
static uint64_t dtb_address;
static struct arm64_fdt_region initrd_region;

uint64_t arm64_boot_dtb_address(void)
{
	return dtb_address;
}

int arch_load_kernel(struct vm *vm)
{
	struct guest_file kernel, initrd = {.fd = -1};
	struct arm64_kernel k;
	char err[256];
	int ret = -1;

	dtb_address = arm64_dtb_address(ARCH_RAM_BASE, vm->cfg->mem_size);
	if (!dtb_address) {
		log_error("--mem %llu MiB: too small for an arm64 guest",
			  (unsigned long long)(vm->cfg->mem_size >> 20));
		return -1;
	}
	if (guest_file_open("--kernel", vm->cfg->kernel, &kernel) < 0)
		return -1;
	if (arm64_load_kernel(&vm->mem, &kernel, ARCH_RAM_BASE, dtb_address, &k, err, sizeof(err)) <
	    0) {
		log_error("--kernel %s: %s", vm->cfg->kernel, err);
		goto out;
	}
	if (vm->cfg->initrd) {
		if (guest_file_open("--initrd", vm->cfg->initrd, &initrd) < 0)
			goto out;
		if (arm64_load_initrd(&vm->mem, &initrd, &k, dtb_address, &initrd_region.base, err,
				      sizeof(err)) < 0) {
			log_error("--initrd %s: %s", vm->cfg->initrd, err);
			goto out;
		}
		initrd_region.size = initrd.len;
	}
	vm->kernel_entry = k.entry;
	log_debug(
	    "kernel: %s at 0x%llx-0x%llx, entry 0x%llx; device tree at 0x%llx; cmdline \"%s\"",
	    k.is_image ? "Image" : "ELF", (unsigned long long)k.start, (unsigned long long)k.end,
	    (unsigned long long)k.entry, (unsigned long long)dtb_address, vm->cmdline);
	ret = 0;
out:
	guest_file_close(&initrd);
	guest_file_close(&kernel);
	return ret;
}

/* The machine as the device tree describes it: this VM's map and devices. */
static int describe_machine(struct vm *vm, struct arm64_fdt_machine *m)
{
	memset(m, 0, sizeof(*m));
	m->ram.base = ARCH_RAM_BASE;
	m->ram.size = vm->cfg->mem_size;
	m->ncpus = vm->nr_vcpus;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (arm64_vcpu_mpidr(&vm->vcpus[i], &m->mpidr[i]) < 0)
			return -1;
	m->gic.version = arm64_vgic_version();
	m->gic.dist = (struct arm64_fdt_region){ARM64_GIC_DIST_BASE, ARM64_GIC_DIST_SIZE};
	if (m->gic.version == ARM64_GIC_V3)
		m->gic.redist = (struct arm64_fdt_region){ARM64_GIC_REDIST_BASE,
							  ARM64_GIC_REDIST_PER_CPU * vm->nr_vcpus};
	else
		m->gic.cpu_if =
		    (struct arm64_fdt_region){ARM64_GIC_CPU_IF_BASE, ARM64_GIC_CPU_IF_SIZE};
	m->uart.window = (struct arm64_fdt_region){ARM64_UART_BASE, ARM64_UART_SIZE};
	m->uart.intid = ARM64_FDT_SPI_FIRST + ARM64_UART_SPI;
	m->uart.clock_hz = ARM64_UART_CLOCK_HZ;
	for (unsigned int n = 0; n < ARCH_VIRTIO_MMIO_MAX; n++) {
		if (!(vm->resources.virtio_windows & BIT(n)))
			continue;
		m->virtio[m->nvirtio].window = (struct arm64_fdt_region){
		    ARCH_VIRTIO_MMIO_BASE + n * ARCH_VIRTIO_MMIO_SIZE, ARCH_VIRTIO_MMIO_SIZE};
		m->virtio[m->nvirtio].intid = ARM64_FDT_SPI_FIRST + ARCH_VIRTIO_IRQ_BASE + n;
		m->nvirtio++;
	}
	if (vm->pci) {
		m->pci.ecam = (struct arm64_fdt_region){ARCH_PCI_ECAM_BASE, ARCH_PCI_ECAM_SIZE};
		m->pci.mem32 = (struct arm64_fdt_region){ARCH_PCI_MMIO_BASE, ARCH_PCI_MMIO_SIZE};
		m->pci.io =
		    (struct arm64_fdt_region){ARM64_PCI_IO_MMIO_BASE, ARM64_PCI_IO_MMIO_SIZE};
		m->pci.intx_intid = ARM64_FDT_SPI_FIRST + ARM64_PCI_INTX_SPI;
	}
	m->bootargs = vm->cmdline;
	m->initrd = initrd_region;
	return 0;
}

/* --dump-dtb: the blob as the guest gets it. */
static int dump_dtb(const char *path, const void *blob, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0) {
		log_errno("--dump-dtb %s", path);
		return -1;
	}
	n = write(fd, blob, size);
	if (n != (ssize_t)size || close(fd) < 0) {
		log_error("--dump-dtb %s: cannot write %zu bytes", path, size);
		if (n == (ssize_t)size)
			return -1;
		close(fd);
		return -1;
	}
	return 0;
}

int arch_vcpus_ready(struct vm *vm)
{
	static struct arm64_fdt_machine m; /* 4 KiB of MPIDRs: not on the stack */
	void *blob = guest_mem_ptr(&vm->mem, dtb_address, ARM64_DTB_MAX_SIZE);
	char err[256];
	int size;

	if (arm64_vgic_finalize(vm) < 0 || vm_irqchip_ready(vm) < 0 || describe_machine(vm, &m) < 0)
		return -1;
	if (!blob) {
		log_error("no guest RAM for the device tree at 0x%llx",
			  (unsigned long long)dtb_address);
		return -1;
	}
	size = arm64_fdt_build(&m, blob, ARM64_DTB_MAX_SIZE, err, sizeof(err));
	if (size < 0) {
		log_error("device tree: %s", err);
		return -1;
	}
	log_debug("device tree: %d bytes at 0x%llx, %u vCPUs, GICv%d, %u virtio-mmio device(s)%s",
		  size, (unsigned long long)dtb_address, m.ncpus, (int)m.gic.version, m.nvirtio,
		  vm->pci ? ", PCI" : "");
	return vm->cfg->dump_dtb ? dump_dtb(vm->cfg->dump_dtb, blob, (size_t)size) : 0;
}
