/* Loading ELF vmlinux and bzImage kernels; boot_params. See boot.h. */
#include "boot.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "layout.h"

#define SETUP_HEADER_OFFSET	0x1f1
#define BZIMAGE_MIN_VERSION	0x020c /* xloadflags, and so the 64-bit entry */
#define DEFAULT_INITRD_ADDR_MAX 0x37ffffffULL
#define PAGE_SIZE		4096ULL

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Highest address of the RAM region starting at 0 (where boot structures live). */
static uint64_t low_ram_end(const struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++)
		if (gm->regions[i].gpa == 0)
			return gm->regions[i].size;
	return 0;
}

static int load_elf(struct guest_mem *gm, const struct guest_file *f, struct x86_kernel *k,
		    char *err, size_t errlen)
{
	const uint8_t *buf = f->data;
	size_t len = f->len;
	Elf64_Ehdr eh;
	bool entry_loaded = false;
	unsigned int loads = 0;
	int ret;

	if (len < sizeof(eh))
		return fail(err, errlen, "ELF file truncated (%zu bytes)", len);
	memcpy(&eh, buf, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(err, errlen, "not a 64-bit little-endian ELF file");
	if (eh.e_machine != EM_X86_64)
		return fail(err, errlen, "ELF file is not for x86-64 (e_machine %u)", eh.e_machine);
	if (eh.e_type != ET_EXEC)
		return fail(err, errlen, "ELF file is not an executable (e_type %u)", eh.e_type);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > len ||
	    (len - eh.e_phoff) / sizeof(Elf64_Phdr) < eh.e_phnum)
		return fail(err, errlen, "ELF program headers missing or truncated");

	k->load_addr = UINT64_MAX;
	k->end = 0;
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_offset > len || ph.p_filesz > len - ph.p_offset)
			return fail(err, errlen, "ELF segment %u extends past the end of the file",
				    i);
		if (ph.p_filesz > ph.p_memsz)
			return fail(err, errlen, "ELF segment %u: file size exceeds memory size",
				    i);
		if (ph.p_paddr < ARCH_HIGH_MEMORY_START)
			return fail(
			    err, errlen,
			    "ELF segment %u at 0x%llx is below 1 MiB, where boot data lives", i,
			    (unsigned long long)ph.p_paddr);
		ret = guest_mem_load(gm, ph.p_paddr, f, ph.p_offset, ph.p_filesz, ph.p_memsz);
		if (ret < 0)
			return fail(err, errlen, "ELF segment %u (0x%llx, %llu bytes) %s", i,
				    (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz,
				    ret == -ENOMEM ? "could not be mapped into guest RAM"
						   : "does not fit in guest RAM");
		if (ph.p_paddr < k->load_addr)
			k->load_addr = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > k->end)
			k->end = ph.p_paddr + ph.p_memsz;
		if (eh.e_entry >= ph.p_paddr && eh.e_entry - ph.p_paddr < ph.p_memsz)
			entry_loaded = true;
		loads++;
	}
	if (!loads)
		return fail(err, errlen, "ELF file has no loadable segments");
	if (!entry_loaded)
		return fail(err, errlen,
			    "ELF entry point 0x%llx is not inside a loaded segment "
			    "(a vmlinux must be linked with physical load addresses)",
			    (unsigned long long)eh.e_entry);
	k->is_bzimage = false;
	k->entry = eh.e_entry;
	k->initrd_addr_max = DEFAULT_INITRD_ADDR_MAX;
	return 0;
}

static int load_bzimage(struct guest_mem *gm, const struct guest_file *f, struct x86_kernel *k,
			char *err, size_t errlen)
{
	const uint8_t *buf = f->data;
	size_t len = f->len;
	struct setup_header hdr;
	size_t hdr_len, setup_size, payload_len;
	uint64_t load, need;

	if (len < SETUP_HEADER_OFFSET + sizeof(hdr))
		return fail(err, errlen, "bzImage truncated (%zu bytes)", len);
	memcpy(&hdr, buf + SETUP_HEADER_OFFSET, sizeof(hdr));
	if (hdr.version < BZIMAGE_MIN_VERSION)
		return fail(err, errlen,
			    "bzImage boot protocol %u.%02u is too old: 64-bit boot needs 2.12",
			    hdr.version >> 8, hdr.version & 0xff);
	if (!(hdr.xloadflags & XLF_KERNEL_64))
		return fail(err, errlen,
			    "bzImage has no 64-bit entry point (not an x86-64 kernel?)");
	if (!(hdr.loadflags & LOADED_HIGH))
		return fail(err, errlen, "bzImage is a zImage (not loaded high)");

	/* The header's own length is given by the short jump at its start. */
	if (buf[0x200] != 0xeb)
		return fail(err, errlen, "bzImage setup header does not start with a jump");
	hdr_len = 0x202 + buf[0x201] - SETUP_HEADER_OFFSET;
	if (hdr_len > sizeof(hdr))
		hdr_len = sizeof(hdr);
	setup_size = ((size_t)(hdr.setup_sects ? hdr.setup_sects : 4) + 1) * 512;
	if (setup_size >= len)
		return fail(err, errlen, "bzImage truncated: setup (%zu bytes) fills the file",
			    setup_size);
	payload_len = len - setup_size;
	if (hdr.syssize && (uint64_t)hdr.syssize * 16 > payload_len)
		return fail(err, errlen, "bzImage truncated: kernel is %zu bytes, header says %llu",
			    payload_len, (unsigned long long)hdr.syssize * 16);

	load =
	    hdr.pref_address >= ARCH_HIGH_MEMORY_START ? hdr.pref_address : ARCH_HIGH_MEMORY_START;
	need = hdr.init_size > payload_len ? hdr.init_size : payload_len;
	if (payload_len <= 0x200)
		return fail(err, errlen,
			    "bzImage kernel (%zu bytes) too small for its 64-bit entry",
			    payload_len);
	/* The decompressor's room past the payload is its own to clear. */
	if (!guest_mem_valid(gm, load, need) ||
	    guest_mem_load(gm, load, f, setup_size, payload_len, payload_len) < 0)
		return fail(err, errlen,
			    "bzImage needs %llu MiB at 0x%llx: more than the guest RAM holds",
			    (unsigned long long)(need >> 20), (unsigned long long)load);

	k->is_bzimage = true;
	k->load_addr = load;
	k->end = load + need;
	k->entry = load + 0x200; /* the 64-bit entry, by protocol */
	k->initrd_addr_max = hdr.initrd_addr_max ? hdr.initrd_addr_max : DEFAULT_INITRD_ADDR_MAX;
	if (hdr.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G)
		k->initrd_addr_max = UINT64_MAX;
	k->hdr = hdr;
	k->hdr_len = hdr_len;
	return 0;
}

