/*
 * The x86 kernel and initrd loaders (arch/x86/boot.c) on hostile images.
 *
 * Input: byte 0 chooses the guest RAM size, bytes 1-4 the initrd length
 * (little-endian, taken modulo 6 MiB), the rest is the kernel image
 * (ELF vmlinux or bzImage, or anything else).  RAM is a buffer filled with
 * a marker byte, so every byte a loader writes shows.
 *
 * Invariants:
 * - a refused image gets -1 and a message, and nothing below 1 MiB (where
 *   boot data lives) is written;
 * - a loaded kernel lies in RAM above 1 MiB, its entry point lies in what
 *   was loaded (for ELF: in a PT_LOAD segment of the image; for bzImage:
 *   the 64-bit entry, 0x200 into the protected-mode code, which is copied
 *   byte for byte), every byte written lies in [load_addr, end) and, for
 *   ELF, in a PT_LOAD segment;
 * - the initrd is refused with a message, or copied byte for byte to a
 *   page-aligned address above the kernel, below initrd_addr_max and the
 *   end of RAM, writing nothing else;
 * - boot_params built from whatever was loaded stays in its struct (ASan).
 * ASan and UBSan check the host side: no read past the image, no write
 * past RAM.
 */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "device_fuzz_support.h"
#include "fuzz_input.h"
#include "guest_mem.h"

#define MIB	    (1ULL << 20)
#define RAM_MAX	    (4 * MIB)
#define RAM_MARK    0xcc
#define INITRD_MAX  (6 * MIB)
#define INITRD_BYTE 0x5a

static uint8_t *ram;	/* RAM_MAX bytes; the guest sees the first ram_size */
static uint8_t *initrd; /* INITRD_MAX bytes of INITRD_BYTE */
static uint8_t *marks;	/* RAM_MAX bytes of RAM_MARK, to compare with */

static void loaders_fuzz_init(void)
{
	if (ram)
		return;
	ram = malloc(RAM_MAX);
	initrd = malloc(INITRD_MAX);
	marks = malloc(RAM_MAX);
	if (!ram || !initrd || !marks)
		abort();
	memset(ram, RAM_MARK, RAM_MAX);
	memset(marks, RAM_MARK, RAM_MAX);
	memset(initrd, INITRD_BYTE, INITRD_MAX);
}

/* RAM outside [from, to) still holds the marker. */
static bool loaders_fuzz_untouched_outside(uint64_t from, uint64_t to)
{
	if (from > RAM_MAX)
		from = RAM_MAX;
	if (to > RAM_MAX)
		to = RAM_MAX;
	if (to < from)
		to = from;
	return !memcmp(ram, marks, from) && !memcmp(ram + to, marks, RAM_MAX - to);
}

/* Does a PT_LOAD segment of the ELF image cover [a, a + n)? (Headers were checked by the loader.)
 */
static bool loaders_fuzz_in_segment(const uint8_t *img, uint64_t a, uint64_t n)
{
	Elf64_Ehdr eh;

	memcpy(&eh, img, sizeof(eh));
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_memsz && a >= ph.p_paddr &&
		    a - ph.p_paddr < ph.p_memsz && n <= ph.p_memsz - (a - ph.p_paddr))
			return true;
	}
	return false;
}

struct loaders_fuzz_span {
	uint64_t from, to;
};

static int loaders_fuzz_span_cmp(const void *a, const void *b)
{
	const struct loaders_fuzz_span *x = a, *y = b;

	return x->from < y->from ? -1 : x->from > y->from;
}

/* Every byte outside the image's PT_LOAD segments still holds the marker. */
static void loaders_fuzz_check_elf_writes(const uint8_t *img)
{
	static struct loaders_fuzz_span spans[65536];
	unsigned int n = 0;
	uint64_t at = 0;
	Elf64_Ehdr eh;

	memcpy(&eh, img, sizeof(eh));
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || !ph.p_memsz || ph.p_paddr >= RAM_MAX)
			continue;
		spans[n].from = ph.p_paddr;
		spans[n].to = ph.p_memsz < RAM_MAX - ph.p_paddr ? ph.p_paddr + ph.p_memsz : RAM_MAX;
		n++;
	}
	qsort(spans, n, sizeof(spans[0]), loaders_fuzz_span_cmp);
	for (unsigned int i = 0; i <= n; i++) {
		uint64_t gap_end = i < n ? spans[i].from : RAM_MAX;

		if (gap_end > at)
			FUZZ_CHECK(
			    !memcmp(ram + at, marks + at, gap_end - at),
			    "ELF load wrote between 0x%llx and 0x%llx, outside every PT_LOAD "
			    "segment",
			    (unsigned long long)at, (unsigned long long)gap_end);
		if (i < n && spans[i].to > at)
			at = spans[i].to;
	}
}

