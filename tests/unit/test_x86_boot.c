/*
 * The x86 boot protocol: ELF vmlinux and bzImage loading, initrd placement,
 * boot_params and the e820 map.  Kernel images are built in memory; every
 * malformed image must be refused with a message, never crash the loader.
 */
#include <check.h>
#include <elf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/boot.h"
#include "arch/x86/layout.h"
#include "guest_mem.h"
#include "helpers.h"

#define KIB		   (1ULL << 10)
#define MIB		   (1ULL << 20)
#define GIB		   (1ULL << 30)
#define RAM_SIZE	   (16 * MIB)
#define RAM_FILL	   0xcc /* what guest RAM holds before a load, to see what was written */
#define DEFAULT_INITRD_MAX 0x37ffffffULL

static struct guest_mem gm;
static uint8_t *ram;
static char err[256];

static void x86_boot_setup(void)
{
	memset(&gm, 0, sizeof(gm));
	ram = malloc(RAM_SIZE);
	ck_assert_ptr_nonnull(ram);
	memset(ram, RAM_FILL, RAM_SIZE);
	ck_assert_int_eq(guest_mem_add_region(&gm, 0, RAM_SIZE, ram), 0);
	memset(err, 0, sizeof(err));
}

static void x86_boot_teardown(void)
{
	free(ram);
	ram = NULL;
}

/* Load a heap copy of exactly len bytes, so ASan sees any read past the end. */
static int load_exact(const uint8_t *image, size_t len, struct x86_kernel *k)
{
	uint8_t *copy = malloc(len ? len : 1);
	int ret;

	ck_assert_ptr_nonnull(copy);
	if (len)
		memcpy(copy, image, len);
	err[0] = '\0';
	ret = x86_load_kernel(&gm, &(struct guest_file){copy, len, -1}, k, err, sizeof(err));
	free(copy);
	return ret;
}

static void assert_rejected(int ret, const char *want)
{
	ck_assert_int_eq(ret, -1);
	ck_assert_msg(err[0] != '\0', "rejected without a message");
	if (want)
		ck_assert_msg(strstr(err, want), "message \"%s\" does not mention \"%s\"", err,
			      want);
}

static uint8_t file_byte(uint64_t offset)
{
	return (uint8_t)(offset * 7 + 3);
}

/* ---- ELF vmlinux ---- */

struct elf_seg {
	uint32_t type;
	uint64_t paddr, offset, filesz, memsz;
};

/* An x86-64 ET_EXEC: headers, then each segment's file bytes (file_byte pattern). */
static uint8_t *make_elf(const struct elf_seg *segs, unsigned int n, uint64_t entry, size_t *len)
{
	size_t size = sizeof(Elf64_Ehdr) + n * sizeof(Elf64_Phdr);
	Elf64_Ehdr eh = {0};
	uint8_t *buf;

	for (unsigned int i = 0; i < n; i++)
		if (segs[i].offset + segs[i].filesz > size)
			size = segs[i].offset + segs[i].filesz;
	buf = calloc(1, size);
	ck_assert_ptr_nonnull(buf);
	for (size_t i = sizeof(eh) + n * sizeof(Elf64_Phdr); i < size; i++)
		buf[i] = file_byte(i);

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_entry = entry;
	eh.e_phoff = sizeof(eh);
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)n;
	memcpy(buf, &eh, sizeof(eh));
	for (unsigned int i = 0; i < n; i++) {
		Elf64_Phdr ph = {
		    .p_type = segs[i].type,
		    .p_flags = PF_R | PF_X,
		    .p_offset = segs[i].offset,
		    .p_vaddr = 0xffffffff80000000ULL + segs[i].paddr,
		    .p_paddr = segs[i].paddr,
		    .p_filesz = segs[i].filesz,
		    .p_memsz = segs[i].memsz,
		    .p_align = 0x1000,
		};

		memcpy(buf + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
	}
	*len = size;
	return buf;
}

/*
 * The reference vmlinux: text+bss at 1 MiB, data at 2 MiB, and a PT_NOTE
 * with a low address that must be ignored.  The last file byte belongs to
 * a segment, so every truncation loses something the loader needs.
 */
static const struct elf_seg good_segs[] = {
    {PT_LOAD, 0x100000, 0x1000, 0x800, 0x2000},
    {PT_NOTE, 0x500, 0x1800, 0x10, 0x10},
    {PT_LOAD, 0x200000, 0x1800, 0x100, 0x100},
};
#define GOOD_ENTRY 0x100010ULL

static uint8_t *good_elf(size_t *len)
{
	return make_elf(good_segs, 3, GOOD_ENTRY, len);
}

static Elf64_Ehdr *ehdr(uint8_t *buf)
{
	return (Elf64_Ehdr *)buf;
}

static Elf64_Phdr *phdr(uint8_t *buf, unsigned int i)
{
	return (Elf64_Phdr *)(buf + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr));
}

/* Load a one-segment ELF whose PT_LOAD is seg; entry at its start. */
static int load_one_segment(struct elf_seg seg, struct x86_kernel *k)
{
	size_t len;
	uint8_t *buf = make_elf(&seg, 1, seg.paddr, &len);
	int ret = load_exact(buf, len, k);

	free(buf);
	return ret;
}

START_TEST(test_elf_loads_segments_and_zeroes_bss)
{
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = good_elf(&len);

	ck_assert_int_eq(load_exact(buf, len, &k), 0);
	ck_assert(!k.is_bzimage);
	ck_assert_uint_eq(k.entry, GOOD_ENTRY);
	ck_assert_uint_eq(k.load_addr, 0x100000);
	ck_assert_uint_eq(k.end, 0x200100);
	ck_assert_uint_eq(k.initrd_addr_max, DEFAULT_INITRD_MAX);

	/* Segment 0: file bytes, then zeroed bss, then untouched RAM. */
	for (uint64_t i = 0; i < 0x800; i++)
		ck_assert_uint_eq(ram[0x100000 + i], file_byte(0x1000 + i));
	for (uint64_t i = 0x800; i < 0x2000; i++)
		ck_assert_uint_eq(ram[0x100000 + i], 0);
	ck_assert_uint_eq(ram[0x100000 - 1], RAM_FILL);
	ck_assert_uint_eq(ram[0x102000], RAM_FILL);
	/* Segment 2 (no bss). */
	for (uint64_t i = 0; i < 0x100; i++)
		ck_assert_uint_eq(ram[0x200000 + i], file_byte(0x1800 + i));
	ck_assert_uint_eq(ram[0x200100], RAM_FILL);
	/* The PT_NOTE is not loaded, although its address would be RAM. */
	ck_assert_uint_eq(ram[0x500], RAM_FILL);
	free(buf);
}
END_TEST

