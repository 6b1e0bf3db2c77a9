/*
 * CPL3 execution and TSC time.  CPL3 code runs natively on kvm_pvm hosts
 * while CPL0 code is emulated, so every loop that waits or computes runs here.
 */
#include "internal.h"

#define RFLAGS_IF    (1ULL << 9)
#define RFLAGS_IOPL3 (3ULL << 12)
#define RFLAGS_FIXED (1ULL << 1)

static inline uint64_t read_rflags(void)
{
	uint64_t f;

	__asm__ volatile("pushfq\n\tpopq %0" : "=r"(f));
	return f;
}

uint64_t run_at_cpl3(uint64_t (*fn)(void *arg), void *arg)
{
	struct rt_cpu *c = rt_this_cpu();
	uint64_t flags = RFLAGS_FIXED | RFLAGS_IOPL3 | (read_rflags() & RFLAGS_IF);

	if (current_cpl() != 0)
		return fn(arg);
	/* TSS.RSP0 sits at offset 4, unaligned, which x86 allows. */
	return rt_enter_user(fn, arg, (uint64_t)(c->ustack + RT_USTACK_SIZE),
			     (uint8_t *)&c->tss + offsetof(struct tss64, rsp), flags);
}

static uint64_t tsc_ms = 3000000; /* assumed 3 GHz until CPUID says better */
static bool tsc_exact;

void rt_tsc_init(void)
{
	uint32_t a, b, c, d;

	/* KVM's timing leaf 0x40000010 (EAX = TSC kHz), when the VMM offers it. */
	cpuid(0x40000000, 0, &a, &b, &c, &d);
	if (a >= 0x40000010 && a < 0x40000100) {
		cpuid(0x40000010, 0, &a, &b, &c, &d);
		if (a) {
			tsc_ms = a;
			tsc_exact = true;
			return;
		}
	}
	cpuid(0, 0, &a, &b, &c, &d);
	if (a >= 0x15) {
		uint32_t den, num, hz, unused;

		cpuid(0x15, 0, &den, &num, &hz, &unused);
		if (den && num && hz) {
			tsc_ms = (uint64_t)hz * num / den / 1000;
			tsc_exact = true;
			return;
		}
	}
	if (a >= 0x16) {
		cpuid(0x16, 0, &a, &b, &c, &d);
		if (a & 0xffff) {
			tsc_ms = (uint64_t)(a & 0xffff) * 1000; /* base MHz: approximate */
			return;
		}
	}
}

uint64_t tsc_per_ms(void)
{
	return tsc_ms;
}

bool tsc_khz_is_exact(void)
{
	return tsc_exact;
}

struct spin_args {
	bool (*cond)(void *);
	void *arg;
	uint64_t ticks;
};

static uint64_t spin_user(void *p)
{
	struct spin_args *s = p;
	uint64_t start = rdtsc();

	for (;;) {
		if (s->cond && s->cond(s->arg))
			return 1;
		if (rdtsc() - start >= s->ticks)
			return s->cond ? s->cond(s->arg) : 1;
		cpu_relax();
	}
}

bool spin_until(bool (*cond)(void *arg), void *arg, uint64_t timeout_ms)
{
	struct spin_args s = {.cond = cond, .arg = arg, .ticks = timeout_ms * tsc_ms};

	return run_at_cpl3(spin_user, &s) != 0;
}

void delay_us(uint64_t us)
{
	struct spin_args s = {.cond = NULL, .arg = NULL, .ticks = us * tsc_ms / 1000};

	run_at_cpl3(spin_user, &s);
}