static void loaders_fuzz_check_kernel(const uint8_t *img, size_t len, const struct x86_kernel *k,
				      uint64_t ram_size)
{
	FUZZ_CHECK(k->load_addr >= ARCH_HIGH_MEMORY_START && k->load_addr < k->end &&
		       k->end <= ram_size,
		   "kernel accepted at 0x%llx-0x%llx in %llu bytes of RAM",
		   (unsigned long long)k->load_addr, (unsigned long long)k->end,
		   (unsigned long long)ram_size);
	FUZZ_CHECK(k->entry >= k->load_addr && k->entry < k->end,
		   "entry 0x%llx outside 0x%llx-0x%llx", (unsigned long long)k->entry,
		   (unsigned long long)k->load_addr, (unsigned long long)k->end);
	FUZZ_CHECK(loaders_fuzz_untouched_outside(k->load_addr, k->end),
		   "kernel load wrote outside 0x%llx-0x%llx", (unsigned long long)k->load_addr,
		   (unsigned long long)k->end);
	FUZZ_CHECK(k->hdr_len <= sizeof(k->hdr), "hdr_len %zu", k->hdr_len);
	if (k->is_bzimage) {
		uint8_t sects = img[0x1f1];
		size_t setup = ((size_t)(sects ? sects : 4) + 1) * 512;

		FUZZ_CHECK(setup < len && k->entry == k->load_addr + 0x200 && len - setup > 0x200,
			   "bzImage entry 0x%llx, load 0x%llx, setup %zu of %zu bytes",
			   (unsigned long long)k->entry, (unsigned long long)k->load_addr, setup,
			   len);
		FUZZ_CHECK(!memcmp(ram + k->load_addr, img + setup, len - setup),
			   "bzImage payload not copied byte for byte");
	} else {
		FUZZ_CHECK(loaders_fuzz_in_segment(img, k->entry, 1),
			   "ELF entry 0x%llx is in no PT_LOAD segment",
			   (unsigned long long)k->entry);
		loaders_fuzz_check_elf_writes(img);
	}
}

static void loaders_fuzz_initrd(const struct x86_kernel *k, struct guest_mem *gm, uint64_t ram_size,
				size_t len)
{
	uint64_t addr = 0;
	char err[256];
	int ret;

	memset(err, 0, sizeof(err));
	ret =
	    x86_load_initrd(gm, k, &(struct guest_file){initrd, len, -1}, &addr, err, sizeof(err));
	if (ret) {
		FUZZ_CHECK(ret == -1 && err[0], "initrd refused (%d) without a message", ret);
		FUZZ_CHECK(loaders_fuzz_untouched_outside(k->load_addr, k->end),
			   "a refused initrd wrote RAM");
		return;
	}
	FUZZ_CHECK(len > 0 && addr % 4096 == 0 && addr >= k->end && addr + len <= ram_size &&
		       (k->initrd_addr_max == UINT64_MAX || addr + len - 1 <= k->initrd_addr_max),
		   "initrd of %zu bytes at 0x%llx: kernel ends 0x%llx, RAM %llu, max 0x%llx", len,
		   (unsigned long long)addr, (unsigned long long)k->end,
		   (unsigned long long)ram_size, (unsigned long long)k->initrd_addr_max);
	FUZZ_CHECK(!memcmp(ram + addr, initrd, len), "initrd not copied byte for byte");
	memset(ram + addr, RAM_MARK, len);
	FUZZ_CHECK(loaders_fuzz_untouched_outside(k->load_addr, k->end),
		   "initrd load wrote outside 0x%llx+%zu", (unsigned long long)addr, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t ram_sizes[] = {2 * MIB, 3 * MIB + 4096, RAM_MAX, MIB + 512 * 1024};
	struct fuzz_input in = fuzz_input_init(data, size);
	uint64_t ram_size = ram_sizes[fuzz_u8(&in) % 4];
	size_t initrd_len = fuzz_u32(&in) % INITRD_MAX;
	size_t len = in.pos < size ? size - in.pos : 0;
	uint8_t *img = malloc(len ? len : 1); /* exactly len: ASan sees a read past the end */
	struct guest_mem gm;
	struct x86_kernel k;
	struct boot_params *bp;
	char err[256];
	int ret;

	loaders_fuzz_init();
	if (!img)
		abort();
	memcpy(img, data + in.pos, len);
	memset(&gm, 0, sizeof(gm));
	if (guest_mem_add_region(&gm, 0, ram_size, ram))
		abort();
	memset(err, 0, sizeof(err));
	ret = x86_load_kernel(&gm, &(struct guest_file){img, len, -1}, &k, err, sizeof(err));
	if (ret) {
		FUZZ_CHECK(ret == -1 && err[0] && memchr(err, '\0', sizeof(err)),
			   "image refused (%d) without a message", ret);
		/* A segment may have been loaded before a later one was refused; never below 1 MiB.
		 */
		FUZZ_CHECK(!memcmp(ram, marks, ARCH_HIGH_MEMORY_START) &&
			       !memcmp(ram + ram_size, marks, RAM_MAX - ram_size),
			   "refused image wrote below 1 MiB or past RAM");
		if (memcmp(ram, marks, ram_size))
			memset(ram, RAM_MARK, ram_size);
		free(img);
		return 0;
	}
	loaders_fuzz_check_kernel(img, len, &k, ram_size);
	loaders_fuzz_initrd(&k, &gm, ram_size, initrd_len);
	bp = calloc(1, sizeof(*bp));
	if (!bp)
		abort();
	x86_build_boot_params(bp, &k, &gm, ARCH_CMDLINE_ADDR, 64, 0, 0);
	free(bp);
	memset(ram + k.load_addr, RAM_MARK, k.end - k.load_addr);
	free(img);
	return 0;
}
