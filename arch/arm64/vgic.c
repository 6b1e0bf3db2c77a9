/* KVM's in-kernel GIC for arm64 guests, through KVM_CREATE_DEVICE. */
#include "vgic.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/layout.h"
#include "log.h"
#include "vm.h"

/* SPIs the guest's devices use are below 32 (ARCH_IRQ_LINES); the GIC counts SGIs and PPIs too. */
#define VGIC_NR_IRQS (32 + 64)

static int vgic_fd = -1;
static enum arm64_gic_version vgic_version;

static int set_attr(int fd, uint32_t group, uint64_t attr, void *value)
{
	struct kvm_device_attr a = {.group = group, .attr = attr, .addr = (uintptr_t)value};

	return ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

static int create_device(struct vm *vm, uint32_t type)
{
	struct kvm_create_device cd = {.type = type};

	return ioctl(vm->vm_fd, KVM_CREATE_DEVICE, &cd) < 0 ? -errno : (int)cd.fd;
}

int arm64_vgic_create(struct vm *vm)
{
	uint64_t dist = ARM64_GIC_DIST_BASE, redist = ARM64_GIC_REDIST_BASE;
	uint64_t cpu_if = ARM64_GIC_CPU_IF_BASE;
	int fd, r;

	fd = create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	if (fd >= 0) {
		r = set_attr(fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
		if (!r)
			r = set_attr(fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST,
				     &redist);
		if (r) {
			log_error("vGICv3: cannot place its frames: %s", strerror(-r));
			return -1;
		}
		vgic_fd = fd;
		vgic_version = ARM64_GIC_V3;
		return 0;
	}
	/* A GICv2-only host (or one whose v3 needs a v3 CPU it lacks). */
	if (vm->cfg->cpus > ARM64_FDT_MAX_CPUS_GICV2) {
		log_error("this host has no vGICv3 (%s), and a vGICv2 serves at most %d vCPUs, "
			  "not %u",
			  strerror(-fd), ARM64_FDT_MAX_CPUS_GICV2, vm->cfg->cpus);
		return -1;
	}
	fd = create_device(vm, KVM_DEV_TYPE_ARM_VGIC_V2);
	if (fd < 0) {
		log_error("KVM_CREATE_DEVICE: neither a vGICv3 nor a vGICv2: %s", strerror(-fd));
		return -1;
	}
	r = set_attr(fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_DIST, &dist);
	if (!r)
		r = set_attr(fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_CPU, &cpu_if);
	if (r) {
		log_error("vGICv2: cannot place its frames: %s", strerror(-r));
		return -1;
	}
	log_info("vGICv3 not available; using a vGICv2");
	vgic_fd = fd;
	vgic_version = ARM64_GIC_V2;
	return 0;
}

enum arm64_gic_version arm64_vgic_version(void)
{
	return vgic_version;
}

int arm64_vgic_finalize(struct vm *vm)
{
	uint32_t nr_irqs = VGIC_NR_IRQS;
	int r;

	(void)vm;
	r = set_attr(vgic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr_irqs);
	if (!r)
		r = set_attr(vgic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	if (r) {
		log_error("vGICv%d: cannot initialise it: %s", (int)vgic_version, strerror(-r));
		return -1;
	}
	return 0;
}
