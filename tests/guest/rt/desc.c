/*
 * Descriptor tables: one GDT shared by all CPUs (kernel and user segments,
 * one TSS per CPU), one IDT, per-CPU TSS with RSP0 and an IST stack for #DF.
 */
#include "internal.h"

#define GDT_ENTRIES	 (6 + 2 * RT_MAX_CPUS)
#define IST_DOUBLE_FAULT 1

struct rt_cpu rt_cpus[RT_MAX_CPUS] __attribute__((section(".bss.noclear")));

/* Flat segments; the 32-bit code segment is only used by the AP trampoline. */
static uint64_t gdt[GDT_ENTRIES] __attribute__((aligned(16))) = {
    [0] = 0,
    [RT_SEL_CODE32 / 8] = 0x00CF9A000000FFFFULL,
    [RT_SEL_KCODE / 8] = 0x00AF9A000000FFFFULL,
    [RT_SEL_KDATA / 8] = 0x00CF92000000FFFFULL,
    [RT_SEL_UDATA / 8] = 0x00CFF2000000FFFFULL,
    [RT_SEL_UCODE / 8] = 0x00AFFA000000FFFFULL,
};

struct idt_entry {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t ist;
	uint8_t type_attr;
	uint16_t offset_mid;
	uint32_t offset_hi;
	uint32_t reserved;
};

static struct idt_entry idt[256] __attribute__((aligned(16)));

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

extern const uint8_t rt_trap_stubs[];

/* Set once the boot CPU has a GS base; before that only the boot CPU runs. */
static bool percpu_ready;

void *rt_gdt_base(void)
{
	return gdt;
}

uint16_t rt_gdt_limit(void)
{
	return sizeof(gdt) - 1;
}

static void set_tss_descriptor(unsigned int cpu, struct tss64 *tss)
{
	uint64_t base = (uint64_t)tss;
	uint64_t limit = sizeof(*tss) - 1;
	unsigned int slot = RT_SEL_TSS(cpu) / 8;

	gdt[slot] = (limit & 0xffff) | ((base & 0xffffff) << 16) |
		    (0x89ULL << 40) /* P, avail TSS */
		    | (((limit >> 16) & 0xf) << 48) | (((base >> 24) & 0xff) << 56);
	gdt[slot + 1] = base >> 32;
}

void rt_gdt_init(void)
{
	struct desc_ptr p = {.limit = sizeof(gdt) - 1, .base = (uint64_t)gdt};

	/* Reload CS with a far return; the data segments with plain moves. */
	__asm__ volatile("lgdt %0\n\t"
			 "pushq %1\n\t"
			 "lea 1f(%%rip), %%rax\n\t"
			 "pushq %%rax\n\t"
			 "lretq\n"
			 "1:\n\t"
			 "mov %2, %%eax\n\t"
			 "mov %%eax, %%ds\n\t"
			 "mov %%eax, %%es\n\t"
			 "mov %%eax, %%ss\n\t"
			 "xor %%eax, %%eax\n\t"
			 "mov %%eax, %%fs\n\t"
			 "mov %%eax, %%gs\n\t"
			 :
			 : "m"(p), "i"(RT_SEL_KCODE), "i"(RT_SEL_KDATA)
			 : "rax", "memory");
}

static void set_gate(unsigned int vec, unsigned int dpl, unsigned int ist)
{
	uint64_t addr = (uint64_t)rt_trap_stubs + 16 * vec;
	struct idt_entry *e = &idt[vec];

	e->offset_lo = addr & 0xffff;
	e->selector = RT_SEL_KCODE;
	e->ist = ist;
	e->type_attr = 0x8e | (dpl << 5); /* present 64-bit interrupt gate: IF off in handlers */
	e->offset_mid = (addr >> 16) & 0xffff;
	e->offset_hi = addr >> 32;
	e->reserved = 0;
}

void rt_idt_init(void)
{
	for (unsigned int v = 0; v < 256; v++)
		set_gate(v, 0, 0);
	/* Software interrupts CPL3 may raise: int3 and into. */
	set_gate(3, 3, 0);
	set_gate(4, 3, 0);
	/* #DF gets its own stack so a broken kernel stack still yields a report. */
	set_gate(8, 0, IST_DOUBLE_FAULT);
}

void set_trap_dpl(unsigned int vector, unsigned int dpl)
{
	if (vector < 256 && dpl <= 3)
		set_gate(vector, dpl, vector == 8 ? IST_DOUBLE_FAULT : 0);
}

void rt_cpu_init(unsigned int index)
{
	struct rt_cpu *c = &rt_cpus[index];
	struct desc_ptr ip = {.limit = sizeof(idt) - 1, .base = (uint64_t)idt};

	c->self = c;
	c->index = index;
	memset(&c->tss, 0, sizeof(c->tss));
	c->tss.rsp[0] = (uint64_t)(c->kstack + RT_KSTACK_SIZE);
	c->tss.ist[IST_DOUBLE_FAULT - 1] = (uint64_t)(c->df_stack + RT_ISTACK_SIZE);
	/* No I/O bitmap: CPL3 port I/O goes through IOPL 3 (or trap.c on kvm_pvm). */
	c->tss.iomap_base = sizeof(c->tss);
	set_tss_descriptor(index, &c->tss);

	__asm__ volatile("ltr %w0" : : "r"(RT_SEL_TSS(index)));
	__asm__ volatile("lidt %0" : : "m"(ip));
	wrmsr(0xC0000101, (uint64_t)c); /* GS base */
	percpu_ready = true;
}

unsigned int this_cpu(void)
{
	return percpu_ready ? rt_this_cpu()->index : 0;
}
