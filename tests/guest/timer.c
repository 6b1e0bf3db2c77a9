/*
 * Timer interrupts: the local APIC timer in periodic mode, then PIT channel
 * 0 through the I/O APIC (ISA IRQ 0, on the pin the MP table names: KVM's
 * default GSI routing is the identity, so pin 0 unless the VMM installs a
 * QEMU-style IRQ0 -> pin 2 override).  Both run at 100 Hz; the guest waits for `ticks=N`
 * (default 10) of each at CPL3, bounded by the TSC, and checks that the two
 * timers agree on the rate.  Last, the LAPIC timer in TSC-deadline mode,
 * which the VMM must advertise (CPUID.1:ECX[24]; Linux prefers it): one
 * interrupt, not before the deadline.
 */
#include "rt.h"

#define LAPIC_VEC	 0x40
#define PIT_VEC		 0x30
#define HZ		 100
#define LAPIC_DIVIDE	 16
#define LAPIC_COUNT	 (1000000000u / LAPIC_DIVIDE / HZ) /* KVM's APIC bus runs at 1 GHz */
#define PIT_HZ		 1193182u
#define WAIT_MS_PER_TICK 500

struct ticker {
	volatile uint32_t count;
	volatile uint64_t first_tsc, last_tsc;
	volatile uint32_t from_cpl3;
};

static struct ticker lapic_ticks, pit_ticks;
static uint32_t wanted;

static void tick(struct ticker *t, struct trap_frame *f)
{
	uint64_t now = rdtsc();

	/* One more may land between seeing enough and cli (on an emulating
	 * host the window is wide): the count and the period are over the
	 * first `wanted` only. */
	if (wanted && t->count >= wanted)
		return;

	if (t->count == 0)
		t->first_tsc = now;
	t->last_tsc = now;
	if ((f->cs & 3) == 3)
		t->from_cpl3++;
	t->count++;
}

static void on_lapic(struct trap_frame *f)
{
	tick(&lapic_ticks, f);
}

static void on_pit(struct trap_frame *f)
{
	tick(&pit_ticks, f);
}

#define DEADLINE_VEC 0x41
#define DEADLINE_MS  20

static struct ticker deadline_ticks;

static void on_deadline(struct trap_frame *f)
{
	tick(&deadline_ticks, f);
}

static bool fired(void *p)
{
	return ((struct ticker *)p)->count > 0;
}

static void check_tsc_deadline(void)
{
	uint64_t deadline;

	TEST_ASSERT(cpu_has_tsc_deadline());
	set_trap_handler(DEADLINE_VEC, on_deadline);
	deadline = rdtsc() + DEADLINE_MS * tsc_per_ms();
	lapic_timer_tsc_deadline(DEADLINE_VEC, deadline);
	sti();
	if (!spin_until(fired, &deadline_ticks, 100 * DEADLINE_MS)) {
		cli();
		printf("tsc-deadline timer: no interrupt\n");
		test_exit(RT_EXIT_TIMEOUT);
	}
	cli();
	lapic_timer_stop();
	TEST_ASSERT(deadline_ticks.first_tsc >= deadline);
	printf("tsc-deadline timer: %u interrupt, %lu TSC ticks after the deadline\n",
	       deadline_ticks.count, deadline_ticks.first_tsc - deadline);
}

static bool enough(void *p)
{
	return ((struct ticker *)p)->count >= wanted;
}

/* Average TSC ticks between interrupts. */
static uint64_t wait_ticks(const char *name, struct ticker *t)
{
	uint64_t period;

	sti();
	if (!spin_until(enough, t, WAIT_MS_PER_TICK * (uint64_t)wanted)) {
		cli();
		printf("%s: timeout, %u of %u interrupts\n", name, t->count, wanted);
		test_exit(RT_EXIT_TIMEOUT);
	}
	cli();
	period = (t->last_tsc - t->first_tsc) / (t->count - 1);
	printf("%s: %u interrupts (%u while at CPL3), %lu TSC ticks apart", name, t->count,
	       t->from_cpl3, period);
	if (tsc_khz_is_exact())
		printf(" = %lu us", period * 1000 / tsc_per_ms());
	printf("\n");
	return period;
}

int main(void)
{
	struct mp_info mp;
	uint64_t lapic_period, pit_period;
	uint64_t n = 10;
	int pin = 0;
	uint16_t divisor = (PIT_HZ + HZ / 2) / HZ;

	if (cmdline_get_u64("ticks", &n) && (n < 2 || n > 10000)) {
		printf("ticks=%lu out of range 2..10000\n", n);
		return RT_EXIT_FAIL;
	}
	wanted = (uint32_t)n;

	set_trap_handler(LAPIC_VEC, on_lapic);
	lapic_timer_periodic(LAPIC_VEC, LAPIC_DIVIDE, LAPIC_COUNT);
	lapic_period = wait_ticks("lapic timer", &lapic_ticks);
	lapic_timer_stop();

	if (mp_parse(&mp) && mp.isa_irq_pin[0] >= 0)
		pin = mp.isa_irq_pin[0];
	printf("pit: ISA IRQ 0 on I/O APIC pin %d\n", pin);
	set_trap_handler(PIT_VEC, on_pit);
	ioapic_route((unsigned int)pin, PIT_VEC, lapic_id(), 0);
	outb(0x43, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator), binary */
	outb(0x40, divisor & 0xff);
	outb(0x40, divisor >> 8);
	pit_period = wait_ticks("pit", &pit_ticks);
	outb(0x43, 0x30); /* mode 0 without a count: channel 0 stops */
	ioapic_mask((unsigned int)pin);

	TEST_ASSERT(lapic_ticks.from_cpl3 > 0 && pit_ticks.from_cpl3 > 0);
	/* Same nominal rate: a factor of two apart means one of them is wrong. */
	TEST_ASSERT(lapic_period < 2 * pit_period && pit_period < 2 * lapic_period);
	printf("timer: lapic and pit agree\n");
	check_tsc_deadline();
	return 0;
}
