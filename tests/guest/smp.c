/*
 * SMP bring-up: start every processor the MP table lists with INIT-SIPI-SIPI;
 * each AP checks in at CPL0, runs a little code at CPL3, then idles until an
 * IPI from the BSP arrives.  Passes iff the number of CPUs that checked in
 * equals the MP table's count and `expect_cpus=N` from the command line.
 */
#include "rt.h"

#define IPI_VEC		 0x50
#define START_TIMEOUT_MS 10000
#define IPI_TIMEOUT_MS	 10000

static volatile uint32_t checked_in = 1; /* the BSP */
static volatile uint32_t user_checked_in;
static volatile uint32_t ipis;
static volatile uint32_t ipi_cpu_mask;

static uint64_t ap_user(void *unused)
{
	(void)unused;
	atomic_add(&user_checked_in, 1);
	return current_cpl();
}

static void on_ipi(struct trap_frame *f)
{
	(void)f;
	__asm__ volatile("lock orl %1, %0" : "+m"(ipi_cpu_mask) : "r"(1u << this_cpu()) : "memory");
	atomic_add(&ipis, 1);
}

static void ap_main(unsigned int cpu)
{
	uint64_t cpl = run_at_cpl3(ap_user, NULL);

	atomic_add(&checked_in, 1);
	if (cpl != 3)
		printf("cpu %u: user code ran at CPL%lu\n", cpu, cpl);
}

struct want {
	volatile uint32_t *counter;
	uint32_t value;
};

static bool reached(void *p)
{
	struct want *w = p;

	return *w->counter >= w->value;
}

int main(void)
{
	struct mp_info mp;
	uint64_t expect = 0;
	bool have_expect = cmdline_get_u64("expect_cpus", &expect);
	unsigned int started;
	uint64_t t0;
	struct want w;

	TEST_ASSERT(mp_parse(&mp));
	printf("smp: MP table lists %u CPUs, BSP APIC ID %d, this CPU %u\n", mp.ncpus,
	       mp.bsp_apic_id, lapic_id());
	TEST_ASSERT(mp.ncpus >= 1);
	TEST_ASSERT_EQ(mp.bsp_apic_id, lapic_id());

	set_trap_handler(IPI_VEC, on_ipi);
	t0 = rdtsc();
	started = smp_start_aps(&mp, ap_main, START_TIMEOUT_MS);
	w = (struct want){&checked_in, mp.ncpus};
	spin_until(reached, &w, START_TIMEOUT_MS);
	printf("smp: started %u APs, %u CPUs checked in, %u ran CPL3 code, %lu ms\n", started,
	       checked_in, user_checked_in, (rdtsc() - t0) / tsc_per_ms());

	for (unsigned int i = 0; i < mp.ncpus; i++)
		if (mp.apic_id[i] != lapic_id())
			TEST_ASSERT(lapic_send_ipi(mp.apic_id[i], IPI_VEC));
	w = (struct want){&ipis, mp.ncpus - 1};
	spin_until(reached, &w, IPI_TIMEOUT_MS);
	printf("smp: %u IPIs received (cpu mask 0x%x)\n", ipis, ipi_cpu_mask);

	printf("smp: %u CPUs\n", checked_in);
	if (have_expect)
		TEST_ASSERT_EQ(checked_in, expect);
	else
		printf("smp: no expect_cpus= on the command line\n");
	TEST_ASSERT_EQ(checked_in, mp.ncpus);
	TEST_ASSERT_EQ(user_checked_in, mp.ncpus - 1);
	TEST_ASSERT_EQ(ipis, mp.ncpus - 1);
	TEST_ASSERT_EQ(rt_cpus_online(), mp.ncpus);
	return 0;
}
