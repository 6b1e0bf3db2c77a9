/*
 * Exits through the test-exit port with `code=N` (default 7), optionally
 * from CPL3 (`cpl3`), or first raises an exception nobody handles
 * (`fault=ud|pf|gp`, expected status 2).  Used to check that minivmm's exit
 * status is the guest's code & 0xff.  `fault=triple` (an empty IDT, then
 * ud2) and `reset=i8042` (the keyboard controller's reset pulse) check the
 * VMM's other ways of stopping.
 */
#include "rt.h"

static uint64_t exit_from_user(void *arg)
{
	test_exit((uint32_t)(uint64_t)arg);
}

__attribute__((noreturn)) static void triple_fault(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty = {0, 0};

	/* #UD cannot be delivered, nor the #GP for that, nor the #DF: shutdown. */
	__asm__ volatile("lidt %0\n\tud2" : : "m"(empty));
	__builtin_unreachable();
}

int main(void)
{
	uint64_t code = 7;
	char fault[8];

	cmdline_get_u64("code", &code);
	if (cmdline_get("fault", fault, sizeof(fault)) >= 0) {
		printf("exitcode: raising %s\n", fault);
		if (!strcmp(fault, "ud"))
			__asm__ volatile("ud2");
		else if (!strcmp(fault, "pf"))
			(void)*(volatile uint64_t *)0x200000000ULL;
		else if (!strcmp(fault, "gp"))
			(void)*(volatile uint64_t *)0x8000000000000000ULL; /* non-canonical */
		else if (!strcmp(fault, "triple"))
			triple_fault();
		printf("exitcode: unknown fault '%s'\n", fault);
		return RT_EXIT_FAIL;
	}
	if (cmdline_get("reset", fault, sizeof(fault)) >= 0 && !strcmp(fault, "i8042")) {
		printf("exitcode: i8042 reset\n");
		outb(0x64, 0xfe);
		printf("exitcode: still running after the reset pulse\n");
		return RT_EXIT_FAIL;
	}
	printf("exitcode: exiting with %lu%s\n", code,
	       cmdline_get("cpl3", NULL, 0) >= 0 ? " from CPL3" : "");
	if (cmdline_get("cpl3", NULL, 0) >= 0)
		run_at_cpl3(exit_from_user, (void *)code);
	test_exit((uint32_t)code);
}
