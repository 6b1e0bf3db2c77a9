/* Starting application processors: INIT-SIPI-SIPI into the real-mode trampoline. */
#include "internal.h"

extern const uint8_t rt_trampoline_start[], rt_trampoline_end[];
extern const uint8_t rt_tramp_stack[], rt_tramp_entry[], rt_tramp_cr3[], rt_tramp_gdtr[];
void *rt_gdt_base(void);
uint16_t rt_gdt_limit(void);

static void (*ap_fn)(unsigned int cpu);
/* The AP that is starting writes its APIC ID here once it runs C code. */
static volatile int ap_alive = -1;

static void *tramp_field(const uint8_t *sym)
{
	return (void *)(RT_TRAMPOLINE_ADDR + (uint64_t)(sym - rt_trampoline_start));
}

__attribute__((noreturn)) static void ap_main(void)
{
	unsigned int id = lapic_id();

	if (id >= RT_MAX_CPUS) {
		/* Nothing per-CPU exists for it: report from a shared stack-free path. */
		ap_alive = (int)id;
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	rt_cpu_init(id);
	rt_lapic_init();
	rt_cpu_online();
	ap_alive = (int)id;
	if (ap_fn)
		ap_fn(id);
	for (;;)
		__asm__ volatile("sti; hlt" ::: "memory");
}

static bool ap_checked_in(void *want)
{
	return ap_alive == (int)(uint64_t)want;
}

bool smp_start_bench_cpus(unsigned int ncpus, void (*fn)(unsigned int cpu), const char *option)
{
	struct mp_info mp;
	unsigned int started, n = 0;

	if (ncpus == 1)
		return true;
	if (!mp_parse(&mp))
		mp.ncpus = 0;
	/* CPU i (APIC ID i) does share i: keep APIC IDs 0..ncpus-1. */
	for (unsigned int i = 0; i < mp.ncpus; i++)
		if (mp.apic_id[i] < ncpus)
			mp.apic_id[n++] = mp.apic_id[i];
	if (n < ncpus) {
		printf("bench: %s=%u needs as many vCPUs (--cpus %u)\n", option, ncpus, ncpus);
		return false;
	}
	mp.ncpus = n;
	started = smp_start_aps(&mp, fn, 10000);
	if (started != ncpus - 1) {
		printf("bench: %u of %u application processors started\n", started, ncpus - 1);
		return false;
	}
	return true;
}

unsigned int smp_start_aps(const struct mp_info *mp, void (*fn)(unsigned int cpu),
			   uint64_t timeout_ms)
{
	size_t size = (size_t)(rt_trampoline_end - rt_trampoline_start);
	unsigned int me = lapic_id(), started = 0;

	ap_fn = fn;
	memcpy((void *)RT_TRAMPOLINE_ADDR, rt_trampoline_start, size);
	*(uint32_t *)tramp_field(rt_tramp_cr3) = (uint32_t)(uint64_t)rt_pml4;
	*(uint16_t *)tramp_field(rt_tramp_gdtr) = rt_gdt_limit();
	*(uint32_t *)((uint8_t *)tramp_field(rt_tramp_gdtr) + 2) =
	    (uint32_t)(uint64_t)rt_gdt_base();
	*(uint64_t *)tramp_field(rt_tramp_entry) = (uint64_t)ap_main;

	for (unsigned int i = 0; i < mp->ncpus; i++) {
		unsigned int id = mp->apic_id[i];

		if (id == me)
			continue;
		if (id >= RT_MAX_CPUS) {
			printf("smp: APIC ID %u >= RT_MAX_CPUS, not started\n", id);
			continue;
		}
		*(uint64_t *)tramp_field(rt_tramp_stack) =
		    (uint64_t)(rt_cpus[id].kstack + RT_KSTACK_SIZE);
		ap_alive = -1;
		barrier();
		/* KVM needs no INIT/SIPI delays; real hardware wants 10 ms and 200 us. */
		if (!lapic_send_init(id) || !lapic_send_sipi(id, RT_TRAMPOLINE_ADDR >> 12)) {
			printf("smp: IPI to APIC ID %u not accepted\n", id);
			continue;
		}
		delay_us(200);
		if (!ap_checked_in((void *)(uint64_t)id))
			lapic_send_sipi(id, RT_TRAMPOLINE_ADDR >> 12);
		if (!spin_until(ap_checked_in, (void *)(uint64_t)id, timeout_ms)) {
			printf("smp: APIC ID %u did not start within %lu ms\n", id, timeout_ms);
			continue;
		}
		started++;
	}
	return started;
}
