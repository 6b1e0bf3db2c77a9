/*
 * Entry from minivmm (64-bit, paging on, interrupts off, RSI = boot_params),
 * the exception/interrupt entry stubs and the CPL0 <-> CPL3 switch.
 */
#include "asm.h"

	/* Stacks need no zeroing, which would cost CPL0 (emulated) time. */
	.section .bss.noclear, "aw", @nobits
	.p2align 4
rt_boot_stack:
	.skip	RT_BOOT_STACK_SIZE
rt_boot_stack_top:

	.section .text.entry, "ax"
	.globl _start
_start:
	cli
	cld
	/* minivmm gives no stack: use our own before touching memory. */
	lea	rt_boot_stack_top(%rip), %rsp
	xor	%ebp, %ebp
	mov	%rsi, %rdi
	call	rt_start	/* never returns */
1:	hlt
	jmp	1b

/*
 * One 16-byte stub per vector, so the IDT builder finds vector v's stub at
 * rt_trap_stubs + 16 * v.  Vectors without a CPU-pushed error code push a
 * zero so every frame has the same layout (struct trap_frame).
 */
	.text
	.p2align 4
	.globl rt_trap_stubs
rt_trap_stubs:
	vec = 0
	.rept 256
	.p2align 4
	.if vec == 6
	jmp	rt_ud_entry
	.else
	.if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq	$0
	.endif
	pushq	$vec
	jmp	rt_trap_common
	.endif
	vec = vec + 1
	.endr

rt_trap_common:
	push	%rax
	push	%rbx
	push	%rcx
	push	%rdx
	push	%rsi
	push	%rdi
	push	%rbp
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	cld
	/* The CPU aligned RSP to 16 before its 5-word frame; 2 + 15 words keep it aligned. */
	mov	%rsp, %rdi
	call	rt_trap
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rbp
	pop	%rdi
	pop	%rsi
	pop	%rdx
	pop	%rcx
	pop	%rbx
	pop	%rax
	add	$16, %rsp
	iretq

/*
 * uint64_t rt_enter_user(fn, arg, user_rsp, uint64_t *tss_rsp0, rflags)
 *
 * Saves the callee-saved registers and RFLAGS on the kernel stack, points
 * TSS.RSP0 just below them and IRETs to CPL3.  Traps from CPL3 then build
 * their frames below the saved registers, and the ud2 at rt_user_exit finds
 * them at RSP0 again (rt_ud_entry).  SYSCALL/SYSRET are not used: on
 * kvm_pvm hosts SYSCALL from guest CPL3 does not reach guest CPL0.
 */
	.globl rt_enter_user
rt_enter_user:
	pushfq
	push	%rbp
	push	%rbx
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	/* 16-byte aligned here: the call pushed 8, we pushed 56. */
	mov	%rsp, (%rcx)
	pushq	$RT_SEL_UDATA
	push	%rdx
	push	%r8
	pushq	$RT_SEL_UCODE
	lea	rt_user_trampoline(%rip), %rax
	push	%rax
	/* fn in RDI, arg in RSI: rt_user_trampoline shuffles them. */
	xor	%eax, %eax
	xor	%ebx, %ebx
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%ebp, %ebp
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%r12d, %r12d
	xor	%r13d, %r13d
	xor	%r14d, %r14d
	xor	%r15d, %r15d
	iretq

/*
 * Runs at CPL3.  The way back to CPL0 is the ud2 at rt_user_exit: on
 * kvm_pvm hosts `int $n` from CPL3 (any n but 3, whatever the gate's DPL)
 * raises #UD at the int instruction instead of going through the gate,
 * while exceptions, int3 and interrupts taken at CPL3 are delivered
 * normally.  A #UD at exactly this address from CPL3 therefore means
 * "return from run_at_cpl3"; it works on real hardware just as well.
 */
	.globl rt_user_trampoline
rt_user_trampoline:
	mov	%rdi, %rax
	mov	%rsi, %rdi
	call	*%rax
	.globl rt_user_exit
rt_user_exit:
	ud2
	/* Not reached; if the VMM skipped the ud2, fail loudly. */
	int3
	jmp	rt_user_exit

/*
 * #UD.  From CPL3 at rt_user_exit the CPU switched to TSS.RSP0 and pushed
 * 5 words: drop them and return from rt_enter_user with RAX as the result.
 * Any other #UD goes to the handlers like every exception.
 */
rt_ud_entry:
	testb	$3, 8(%rsp)
	jz	1f
	push	%rax
	lea	rt_user_exit(%rip), %rax
	cmp	%rax, 8(%rsp)
	pop	%rax
	jne	1f
	add	$40, %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	popfq
	ret
1:	pushq	$0
	pushq	$6
	jmp	rt_trap_common
