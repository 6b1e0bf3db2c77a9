/*
 * arm64 vCPUs: KVM_ARM_VCPU_INIT with in-kernel PSCI (secondaries start
 * powered off and come up through PSCI CPU_ON), the boot vCPU pointed at
 * the kernel with x0 = the device tree, and register dumps for fatal exits.
 */
#include "cpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "log.h"
#include "vgic.h"
#include "vm.h"

#define CORE_REG(field)                                                                            \
	(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE |                                     \
	 (offsetof(struct kvm_regs, field) / sizeof(uint32_t)))
#define MPIDR_EL1 ARM64_SYS_REG(3, 0, 0, 0, 5)

static int get_reg(struct vcpu *vcpu, uint64_t id, uint64_t *value)
{
	struct kvm_one_reg reg = {.id = id, .addr = (uintptr_t)value};

	return ioctl(vcpu->fd, KVM_GET_ONE_REG, &reg) < 0 ? -errno : 0;
}

static int set_reg(struct vcpu *vcpu, uint64_t id, uint64_t value)
{
	struct kvm_one_reg reg = {.id = id, .addr = (uintptr_t)&value};

	return ioctl(vcpu->fd, KVM_SET_ONE_REG, &reg) < 0 ? -errno : 0;
}

int arch_check_host(struct vm *vm)
{
	(void)vm; /* no known arm64 host quirks to work around */
	return 0;
}

int arch_vm_init(struct vm *vm)
{
	return arm64_vgic_create(vm);
}

int arch_vcpu_init(struct vcpu *vcpu)
{
	struct kvm_vcpu_init init;
	int r;

	memset(&init, 0, sizeof(init));
	if (ioctl(vcpu->vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0) {
		log_errno("KVM_ARM_PREFERRED_TARGET");
		return -1;
	}
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (vcpu->id != 0)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF;
	if (ioctl(vcpu->fd, KVM_ARM_VCPU_INIT, &init) < 0) {
		log_errno("vCPU %u: KVM_ARM_VCPU_INIT", vcpu->id);
		return -1;
	}
	if (vcpu->id != 0)
		return 0;
	/* The protocol: MMU off, EL1h with interrupts masked (KVM's reset
	 * state), x0 = the device tree, x1..x3 zero, PC at the kernel. */
	r = set_reg(vcpu, CORE_REG(regs.regs[0]), arm64_boot_dtb_address());
	if (!r)
		r = set_reg(vcpu, CORE_REG(regs.pc), vcpu->vm->kernel_entry);
	if (r) {
		log_error("vCPU 0: cannot set its boot registers: %s", strerror(-r));
		return -1;
	}
	return 0;
}

int arm64_vcpu_mpidr(struct vcpu *vcpu, uint64_t *mpidr)
{
	int r = get_reg(vcpu, MPIDR_EL1, mpidr);

	if (r)
		log_error("vCPU %u: cannot read MPIDR_EL1: %s", vcpu->id, strerror(-r));
	return r ? -1 : 0;
}

bool arch_handle_exit(struct vcpu *vcpu)
{
	(void)vcpu; /* everything an arm64 guest does is a generic exit */
	return false;
}

void arch_dump_vcpu(struct vcpu *vcpu, FILE *out)
{
	uint64_t v;

	fprintf(out, "vCPU %u: exit reason %u\n", vcpu->id, vcpu->run->exit_reason);
	if (!get_reg(vcpu, CORE_REG(regs.pc), &v))
		fprintf(out, "  pc     0x%016llx\n", (unsigned long long)v);
	if (!get_reg(vcpu, CORE_REG(regs.pstate), &v))
		fprintf(out, "  pstate 0x%016llx\n", (unsigned long long)v);
	if (!get_reg(vcpu, CORE_REG(sp_el1), &v))
		fprintf(out, "  sp_el1 0x%016llx\n", (unsigned long long)v);
	for (unsigned int i = 0; i < 31; i++)
		if (!get_reg(vcpu, CORE_REG(regs.regs[i]), &v))
			fprintf(out, "  x%-2u    0x%016llx%s", i, (unsigned long long)v,
				i % 2 ? "\n" : "  ");
	fprintf(out, "\n");
}
