/*
 * kvm_probe: the smallest complete use of arm64 KVM, run inside the emulated
 * arm64 host (tests/arm64-host, docs/arm64.md).  It proves that the machine's
 * KVM works, step by step, and is a reference for minivmm's arm64 set-up:
 *
 *   open /dev/kvm, KVM_CREATE_VM, one memory slot of guest RAM,
 *   KVM_CREATE_VCPU, KVM_ARM_PREFERRED_TARGET + KVM_ARM_VCPU_INIT with PSCI 0.2,
 *   an in-kernel GICv3 (KVM_CREATE_DEVICE, distributor and redistributor
 *   addresses, KVM_DEV_ARM_VGIC_CTRL_INIT) or, where KVM has none (ENODEV:
 *   the host's GIC is a v2), a GICv2 (distributor and CPU interface), the
 *   PC set with KVM_SET_ONE_REG,
 *   then KVM_RUN on eight instructions that write a word to unbacked MMIO
 *   (one KVM_EXIT_MMIO) and call PSCI SYSTEM_OFF with "hvc #0" (one
 *   KVM_EXIT_SYSTEM_EVENT of type SHUTDOWN).
 *
 * Each step prints "PASS: kvm_probe: ..." or "FAIL: kvm_probe: ..." (with
 * errno's text); the first failure ends the probe, exit status 1.
 *
 * usage: kvm_probe        all the steps
 *        kvm_probe vm     only open /dev/kvm and KVM_CREATE_VM (the machine's own check)
 *
 * Built static for arm64 on the x86 host: make tests/arm64-host/kvm_probe.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* The same map as minivmm's arm64 board (arch/arm64/layout.h). */
#define GIC_DIST_BASE	0x08000000ULL
#define GIC_REDIST_BASE 0x080A0000ULL
#define GIC_CPU_IF_BASE 0x08010000ULL /* GICv2 only */
#define PROBE_MMIO_ADDR 0x09010000ULL /* no memory slot here: every access exits */
#define RAM_BASE	0x40000000ULL
#define RAM_SIZE	0x10000ULL
#define PROBE_VALUE	0x4d4d4b56u /* "VKMM" in memory order */
#define PSCI_SYSTEM_OFF 0x84000008u

/*
 * The guest, at RAM_BASE, with its MMU off (as KVM_ARM_VCPU_INIT leaves it):
 * the constants are built in registers so that the code needs no data.
 * A plain "str" (no writeback) gives the data abort a valid syndrome, which
 * KVM needs to turn it into KVM_EXIT_MMIO.
 */
static const uint32_t guest_code[] = {
    0xd2a12021, /* mov  x1, #0x09010000        (PROBE_MMIO_ADDR) */
    0x52896ac2, /* mov  w2, #0x4b56 */
    0x72a9a9a2, /* movk w2, #0x4d4d, lsl #16   (w2 = PROBE_VALUE) */
    0xb9000022, /* str  w2, [x1]               -> KVM_EXIT_MMIO */
    0x52800100, /* mov  w0, #0x8 */
    0x72b08000, /* movk w0, #0x8400, lsl #16   (w0 = PSCI_SYSTEM_OFF) */
    0xd4000002, /* hvc  #0                     -> KVM_EXIT_SYSTEM_EVENT */
    0x14000000, /* b    .                      (never reached) */
};

static void pass(const char *what)
{
	printf("PASS: kvm_probe: %s\n", what);
	fflush(stdout);
}

/* Reports a failed step with errno's reason; returns -1 for "return fail(...)". */
static int fail(const char *what)
{
	printf("FAIL: kvm_probe: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	return -1;
}

/* The register id KVM_SET_ONE_REG takes for a core register at offset off in struct kvm_regs. */
static uint64_t core_reg(size_t off)
{
	return KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (off / sizeof(uint32_t));
}

static int set_device_attr(int dev, uint32_t group, uint64_t attr, const void *value)
{
	struct kvm_device_attr a = {
	    .group = group,
	    .attr = attr,
	    .addr = (uint64_t)(uintptr_t)value,
	};
	return ioctl(dev, KVM_SET_DEVICE_ATTR, &a);
}

/* After every vCPU exists: the redistributors (v3) and CPU interfaces are per vCPU. */
static int init_vgic(int dev)
{
	if (set_device_attr(dev, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL) < 0)
		return fail("KVM_DEV_ARM_VGIC_CTRL_INIT");
	pass("KVM_DEV_ARM_VGIC_CTRL_INIT");
	return 0;
}

/* A vGICv2, where the host's GIC is a v2 and KVM has no vGICv3 (ENODEV). */
static int create_vgic_v2(int vm)
{
	struct kvm_create_device create = {.type = KVM_DEV_TYPE_ARM_VGIC_V2};
	uint64_t dist = GIC_DIST_BASE, cpu_if = GIC_CPU_IF_BASE;

	if (ioctl(vm, KVM_CREATE_DEVICE, &create) < 0)
		return fail("KVM_CREATE_DEVICE (KVM_DEV_TYPE_ARM_VGIC_V2)");
	pass("KVM_CREATE_DEVICE: vGICv2 (no vGICv3 on this host)");
	if (set_device_attr(create.fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_DIST,
			    &dist) < 0)
		return fail("vGICv2 distributor address 0x08000000");
	if (set_device_attr(create.fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V2_ADDR_TYPE_CPU,
			    &cpu_if) < 0)
		return fail("vGICv2 CPU interface address 0x08010000");
	pass("vGICv2 distributor at 0x08000000, CPU interface at 0x08010000");
	return init_vgic(create.fd);
}

static int create_vgic(int vm)
{
	struct kvm_create_device create = {.type = KVM_DEV_TYPE_ARM_VGIC_V3};
	uint64_t dist = GIC_DIST_BASE, redist = GIC_REDIST_BASE;

	if (ioctl(vm, KVM_CREATE_DEVICE, &create) < 0) {
		if (errno == ENODEV)
			return create_vgic_v2(vm);
		return fail("KVM_CREATE_DEVICE (KVM_DEV_TYPE_ARM_VGIC_V3)");
	}
	pass("KVM_CREATE_DEVICE: vGICv3");
	if (set_device_attr(create.fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST,
			    &dist) < 0)
		return fail("vGICv3 distributor address 0x08000000");
	if (set_device_attr(create.fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST,
			    &redist) < 0)
		return fail("vGICv3 redistributor address 0x080a0000");
	pass("vGICv3 distributor at 0x08000000, redistributors at 0x080a0000");
	return init_vgic(create.fd);
}

static int add_guest_ram(int vm)
{
	void *ram =
	    mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return fail("mmap of guest RAM");
	memcpy(ram, guest_code, sizeof(guest_code));
	struct kvm_userspace_memory_region region = {
	    .slot = 0,
	    .guest_phys_addr = RAM_BASE,
	    .memory_size = RAM_SIZE,
	    .userspace_addr = (uint64_t)(uintptr_t)ram,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	pass("KVM_SET_USER_MEMORY_REGION: 64 KiB at 0x40000000");
	return 0;
}

static int init_vcpu(int vm, int vcpu)
{
	struct kvm_vcpu_init init;
	memset(&init, 0, sizeof(init));
	if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0)
		return fail("KVM_ARM_PREFERRED_TARGET");
	init.features[0] |= 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0)
		return fail("KVM_ARM_VCPU_INIT (PSCI 0.2)");
	char line[80];
	snprintf(line, sizeof(line), "KVM_ARM_VCPU_INIT: target %u, PSCI 0.2", init.target);
	pass(line);
	return 0;
}

