/*
 * The arm64 kernel loader (arch/arm64/image.c) against fake guest RAM: a
 * Linux Image placed by its header, an AArch64 ELF by its segments, the
 * initrd below the device tree, and every malformed or misplaced file
 * refused with a reason instead of written anywhere.
 */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arm64/image.h"
#include "guest_mem.h"
#include "helpers.h"

#define MIB	 (1ULL << 20)
#define RAM_BASE 0x40000000ULL
#define RAM_SIZE (16 * MIB)
#define RAM_FILL 0xcc /* what RAM holds before a load */

static struct guest_mem gm;
static uint8_t *ram;
static char err[256];
static struct arm64_kernel k;

static void image_setup(void)
{
	memset(&gm, 0, sizeof(gm));
	ram = malloc(RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
	memset(ram, RAM_FILL, RAM_SIZE);
	ck_assert_int_eq(guest_mem_add_region(&gm, RAM_BASE, RAM_SIZE, ram), 0);
	memset(err, 0, sizeof(err));
	memset(&k, 0xa5, sizeof(k));
}

static void image_teardown(void)
{
	free(ram);
	ram = NULL;
}

static uint8_t *at(uint64_t gpa)
{
	return ram + (gpa - RAM_BASE);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* An Image of file_len bytes (a pattern after the header) with these header fields. */
static uint8_t *make_image(size_t file_len, uint64_t text_offset, uint64_t image_size,
			   uint64_t flags)
{
	uint8_t *f = malloc(file_len);
	uint32_t magic = ARM64_IMAGE_MAGIC;

	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < file_len; i++)
		f[i] = (uint8_t)(i * 7 + 1);
	put64(f + 8, text_offset);
	put64(f + 16, image_size);
	put64(f + 24, flags);
	memcpy(f + 56, &magic, 4);
	return f;
}

static int load(const uint8_t *data, size_t len, uint64_t limit)
{
	struct guest_file file = {.data = data, .len = len, .fd = -1};

	return arm64_load_kernel(&gm, &file, RAM_BASE, limit, &k, err, sizeof(err));
}

START_TEST(test_image_placed_by_header)
{
	size_t len = 256 * 1024;
	uint8_t *f = make_image(len, 0x80000, 512 * 1024, 0);

	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), 0);
	ck_assert_int_eq(k.is_image, 1);
	ck_assert_uint_eq(k.entry, RAM_BASE + 0x80000);
	ck_assert_uint_eq(k.start, RAM_BASE + 0x80000);
	ck_assert_uint_eq(k.end, RAM_BASE + 0x80000 + 512 * 1024);
	ck_assert_mem_eq(at(RAM_BASE + 0x80000), f, len);
	/* The bss the header counts beyond the file is zeroed, the byte after it untouched. */
	for (size_t i = len; i < 512 * 1024; i++)
		ck_assert_uint_eq(at(RAM_BASE + 0x80000)[i], 0);
	ck_assert_uint_eq(at(RAM_BASE + 0x80000)[512 * 1024], RAM_FILL);
	ck_assert_uint_eq(at(RAM_BASE)[0], RAM_FILL);
	free(f);
}
END_TEST

START_TEST(test_image_without_size)
{
	/* A pre-3.17 kernel: image_size 0, so the file is all there is. */
	size_t len = 8192;
	uint8_t *f = make_image(len, 0, 0, 0);

	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), 0);
	ck_assert_uint_eq(k.entry, RAM_BASE);
	ck_assert_uint_eq(k.end, RAM_BASE + len);
	free(f);
}
END_TEST

START_TEST(test_image_refusals)
{
	size_t len = 8192;
	uint8_t *f;

	f = make_image(len, 0, len, 1);
	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), -1);
	ck_assert_ptr_nonnull(strstr(err, "big-endian"));
	free(f);
	f = make_image(len, 0x80001, len, 0);
	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), -1);
	ck_assert_ptr_nonnull(strstr(err, "text_offset"));
	free(f);
	f = make_image(len, 0, len - 1, 0);
	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), -1);
	ck_assert_ptr_nonnull(strstr(err, "header says"));
	free(f);
	/* Bigger than RAM below the limit, and an image_size that would wrap. */
	f = make_image(len, 0, RAM_SIZE, 0);
	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE - MIB), -1);
	ck_assert_ptr_nonnull(strstr(err, "does not fit"));
	free(f);
	f = make_image(len, 0x1000, UINT64_MAX - 0x10, 0);
	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), -1);
	free(f);
	for (size_t i = 0; i < RAM_SIZE; i += 4096)
		ck_assert_uint_eq(ram[i], RAM_FILL);
}
END_TEST