START_TEST(test_elf_segment_order_and_empty_segments)
{
	/* Higher segment first; a zero-sized PT_LOAD at a bad address is skipped. */
	const struct elf_seg segs[] = {
	    {PT_LOAD, 0x300000, 0x1000, 0x10, 0x10},
	    {PT_LOAD, 0x10, 0x1010, 0, 0},
	    {PT_LOAD, 0x180000, 0x1010, 0x10, 0x20},
	};
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = make_elf(segs, 3, 0x300000, &len);

	ck_assert_int_eq(load_exact(buf, len, &k), 0);
	ck_assert_uint_eq(k.load_addr, 0x180000);
	ck_assert_uint_eq(k.end, 0x300010);
	ck_assert_uint_eq(ram[0x10], RAM_FILL);
	free(buf);
}
END_TEST

START_TEST(test_elf_entry_outside_segments)
{
	static const uint64_t entries[] = {0, 0x50000, 0x102000, 0x1fffff, 0x200100, UINT64_MAX};
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = good_elf(&len);

	for (unsigned int i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
		ehdr(buf)->e_entry = entries[i];
		assert_rejected(load_exact(buf, len, &k), "entry");
	}
	/* The last byte of the bss still counts as loaded. */
	ehdr(buf)->e_entry = 0x101fff;
	ck_assert_int_eq(load_exact(buf, len, &k), 0);
	free(buf);
}
END_TEST

START_TEST(test_elf_truncated_header)
{
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = good_elf(&len);

	for (size_t n = 4; n < sizeof(Elf64_Ehdr); n++)
		assert_rejected(load_exact(buf, n, &k), NULL);
	assert_rejected(load_exact(buf, 63, &k), "truncated");
	free(buf);
}
END_TEST

START_TEST(test_elf_truncated_program_headers)
{
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = good_elf(&len);
	size_t ph_end = sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr);

	for (size_t n = sizeof(Elf64_Ehdr); n < ph_end; n++)
		assert_rejected(load_exact(buf, n, &k), "program headers");

	ehdr(buf)->e_phoff = len - sizeof(Elf64_Phdr) + 1;
	assert_rejected(load_exact(buf, len, &k), "program headers");
	ehdr(buf)->e_phoff = UINT64_MAX;
	assert_rejected(load_exact(buf, len, &k), "program headers");
	ehdr(buf)->e_phoff = sizeof(Elf64_Ehdr);
	ehdr(buf)->e_phnum = 0xffff;
	assert_rejected(load_exact(buf, len, &k), "program headers");
	ehdr(buf)->e_phnum = 0;
	assert_rejected(load_exact(buf, len, &k), NULL);
	ehdr(buf)->e_phnum = 3;
	ehdr(buf)->e_phentsize = sizeof(Elf32_Phdr);
	assert_rejected(load_exact(buf, len, &k), "program headers");
	free(buf);
}
END_TEST

START_TEST(test_elf_every_truncation_rejected)
{
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = good_elf(&len);

	for (size_t n = 0; n < len; n++)
		ck_assert_msg(load_exact(buf, n, &k) == -1 && err[0], "length %zu accepted", n);
	ck_assert_int_eq(load_exact(buf, len, &k), 0);
	free(buf);
}
END_TEST

START_TEST(test_elf_segment_past_end_of_file)
{
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = good_elf(&len);

	phdr(buf, 2)->p_filesz = 0x101; /* one byte beyond the file */
	phdr(buf, 2)->p_memsz = 0x200;
	assert_rejected(load_exact(buf, len, &k), "past the end");
	phdr(buf, 2)->p_filesz = 0x100;
	phdr(buf, 2)->p_offset = len + 1;
	assert_rejected(load_exact(buf, len, &k), "past the end");
	phdr(buf, 2)->p_offset = UINT64_MAX;
	assert_rejected(load_exact(buf, len, &k), "past the end");
	/* offset + filesz wrapping around 2^64 must not pass the check. */
	phdr(buf, 2)->p_offset = 0x1800;
	phdr(buf, 2)->p_filesz = UINT64_MAX - 0x17ff;
	phdr(buf, 2)->p_memsz = UINT64_MAX;
	assert_rejected(load_exact(buf, len, &k), NULL);
	free(buf);
}
END_TEST

START_TEST(test_elf_filesz_exceeds_memsz)
{
	struct x86_kernel k;

	assert_rejected(
	    load_one_segment((struct elf_seg){PT_LOAD, 0x100000, 0x1000, 0x100, 0xff}, &k),
	    "exceeds memory size");
	ck_assert_uint_eq(ram[0x100000 + 0xff], RAM_FILL);
}
END_TEST

START_TEST(test_elf_segment_below_1mib)
{
	struct x86_kernel k;

	assert_rejected(
	    load_one_segment((struct elf_seg){PT_LOAD, 0x7000, 0x1000, 0x100, 0x100}, &k),
	    "below 1 MiB");
	/* Starting below 1 MiB and reaching above it is no better. */
	assert_rejected(
	    load_one_segment((struct elf_seg){PT_LOAD, 0xff000, 0x1000, 0x100, 0x2000}, &k),
	    "below 1 MiB");
	ck_assert_uint_eq(ram[0x7000], RAM_FILL);
	ck_assert_uint_eq(ram[0xff000], RAM_FILL);
	/* Exactly 1 MiB is fine. */
	ck_assert_int_eq(
	    load_one_segment((struct elf_seg){PT_LOAD, 0x100000, 0x1000, 0x100, 0x100}, &k), 0);
}
END_TEST

START_TEST(test_elf_segment_beyond_ram)
{
	static const struct {
		uint64_t paddr, memsz;
	} bad[] = {
	    {RAM_SIZE - 0x80, 0x100},	      /* straddles the end of RAM */
	    {RAM_SIZE, 0x100},		      /* just past it */
	    {ARCH_MMIO_HOLE_START, 0x100},    /* the MMIO hole */
	    {4 * GIB, 0x100},		      /* no RAM above 4 GiB here */
	    {UINT64_MAX - 0xfff, 0x2000},     /* wraps around 2^64 */
	    {0x100000, UINT64_MAX - 0xfffff}, /* memsz wraps */
	    {0x100000, UINT64_MAX},
	};
	struct x86_kernel k;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_rejected(
		    load_one_segment(
			(struct elf_seg){PT_LOAD, bad[i].paddr, 0x1000, 0x80, bad[i].memsz}, &k),
		    "does not fit");
	ck_assert_int_eq(
	    load_one_segment((struct elf_seg){PT_LOAD, RAM_SIZE - 0x100, 0x1000, 0x80, 0x100}, &k),
	    0);
	ck_assert_uint_eq(k.end, RAM_SIZE);
}
END_TEST

