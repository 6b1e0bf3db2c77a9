/* Runtime-internal declarations shared between rt/ files. */
#ifndef RT_INTERNAL_H
#define RT_INTERNAL_H

#include "rt.h"

#define RT_KSTACK_SIZE (16 * 1024)
#define RT_USTACK_SIZE (64 * 1024)
#define RT_ISTACK_SIZE (4 * 1024)

struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

/* Reached through GS base, so both CPL0 and CPL3 code find it cheaply. */
struct rt_cpu {
	struct rt_cpu *self; /* %gs:0 */
	unsigned int index;
	struct tss64 tss;
	uint8_t kstack[RT_KSTACK_SIZE] __attribute__((aligned(16)));
	uint8_t ustack[RT_USTACK_SIZE] __attribute__((aligned(16)));
	uint8_t df_stack[RT_ISTACK_SIZE] __attribute__((aligned(16)));
};

extern struct rt_cpu rt_cpus[RT_MAX_CPUS];
extern uint64_t rt_pml4[];

static inline struct rt_cpu *rt_this_cpu(void)
{
	struct rt_cpu *c;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(c));
	return c;
}

/* Loads GDT, TSS, IDT and GS base on the calling CPU (BSP or AP). */
void rt_cpu_init(unsigned int index);
void rt_gdt_init(void);
void rt_idt_init(void);
void rt_console_init(void);
void rt_lapic_init(void);
void rt_pic_disable(void);
void rt_tsc_init(void);
void rt_cmdline_init(const void *boot_params);
void rt_cpu_online(void);

uint64_t rt_enter_user(uint64_t (*fn)(void *), void *arg, uint64_t user_rsp, void *tss_rsp0,
		       uint64_t rflags);

#endif
