/* x86 VM and vCPU setup through KVM: irqchip, CPUID, registers, exit reports. */
#include "cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/arch.h"
#include "kvm.h"
#include "log.h"
#include "vm.h"

#define CPUID_MAX_ENTRIES	 256
#define CPUID_1_ECX_TSC_DEADLINE (1U << 24)
#define X86_CR0_PE		 (1ULL << 0)
#define X86_CR0_ET		 (1ULL << 4)
#define X86_CR0_NE		 (1ULL << 5)
#define X86_CR0_PG		 (1ULL << 31)
#define X86_CR4_PAE		 (1ULL << 5)
#define X86_EFER_LME		 (1ULL << 8)
#define X86_EFER_LMA		 (1ULL << 10)
#define APIC_LVT_LINT0		 0x350
#define APIC_LVT_LINT1		 0x360
#define APIC_DELIVERY_NMI	 4
#define APIC_DELIVERY_EXTINT	 7
#define BOOT_CODE_SELECTOR	 0x10
#define BOOT_DATA_SELECTOR	 0x18
#define BOOT_TSS_SELECTOR	 0x20

/* KVM_GET_SUPPORTED_CPUID, fetched once and copied per vCPU. */
static struct kvm_cpuid2 *supported_cpuid;

int arch_vm_init(struct vm *vm)
{
	struct kvm_pit_config pit = {.flags = 0};
	uint64_t identity_map = ARCH_KVM_IDENTITY_MAP_ADDR;

	/* The TSS and identity map live in the MMIO hole, under the IOAPIC. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, ARCH_KVM_TSS_ADDR) < 0) {
		log_errno("KVM_SET_TSS_ADDR");
		return -1;
	}
	if (vm_check_extension(vm, KVM_CAP_SET_IDENTITY_MAP_ADDR) &&
	    ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map) < 0) {
		log_errno("KVM_SET_IDENTITY_MAP_ADDR");
		return -1;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP) < 0) {
		log_errno("KVM_CREATE_IRQCHIP");
		return -1;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		log_errno("KVM_CREATE_PIT2");
		return -1;
	}
	return vm_irqchip_ready(vm);
}

int arch_vcpus_ready(struct vm *vm)
{
	(void)vm; /* every x86 vCPU was set up as it was created */
	return 0;
}

static int fetch_supported_cpuid(struct vm *vm)
{
	if (supported_cpuid)
		return 0;
	supported_cpuid = calloc(1, sizeof(*supported_cpuid) +
					CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2));
	if (!supported_cpuid)
		return -1;
	/* One entry is kept free for the timing leaf. */
	supported_cpuid->nent = CPUID_MAX_ENTRIES - 1;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, supported_cpuid) < 0) {
		log_errno("KVM_GET_SUPPORTED_CPUID");
		free(supported_cpuid);
		supported_cpuid = NULL;
		return -1;
	}
	return 0;
}

static unsigned int bits_for(unsigned int n)
{
	unsigned int bits = 0;

	while ((1U << bits) < n)
		bits++;
	return bits;
}

/* Topology: every vCPU is one core of one package, with one thread. */
static void set_topology(struct kvm_cpuid2 *cpuid, unsigned int id, unsigned int ncpus)
{
	for (unsigned int i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0xffff) | (ncpus << 16) | (id << 24);
			e->ecx |= 1U << 31; /* running under a hypervisor */
			if (ncpus > 1)
				e->edx |= 1U << 28; /* HTT: the logical count is valid */
			break;
		case 4:
			e->eax = (e->eax & 0x3ffffff) | ((ncpus - 1) << 26);
			break;
		case 0xb:
		case 0x1f:
			e->edx = id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1 << 8) | 0;
			} else if (e->index == 1) {
				e->eax = bits_for(ncpus);
				e->ebx = ncpus;
				e->ecx = (2 << 8) | 1;
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000008: /* AMD: cores per package and APIC-id bits for them */
			e->ecx = (e->ecx & ~0xf0ffU) | (bits_for(ncpus) << 12) | (ncpus - 1);
			break;
		case 0x8000001e: /* AMD: extended APIC id, one thread per core */
			e->eax = id;
			e->ebx = (e->ebx & ~0xffffU) | (id & 0xff);
			e->ecx &= ~0x7ffU;
			break;
		}
	}
}