START_TEST(test_elf_wrong_class_data_machine_type)
{
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = good_elf(&len);

	ehdr(buf)->e_ident[EI_CLASS] = ELFCLASS32;
	assert_rejected(load_exact(buf, len, &k), "64-bit");
	ehdr(buf)->e_ident[EI_CLASS] = ELFCLASSNONE;
	assert_rejected(load_exact(buf, len, &k), "64-bit");
	ehdr(buf)->e_ident[EI_CLASS] = ELFCLASS64;
	ehdr(buf)->e_ident[EI_DATA] = ELFDATA2MSB;
	assert_rejected(load_exact(buf, len, &k), "little-endian");
	ehdr(buf)->e_ident[EI_DATA] = ELFDATA2LSB;

	ehdr(buf)->e_machine = EM_386;
	assert_rejected(load_exact(buf, len, &k), "x86-64");
	ehdr(buf)->e_machine = EM_AARCH64;
	assert_rejected(load_exact(buf, len, &k), "x86-64");
	ehdr(buf)->e_machine = EM_X86_64;

	ehdr(buf)->e_type = ET_DYN;
	assert_rejected(load_exact(buf, len, &k), "executable");
	ehdr(buf)->e_type = ET_REL;
	assert_rejected(load_exact(buf, len, &k), "executable");
	ehdr(buf)->e_type = ET_CORE;
	assert_rejected(load_exact(buf, len, &k), "executable");
	ehdr(buf)->e_type = ET_EXEC;
	ck_assert_int_eq(load_exact(buf, len, &k), 0);
	free(buf);
}
END_TEST

START_TEST(test_elf_a_real_32bit_header)
{
	/* A genuine Elf32 header (52 bytes, smaller than an Elf64 one). */
	Elf32_Ehdr eh = {0};
	struct x86_kernel k;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_386;
	eh.e_entry = 0x100000;
	assert_rejected(load_exact((const uint8_t *)&eh, sizeof(eh), &k), NULL);
}
END_TEST

START_TEST(test_elf_no_loadable_segment)
{
	const struct elf_seg notes[] = {
	    {PT_NOTE, 0x100000, 0x1000, 0x10, 0x10},
	    {PT_LOAD, 0x100000, 0x1010, 0, 0}, /* empty */
	    {PT_GNU_STACK, 0, 0, 0, 0},
	};
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = make_elf(notes, 3, 0x100000, &len);

	assert_rejected(load_exact(buf, len, &k), "no loadable segments");
	free(buf);
}
END_TEST

/* ---- bzImage ---- */

#define HDR_END	    0x26c /* end of the 2.15 setup header; its jump points here */
#define PAYLOAD_LEN 0x1000u

struct bz_params {
	uint8_t setup_sects;
	uint16_t version;
	uint16_t xloadflags;
	uint8_t loadflags;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t initrd_addr_max;
	uint32_t syssize;
	size_t payload_len;
};

static struct bz_params good_bz(void)
{
	return (struct bz_params){
	    .setup_sects = 4,
	    .version = 0x020f,
	    .xloadflags = XLF_KERNEL_64,
	    .loadflags = LOADED_HIGH,
	    .pref_address = 0x400000,
	    .init_size = 0x100000,
	    .initrd_addr_max = 0x7fffffff,
	    .syssize = PAYLOAD_LEN / 16,
	    .payload_len = PAYLOAD_LEN,
	};
}

static size_t setup_bytes(uint8_t setup_sects)
{
	return ((size_t)(setup_sects ? setup_sects : 4) + 1) * 512;
}

/* Setup sectors (boot sector, setup header) then the protected-mode payload. */
static uint8_t *make_bzimage(const struct bz_params *p, size_t *len)
{
	size_t setup = setup_bytes(p->setup_sects);
	struct setup_header hdr = {0};
	uint8_t *buf;

	*len = setup + p->payload_len;
	buf = calloc(1, *len);
	ck_assert_ptr_nonnull(buf);
	for (size_t i = setup; i < *len; i++)
		buf[i] = file_byte(i - setup);

	hdr.setup_sects = p->setup_sects;
	hdr.syssize = p->syssize;
	hdr.boot_flag = 0xaa55;
	hdr.jump = (uint16_t)(0xeb | (HDR_END - 0x202) << 8);
	hdr.header = 0x53726448; /* "HdrS" */
	hdr.version = p->version;
	hdr.loadflags = p->loadflags;
	hdr.code32_start = 0x100000;
	hdr.initrd_addr_max = p->initrd_addr_max;
	hdr.kernel_alignment = 0x200000;
	hdr.relocatable_kernel = 1;
	hdr.xloadflags = p->xloadflags;
	hdr.cmdline_size = 2047;
	hdr.pref_address = p->pref_address;
	hdr.init_size = p->init_size;
	memcpy(buf + 0x1f1, &hdr, sizeof(hdr));
	return buf;
}

static int load_bz(const struct bz_params *p, struct x86_kernel *k)
{
	size_t len;
	uint8_t *buf = make_bzimage(p, &len);
	int ret = load_exact(buf, len, k);

	free(buf);
	return ret;
}

START_TEST(test_bz_layout_of_built_image)
{
	/* The builder itself: the offsets the boot protocol fixes. */
	struct bz_params p = good_bz();
	size_t len;
	uint8_t *buf = make_bzimage(&p, &len);

	ck_assert_uint_eq(sizeof(struct setup_header), HDR_END - 0x1f1);
	ck_assert_uint_eq(buf[0x1fe], 0x55);
	ck_assert_uint_eq(buf[0x1ff], 0xaa);
	ck_assert_uint_eq(buf[0x200], 0xeb);
	ck_assert_mem_eq(buf + 0x202, "HdrS", 4);
	ck_assert_uint_eq(buf[0x206] | buf[0x207] << 8, 0x020f);
	ck_assert_uint_eq(buf[0x1f1], 4);
	free(buf);
}
END_TEST

START_TEST(test_bz_loads_at_pref_address)
{
	struct bz_params p = good_bz();
	struct x86_kernel k;

	ck_assert_int_eq(load_bz(&p, &k), 0);
	ck_assert(k.is_bzimage);
	ck_assert_uint_eq(k.load_addr, 0x400000);
	ck_assert_uint_eq(k.entry, 0x400000 + 0x200);
	ck_assert_uint_eq(k.end, 0x400000 + 0x100000); /* init_size, not the file size */
	ck_assert_uint_eq(k.initrd_addr_max, 0x7fffffff);
	ck_assert_uint_eq(k.hdr_len, sizeof(struct setup_header));
	ck_assert_uint_eq(k.hdr.version, 0x020f);
	ck_assert_uint_eq(k.hdr.pref_address, 0x400000);
	for (uint64_t i = 0; i < PAYLOAD_LEN; i++)
		ck_assert_uint_eq(ram[0x400000 + i], file_byte(i));
	ck_assert_uint_eq(ram[0x400000 - 1], RAM_FILL);
	ck_assert_uint_eq(ram[0x400000 + PAYLOAD_LEN], RAM_FILL);
}
END_TEST

