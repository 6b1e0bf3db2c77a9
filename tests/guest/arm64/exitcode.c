/*
 * Exits through the test-exit register with `code=N` (default 7), or first
 * raises an exception nobody handles (`fault=ud`: an undefined instruction;
 * `fault=pf`: a load from an address the identity map leaves unmapped;
 * expected status 2, RT_EXIT_EXCEPTION).  Checks that minivmm's exit status
 * is the guest's code & 0xff.
 */
#include "rt.h"

int main(void)
{
	uint64_t code = 7;
	char fault[8];

	cmdline_get_u64("code", &code);
	if (cmdline_get("fault", fault, sizeof(fault)) >= 0) {
		printf("exitcode: raising %s\n", fault);
		if (!strcmp(fault, "ud"))
			__asm__ volatile("udf #0");
		else if (!strcmp(fault, "pf"))
			(void)*(volatile uint64_t *)0x8000000000ULL; /* 512 GiB: past the map */
		printf("exitcode: unknown fault '%s'\n", fault);
		return RT_EXIT_FAIL;
	}
	printf("exitcode: exiting with %lu\n", code);
	test_exit((uint32_t)code);
}
