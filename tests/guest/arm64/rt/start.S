/*
 * Entry of the arm64 test guests.  minivmm starts the boot vCPU here at EL1
 * with the MMU off, interrupts masked and x0 = the device tree's address.
 *
 * The MMU goes on first, on an identity map, because with it off every data
 * access is Device-nGnRnE and so bypasses the caches, while the VMM reads
 * and writes guest RAM (virtqueues, descriptor rings, buffers) through its
 * own cacheable mapping: without FEAT_S2FWB the two disagree, and a guest
 * would read stale used rings.  The map (4 KiB granule, 39-bit addresses,
 * 1 GiB blocks from one level-1 table, built by the assembler):
 *   [0, 1 GiB)      Device-nGnRnE, never executable: GIC, UART, test-exit,
 *                   virtio-mmio, PCI windows and ECAM
 *   [1 GiB, 512 GiB) normal write-back memory, inner shareable: RAM
 *                   (mapping more than the VM has is harmless: nothing
 *                   touches it, and speculation does not fault)
 */

#define MAIR_DEVICE_nGnRnE 0x00
#define MAIR_NORMAL_WB	   0xff
#define BLOCK_VALID	   0x1	      /* a level-1 block descriptor */
#define BLOCK_ATTR(idx)	   ((idx) << 2) /* AttrIndx: MAIR byte */
#define BLOCK_SH_INNER	   (3 << 8)
#define BLOCK_AF	   (1 << 10)
#define BLOCK_PXN	   (1 << 53)
#define BLOCK_UXN	   (1 << 54)
#define DEVICE_BLOCK (BLOCK_VALID | BLOCK_ATTR(0) | BLOCK_AF | BLOCK_PXN | BLOCK_UXN)
#define NORMAL_BLOCK (BLOCK_VALID | BLOCK_ATTR(1) | BLOCK_AF | BLOCK_SH_INNER)

/* TCR_EL1: T0SZ 25 (39 bits), walks write-back inner shareable, 4 KiB, no TTBR1 walks. */
#define TCR_T0SZ_39   25
#define TCR_IRGN0_WB  (1 << 8)
#define TCR_ORGN0_WB  (1 << 10)
#define TCR_SH0_INNER (3 << 12)
#define TCR_EPD1      (1 << 23)
#define TCR_IPS_SHIFT 32

#define SCTLR_M	  (1 << 0)
#define SCTLR_A	  (1 << 1)
#define SCTLR_C	  (1 << 2)
#define SCTLR_I	  (1 << 12)
#define SCTLR_WXN (1 << 19)
#define SCTLR_EE  (1 << 25)

#define STACK_SIZE (64 * 1024)

	.section .text.entry, "ax"
	.global _start
_start:
	mov	x19, x0				/* the device tree, for rt_start */
	adr	x1, rt_vectors
	msr	vbar_el1, x1

	/* Memory attributes, translation control, the table; then TLBs clean. */
	ldr	x1, =(MAIR_DEVICE_nGnRnE | MAIR_NORMAL_WB << 8)
	msr	mair_el1, x1
	mrs	x1, id_aa64mmfr0_el1
	and	x1, x1, #0xf			/* PARange */
	cmp	x1, #5
	mov	x2, #5
	csel	x1, x1, x2, ls			/* 52-bit needs LPA2 with 4 KiB pages: cap at 48 */
	lsl	x1, x1, #TCR_IPS_SHIFT
	ldr	x2, =(TCR_T0SZ_39 | TCR_IRGN0_WB | TCR_ORGN0_WB | TCR_SH0_INNER | TCR_EPD1)
	orr	x1, x1, x2
	msr	tcr_el1, x1
	adrp	x1, rt_l1_table			/* 4 KiB aligned: no low bits to add */
	msr	ttbr0_el1, x1
	tlbi	vmalle1
	ic	iallu
	dsb	nsh
	isb

	mrs	x1, sctlr_el1
	ldr	x2, =(SCTLR_M | SCTLR_C | SCTLR_I)
	orr	x1, x1, x2
	ldr	x2, =(SCTLR_A | SCTLR_WXN | SCTLR_EE)
	bic	x1, x1, x2
	msr	sctlr_el1, x1
	isb

	/* SP_EL1 (the vCPU starts in EL1h), then .bss. */
	ldr	x1, =rt_stack + STACK_SIZE
	mov	sp, x1
	ldr	x1, =__bss_start
	ldr	x2, =__bss_end
1:	cmp	x1, x2
	b.hs	2f
	str	xzr, [x1], #8
	b	1b
2:	mov	x0, x19
	bl	rt_start
3:	wfi					/* rt_start does not return */
	b	3b
	.ltorg

/*
 * The exception vectors: 16 entries of 128 bytes.  None is expected (the
 * guests poll and mask interrupts), so each saves the registers and hands
 * its index to rt_exception(), which reports and exits.
 */
#define FRAME_SIZE (32 * 8)

	.macro	vector index
	.balign	0x80
	sub	sp, sp, #FRAME_SIZE
	stp	x0, x1, [sp, #0]
	mov	x0, #\index
	b	rt_vector_common
	.endm

	.text
	.balign	0x800
	.global rt_vectors
rt_vectors:
	.irp	i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
	vector	\i
	.endr

rt_vector_common:
	stp	x2, x3, [sp, #16]
	stp	x4, x5, [sp, #32]
	stp	x6, x7, [sp, #48]
	stp	x8, x9, [sp, #64]
	stp	x10, x11, [sp, #80]
	stp	x12, x13, [sp, #96]
	stp	x14, x15, [sp, #112]
	stp	x16, x17, [sp, #128]
	stp	x18, x19, [sp, #144]
	stp	x20, x21, [sp, #160]
	stp	x22, x23, [sp, #176]
	stp	x24, x25, [sp, #192]
	stp	x26, x27, [sp, #208]
	stp	x28, x29, [sp, #224]
	str	x30, [sp, #240]
	mov	x1, sp
	bl	rt_exception
4:	wfi
	b	4b

/* The level-1 table: entry n maps [n GiB, n+1 GiB) onto itself. */
	.section .data.pagetables, "aw"
	.balign	4096
	.global rt_l1_table
rt_l1_table:
	.quad	DEVICE_BLOCK
	.set	gib, 1
	.rept	511
	.quad	(gib << 30) | NORMAL_BLOCK
	.set	gib, gib + 1
	.endr

	.section .bss.noclear, "aw", %nobits
	.balign	16
rt_stack:
	.skip	STACK_SIZE