static int set_pc(int vcpu, uint64_t pc)
{
	struct kvm_one_reg reg = {
	    .id = core_reg(offsetof(struct kvm_regs, regs.pc)),
	    .addr = (uint64_t)(uintptr_t)&pc,
	};
	if (ioctl(vcpu, KVM_SET_ONE_REG, &reg) < 0)
		return fail("KVM_SET_ONE_REG (PC)");
	pass("KVM_SET_ONE_REG: PC = 0x40000000");
	return 0;
}

/* Runs the guest to its two exits and checks each. */
static int run_guest(int kvm, int vcpu)
{
	int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap of the vCPU's kvm_run");

	char line[160];
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return fail("KVM_RUN (first)");
	uint32_t value = 0;
	if (run->exit_reason == KVM_EXIT_MMIO)
		memcpy(&value, run->mmio.data, sizeof(value));
	if (run->exit_reason != KVM_EXIT_MMIO || run->mmio.phys_addr != PROBE_MMIO_ADDR ||
	    !run->mmio.is_write || run->mmio.len != 4 || value != PROBE_VALUE) {
		snprintf(line, sizeof(line),
			 "KVM_RUN: expected a 4-byte MMIO write of 0x%08x at 0x%08llx, got exit "
			 "%u (addr 0x%08llx len %u write %u value 0x%08x)",
			 PROBE_VALUE, PROBE_MMIO_ADDR, run->exit_reason,
			 (unsigned long long)run->mmio.phys_addr, run->mmio.len, run->mmio.is_write,
			 value);
		errno = EPROTO;
		return fail(line);
	}
	snprintf(line, sizeof(line), "KVM_EXIT_MMIO: write of 0x%08x (4 bytes) at 0x%08llx", value,
		 (unsigned long long)run->mmio.phys_addr);
	pass(line);

	/* The write is complete as far as KVM is concerned; run on to the hvc. */
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		return fail("KVM_RUN (second)");
	if (run->exit_reason != KVM_EXIT_SYSTEM_EVENT ||
	    run->system_event.type != KVM_SYSTEM_EVENT_SHUTDOWN) {
		snprintf(line, sizeof(line),
			 "KVM_RUN: expected KVM_EXIT_SYSTEM_EVENT (%u) of type SHUTDOWN (%u), got "
			 "exit %u type %u",
			 KVM_EXIT_SYSTEM_EVENT, KVM_SYSTEM_EVENT_SHUTDOWN, run->exit_reason,
			 run->exit_reason == KVM_EXIT_SYSTEM_EVENT ? run->system_event.type : 0);
		errno = EPROTO;
		return fail(line);
	}
	pass("KVM_EXIT_SYSTEM_EVENT: SHUTDOWN (PSCI SYSTEM_OFF over hvc #0)");
	return 0;
}

int main(int argc, char **argv)
{
	int vm_only = argc > 1 && strcmp(argv[1], "vm") == 0;
	if (argc > 2 || (argc == 2 && !vm_only)) {
		fprintf(stderr, "usage: %s [vm]\n", argv[0]);
		return 2;
	}

	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		fail("open /dev/kvm");
		return 1;
	}
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		errno = EPROTO;
		fail("KVM_GET_API_VERSION is not 12");
		return 1;
	}
	pass("open /dev/kvm, API version 12");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		fail("KVM_CREATE_VM");
		return 1;
	}
	pass("KVM_CREATE_VM");
	if (vm_only)
		return 0;

	if (add_guest_ram(vm) < 0)
		return 1;
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		fail("KVM_CREATE_VCPU");
		return 1;
	}
	pass("KVM_CREATE_VCPU 0");
	if (init_vcpu(vm, vcpu) < 0 || create_vgic(vm) < 0 || set_pc(vcpu, RAM_BASE) < 0 ||
	    run_guest(kvm, vcpu) < 0)
		return 1;
	return 0;
}
