/* The VM: /dev/kvm checks, guest memory, and the vm_* services that need KVM ioctls. */
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "arch/layout.h"
#include "log.h"
#include "util.h"

/* Capabilities minivmm cannot run without: its own, then the architecture's. */
#define REQUIRED_CAP(cap)                                                                          \
	{                                                                                          \
		cap, #cap                                                                          \
	}
static const struct {
	long cap;
	const char *name;
} required_caps[] = {
    REQUIRED_CAP(KVM_CAP_IRQCHIP),
    REQUIRED_CAP(KVM_CAP_USER_MEMORY),
    REQUIRED_CAP(KVM_CAP_IRQ_ROUTING),
    ARCH_REQUIRED_KVM_CAPS(REQUIRED_CAP),
};

int vm_check_extension(const struct vm *vm, long cap)
{
	int fd = vm->vm_fd >= 0 ? vm->vm_fd : vm->kvm_fd;
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

static int open_kvm(struct vm *vm)
{
	int version;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		if (errno == ENOENT)
			log_error("/dev/kvm does not exist: KVM is not available on this host "
				  "(load kvm_intel/kvm_amd or enable virtualization)");
		else if (errno == EACCES || errno == EPERM)
			log_error(
			    "/dev/kvm: permission denied (run as root or join the kvm group)");
		else
			log_errno("cannot open /dev/kvm");
		return -1;
	}
	version = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		log_error("/dev/kvm: API version %d, minivmm needs %d", version, KVM_API_VERSION);
		return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(required_caps); i++) {
		if (!vm_check_extension(vm, required_caps[i].cap)) {
			log_error("/dev/kvm lacks %s, which minivmm requires",
				  required_caps[i].name);
			return -1;
		}
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		log_errno("KVM_GET_VCPU_MMAP_SIZE");
		return -1;
	}
	return 0;
}

static int check_cpus(struct vm *vm)
{
	int max = vm_check_extension(vm, KVM_CAP_MAX_VCPUS);

	if (max <= 0)
		max = vm_check_extension(vm, KVM_CAP_NR_VCPUS);
	if (max <= 0)
		max = 4; /* the documented minimum when neither cap is reported */
	if (vm->cfg->cpus > (unsigned int)max) {
		log_error("--cpus %u: this host's KVM supports at most %d vCPUs", vm->cfg->cpus,
			  max);
		return -1;
	}
	return 0;
}

static enum guest_mem_backing kvm_guest_mem_backing(enum mem_backend backend)
{
	switch (backend) {
	case MEM_BACKEND_MEMFD:
		return GUEST_MEM_MEMFD;
	case MEM_BACKEND_HUGETLB:
		return GUEST_MEM_HUGETLB;
	default:
		return GUEST_MEM_ANON;
	}
}

static int map_guest_memory(struct vm *vm)
{
	struct sysinfo si;
	int r;

	/* MAP_NORESERVE would accept any size; refuse what could never be backed. */
	if (sysinfo(&si) == 0 &&
	    vm->cfg->mem_size / si.mem_unit > (uint64_t)si.totalram + si.totalswap) {
		log_error(
		    "--mem %llu MiB: more than this host's %llu MiB of RAM and swap",
		    (unsigned long long)(vm->cfg->mem_size >> 20),
		    (unsigned long long)(((uint64_t)si.totalram + si.totalswap) * si.mem_unit >>
					 20));
		return -1;
	}
	r = guest_mem_alloc_at(&vm->mem, vm->cfg->mem_size, ARCH_RAM_BASE, ARCH_MMIO_HOLE_START,
			       kvm_guest_mem_backing(vm->cfg->mem_backend), vm->cfg->hugepages);

	if (r) {
		log_error("--mem %llu MiB: cannot map %s guest memory: %s%s",
			  (unsigned long long)(vm->cfg->mem_size >> 20),
			  guest_mem_backing_name(kvm_guest_mem_backing(vm->cfg->mem_backend)),
			  strerror(-r),
			  vm->cfg->mem_backend == MEM_BACKEND_HUGETLB && r == -ENOMEM
			      ? " (too few free huge pages: see /proc/sys/vm/nr_hugepages)"
			      : "");
		return -1;
	}
	for (unsigned int i = 0; i < vm->mem.nr_regions; i++) {
		struct kvm_userspace_memory_region region = {
		    .slot = i,
		    .guest_phys_addr = vm->mem.regions[i].gpa,
		    .memory_size = vm->mem.regions[i].size,
		    .userspace_addr = (uintptr_t)vm->mem.regions[i].host,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
			log_errno("KVM_SET_USER_MEMORY_REGION (%llu MiB at 0x%llx)",
				  (unsigned long long)(region.memory_size >> 20),
				  (unsigned long long)region.guest_phys_addr);
			return -1;
		}
	}
	return 0;
}

