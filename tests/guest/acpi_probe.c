/*
 * What a guest finds of minivmm's firmware tables (docs/acpi.md): the ACPI
 * RSDP by a PC's scan of the BIOS area 0xE0000-0xFFFFF (signature on a
 * 16-byte boundary, checksum of its first 20 bytes), the address minivmm
 * put in boot_params.acpi_rsdp_addr, and the MP floating pointer ("_MP_")
 * in the last KiB of base memory or the BIOS area.  It only reports; the
 * test (tests/integration/guests.sh) compares the runs with and without
 * --no-acpi.  Runs at CPL3 (the identity map is the guest's).
 */
#include "rt.h"

#define BOOT_PARAMS_ACPI_RSDP_ADDR 0x070

static bool signature_at(uint64_t addr, const char *sig, unsigned int len)
{
	const volatile uint8_t *p = (const volatile uint8_t *)addr;

	for (unsigned int i = 0; i < len; i++)
		if (p[i] != (uint8_t)sig[i])
			return false;
	return true;
}

static uint8_t sum_bytes(uint64_t addr, unsigned int len)
{
	const volatile uint8_t *p = (const volatile uint8_t *)addr;
	uint8_t sum = 0;

	for (unsigned int i = 0; i < len; i++)
		sum += p[i];
	return sum;
}

/* The first 16-byte-aligned address in [start, end) with a valid sig; 0 if none. */
static uint64_t scan(uint64_t start, uint64_t end, const char *sig, unsigned int sig_len,
		     unsigned int sum_len)
{
	for (uint64_t a = start; a + sum_len <= end; a += 16)
		if (signature_at(a, sig, sig_len) && sum_bytes(a, sum_len) == 0)
			return a;
	return 0;
}

static uint64_t probe(void *arg)
{
	uint64_t rsdp, mp, hint;

	(void)arg;
	rsdp = scan(0xE0000, 0x100000, "RSD PTR ", 8, 20);
	/* The MP floating pointer structure is 16 bytes, checksummed whole. */
	mp = scan(0x9FC00, 0xA0000, "_MP_", 4, 16);
	if (!mp)
		mp = scan(0xF0000, 0x100000, "_MP_", 4, 16);
	hint = *(const volatile uint64_t *)((const uint8_t *)boot_params() +
					    BOOT_PARAMS_ACPI_RSDP_ADDR);
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
