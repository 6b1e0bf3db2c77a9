/*
 * A guest that runs until it is stopped from outside (the control socket's
 * tests, tests/integration/api_socket.sh): the local APIC timer wakes it ten
 * times a second from `hlt`, and each wake prints "idle: tick N" on the
 * serial console.  The ticks are the only exits it makes, so a paused VM
 * shows as a console that stops growing and vCPU exit counters that stop
 * moving.  `ticks_ms=N` (10..10000) sets the period.
 */
#include "rt.h"

#define IDLE_VEC    0x40
#define IDLE_DIVIDE 16
#define APIC_BUS_HZ 1000000000u /* KVM's local APIC counts at 1 GHz before the divider */
#define DEFAULT_MS  100

static volatile uint32_t idle_ticks;

static void on_tick(struct trap_frame *f)
{
	(void)f;
	idle_ticks++;
}

int main(void)
{
	uint64_t ms = DEFAULT_MS;
	uint32_t seen = 0;

	if (cmdline_get_u64("ticks_ms", &ms) && (ms < 10 || ms > 10000)) {
		printf("idle: ticks_ms=%lu out of range 10..10000\n", ms);
		return RT_EXIT_FAIL;
	}
	set_trap_handler(IDLE_VEC, on_tick);
	lapic_timer_periodic(IDLE_VEC, IDLE_DIVIDE,
			     (uint32_t)(APIC_BUS_HZ / IDLE_DIVIDE / 1000 * ms));
	printf("idle: running, a tick every %lu ms, until stopped\n", ms);
	for (;;) {
		/* sti; hlt: an interrupt between the two still ends the hlt. */
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		if (idle_ticks != seen) {
			seen = idle_ticks;
			printf("idle: tick %u\n", seen);
		}
	}
}