START_TEST(test_bz_setup_sects)
{
	/* 0 means 4 (old images); the payload starts after setup_sects + 1 sectors. */
	static const uint8_t sects[] = {0, 1, 4, 17, 63};

	for (unsigned int i = 0; i < sizeof(sects) / sizeof(sects[0]); i++) {
		struct bz_params p = good_bz();
		struct x86_kernel k;

		p.setup_sects = sects[i];
		memset(ram + 0x400000, RAM_FILL, PAYLOAD_LEN);
		ck_assert_msg(load_bz(&p, &k) == 0, "setup_sects %u: %s", sects[i], err);
		ck_assert_uint_eq(k.hdr.setup_sects, sects[i]);
		ck_assert_uint_eq(ram[0x400000], file_byte(0));
		ck_assert_uint_eq(ram[0x400000 + PAYLOAD_LEN - 1], file_byte(PAYLOAD_LEN - 1));
	}
}
END_TEST

START_TEST(test_bz_low_pref_address_goes_to_1mib)
{
	struct bz_params p = good_bz();
	struct x86_kernel k;

	p.pref_address = 0;
	ck_assert_int_eq(load_bz(&p, &k), 0);
	ck_assert_uint_eq(k.load_addr, ARCH_HIGH_MEMORY_START);
	ck_assert_uint_eq(k.entry, ARCH_HIGH_MEMORY_START + 0x200);
	p.pref_address = 0x7000; /* over boot_params: must not be honoured */
	ck_assert_int_eq(load_bz(&p, &k), 0);
	ck_assert_uint_eq(k.load_addr, ARCH_HIGH_MEMORY_START);
	ck_assert_uint_eq(ram[0x7000], RAM_FILL);
}
END_TEST

START_TEST(test_bz_initrd_addr_max)
{
	struct bz_params p = good_bz();
	struct x86_kernel k;

	p.initrd_addr_max = 0;
	ck_assert_int_eq(load_bz(&p, &k), 0);
	ck_assert_uint_eq(k.initrd_addr_max, DEFAULT_INITRD_MAX);
	p.initrd_addr_max = 0x0fffffff;
	p.xloadflags |= XLF_CAN_BE_LOADED_ABOVE_4G;
	ck_assert_int_eq(load_bz(&p, &k), 0);
	ck_assert_uint_eq(k.initrd_addr_max, UINT64_MAX);
}
END_TEST

START_TEST(test_bz_small_init_size_uses_file_size)
{
	struct bz_params p = good_bz();
	struct x86_kernel k;

	p.init_size = 0x10;
	ck_assert_int_eq(load_bz(&p, &k), 0);
	ck_assert_uint_eq(k.end, 0x400000 + PAYLOAD_LEN);
}
END_TEST

START_TEST(test_bz_too_old_protocol)
{
	static const uint16_t old[] = {0x0000, 0x0200, 0x0206, 0x020a, 0x020b};
	struct bz_params p = good_bz();
	struct x86_kernel k;

	for (unsigned int i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
		p.version = old[i];
		assert_rejected(load_bz(&p, &k), "too old");
	}
	p.version = 0x020c;
	ck_assert_int_eq(load_bz(&p, &k), 0);
}
END_TEST

START_TEST(test_bz_no_64bit_entry)
{
	struct bz_params p = good_bz();
	struct x86_kernel k;

	p.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G | XLF_EFI_HANDOVER_32;
	assert_rejected(load_bz(&p, &k), "64-bit");
	ck_assert_uint_eq(ram[0x400000], RAM_FILL);
}
END_TEST

START_TEST(test_bz_not_loaded_high)
{
	struct bz_params p = good_bz();
	struct x86_kernel k;

	p.loadflags = CAN_USE_HEAP;
	assert_rejected(load_bz(&p, &k), NULL);
	ck_assert_uint_eq(ram[0x400000], RAM_FILL);
}
END_TEST

START_TEST(test_bz_every_truncation_rejected)
{
	/* syssize covers the whole payload, so any shorter file is missing kernel bytes. */
	struct bz_params p = good_bz();
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = make_bzimage(&p, &len);

	for (size_t n = 0; n < len; n++)
		ck_assert_msg(load_exact(buf, n, &k) == -1 && err[0], "length %zu accepted", n);
	assert_rejected(load_exact(buf, 0x300, &k), "truncated");
	ck_assert_int_eq(load_exact(buf, len, &k), 0);
	free(buf);
}
END_TEST

START_TEST(test_bz_setup_larger_than_file)
{
	struct bz_params p = good_bz();
	struct x86_kernel k;
	size_t len;
	uint8_t *buf;

	/* The header claims 200 setup sectors; the file has 4 plus a small payload. */
	buf = make_bzimage(&p, &len);
	buf[0x1f1] = 200;
	assert_rejected(load_exact(buf, len, &k), "setup");
	/* Setup exactly fills the file: no kernel at all. */
	buf[0x1f1] = (uint8_t)(len / 512 - 1);
	ck_assert_uint_eq(setup_bytes(buf[0x1f1]), len);
	assert_rejected(load_exact(buf, len, &k), "setup");
	free(buf);
}
END_TEST

START_TEST(test_bz_syssize_larger_than_payload)
{
	struct bz_params p = good_bz();
	struct x86_kernel k;

	p.syssize = PAYLOAD_LEN / 16 + 1;
	assert_rejected(load_bz(&p, &k), "truncated");
	p.syssize = UINT32_MAX;
	assert_rejected(load_bz(&p, &k), "truncated");
	/* syssize 0 (unknown) trusts the file length. */
	p.syssize = 0;
	ck_assert_int_eq(load_bz(&p, &k), 0);
}
END_TEST

START_TEST(test_bz_does_not_fit_in_ram)
{
	struct bz_params p = good_bz();
	struct x86_kernel k;

	p.init_size = RAM_SIZE; /* from pref_address 4 MiB */
	assert_rejected(load_bz(&p, &k), "more than the guest RAM");
	p.init_size = UINT32_MAX;
	assert_rejected(load_bz(&p, &k), "more than the guest RAM");
	p = good_bz();
	p.pref_address = RAM_SIZE - 0x1000;
	assert_rejected(load_bz(&p, &k), "more than the guest RAM");
	p.pref_address = ARCH_MMIO_HOLE_START;
	assert_rejected(load_bz(&p, &k), "more than the guest RAM");
	p.pref_address = UINT64_MAX - 0x1000; /* would wrap */
	assert_rejected(load_bz(&p, &k), "more than the guest RAM");
	ck_assert_uint_eq(ram[ARCH_HIGH_MEMORY_START], RAM_FILL);
	/* Exactly up to the end of RAM is fine. */
	p = good_bz();
	p.init_size = RAM_SIZE - 0x400000;
	ck_assert_int_eq(load_bz(&p, &k), 0);
	ck_assert_uint_eq(k.end, RAM_SIZE);
}
END_TEST