/* An AArch64 ELF: one PT_LOAD of filesz bytes (memsz in RAM) at paddr, entry as given. */
static uint8_t *make_elf(size_t *len, uint16_t machine, uint64_t paddr, uint64_t filesz,
			 uint64_t memsz, uint64_t entry)
{
	size_t off = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr);
	uint8_t *f = calloc(1, off + filesz);
	Elf64_Ehdr eh = {0};
	Elf64_Phdr ph = {0};

	ck_assert_ptr_nonnull(f);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_machine = machine;
	eh.e_entry = entry;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	ph.p_type = PT_LOAD;
	ph.p_offset = off;
	ph.p_paddr = paddr;
	ph.p_vaddr = paddr;
	ph.p_filesz = filesz;
	ph.p_memsz = memsz;
	memcpy(f, &eh, sizeof(eh));
	memcpy(f + sizeof(eh), &ph, sizeof(ph));
	for (size_t i = 0; i < filesz; i++)
		f[off + i] = (uint8_t)(i + 3);
	*len = off + filesz;
	return f;
}

START_TEST(test_elf_placed_by_segment)
{
	size_t len;
	uint8_t *f = make_elf(&len, EM_AARCH64, RAM_BASE + 0x80000, 3000, 8192, RAM_BASE + 0x80010);

	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), 0);
	ck_assert_int_eq(k.is_image, 0);
	ck_assert_uint_eq(k.entry, RAM_BASE + 0x80010);
	ck_assert_uint_eq(k.start, RAM_BASE + 0x80000);
	ck_assert_uint_eq(k.end, RAM_BASE + 0x80000 + 8192);
	ck_assert_mem_eq(at(RAM_BASE + 0x80000), f + len - 3000, 3000);
	for (size_t i = 3000; i < 8192; i++)
		ck_assert_uint_eq(at(RAM_BASE + 0x80000)[i], 0);
	free(f);
}
END_TEST

START_TEST(test_elf_refusals)
{
	size_t len;
	uint8_t *f;

	f = make_elf(&len, EM_X86_64, RAM_BASE, 64, 64, RAM_BASE);
	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), -1);
	ck_assert_ptr_nonnull(strstr(err, "AArch64"));
	free(f);
	/* Below RAM (an x86 guest's 1 MiB), past the limit, entry outside. */
	f = make_elf(&len, EM_AARCH64, 0x100000, 64, 64, 0x100000);
	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), -1);
	ck_assert_ptr_nonnull(strstr(err, "not in RAM"));
	free(f);
	f = make_elf(&len, EM_AARCH64, RAM_BASE + RAM_SIZE - 32, 64, 64, RAM_BASE + RAM_SIZE - 32);
	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), -1);
	free(f);
	f = make_elf(&len, EM_AARCH64, RAM_BASE, 64, 64, RAM_BASE + 64);
	ck_assert_int_eq(load(f, len, RAM_BASE + RAM_SIZE), -1);
	ck_assert_ptr_nonnull(strstr(err, "entry"));
	free(f);
	/* filesz beyond the file, and program headers cut off. */
	f = make_elf(&len, EM_AARCH64, RAM_BASE, 64, 64, RAM_BASE);
	ck_assert_int_eq(load(f, len - 1, RAM_BASE + RAM_SIZE), -1);
	ck_assert_int_eq(load(f, sizeof(Elf64_Ehdr) + 10, RAM_BASE + RAM_SIZE), -1);
	free(f);
	ck_assert_uint_eq(ram[0], RAM_FILL);
}
END_TEST