int vm_create(struct vm *vm, const struct vm_config *cfg)
{
	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm_fd = vm->vm_fd = -1;
	vm->stop_pipe[0] = vm->stop_pipe[1] = -1;
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	vm_resources_init(&vm->resources);

	if (pipe2(vm->stop_pipe, O_CLOEXEC) < 0) {
		log_errno("pipe");
		return -1;
	}
	if (open_kvm(vm) < 0)
		return -1;
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		log_errno("KVM_CREATE_VM");
		return -1;
	}
	if (check_cpus(vm) < 0)
		return -1;
	vm->has_ioeventfd = vm_check_extension(vm, KVM_CAP_IOEVENTFD) > 0;
	vm->has_irqfd = vm_check_extension(vm, KVM_CAP_IRQFD) > 0;
	return map_guest_memory(vm);
}

void vm_destroy(struct vm *vm)
{
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	guest_mem_free(&vm->mem);
	vm->vm_fd = vm->kvm_fd = -1;
}

int vm_set_irq(struct vm *vm, unsigned int gsi, int level)
{
	struct kvm_irq_level irq = {.irq = arch_kvm_irq_line(gsi), .level = level ? 1 : 0};

	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

int vm_pulse_irq(struct vm *vm, unsigned int gsi)
{
	int r = vm_set_irq(vm, gsi, 1);

	return r ? r : vm_set_irq(vm, gsi, 0);
}

static int ioeventfd_ioctl(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int efd,
			   uint32_t extra_flags)
{
	struct kvm_ioeventfd ioev = {
	    .datamatch = datamatch,
	    .addr = addr,
	    .len = len,
	    .fd = efd,
	    .flags = KVM_IOEVENTFD_FLAG_DATAMATCH | extra_flags,
	};

	if (!vm->has_ioeventfd)
		return -ENOSYS;
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &ioev) < 0 ? -errno : 0;
}

int vm_add_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int efd)
{
	return ioeventfd_ioctl(vm, addr, len, datamatch, efd, 0);
}

int vm_del_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int efd)
{
	return ioeventfd_ioctl(vm, addr, len, datamatch, efd, KVM_IOEVENTFD_FLAG_DEASSIGN);
}

static int irqfd_assign(struct vm *vm, unsigned int gsi, int efd, int resample_fd)
{
	struct kvm_irqfd irqfd = {
	    .fd = efd,
	    .gsi = gsi,
	};

	if (resample_fd >= 0) {
		irqfd.flags = KVM_IRQFD_FLAG_RESAMPLE;
		irqfd.resamplefd = resample_fd;
	}
	return ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

int vm_add_irqfd(struct vm *vm, unsigned int gsi, int efd, int resample_fd)
{
	if (!vm->has_irqfd)
		return -ENOSYS;
	if (vm->irqchip_ready)
		return irqfd_assign(vm, gsi, efd, resample_fd);
	/* KVM refuses irqfds (EAGAIN) until the interrupt controller is
	 * initialised, which on arm64 waits for every vCPU: kept until then. */
	if (vm->nr_deferred_irqfds >= VM_MAX_DEFERRED_IRQFDS)
		return -ENOSPC;
	vm->deferred_irqfds[vm->nr_deferred_irqfds++] =
	    (struct vm_deferred_irqfd){.gsi = gsi, .efd = efd, .resample_fd = resample_fd};
	return 0;
}

int vm_irqchip_ready(struct vm *vm)
{
	vm->irqchip_ready = true;
	for (unsigned int i = 0; i < vm->nr_deferred_irqfds; i++) {
		const struct vm_deferred_irqfd *d = &vm->deferred_irqfds[i];
		int r = irqfd_assign(vm, d->gsi, d->efd, d->resample_fd);

		if (r) {
			log_error("KVM_IRQFD for line %u: %s", d->gsi, strerror(-r));
			return -1;
		}
	}
	vm->nr_deferred_irqfds = 0;
	return 0;
}