START_TEST(test_bz_header_length_from_jump)
{
	struct bz_params p = good_bz();
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = make_bzimage(&p, &len);

	/* A header that claims to be longer than this loader knows is clipped. */
	buf[0x201] = 0xff;
	ck_assert_int_eq(load_exact(buf, len, &k), 0);
	ck_assert_uint_eq(k.hdr_len, sizeof(struct setup_header));
	/* A short (old) header: only its own bytes are passed on. */
	buf[0x201] = 0x230 - 0x202;
	ck_assert_int_eq(load_exact(buf, len, &k), 0);
	ck_assert_uint_eq(k.hdr_len, 0x230 - 0x1f1);
	free(buf);
}
END_TEST

/* ---- garbage ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	/* xorshift64: deterministic, so a failure reproduces. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Whatever the image, the loader refuses with a message or loads it sanely. */
static void assert_sane_outcome(const uint8_t *image, size_t len, const char *what,
				unsigned int iter)
{
	struct x86_kernel k;
	int ret = load_exact(image, len, &k);

	if (ret != 0) {
		ck_assert_msg(ret == -1 && err[0] != '\0', "%s #%u: ret %d, err \"%s\"", what, iter,
			      ret, err);
		return;
	}
	ck_assert_msg(k.load_addr >= ARCH_HIGH_MEMORY_START && k.load_addr < k.end &&
			  k.end <= RAM_SIZE,
		      "%s #%u: accepted kernel at 0x%llx-0x%llx", what, iter,
		      (unsigned long long)k.load_addr, (unsigned long long)k.end);
	ck_assert_uint_le(k.hdr_len, sizeof(k.hdr));
}

START_TEST(test_empty_input)
{
	struct x86_kernel k;
	uint8_t byte = 0x7f;

	assert_rejected(load_exact(NULL, 0, &k), NULL);
	err[0] = '\0';
	assert_rejected(
	    x86_load_kernel(&gm, &(struct guest_file){&byte, 0, -1}, &k, err, sizeof(err)), NULL);
	err[0] = '\0';
	assert_rejected(
	    x86_load_kernel(&gm, &(struct guest_file){&byte, 1, -1}, &k, err, sizeof(err)), NULL);
	/* Just the magic of either format. */
	assert_rejected(load_exact((const uint8_t *)ELFMAG, SELFMAG, &k), NULL);
}
END_TEST

START_TEST(test_random_garbage)
{
	for (unsigned int iter = 0; iter < 3000; iter++) {
		size_t len = rng() % 0x1400;
		uint8_t *buf = malloc(len ? len : 1);
		unsigned int flavour = iter % 3;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rng();
		/* Give two thirds of them a magic, to get past the first check. */
		if (flavour == 1 && len >= SELFMAG)
			memcpy(buf, ELFMAG, SELFMAG);
		if (flavour == 2 && len >= 0x206) {
			buf[0x1fe] = 0x55;
			buf[0x1ff] = 0xaa;
			memcpy(buf + 0x202, "HdrS", 4);
		}
		assert_sane_outcome(buf, len, "garbage", iter);
		free(buf);
	}
}
END_TEST

static void flip_loop(const uint8_t *image, size_t len, size_t hot_len, const char *what)
{
	uint8_t *buf = malloc(len);

	for (unsigned int iter = 0; iter < 3000; iter++) {
		unsigned int flips = 1 + rng() % 4;

		memcpy(buf, image, len);
		/* Mostly in the headers, where a flip changes the loader's decisions. */
		for (unsigned int f = 0; f < flips; f++) {
			size_t at = (rng() % 4) ? rng() % hot_len : rng() % len;

			buf[at] ^= (uint8_t)(1u << (rng() % 8));
		}
		assert_sane_outcome(buf, len, what, iter);
	}
	free(buf);
}

START_TEST(test_bit_flipped_elf)
{
	size_t len;
	uint8_t *buf = good_elf(&len);

	flip_loop(buf, len, sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr), "flipped ELF");
	free(buf);
}
END_TEST

START_TEST(test_bit_flipped_bzimage)
{
	struct bz_params p = good_bz();
	size_t len;
	uint8_t *buf = make_bzimage(&p, &len);

	flip_loop(buf, len, HDR_END, "flipped bzImage");
	free(buf);
}
END_TEST

START_TEST(test_short_error_buffer)
{
	struct x86_kernel k;
	char small[8];

	memset(small, 'x', sizeof(small));
	ck_assert_int_eq(x86_load_kernel(&gm,
					 &(struct guest_file){(const uint8_t *)"garbage!", 8, -1},
					 &k, small, sizeof(small)),
			 -1);
	ck_assert_uint_eq(small[sizeof(small) - 1], '\0');
}
END_TEST

/* ---- initrd ---- */

static struct x86_kernel kernel_ending_at(uint64_t end)
{
	return (struct x86_kernel){
	    .entry = 0x100000,
	    .load_addr = 0x100000,
	    .end = end,
	    .initrd_addr_max = DEFAULT_INITRD_MAX,
	};
}

static uint8_t *make_initrd(size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 13 + 5);
	return buf;
}

static int load_initrd(const struct x86_kernel *k, size_t len, uint64_t *addr)
{
	uint8_t *initrd = make_initrd(len);
	int ret;

	err[0] = '\0';
	*addr = 0xdead;
	ret =
	    x86_load_initrd(&gm, k, &(struct guest_file){initrd, len, -1}, addr, err, sizeof(err));
	if (ret == 0)
		ck_assert_msg(memcmp(ram + *addr, initrd, len) == 0, "initrd not copied");
	free(initrd);
	return ret;
}

START_TEST(test_initrd_at_top_of_ram)
{
	struct x86_kernel k = kernel_ending_at(0x200000);
	uint64_t addr;

	ck_assert_int_eq(load_initrd(&k, 0x12345, &addr), 0);
	ck_assert_uint_eq(addr, (RAM_SIZE - 0x12345) & ~0xfffULL);
	ck_assert_uint_eq(addr % 4096, 0);
	ck_assert_uint_le(addr + 0x12345, RAM_SIZE);
	ck_assert_uint_eq(ram[addr - 1], RAM_FILL);

	/* A whole number of pages ends exactly at the top. */
	ck_assert_int_eq(load_initrd(&k, 0x3000, &addr), 0);
	ck_assert_uint_eq(addr, RAM_SIZE - 0x3000);
}
END_TEST

START_TEST(test_initrd_below_initrd_addr_max)
{
	struct x86_kernel k = kernel_ending_at(0x200000);
	uint64_t addr;

	k.initrd_addr_max = 8 * MIB - 1; /* last byte it may occupy */
	ck_assert_int_eq(load_initrd(&k, 0x1800, &addr), 0);
	ck_assert_uint_eq(addr, 8 * MIB - 0x2000);
	ck_assert_uint_le(addr + 0x1800, 8 * MIB);
	ck_assert_uint_eq(ram[8 * MIB], RAM_FILL);
	/* Its last byte may be initrd_addr_max itself. */
	ck_assert_int_eq(load_initrd(&k, 0x1000, &addr), 0);
	ck_assert_uint_eq(addr, 8 * MIB - 0x1000);

	k.initrd_addr_max = 8 * MIB - 0x800; /* not page-aligned */
	ck_assert_int_eq(load_initrd(&k, 0x1000, &addr), 0);
	ck_assert_uint_eq(addr % 4096, 0);
	ck_assert_uint_le(addr + 0x1000 - 1, k.initrd_addr_max);

	/* "Anywhere" still means the RAM below the hole where the kernel lives. */
	k.initrd_addr_max = UINT64_MAX;
	ck_assert_int_eq(load_initrd(&k, 0x1000, &addr), 0);
	ck_assert_uint_eq(addr, RAM_SIZE - 0x1000);
}
END_TEST

