/* Boot CPU start-up from start.S to main() and test_exit(); the exception report; time. */
#include "internal.h"

int main(void);

__attribute__((noreturn)) void rt_start(const void *fdt);
__attribute__((noreturn)) void rt_exception(unsigned int vector, const uint64_t *regs);

static uint64_t ticks_per_ms;

__attribute__((noreturn)) void rt_start(const void *fdt)
{
	uint64_t freq;

	rt_console_init();
	__asm__ volatile("mrs %0, cntfrq_el0" : "=r"(freq));
	/* 0 only if nobody set it up; QEMU's older virt CPUs counted at 62.5 MHz. */
	ticks_per_ms = freq >= 1000 ? freq / 1000 : 62500;
#ifdef RT_QEMU_VIRT
	/* QEMU boots an ELF image as bare metal: no x0, the tree at the start of RAM. */
	if (!fdt)
		fdt = (const void *)(uintptr_t)RT_RAM_BASE;
#endif
	rt_fdt_init(fdt);
	if (!fdt_blob())
		printf("rt: no device tree at 0x%lx (bad magic or version)\n",
		       (unsigned long)(uintptr_t)fdt);
	test_exit((uint32_t)main());
}

void test_exit(uint32_t code)
{
	for (;;) {
		rt_platform_exit(code);
		/* Only reached if the VMM ignores the register. */
		__asm__ volatile("wfi");
	}
}

static const char *exception_class_name(unsigned int ec)
{
	switch (ec) {
	case 0x00:
		return "unknown (undefined instruction)";
	case 0x01:
		return "trapped WFI/WFE";
	case 0x07:
		return "SIMD/FP access";
	case 0x0e:
		return "illegal execution state";
	case 0x15:
		return "SVC";
	case 0x16:
		return "HVC";
	case 0x17:
		return "SMC";
	case 0x18:
		return "trapped MSR/MRS";
	case 0x20:
	case 0x21:
		return "instruction abort";
	case 0x22:
		return "PC alignment";
	case 0x24:
	case 0x25:
		return "data abort";
	case 0x26:
		return "SP alignment";
	case 0x2f:
		return "SError";
	case 0x3c:
		return "BRK";
	default:
		return "other";
	}
}

/*
 * start.S's vectors, index 0..15: (EL1 on SP_EL0, EL1 on SP_EL1, EL0 AArch64,
 * EL0 AArch32) x (synchronous, IRQ, FIQ, SError).
 */
void rt_exception(unsigned int vector, const uint64_t *regs)
{
	static const char *const kind[4] = {"synchronous", "IRQ", "FIQ", "SError"};
	static const char *const from[4] = {"EL1 on SP_EL0", "EL1", "EL0 (AArch64)",
					    "EL0 (AArch32)"};
	uint64_t esr, elr, far, spsr;

	__asm__ volatile("mrs %0, esr_el1" : "=r"(esr));
	__asm__ volatile("mrs %0, elr_el1" : "=r"(elr));
	__asm__ volatile("mrs %0, far_el1" : "=r"(far));
	__asm__ volatile("mrs %0, spsr_el1" : "=r"(spsr));
	printf("unexpected exception: %s from %s, EC 0x%x (%s), ESR 0x%lx\n", kind[vector % 4],
	       from[(vector / 4) % 4], (unsigned int)(esr >> 26) & 0x3f,
	       exception_class_name((unsigned int)(esr >> 26) & 0x3f), esr);
	printf("  ELR 0x%lx FAR 0x%lx SPSR 0x%lx LR 0x%lx SP 0x%lx\n", elr, far, spsr, regs[30],
	       (uint64_t)(uintptr_t)regs + 32 * 8);
	test_exit(RT_EXIT_EXCEPTION);
}

uint64_t tsc_per_ms(void)
{
	return ticks_per_ms;
}

uint64_t run_at_cpl3(uint64_t (*fn)(void *arg), void *arg)
{
	return fn(arg);
}

bool spin_until(bool (*cond)(void *arg), void *arg, uint64_t timeout_ms)
{
	uint64_t deadline = rdtsc() + timeout_ms * tsc_per_ms();

	for (;;) {
		if (cond(arg)) {
			barrier();
			return true;
		}
		if (rdtsc() > deadline)
			return false;
		cpu_relax();
	}
}

void delay_us(uint64_t us)
{
	uint64_t end = rdtsc() + us * tsc_per_ms() / 1000;

	while (rdtsc() < end)
		cpu_relax();
}
