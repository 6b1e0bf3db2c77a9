/*
 * Compatibility with hosts whose KVM emulates guest kernel code.
 *
 * On kvm_pvm (a page-table-based nested hypervisor used where VT-x/AMD-V is
 * not available) guest CPL3 runs natively but every guest CPL0 instruction
 * goes through KVM's x86 instruction emulator.  That emulator is incomplete,
 * and this file and compat_profile.c hold everything minivmm does about it:
 *
 *  - detection (arch_check_host): the kvm_pvm module, or a host CPU without
 *    vmx/svm that still offers /dev/kvm;
 *  - whether the "compat" CPU profile applies (--cpu-profile, chosen
 *    automatically on such hosts and logged); what it changes in CPUID and
 *    on the kernel command line is in compat_profile.c;
 *  - completing instructions the emulator rejects (in every profile, since
 *    on a real host they never fail): int3 becomes an injected #BP and
 *    fwait a no-op.
 * On real VT-x/AMD-V hosts none of this triggers and the host profile passes
 * KVM's supported CPUID through (with topology and the TSC-deadline timer,
 * arch/x86/cpu.c) and leaves the command line alone.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/arch.h"
#include "compat_profile.h"
#include "cpu.h"
#include "kvm.h"
#include "log.h"
#include "vm.h"

static bool cpuinfo_has_virtualization(void)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (!f)
		return true; /* cannot tell: assume a normal host */
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0)
			found = strstr(line, " vmx") || strstr(line, " svm");
	fclose(f);
	return found;
}

int arch_check_host(struct vm *vm)
{
	struct kvm_enable_cap cap = {
	    .cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE,
	    .args = {1},
	};
	const char *why = NULL;

	if (access("/sys/module/kvm_pvm", F_OK) == 0)
		why = "KVM is kvm_pvm";
	else if (!cpuinfo_has_virtualization())
		why = "KVM runs without VT-x/AMD-V";
	vm->host_emulates_kernel = why != NULL;

	switch (vm->cfg->cpu_profile) {
	case CPU_PROFILE_HOST:
		vm->cpu_compat = false;
		break;
	case CPU_PROFILE_COMPAT:
		vm->cpu_compat = true;
		break;
	case CPU_PROFILE_AUTO:
	default:
		vm->cpu_compat = vm->host_emulates_kernel;
		break;
	}
	if (why)
		log_info("host: %s, so guest kernel code runs in KVM's instruction emulator "
			 "(slow; see docs/compat.md); CPU profile: %s",
			 why, vm->cpu_compat ? "compat" : "host (forced)");
	else
		log_debug("host: hardware virtualization; CPU profile: %s",
			  vm->cpu_compat ? "compat (forced)" : "host");

	/* With this, an emulation failure exit carries the instruction bytes. */
	if (vm_check_extension(vm, KVM_CAP_EXIT_ON_EMULATION_FAILURE) &&
	    ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		log_debug("KVM_CAP_EXIT_ON_EMULATION_FAILURE: %s", strerror(errno));
	return 0;
}

void compat_filter_cpuid(const struct vm *vm, struct kvm_cpuid2 *cpuid)
{
	if (vm->cpu_compat)
		compat_profile_filter_cpuid(cpuid);
}

int compat_append_cmdline(struct vm *vm)
{
	int r;

	if (!vm->cpu_compat)
		return 0;
	r = compat_profile_cmdline(vm->cmdline, sizeof(vm->cmdline));
	if (r < 0) {
		log_error("kernel command line too long to add the compat options (max %zu bytes)",
			  sizeof(vm->cmdline) - 1);
		return -1;
	}
	log_debug("compat profile: kernel command line is now \"%s\"", vm->cmdline);
	return 0;
}

void compat_note_kernel_format(const struct vm *vm, bool is_bzimage)
{
	/*
	 * The decompressor is guest kernel code, every instruction of it
	 * emulated: the default guest's bzImage spends 8+ minutes there
	 * before the kernel prints anything (docs/compat.md).
	 */
	if (is_bzimage && vm->host_emulates_kernel)
		log_info("host: the kernel is a bzImage: on this host its decompression takes "
			 "minutes before the guest prints anything; boot the uncompressed "
			 "vmlinux to start much faster");
}

static int fetch_failed_instruction(struct vcpu *vcpu, uint64_t rip, uint8_t *insn, size_t len)
{
	struct kvm_run *run = vcpu->run;

	if ((run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES) &&
	    run->emulation_failure.insn_size >= 1) {
		memcpy(insn, run->emulation_failure.insn_bytes, 1);
		return 0;
	}
	return x86_read_guest_virt(vcpu, rip, insn, len);
}

static int inject_breakpoint(struct vcpu *vcpu)
{
	struct kvm_vcpu_events events;

	if (ioctl(vcpu->fd, KVM_GET_VCPU_EVENTS, &events) < 0)
		return -1;
	events.exception.injected = 1;
	events.exception.nr = 3;
	events.exception.has_error_code = 0;
	events.exception.error_code = 0;
	events.flags = 0;
	return ioctl(vcpu->fd, KVM_SET_VCPU_EVENTS, &events);
}

bool compat_handle_emulation_failure(struct vcpu *vcpu)
{
	struct kvm_regs regs;
	uint8_t opcode;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &regs) < 0 ||
	    fetch_failed_instruction(vcpu, regs.rip, &opcode, 1) < 0)
		return false;
	switch (opcode) {
	case 0xcc: /* int3: the trap's saved RIP points after the instruction */
		regs.rip += 1;
		if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0 || inject_breakpoint(vcpu) < 0)
			return false;
		return true;
	case 0x9b: /* fwait: no x87 exception can be pending, so it does nothing */
		regs.rip += 1;
		return ioctl(vcpu->fd, KVM_SET_REGS, &regs) == 0;
	default:
		return false;
	}
}