START_TEST(test_initrd_stays_in_low_ram)
{
	static uint8_t high[8192];
	struct x86_kernel k = kernel_ending_at(0x200000);
	uint64_t addr;

	ck_assert_int_eq(guest_mem_add_region(&gm, 4 * GIB, sizeof(high), high), 0);
	k.initrd_addr_max = UINT64_MAX;
	ck_assert_int_eq(load_initrd(&k, 0x1000, &addr), 0);
	ck_assert_uint_eq(addr, RAM_SIZE - 0x1000);
}
END_TEST

START_TEST(test_initrd_above_kernel)
{
	struct x86_kernel k = kernel_ending_at(0x200000);
	uint64_t addr;
	size_t room = RAM_SIZE - 0x200000;

	/* Fills all of RAM above the kernel. */
	ck_assert_int_eq(load_initrd(&k, room, &addr), 0);
	ck_assert_uint_eq(addr, 0x200000);
	/* One byte more would overlap the kernel (after page alignment). */
	assert_rejected(load_initrd(&k, room + 1, &addr), "does not fit");
	ck_assert_uint_eq(addr, 0xdead);
	k.end = 0x200001;
	assert_rejected(load_initrd(&k, room, &addr), "does not fit");
	/* The kernel reaching past initrd_addr_max leaves no room at all. */
	k = kernel_ending_at(10 * MIB);
	k.initrd_addr_max = 8 * MIB - 1;
	assert_rejected(load_initrd(&k, 0x1000, &addr), NULL);
}
END_TEST

START_TEST(test_initrd_too_large)
{
	struct x86_kernel k = kernel_ending_at(0x200000);
	uint64_t addr;

	assert_rejected(load_initrd(&k, RAM_SIZE + 1, &addr), "larger than");
	k.initrd_addr_max = 4 * MIB - 1;
	assert_rejected(load_initrd(&k, 4 * MIB + 4096, &addr), "larger than");
	ck_assert_uint_eq(addr, 0xdead);
}
END_TEST

START_TEST(test_initrd_empty)
{
	struct x86_kernel k = kernel_ending_at(0x200000);
	uint64_t addr;

	assert_rejected(load_initrd(&k, 0, &addr), "empty");
	ck_assert_uint_eq(addr, 0xdead);
}
END_TEST

START_TEST(test_initrd_no_low_ram)
{
	static uint8_t high[8192];
	struct guest_mem only_high = {0};
	struct x86_kernel k = kernel_ending_at(0x200000);
	uint8_t initrd[16] = {0};
	uint64_t addr = 0xdead;

	ck_assert_int_eq(guest_mem_add_region(&only_high, 4 * GIB, sizeof(high), high), 0);
	err[0] = '\0';
	assert_rejected(x86_load_initrd(&only_high, &k,
					&(struct guest_file){initrd, sizeof(initrd), -1}, &addr,
					err, sizeof(err)),
			NULL);
	ck_assert_uint_eq(addr, 0xdead);
}
END_TEST

/* ---- boot_params ---- */

static struct boot_params *new_boot_params(void)
{
	struct boot_params *bp = malloc(sizeof(*bp));

	ck_assert_ptr_nonnull(bp);
	memset(bp, 0xa5, sizeof(*bp)); /* must be zeroed by the builder */
	return bp;
}

START_TEST(test_boot_params_layout)
{
	/* The offsets the test guests and the Linux boot protocol rely on. */
	ck_assert_uint_eq(sizeof(struct boot_params), 4096);
	ck_assert_uint_eq(offsetof(struct boot_params, hdr), 0x1f1);
	ck_assert_uint_eq(offsetof(struct boot_params, hdr.cmd_line_ptr), 0x228);
	ck_assert_uint_eq(offsetof(struct boot_params, e820_entries), 0x1e8);
	ck_assert_uint_eq(offsetof(struct boot_params, e820_table), 0x2d0);
	ck_assert_uint_eq(sizeof(struct boot_e820_entry), 20);
}
END_TEST

START_TEST(test_boot_params_elf)
{
	struct boot_params *bp = new_boot_params();
	const uint8_t *raw = (const uint8_t *)bp;
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = good_elf(&len);
	uint32_t u32;

	ck_assert_int_eq(load_exact(buf, len, &k), 0);
	x86_build_boot_params(bp, &k, &gm, ARCH_CMDLINE_ADDR, 100, 0xfed000, 0x12345);

	memcpy(&u32, raw + 0x228, 4);
	ck_assert_uint_eq(u32, ARCH_CMDLINE_ADDR);
	ck_assert_uint_eq(bp->ext_cmd_line_ptr, 0);
	ck_assert_uint_eq(bp->hdr.cmdline_size, 100);
	ck_assert_uint_eq(bp->hdr.ramdisk_image, 0xfed000);
	ck_assert_uint_eq(bp->hdr.ramdisk_size, 0x12345);
	ck_assert_uint_eq(bp->ext_ramdisk_image, 0);
	ck_assert_uint_eq(bp->ext_ramdisk_size, 0);
	ck_assert_uint_eq(bp->hdr.type_of_loader, 0xff);
	ck_assert_uint_eq(bp->hdr.loadflags & (LOADED_HIGH | CAN_USE_HEAP),
			  LOADED_HIGH | CAN_USE_HEAP);
	/* An ELF has no header of its own: the loader supplies a valid one. */
	ck_assert_uint_eq(bp->hdr.boot_flag, 0xaa55);
	ck_assert_mem_eq(raw + 0x202, "HdrS", 4);
	ck_assert_uint_ge(bp->hdr.version, 0x020c);

	/* e820 for 16 MiB: low RAM, the EBDA/BIOS area reserved, RAM above 1 MiB. */
	ck_assert_uint_eq(raw[0x1e8], 3);
	ck_assert_uint_eq(bp->e820_table[0].addr, 0);
	ck_assert_uint_eq(bp->e820_table[0].size, ARCH_EBDA_START);
	ck_assert_uint_eq(bp->e820_table[0].type, E820_TYPE_RAM);
	ck_assert_uint_eq(bp->e820_table[1].type, E820_TYPE_RESERVED);
	ck_assert_uint_eq(bp->e820_table[2].addr, ARCH_HIGH_MEMORY_START);
	ck_assert_uint_eq(bp->e820_table[2].size, RAM_SIZE - ARCH_HIGH_MEMORY_START);
	/* Zeroed: the unused entries and fields the builder does not set. */
	ck_assert_uint_eq(bp->e820_table[3].size, 0);
	ck_assert_uint_eq(bp->e820_table[127].type, 0);
	ck_assert_uint_eq(bp->screen_info.orig_video_isVGA, 0);
	ck_assert_uint_eq(bp->hdr.setup_data, 0);
	ck_assert_uint_eq(bp->acpi_rsdp_addr, 0);
	free(bp);
	free(buf);
}
END_TEST