/*
 * Features KVM emulates but leaves out of KVM_GET_SUPPORTED_CPUID, because
 * they depend on how the VMM sets the VM up: the TSC-deadline timer of the
 * in-kernel LAPIC (CPUID.1:ECX[24]), which Linux prefers for its LAPIC timer
 * (without it the timer must be calibrated against the PIT, which fails on
 * slow nested hosts).  QEMU sets it the same way.
 */
static void add_vm_features(struct vm *vm, struct kvm_cpuid2 *cpuid)
{
	if (vm_check_extension(vm, KVM_CAP_TSC_DEADLINE_TIMER) <= 0)
		return;
	for (unsigned int i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == 1)
			cpuid->entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
}

/*
 * Leaf 0x40000010 (the de-facto "timing information" leaf): TSC and LAPIC
 * timer frequencies in kHz, so freestanding guests need not calibrate.
 */
static void add_timing_leaf(struct vcpu *vcpu, struct kvm_cpuid2 *cpuid)
{
	int tsc_khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ);

	if (tsc_khz <= 0)
		return;
	for (unsigned int i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		if (e->function == 0x40000000 && e->eax < 0x40000010)
			e->eax = 0x40000010;
		if (e->function == 0x40000010)
			return;
	}
	cpuid->entries[cpuid->nent++] = (struct kvm_cpuid_entry2){
	    .function = 0x40000010,
	    .eax = (uint32_t)tsc_khz,
	    .ebx = 1000000, /* KVM's LAPIC timer runs at 1 GHz */
	};
}

static int setup_cpuid(struct vcpu *vcpu)
{
	size_t size;
	struct kvm_cpuid2 *cpuid;
	int r;

	if (fetch_supported_cpuid(vcpu->vm) < 0)
		return -1;
	size = sizeof(*cpuid) + supported_cpuid->nent * sizeof(struct kvm_cpuid_entry2);
	cpuid = malloc(size + sizeof(struct kvm_cpuid_entry2));
	if (!cpuid)
		return -1;
	memcpy(cpuid, supported_cpuid, size);
	set_topology(cpuid, vcpu->id, vcpu->vm->nr_vcpus);
	add_vm_features(vcpu->vm, cpuid);
	add_timing_leaf(vcpu, cpuid);
	compat_filter_cpuid(vcpu->vm, cpuid);
	r = ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid);
	if (r < 0)
		log_errno("vCPU %u: KVM_SET_CPUID2", vcpu->id);
	free(cpuid);
	return r < 0 ? -1 : 0;
}

/* LINT0 = the 8259's virtual wire, LINT1 = NMI, as a BIOS leaves them. */
static int setup_lapic(struct vcpu *vcpu)
{
	struct kvm_lapic_state lapic;
	uint32_t *lint0 = (uint32_t *)(lapic.regs + APIC_LVT_LINT0);
	uint32_t *lint1 = (uint32_t *)(lapic.regs + APIC_LVT_LINT1);

	if (ioctl(vcpu->fd, KVM_GET_LAPIC, &lapic) < 0) {
		log_errno("vCPU %u: KVM_GET_LAPIC", vcpu->id);
		return -1;
	}
	*lint0 = (*lint0 & ~0x700U) | (APIC_DELIVERY_EXTINT << 8);
	*lint1 = (*lint1 & ~0x700U) | (APIC_DELIVERY_NMI << 8);
	if (ioctl(vcpu->fd, KVM_SET_LAPIC, &lapic) < 0) {
		log_errno("vCPU %u: KVM_SET_LAPIC", vcpu->id);
		return -1;
	}
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type, bool code)
{
	*s = (struct kvm_segment){
	    .base = 0,
	    .limit = 0xffffffff,
	    .selector = selector,
	    .type = type,
	    .present = 1,
	    .dpl = 0,
	    .db = code ? 0 : 1,
	    .s = 1,
	    .l = code ? 1 : 0,
	    .g = 1,
	};
}

/* The BSP starts in 64-bit mode on the page tables and GDT setup.c wrote. */
static int setup_bsp_registers(struct vcpu *vcpu)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = {
	    .rflags = 0x2,
	    .rip = vcpu->vm->kernel_entry,
	    .rsi = ARCH_BOOT_PARAMS_ADDR,
	    .rsp = ARCH_BOOT_PARAMS_ADDR,
	};

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0) {
		log_errno("KVM_GET_SREGS");
		return -1;
	}
	flat_segment(&sregs.cs, BOOT_CODE_SELECTOR, 0xb, true);
	flat_segment(&sregs.ds, BOOT_DATA_SELECTOR, 0x3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){
	    .selector = BOOT_TSS_SELECTOR,
	    .limit = 0x67,
	    .type = 0xb, /* busy 64-bit TSS */
	    .present = 1,
	};
	sregs.gdt.base = ARCH_GDT_ADDR;
	sregs.gdt.limit = 6 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE | X86_CR0_PG;
	sregs.cr3 = ARCH_PAGE_TABLE_ADDR;
	sregs.cr4 = X86_CR4_PAE;
	sregs.efer = X86_EFER_LME | X86_EFER_LMA;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0) {
		log_errno("KVM_SET_SREGS");
		return -1;
	}
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0) {
		log_errno("KVM_SET_REGS");
		return -1;
	}
	return 0;
}

