/*
 * The guest's own image stays what it was loaded as while the host rewrites
 * the ELF file it came from (tests/integration/kernel_file.sh).  minivmm maps
 * a kernel file copy-on-write under a read lease and copies the shared pages
 * when a writer breaks the lease (docs/boot-times.md, "Start-up"); without
 * that copy, the text pages would turn into what the host wrote and this
 * code would not survive to compare.  Checksums its text and rodata, says
 * so, waits for one byte on the console (sent after the rewrite), and
 * checksums again.  Runs at CPL3.  Also endings.sh's waiting guest.
 */
#include "rt.h"

extern const uint8_t __image_start[], __text_end[];

static uint32_t image_checksum(void)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (const uint8_t *p = __image_start; p < __text_end; p++)
		h = (h ^ *p) * 16777619u;
	return h;
}

static uint64_t run(void *arg)
{
	uint64_t wait_ms = 60000, prompt = 0;
	uint32_t before, after;
	int c;

	(void)arg;
	cmdline_get_u64("test.wait_ms", &wait_ms);
	/* test.prompt=1: then a prompt with no newline, as a shell leaves it
	 * (tests/integration/endings.sh: minivmm's final line starts a line). */
	cmdline_get_u64("test.prompt", &prompt);
	before = image_checksum();
	printf("kernel_image: %lu bytes, checksum 0x%x; waiting for the host\n",
	       (unsigned long)(__text_end - __image_start), before);
	if (prompt)
		printf("kernel_image> ");
	c = console_getc(wait_ms);
	TEST_ASSERT(c >= 0);
	after = image_checksum();
	printf("kernel_image: got 0x%x; checksum now 0x%x\n", c, after);
	TEST_ASSERT_EQ(after, before);
	return 0;
}

int main(void)
{
	TEST_ASSERT_EQ(run_at_cpl3(run, NULL), 0);
	printf("kernel_image: PASS\n");
	return 0;
}
