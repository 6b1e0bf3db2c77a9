/* The arm64 kernel loader: a Linux Image or a freestanding ELF, then the initrd. */
#include "image.h"

#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "byteorder.h"

#define PAGE_SIZE 4096ULL
/* Header flags bit 0: 1 = big-endian kernel, which an arm64 KVM guest here cannot be. */
#define IMAGE_FLAG_BE 1ULL

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Is [start, start + len) inside [lo, hi)?  Overflow-safe. */
static int inside(uint64_t start, uint64_t len, uint64_t lo, uint64_t hi)
{
	return start >= lo && start <= hi && len <= hi - start;
}

static int load_image(struct guest_mem *gm, const struct guest_file *f, uint64_t ram_base,
		      uint64_t limit, struct arm64_kernel *k, char *err, size_t errlen)
{
	uint64_t text_offset = get_le64(f->data + 8);
	uint64_t image_size = get_le64(f->data + 16);
	uint64_t flags = get_le64(f->data + 24);
	uint64_t at;

	if (flags & IMAGE_FLAG_BE)
		return fail(err, errlen, "a big-endian Image; minivmm runs little-endian guests");
	/* Kernels before 3.17 leave image_size 0: then the file is all we know. */
	if (image_size == 0)
		image_size = f->len;
	if (image_size < f->len)
		return fail(err, errlen, "Image header says %llu bytes, the file has %zu",
			    (unsigned long long)image_size, f->len);
	if (text_offset % PAGE_SIZE || text_offset >= ARM64_KERNEL_ALIGN * 256)
		return fail(err, errlen, "Image text_offset 0x%llx is not a sane page offset",
			    (unsigned long long)text_offset);
	at = ram_base + text_offset;
	if (!inside(at, image_size, ram_base, limit))
		return fail(err, errlen,
			    "Image of %llu MiB at 0x%llx does not fit below 0x%llx (more --mem?)",
			    (unsigned long long)(image_size >> 20), (unsigned long long)at,
			    (unsigned long long)limit);
	/* The bss beyond the file is zeroed: guest_mem_load fills memsz. */
	if (guest_mem_load(gm, at, f, 0, f->len, image_size) < 0)
		return fail(err, errlen, "cannot place the Image at 0x%llx",
			    (unsigned long long)at);
	k->entry = at;
	k->start = at;
	k->end = at + image_size;
	k->is_image = 1;
	return 0;
}

static int load_elf(struct guest_mem *gm, const struct guest_file *f, uint64_t ram_base,
		    uint64_t limit, struct arm64_kernel *k, char *err, size_t errlen)
{
	Elf64_Ehdr eh;
	unsigned int loaded = 0;

	if (f->len < sizeof(eh))
		return fail(err, errlen, "ELF file too short");
	memcpy(&eh, f->data, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_AARCH64)
		return fail(err, errlen, "not a little-endian 64-bit AArch64 ELF");
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phoff > f->len ||
	    (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > f->len - eh.e_phoff)
		return fail(err, errlen, "ELF program headers outside the file");
	/* Every segment checked, and the entry, before a byte is written. */
	k->start = UINT64_MAX;
	k->end = 0;
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, f->data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz || ph.p_offset > f->len ||
		    ph.p_filesz > f->len - ph.p_offset)
			return fail(err, errlen, "ELF segment %u outside the file", i);
		if (!inside(ph.p_paddr, ph.p_memsz, ram_base, limit))
			return fail(
			    err, errlen,
			    "ELF segment %u at 0x%llx (%llu bytes) is not in RAM below 0x%llx", i,
			    (unsigned long long)ph.p_paddr, (unsigned long long)ph.p_memsz,
			    (unsigned long long)limit);
		if (ph.p_paddr < k->start)
			k->start = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > k->end)
			k->end = ph.p_paddr + ph.p_memsz;
		loaded++;
	}
	if (!loaded)
		return fail(err, errlen, "ELF has no loadable segment");
	if (eh.e_entry < k->start || eh.e_entry >= k->end)
		return fail(err, errlen, "ELF entry 0x%llx is outside its segments",
			    (unsigned long long)eh.e_entry);
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, f->data + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && ph.p_memsz &&
		    guest_mem_load(gm, ph.p_paddr, f, ph.p_offset, ph.p_filesz, ph.p_memsz) < 0)
			return fail(err, errlen, "cannot place ELF segment %u", i);
	}
	k->entry = eh.e_entry;
	k->is_image = 0;
	return 0;
}

int arm64_load_kernel(struct guest_mem *gm, const struct guest_file *f, uint64_t ram_base,
		      uint64_t limit, struct arm64_kernel *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	if (ram_base % ARM64_KERNEL_ALIGN || limit <= ram_base)
		return fail(err, errlen, "RAM at 0x%llx is not 2 MiB aligned or empty",
			    (unsigned long long)ram_base);
	if (f->len >= 4 && !memcmp(f->data, ELFMAG, SELFMAG))
		return load_elf(gm, f, ram_base, limit, k, err, errlen);
	if (f->len >= ARM64_IMAGE_HEADER_SIZE && get_le32(f->data + 56) == ARM64_IMAGE_MAGIC)
		return load_image(gm, f, ram_base, limit, k, err, errlen);
	return fail(err, errlen,
		    "neither an arm64 Image (no \"ARM\\x64\" magic at byte 56) nor an ELF file");
}

uint64_t arm64_dtb_address(uint64_t ram_base, uint64_t ram_size)
{
	uint64_t end = ram_base + ram_size;

	if (ram_size < 2 * ARM64_DTB_MAX_SIZE || end < ram_base)
		return 0;
	return (end - ARM64_DTB_MAX_SIZE) & ~(ARM64_KERNEL_ALIGN - 1);
}

int arm64_load_initrd(struct guest_mem *gm, const struct guest_file *f,
		      const struct arm64_kernel *k, uint64_t limit, uint64_t *addr, char *err,
		      size_t errlen)
{
	uint64_t at;

	if (f->len > limit || limit - f->len < k->end)
		return fail(err, errlen,
			    "%zu MiB do not fit between the kernel and 0x%llx (more --mem?)",
			    f->len >> 20, (unsigned long long)limit);
	at = (limit - f->len) & ~(PAGE_SIZE - 1);
	if (at < k->end)
		return fail(err, errlen, "%zu MiB do not fit above the kernel (more --mem?)",
			    f->len >> 20);
	if (guest_mem_load(gm, at, f, 0, f->len, f->len) < 0)
		return fail(err, errlen, "cannot place it at 0x%llx", (unsigned long long)at);
	*addr = at;
	return 0;
}