int arch_vcpu_init(struct vcpu *vcpu)
{
	if (setup_cpuid(vcpu) < 0 || setup_lapic(vcpu) < 0)
		return -1;
	/* Application processors wait in KVM for the guest's INIT/SIPI. */
	return vcpu->id == 0 ? setup_bsp_registers(vcpu) : 0;
}

bool arch_handle_exit(struct vcpu *vcpu)
{
	if (vcpu->run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
	    vcpu->run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
		return compat_handle_emulation_failure(vcpu);
	return false;
}

static const char *exit_reason_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_UNKNOWN:
		return "UNKNOWN";
	case KVM_EXIT_EXCEPTION:
		return "EXCEPTION";
	case KVM_EXIT_HLT:
		return "HLT";
	case KVM_EXIT_SHUTDOWN:
		return "SHUTDOWN (triple fault)";
	case KVM_EXIT_FAIL_ENTRY:
		return "FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR:
		return "INTERNAL_ERROR";
	default:
		return "other";
	}
}

void arch_dump_vcpu(struct vcpu *vcpu, FILE *out)
{
	struct kvm_run *run = vcpu->run;
	struct kvm_regs r;
	struct kvm_sregs s;
	uint8_t insn[16];

	fprintf(out, "vCPU %u: exit reason %u (%s)", vcpu->id, run->exit_reason,
		exit_reason_name(run->exit_reason));
	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR) {
		fprintf(out, ", suberror %u", run->internal.suberror);
		for (uint32_t i = 0; i < run->internal.ndata && i < 16; i++)
			fprintf(out, " data[%u]=0x%llx", i,
				(unsigned long long)run->internal.data[i]);
	} else if (run->exit_reason == KVM_EXIT_FAIL_ENTRY) {
		fprintf(out, ", hardware reason 0x%llx",
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	}
	fputc('\n', out);
	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(out, "  (registers unavailable: %s)\n", strerror(errno));
		return;
	}
	fprintf(out, "  RIP %016llx  RSP %016llx  RFLAGS %08llx  CS %04x (CPL %u)\n",
		(unsigned long long)r.rip, (unsigned long long)r.rsp, (unsigned long long)r.rflags,
		s.cs.selector, s.cs.dpl);
	fprintf(out, "  RAX %016llx  RBX %016llx  RCX %016llx  RDX %016llx\n",
		(unsigned long long)r.rax, (unsigned long long)r.rbx, (unsigned long long)r.rcx,
		(unsigned long long)r.rdx);
	fprintf(out, "  RSI %016llx  RDI %016llx  RBP %016llx  R8  %016llx\n",
		(unsigned long long)r.rsi, (unsigned long long)r.rdi, (unsigned long long)r.rbp,
		(unsigned long long)r.r8);
	fprintf(out, "  R9  %016llx  R10 %016llx  R11 %016llx  R12 %016llx\n",
		(unsigned long long)r.r9, (unsigned long long)r.r10, (unsigned long long)r.r11,
		(unsigned long long)r.r12);
	fprintf(out, "  R13 %016llx  R14 %016llx  R15 %016llx\n", (unsigned long long)r.r13,
		(unsigned long long)r.r14, (unsigned long long)r.r15);
	fprintf(out, "  CR0 %016llx  CR2 %016llx  CR3 %016llx  CR4 %016llx  EFER %llx\n",
		(unsigned long long)s.cr0, (unsigned long long)s.cr2, (unsigned long long)s.cr3,
		(unsigned long long)s.cr4, (unsigned long long)s.efer);
	if (x86_read_guest_virt(vcpu, r.rip, insn, sizeof(insn)) == 0) {
		fprintf(out, "  code at RIP:");
		for (size_t i = 0; i < sizeof(insn); i++)
			fprintf(out, " %02x", insn[i]);
		fputc('\n', out);
	} else {
		fprintf(out, "  code at RIP: not readable\n");
	}
}
