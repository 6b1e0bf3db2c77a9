/*
 * Compatibility with hosts whose KVM emulates guest kernel code.
 *
 * On kvm_pvm (a page-table-based nested hypervisor used where VT-x/AMD-V is
 * not available) guest CPL3 runs natively but every guest CPL0 instruction
 * goes through KVM's x86 instruction emulator.  That emulator is incomplete,
 * and this file holds everything minivmm does about it, in one place:
 *
 *  - detection (arch_check_host): the kvm_pvm module, or a host CPU without
 *    vmx/svm that still offers /dev/kvm;
 *  - the "compat" CPU profile (--cpu-profile compat, chosen automatically on
 *    such hosts and logged):
 *      * CPUID hides POPCNT, XSAVE/OSXSAVE/AVX, SMAP, ERMS, FSGSBASE and leaf
 *        0xd: the emulator cannot execute popcnt, xsave/xrstor, clac/stac,
 *        and with the kernel's rdfsbase/wrfsbase context switches a fresh
 *        user process now and then starts with FS base 0 (segfault at 0 on
 *        its first TLS access: 2 of 600 execs on 2 vCPUs, 0 of 300 with
 *        nofsgsbase; see docs/compat.md);
 *      * because this KVM ignores KVM_SET_CPUID2 for guest CPL0 on leaves 7
 *        and 0xd (and leaks host bits in leaf 1), the Linux command line also
 *        gets "clearcpuid=smap,popcnt noxsave nofsgsbase", which Linux honours
 *        whatever CPUID says (merged into the user's own clearcpuid= if there is one,
 *        because Linux acts on the last clearcpuid= only);
 *      * the KVM paravirtual features that need the vmcall hypercall
 *        (PV_SEND_IPI, PV_SCHED_YIELD) or that are unsafe without it
 *        (PV_UNHALT, async page faults) are hidden in CPUID 0x40000001,
 *        because vmcall at CPL0 never completes on this host (PV_SEND_IPI
 *        hangs SMP boot);
 *  - completing instructions the emulator rejects (in every profile, since
 *    on a real host they never fail): int3 becomes an injected #BP and
 *    fwait a no-op.
 * On real VT-x/AMD-V hosts none of this triggers and the host profile passes
 * KVM's supported CPUID through unchanged (apart from topology).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/arch.h"
#include "cpu.h"
#include "kvm.h"
#include "log.h"
#include "vm.h"

#define CPUID_1_ECX_POPCNT		(1U << 23)
#define CPUID_1_ECX_XSAVE		(1U << 26)
#define CPUID_1_ECX_OSXSAVE		(1U << 27)
#define CPUID_1_ECX_AVX			(1U << 28)
#define CPUID_7_EBX_ERMS		(1U << 9)
#define CPUID_7_EBX_SMAP		(1U << 20)
#define CPUID_7_EBX_AVX2		(1U << 5)
#define CPUID_7_EBX_FSGSBASE		(1U << 0)
#define KVM_CPUID_FEATURES		0x40000001
#define KVM_FEATURE_ASYNC_PF_BIT	4
#define KVM_FEATURE_PV_UNHALT_BIT	7
#define KVM_FEATURE_ASYNC_PF_VMEXIT_BIT 10
#define KVM_FEATURE_PV_SEND_IPI_BIT	11
#define KVM_FEATURE_PV_SCHED_YIELD_BIT	13
#define KVM_FEATURE_ASYNC_PF_INT_BIT	14

#define COMPAT_CLEARCPUID "smap,popcnt"
#define COMPAT_NOXSAVE	  "noxsave"
#define COMPAT_NOFSGSBASE "nofsgsbase"

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
	const uint32_t hidden_kvm_features =
	    (1U << KVM_FEATURE_PV_SEND_IPI_BIT) | (1U << KVM_FEATURE_PV_SCHED_YIELD_BIT) |
	    (1U << KVM_FEATURE_PV_UNHALT_BIT) | (1U << KVM_FEATURE_ASYNC_PF_BIT) |
	    (1U << KVM_FEATURE_ASYNC_PF_VMEXIT_BIT) | (1U << KVM_FEATURE_ASYNC_PF_INT_BIT);
	unsigned int kept = 0;

	if (!vm->cpu_compat)
		return;
	for (unsigned int i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 e = cpuid->entries[i];

		switch (e.function) {
		case 1:
			e.ecx &= ~(CPUID_1_ECX_POPCNT | CPUID_1_ECX_XSAVE | CPUID_1_ECX_OSXSAVE |
				   CPUID_1_ECX_AVX);
			break;
		case 7:
			if (e.index == 0)
				e.ebx &= ~(CPUID_7_EBX_SMAP | CPUID_7_EBX_ERMS | CPUID_7_EBX_AVX2 |
					   CPUID_7_EBX_FSGSBASE);
			break;
		case 0xd:
			continue; /* no XSAVE state leaf */
		case KVM_CPUID_FEATURES:
			e.eax &= ~hidden_kvm_features;
			break;
		}
		cpuid->entries[kept++] = e;
	}
	cpuid->nent = kept;
}

/*
 * The last command-line word that starts with param ("clearcpuid=") or, for
 * a param without '=', equals it ("noxsave"); NULL if there is none.
 */
static char *find_last_param(char *cmdline, const char *param)
{
	size_t len = strlen(param);
	bool whole_word = param[len - 1] != '=';
	char *found = NULL;

	for (char *p = strstr(cmdline, param); p; p = strstr(p + 1, param))
		if ((p == cmdline || p[-1] == ' ') &&
		    (!whole_word || p[len] == ' ' || p[len] == '\0'))
			found = p;
	return found;
}

int compat_append_cmdline(struct vm *vm)
{
	static const char extra[] = "," COMPAT_CLEARCPUID;
	char *param, *end;
	size_t len;

	if (!vm->cpu_compat)
		return 0;
	param = find_last_param(vm->cmdline, "clearcpuid=");
	if (!param) {
		if (vm_cmdline_append(vm, "clearcpuid=%s", COMPAT_CLEARCPUID) < 0)
			return -1;
	} else {
		len = strlen(vm->cmdline);
		if (len + sizeof(extra) > sizeof(vm->cmdline)) {
			log_error("kernel command line too long to add the compat options");
			return -1;
		}
		end = param + strcspn(param, " ");
		memmove(end + sizeof(extra) - 1, end, strlen(end) + 1);
		memcpy(end, extra, sizeof(extra) - 1);
	}
	if (!find_last_param(vm->cmdline, COMPAT_NOXSAVE) &&
	    vm_cmdline_append(vm, "%s", COMPAT_NOXSAVE) < 0)
		return -1;
	if (!find_last_param(vm->cmdline, COMPAT_NOFSGSBASE) &&
	    vm_cmdline_append(vm, "%s", COMPAT_NOFSGSBASE) < 0)
		return -1;
	log_debug("compat profile: kernel command line is now \"%s\"", vm->cmdline);
	return 0;
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