int x86_load_kernel(struct guest_mem *gm, const struct guest_file *f, struct x86_kernel *k,
		    char *err, size_t errlen)
{
	const uint8_t *buf = f->data;
	size_t len = f->len;

	memset(k, 0, sizeof(*k));
	if (len >= 4 && memcmp(buf, ELFMAG, SELFMAG) == 0)
		return load_elf(gm, f, k, err, errlen);
	if (len >= 0x206 && buf[0x1fe] == 0x55 && buf[0x1ff] == 0xaa &&
	    memcmp(buf + 0x202, "HdrS", 4) == 0)
		return load_bzimage(gm, f, k, err, errlen);
	return fail(err, errlen, "neither an ELF vmlinux nor a bzImage");
}

int x86_load_initrd(struct guest_mem *gm, const struct x86_kernel *k, const struct guest_file *f,
		    uint64_t *addr, char *err, size_t errlen)
{
	uint64_t limit = low_ram_end(gm);
	size_t len = f->len;
	uint64_t start;
	int ret;

	if (len == 0)
		return fail(err, errlen, "initrd is empty");
	if (k->initrd_addr_max != UINT64_MAX && k->initrd_addr_max + 1 < limit)
		limit = k->initrd_addr_max + 1;
	if (len > limit)
		return fail(err, errlen, "initrd (%zu MiB) is larger than the memory it may use",
			    len >> 20);
	start = (limit - len) & ~(PAGE_SIZE - 1);
	if (start < k->end)
		return fail(err, errlen,
			    "initrd (%zu MiB) does not fit between the kernel and %llu MiB: "
			    "give the guest more --mem",
			    len >> 20, (unsigned long long)(limit >> 20));
	ret = guest_mem_load(gm, start, f, 0, len, len);
	if (ret < 0)
		return fail(err, errlen, "initrd %s",
			    ret == -ENOMEM ? "could not be mapped into guest RAM"
					   : "does not fit in guest RAM");
	*addr = start;
	return 0;
}

unsigned int x86_build_e820(const struct guest_mem *gm, struct boot_e820_entry *table,
			    unsigned int max)
{
	unsigned int n = 0;

#define ADD(a, s, t)                                                                               \
	do {                                                                                       \
		if (n < max)                                                                       \
			table[n++] =                                                               \
			    (struct boot_e820_entry){.addr = (a), .size = (s), .type = (t)};       \
	} while (0)

	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct guest_mem_region *r = &gm->regions[i];

		if (r->gpa == 0) {
			uint64_t ebda = r->size < ARCH_EBDA_START ? r->size : ARCH_EBDA_START;

			ADD(0, ebda, E820_TYPE_RAM);
			if (r->size > ARCH_HIGH_MEMORY_START) {
				ADD(ARCH_EBDA_START, ARCH_HIGH_MEMORY_START - ARCH_EBDA_START,
				    E820_TYPE_RESERVED);
				ADD(ARCH_HIGH_MEMORY_START, r->size - ARCH_HIGH_MEMORY_START,
				    E820_TYPE_RAM);
			}
		} else {
			ADD(r->gpa, r->size, E820_TYPE_RAM);
		}
	}
#undef ADD
	return n;
}

void x86_build_boot_params(struct boot_params *bp, const struct x86_kernel *k,
			   const struct guest_mem *gm, uint64_t cmdline_gpa, size_t cmdline_len,
			   uint64_t initrd_addr, uint64_t initrd_size)
{
	memset(bp, 0, sizeof(*bp));
	if (k->is_bzimage) {
		memcpy(&bp->hdr, &k->hdr, k->hdr_len);
	} else {
		/* An ELF vmlinux has no header: supply what the kernel reads. */
		bp->hdr.boot_flag = 0xaa55;
		bp->hdr.header = 0x53726448; /* "HdrS" */
		bp->hdr.version = BZIMAGE_MIN_VERSION;
		bp->hdr.kernel_alignment = 0x1000000;
	}
	bp->hdr.type_of_loader = 0xff; /* undefined loader */
	bp->hdr.loadflags |= CAN_USE_HEAP | LOADED_HIGH;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.vid_mode = 0xffff; /* "normal" */
	bp->hdr.cmd_line_ptr = (uint32_t)cmdline_gpa;
	bp->ext_cmd_line_ptr = (uint32_t)(cmdline_gpa >> 32);
	bp->hdr.cmdline_size = (uint32_t)cmdline_len;
	bp->hdr.ramdisk_image = (uint32_t)initrd_addr;
	bp->ext_ramdisk_image = (uint32_t)(initrd_addr >> 32);
	bp->hdr.ramdisk_size = (uint32_t)initrd_size;
	bp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
	bp->e820_entries = (uint8_t)x86_build_e820(gm, bp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
}
