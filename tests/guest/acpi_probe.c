/*
 * What a guest finds of minivmm's firmware tables (docs/acpi.md): the ACPI
 * RSDP by a PC's scan of the BIOS area 0xE0000-0xFFFFF (signature on a
 * 16-byte boundary, checksum of its first 20 bytes), the address minivmm
 * put in boot_params.acpi_rsdp_addr, and the MP floating pointer in the
 * EBDA (the runtime's mp_floating_pointer()).  It only reports; the test
 * (tests/integration/guests.sh) compares the runs with and without
 * --no-acpi.  Runs at CPL3 (the identity map is the guest's).
 */
#include "rt.h"

#define BOOT_PARAMS_ACPI_RSDP_ADDR 0x070
#define RSDP_V1_LENGTH		   20 /* the part the first checksum covers */

static uint64_t find_rsdp(void)
{
	for (uint64_t a = 0xE0000; a + RSDP_V1_LENGTH <= 0x100000; a += 16) {
		const uint8_t *p = (const uint8_t *)a;

		if (memcmp(p, "RSD PTR ", 8) == 0 && byte_sum(p, RSDP_V1_LENGTH) == 0)
			return a;
	}
	return 0;
}

static uint64_t probe(void *arg)
{
	uint64_t rsdp = find_rsdp(), mp = (uint64_t)mp_floating_pointer();
	uint64_t hint =
	    *(const uint64_t *)((const uint8_t *)boot_params() + BOOT_PARAMS_ACPI_RSDP_ADDR);

	(void)arg;
	if (rsdp)
		printf("acpi_probe: RSDP at 0x%lx\n", rsdp);
	else
		printf("acpi_probe: no RSDP in 0xe0000-0xfffff\n");
	printf("acpi_probe: boot_params.acpi_rsdp_addr 0x%lx\n", hint);
	if (mp)
		printf("acpi_probe: MP floating pointer at 0x%lx\n", mp);
	else
		printf("acpi_probe: no MP floating pointer\n");
	return 0;
}

int main(void)
{
	TEST_ASSERT_EQ(run_at_cpl3(probe, NULL), 0);
	return 0;
}
