/*
 * AP start-up trampoline.  smp_start_aps() copies the bytes between
 * rt_trampoline_start and rt_trampoline_end to RT_TRAMPOLINE_ADDR, fills in
 * the data words at the end and sends INIT-SIPI-SIPI with vector
 * RT_TRAMPOLINE_ADDR >> 12.  The AP starts here in real mode with
 * CS = RT_TRAMPOLINE_ADDR >> 4, IP = 0; it goes through 32-bit protected
 * mode into long mode on the runtime's GDT and page tables and jumps to
 * rt_tramp_entry with its stack in rt_tramp_stack.
 */
#include "asm.h"

#define OFF(sym) ((sym) - rt_trampoline_start)
#define ABS(sym) (RT_TRAMPOLINE_ADDR + OFF(sym))

	.section .rodata.trampoline, "a"
	.globl rt_trampoline_start
	.globl rt_trampoline_end
	.code16
rt_trampoline_start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	lgdtl	OFF(rt_tramp_gdtr)
	mov	%cr0, %eax
	or	$1, %eax		/* PE */
	mov	%eax, %cr0
	ljmpl	$RT_SEL_CODE32, $ABS(tramp32)

	.code32
tramp32:
	mov	$RT_SEL_KDATA, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%cr4, %eax
	or	$0x20, %eax		/* PAE */
	mov	%eax, %cr4
	mov	ABS(rt_tramp_cr3), %eax
	mov	%eax, %cr3
	mov	$0xC0000080, %ecx	/* EFER */
	rdmsr
	or	$0x100, %eax		/* LME */
	wrmsr
	mov	%cr0, %eax
	or	$0x80000000, %eax	/* PG */
	mov	%eax, %cr0
	ljmpl	$RT_SEL_KCODE, $ABS(tramp64)

	.code64
tramp64:
	mov	$RT_SEL_KDATA, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	xor	%eax, %eax
	mov	%ax, %fs
	mov	%ax, %gs
	mov	rt_tramp_stack(%rip), %rsp
	mov	rt_tramp_entry(%rip), %rax
	xor	%ebp, %ebp
	call	*%rax
1:	cli
	hlt
	jmp	1b

	.p2align 3
	.globl rt_tramp_stack, rt_tramp_entry, rt_tramp_cr3, rt_tramp_gdtr
rt_tramp_stack:
	.quad	0
rt_tramp_entry:
	.quad	0
rt_tramp_cr3:
	.long	0
	.word	0
rt_tramp_gdtr:
	.word	0		/* limit */
	.long	0		/* base */
rt_trampoline_end:
