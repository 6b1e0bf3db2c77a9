/*
 * The guest's own page tables, built by the assembler so CPL0 (emulated,
 * ~2 us per instruction) spends no time filling them: an identity map of
 * the first 4 GiB with 2 MiB pages, all user-accessible so run_at_cpl3()
 * code can reach RAM and MMIO alike.  The 32-bit MMIO hole (from 3 GiB) is
 * mapped uncached.  Everything above 4 GiB is left unmapped: tests use it
 * to provoke page faults.
 */
#define PTE_P 0x001
#define PTE_RW 0x002
#define PTE_US 0x004
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS 0x080
#define MMIO_HOLE 0xC0000000

	.section .data.pagetables, "aw"
	.p2align 12
	.globl rt_pml4
rt_pml4:
	.quad	rt_pdpt + (PTE_P | PTE_RW | PTE_US)
	.fill	511, 8, 0

	.p2align 12
rt_pdpt:
	.quad	rt_pd + 0x0000 + (PTE_P | PTE_RW | PTE_US)
	.quad	rt_pd + 0x1000 + (PTE_P | PTE_RW | PTE_US)
	.quad	rt_pd + 0x2000 + (PTE_P | PTE_RW | PTE_US)
	.quad	rt_pd + 0x3000 + (PTE_P | PTE_RW | PTE_US)
	.fill	508, 8, 0

	.p2align 12
	.globl rt_pd
rt_pd:
	addr = 0
	.rept 2048
	.if addr >= MMIO_HOLE
	.quad	addr + (PTE_P | PTE_RW | PTE_US | PTE_PS | PTE_PWT | PTE_PCD)
	.else
	.quad	addr + (PTE_P | PTE_RW | PTE_US | PTE_PS)
	.endif
	addr = addr + 0x200000
	.endr