START_TEST(test_neither)
{
	uint8_t junk[128] = {1, 2, 3};

	ck_assert_int_eq(load(junk, sizeof(junk), RAM_BASE + RAM_SIZE), -1);
	ck_assert_ptr_nonnull(strstr(err, "neither"));
	ck_assert_int_eq(load(junk, 3, RAM_BASE + RAM_SIZE), -1);
}
END_TEST

START_TEST(test_dtb_address)
{
	ck_assert_uint_eq(arm64_dtb_address(RAM_BASE, RAM_SIZE), RAM_BASE + RAM_SIZE - 2 * MIB);
	/* A RAM end not 2 MiB aligned: the address rounds down, leaving 3 MiB above it. */
	ck_assert_uint_eq(arm64_dtb_address(RAM_BASE, RAM_SIZE + MIB),
			  RAM_BASE + RAM_SIZE - 2 * MIB);
	ck_assert_uint_eq(arm64_dtb_address(RAM_BASE, 3 * MIB), 0);
}
END_TEST

START_TEST(test_initrd_below_the_limit)
{
	size_t len;
	uint8_t *f = make_elf(&len, EM_AARCH64, RAM_BASE, 64, 64, RAM_BASE);
	uint8_t rd[5000];
	struct guest_file file = {.data = rd, .len = sizeof(rd), .fd = -1};
	uint64_t limit = RAM_BASE + RAM_SIZE - 2 * MIB, addr = 0;

	ck_assert_int_eq(load(f, len, limit), 0);
	memset(rd, 0x5a, sizeof(rd));
	ck_assert_int_eq(arm64_load_initrd(&gm, &file, &k, limit, &addr, err, sizeof(err)), 0);
	ck_assert_uint_eq(addr, (limit - sizeof(rd)) & ~4095ULL);
	ck_assert_mem_eq(at(addr), rd, sizeof(rd));
	/* One that would reach down into the kernel is refused. */
	file.len = RAM_SIZE - 2 * MIB;
	ck_assert_int_eq(arm64_load_initrd(&gm, &file, &k, limit, &addr, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "do not fit"));
	free(f);
}
END_TEST

START_TEST(test_ram_at_a_base)
{
	struct guest_mem m;

	/* arm64: RAM from 1 GiB; a 4 GiB "hole" start means none. */
	ck_assert_int_eq(
	    guest_mem_alloc_at(&m, 64 * MIB, RAM_BASE, 4ULL << 30, GUEST_MEM_ANON, false), 0);
	ck_assert_uint_eq(m.nr_regions, 1);
	ck_assert_uint_eq(m.regions[0].gpa, RAM_BASE);
	ck_assert_uint_eq(m.regions[0].size, 64 * MIB);
	ck_assert(guest_mem_valid(&m, RAM_BASE + 64 * MIB - 1, 1));
	ck_assert(!guest_mem_valid(&m, RAM_BASE - 1, 1));
	guest_mem_free(&m);
	/* More than fits below 4 GiB: the rest follows on at 4 GiB, no gap. */
	ck_assert_int_eq(
	    guest_mem_alloc_at(&m, 4ULL << 30, RAM_BASE, 4ULL << 30, GUEST_MEM_ANON, false), 0);
	ck_assert_uint_eq(m.nr_regions, 2);
	ck_assert_uint_eq(m.regions[0].size, (4ULL << 30) - RAM_BASE);
	ck_assert_uint_eq(m.regions[1].gpa, 4ULL << 30);
	ck_assert_uint_eq(m.regions[1].size, RAM_BASE);
	guest_mem_free(&m);
	/* A base at or above the hole is no layout. */
	ck_assert_int_eq(guest_mem_alloc_at(&m, MIB, 4ULL << 30, 4ULL << 30, GUEST_MEM_ANON, false),
			 -EINVAL);
}
END_TEST

Suite *arm64_image_suite(void)
{
	Suite *s = suite_create("arm64_image");

	unit_tcase(s, "arm64_image", image_setup, image_teardown,
		   UNIT_TESTS(test_image_placed_by_header, test_image_without_size,
			      test_image_refusals, test_elf_placed_by_segment, test_elf_refusals,
			      test_neither, test_dtb_address, test_initrd_below_the_limit,
			      test_ram_at_a_base));
	return s;
}
