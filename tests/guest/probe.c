#include "rt.h"
static volatile int n; static volatile uint64_t cs;
static void h(struct trap_frame *f) { n++; cs = f->cs; }
static uint64_t u(void *a) { (void)a; uint64_t t = rdtsc(); while (rdtsc() - t < 200000000ULL) cpu_relax(); uint64_t fl; __asm__ volatile("pushfq; popq %0" : "=r"(fl)); return fl; }
int main(void) {
	set_trap_handler(0x40, h);
	lapic_timer_oneshot(0x40, 16, 1000);
	uint64_t fl = run_at_cpl3(u, 0);
	printf("IF=0 at CPL3: %d interrupts during user code (cs %lx), user rflags %lx\n", n, cs, fl);
	sti(); for (int i = 0; i < 20000 && !n; i++) __asm__ volatile("nop"); cli(); printf("after sti+5 nops: %d\n", n); __asm__ volatile("sti; hlt; cli");
	printf("after sti at CPL0: %d\n", n);
	return 0;
}