START_TEST(test_boot_params_bzimage_header_copied)
{
	struct boot_params *bp = new_boot_params();
	struct bz_params p = good_bz();
	struct x86_kernel k;

	p.setup_sects = 0;
	ck_assert_int_eq(load_bz(&p, &k), 0);
	x86_build_boot_params(bp, &k, &gm, ARCH_CMDLINE_ADDR, 10, 0, 0);

	ck_assert_uint_eq(bp->hdr.setup_sects, 0);
	ck_assert_uint_eq(bp->hdr.syssize, PAYLOAD_LEN / 16);
	ck_assert_uint_eq(bp->hdr.boot_flag, 0xaa55);
	ck_assert_uint_eq(bp->hdr.header, 0x53726448);
	ck_assert_uint_eq(bp->hdr.version, 0x020f);
	ck_assert_uint_eq(bp->hdr.xloadflags, XLF_KERNEL_64);
	ck_assert_uint_eq(bp->hdr.pref_address, 0x400000);
	ck_assert_uint_eq(bp->hdr.init_size, 0x100000);
	ck_assert_uint_eq(bp->hdr.initrd_addr_max, 0x7fffffff);
	ck_assert_uint_eq(bp->hdr.kernel_alignment, 0x200000);
	ck_assert_uint_eq(bp->hdr.code32_start, 0x100000);
	/* The loader's own fields override the image's. */
	ck_assert_uint_eq(bp->hdr.type_of_loader, 0xff);
	ck_assert_uint_eq(bp->hdr.loadflags & (LOADED_HIGH | CAN_USE_HEAP),
			  LOADED_HIGH | CAN_USE_HEAP);
	ck_assert_uint_eq(bp->hdr.cmd_line_ptr, ARCH_CMDLINE_ADDR);
	ck_assert_uint_eq(bp->hdr.ramdisk_image, 0);
	ck_assert_uint_eq(bp->hdr.ramdisk_size, 0);
	ck_assert_uint_eq(bp->e820_entries, 3);
	free(bp);
}
END_TEST

START_TEST(test_boot_params_short_header_not_overread)
{
	/* Only hdr_len bytes of the image header reach boot_params. */
	struct boot_params *bp = new_boot_params();
	struct x86_kernel k = {0};

	k.is_bzimage = true;
	memset(&k.hdr, 0x5a, sizeof(k.hdr));
	k.hdr_len = offsetof(struct setup_header, jump);
	x86_build_boot_params(bp, &k, &gm, ARCH_CMDLINE_ADDR, 0, 0, 0);
	ck_assert_uint_eq(bp->hdr.boot_flag, 0x5a5a);
	ck_assert_uint_eq(bp->hdr.header, 0);
	ck_assert_uint_eq(bp->hdr.pref_address, 0);
	free(bp);
}
END_TEST

START_TEST(test_boot_params_64bit_addresses)
{
	struct boot_params *bp = new_boot_params();
	struct x86_kernel k = kernel_ending_at(0x200000);

	x86_build_boot_params(bp, &k, &gm, 0x100020000ULL, 5, 0x200001000ULL, 0x100000010ULL);
	ck_assert_uint_eq(bp->hdr.cmd_line_ptr, 0x20000);
	ck_assert_uint_eq(bp->ext_cmd_line_ptr, 1);
	ck_assert_uint_eq(bp->hdr.ramdisk_image, 0x1000);
	ck_assert_uint_eq(bp->ext_ramdisk_image, 2);
	ck_assert_uint_eq(bp->hdr.ramdisk_size, 0x10);
	ck_assert_uint_eq(bp->ext_ramdisk_size, 1);
	free(bp);
}
END_TEST

START_TEST(test_boot_params_with_loaded_initrd)
{
	struct boot_params *bp = new_boot_params();
	struct x86_kernel k;
	size_t len;
	uint8_t *buf = good_elf(&len);
	uint64_t addr;

	ck_assert_int_eq(load_exact(buf, len, &k), 0);
	ck_assert_int_eq(load_initrd(&k, 5000, &addr), 0);
	ck_assert_uint_ge(addr, k.end);
	x86_build_boot_params(bp, &k, &gm, ARCH_CMDLINE_ADDR, 0, addr, 5000);
	ck_assert_uint_eq(bp->hdr.ramdisk_image, addr);
	ck_assert_uint_eq(bp->hdr.ramdisk_size, 5000);
	free(bp);
	free(buf);
}
END_TEST

/* ---- e820 ---- */

static uint8_t fake_host; /* e820 only looks at the region list, never at RAM */

static struct guest_mem fake_mem(uint64_t low_size)
{
	struct guest_mem m = {0};

	ck_assert_int_eq(guest_mem_add_region(&m, 0, low_size, &fake_host), 0);
	return m;
}

static void assert_entry(const struct boot_e820_entry *e, uint64_t addr, uint64_t size,
			 uint32_t type)
{
	ck_assert_uint_eq(e->addr, addr);
	ck_assert_uint_eq(e->size, size);
	ck_assert_uint_eq(e->type, type);
}

START_TEST(test_e820_small_ram)
{
	struct boot_e820_entry t[8];
	struct guest_mem m;

	m = fake_mem(512 * KIB);
	ck_assert_uint_eq(x86_build_e820(&m, t, 8), 1);
	assert_entry(&t[0], 0, 512 * KIB, E820_TYPE_RAM);

	m = fake_mem(ARCH_EBDA_START);
	ck_assert_uint_eq(x86_build_e820(&m, t, 8), 1);
	assert_entry(&t[0], 0, ARCH_EBDA_START, E820_TYPE_RAM);

	/* 640 KiB: RAM stops at the EBDA. */
	m = fake_mem(640 * KIB);
	ck_assert_uint_eq(x86_build_e820(&m, t, 8), 1);
	assert_entry(&t[0], 0, ARCH_EBDA_START, E820_TYPE_RAM);

	m = fake_mem(ARCH_HIGH_MEMORY_START);
	ck_assert_uint_eq(x86_build_e820(&m, t, 8), 1);
	assert_entry(&t[0], 0, ARCH_EBDA_START, E820_TYPE_RAM);

	m = fake_mem(ARCH_HIGH_MEMORY_START + 4096);
	ck_assert_uint_eq(x86_build_e820(&m, t, 8), 3);
	assert_entry(&t[2], ARCH_HIGH_MEMORY_START, 4096, E820_TYPE_RAM);
}
END_TEST

