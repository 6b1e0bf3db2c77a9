/* Boot CPU start-up: from _start to main() and test_exit(). */
#include "internal.h"

int main(void);

extern uint8_t __bss_start[], __bss_end[];

static volatile uint32_t cpus_online;

void rt_cpu_online(void)
{
	atomic_add(&cpus_online, 1);
}

unsigned int rt_cpus_online(void)
{
	return cpus_online;
}

static void paging_init(void)
{
	uint64_t cr4;

	/* SMEP/SMAP would forbid CPL0 from using the user-accessible identity map. */
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	if (cr4 & ((1ULL << 20) | (1ULL << 21))) {
		cr4 &= ~((1ULL << 20) | (1ULL << 21));
		__asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
	}
	__asm__ volatile("mov %0, %%cr3" : : "r"(rt_pml4) : "memory");
}

__attribute__((noreturn)) void rt_start(const void *bp)
{
	unsigned int id;

	for (uint64_t *p = (uint64_t *)__bss_start; p < (uint64_t *)__bss_end; p++)
		*p = 0;
	rt_console_init();
	rt_gdt_init();
	paging_init();
	rt_idt_init();
	id = lapic_id();
	if (id >= RT_MAX_CPUS) {
		printf("rt: boot CPU APIC ID %u >= RT_MAX_CPUS\n", id);
		test_exit(RT_EXIT_FAIL);
	}
	rt_cpu_init(id);
	rt_pic_disable();
	rt_lapic_init();
	rt_tsc_init();
	rt_cmdline_init(bp);
	rt_cpu_online();
	test_exit((uint32_t)main());
}

void test_exit(uint32_t code)
{
	for (;;) {
		outl(0x501, code);
		/* Only reached if the VMM ignores the port. */
		cli();
		__asm__ volatile("hlt");
	}
}