START_TEST(test_e820_256mib)
{
	struct boot_e820_entry t[8];
	struct guest_mem m = fake_mem(256 * MIB);

	ck_assert_uint_eq(x86_build_e820(&m, t, 8), 3);
	assert_entry(&t[0], 0, ARCH_EBDA_START, E820_TYPE_RAM);
	/* The MP table lives in the reserved EBDA range. */
	assert_entry(&t[1], ARCH_EBDA_START, ARCH_HIGH_MEMORY_START - ARCH_EBDA_START,
		     E820_TYPE_RESERVED);
	ck_assert_uint_le(t[1].addr, ARCH_MPTABLE_ADDR);
	assert_entry(&t[2], ARCH_HIGH_MEMORY_START, 256 * MIB - ARCH_HIGH_MEMORY_START,
		     E820_TYPE_RAM);
}
END_TEST

START_TEST(test_e820_ram_above_4gib)
{
	struct boot_e820_entry t[8];
	struct guest_mem m = fake_mem(ARCH_MMIO_HOLE_START);

	ck_assert_int_eq(guest_mem_add_region(&m, 4 * GIB, 2 * GIB, &fake_host), 0);
	ck_assert_uint_eq(x86_build_e820(&m, t, 8), 4);
	assert_entry(&t[2], ARCH_HIGH_MEMORY_START, ARCH_MMIO_HOLE_START - ARCH_HIGH_MEMORY_START,
		     E820_TYPE_RAM);
	assert_entry(&t[3], 4 * GIB, 2 * GIB, E820_TYPE_RAM);
	/* Nothing describes the MMIO hole as RAM. */
	for (unsigned int i = 0; i < 4; i++)
		ck_assert(t[i].addr + t[i].size <= ARCH_MMIO_HOLE_START || t[i].addr >= 4 * GIB);
}
END_TEST

START_TEST(test_e820_real_allocation_above_4gib)
{
	/* guest_mem_alloc's own split (MAP_NORESERVE: the 4 GiB is never touched). */
	struct boot_e820_entry t[8];
	struct guest_mem m;

	if (guest_mem_alloc(&m, 4 * GIB, ARCH_MMIO_HOLE_START, GUEST_MEM_ANON, false) != 0)
		return; /* no address space for it here; the fake test above covers the map */
	ck_assert_uint_eq(x86_build_e820(&m, t, 8), 4);
	assert_entry(&t[3], 4 * GIB, 4 * GIB - ARCH_MMIO_HOLE_START, E820_TYPE_RAM);
	guest_mem_free(&m);
}
END_TEST

START_TEST(test_e820_max_entries)
{
	struct boot_e820_entry t[8];
	struct guest_mem m = fake_mem(ARCH_MMIO_HOLE_START);

	ck_assert_int_eq(guest_mem_add_region(&m, 4 * GIB, GIB, &fake_host), 0);
	ck_assert_int_eq(guest_mem_add_region(&m, 6 * GIB, GIB, &fake_host), 0);
	ck_assert_int_eq(guest_mem_add_region(&m, 8 * GIB, GIB, &fake_host), 0);
	ck_assert_uint_eq(x86_build_e820(&m, t, 8), 6);

	for (unsigned int max = 0; max <= 6; max++) {
		memset(t, 0xee, sizeof(t));
		ck_assert_uint_eq(x86_build_e820(&m, t, max), max);
		for (unsigned int i = max; i < 8; i++)
			ck_assert_msg(t[i].addr == 0xeeeeeeeeeeeeeeeeULL && t[i].type == 0xeeeeeeee,
				      "max %u: entry %u written", max, i);
	}
	ck_assert_uint_eq(x86_build_e820(&m, NULL, 0), 0);
	memset(t, 0, sizeof(t));
	ck_assert_uint_eq(x86_build_e820(&m, t, 4), 4);
	assert_entry(&t[3], 4 * GIB, GIB, E820_TYPE_RAM);
}
END_TEST

START_TEST(test_e820_no_ram)
{
	struct boot_e820_entry t[2];
	struct guest_mem m = {0};

	ck_assert_uint_eq(x86_build_e820(&m, t, 2), 0);
}
END_TEST

Suite *x86_boot_suite(void)
{
	Suite *s = suite_create("x86_boot");
	TCase *garbage;

	unit_tcase(s, "elf", x86_boot_setup, x86_boot_teardown,
		   UNIT_TESTS(test_elf_loads_segments_and_zeroes_bss,
			      test_elf_segment_order_and_empty_segments,
			      test_elf_entry_outside_segments, test_elf_truncated_header,
			      test_elf_truncated_program_headers,
			      test_elf_every_truncation_rejected, test_elf_segment_past_end_of_file,
			      test_elf_filesz_exceeds_memsz, test_elf_segment_below_1mib,
			      test_elf_segment_beyond_ram, test_elf_wrong_class_data_machine_type,
			      test_elf_a_real_32bit_header, test_elf_no_loadable_segment));
	unit_tcase(s, "bzimage", x86_boot_setup, x86_boot_teardown,
		   UNIT_TESTS(test_bz_layout_of_built_image, test_bz_loads_at_pref_address,
			      test_bz_setup_sects, test_bz_low_pref_address_goes_to_1mib,
			      test_bz_initrd_addr_max, test_bz_small_init_size_uses_file_size,
			      test_bz_too_old_protocol, test_bz_no_64bit_entry,
			      test_bz_not_loaded_high, test_bz_every_truncation_rejected,
			      test_bz_setup_larger_than_file, test_bz_syssize_larger_than_payload,
			      test_bz_does_not_fit_in_ram, test_bz_header_length_from_jump));
	garbage = unit_tcase(s, "garbage", x86_boot_setup, x86_boot_teardown,
			     UNIT_TESTS(test_empty_input, test_random_garbage, test_bit_flipped_elf,
					test_bit_flipped_bzimage, test_short_error_buffer));
	tcase_set_timeout(garbage, 60); /* thousands of loads, slower under ASan */
	unit_tcase(s, "initrd", x86_boot_setup, x86_boot_teardown,
		   UNIT_TESTS(test_initrd_at_top_of_ram, test_initrd_below_initrd_addr_max,
			      test_initrd_stays_in_low_ram, test_initrd_above_kernel,
			      test_initrd_too_large, test_initrd_empty, test_initrd_no_low_ram));
	unit_tcase(s, "boot_params", x86_boot_setup, x86_boot_teardown,
		   UNIT_TESTS(test_boot_params_layout, test_boot_params_elf,
			      test_boot_params_bzimage_header_copied,
			      test_boot_params_short_header_not_overread,
			      test_boot_params_64bit_addresses,
			      test_boot_params_with_loaded_initrd));
	unit_tcase(s, "e820", NULL, NULL,
		   UNIT_TESTS(test_e820_small_ram, test_e820_256mib, test_e820_ram_above_4gib,
			      test_e820_real_allocation_above_4gib, test_e820_max_entries,
			      test_e820_no_ram));
	return s;
}
