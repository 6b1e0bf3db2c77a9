/*
 * The way out: minivmm's test-exit register (a 32-bit write of the status).
 * Built with -DRT_QEMU_VIRT, semihosting's SYS_EXIT with the status as
 * subcode (run QEMU with -semihosting), since QEMU's virt board has an RTC
 * where minivmm has the register.
 */
#include "internal.h"

#ifdef RT_QEMU_VIRT
#define SEMIHOSTING_SYS_EXIT	     0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026

void rt_platform_exit(uint32_t code)
{
	uint64_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, code};
	register uint64_t op __asm__("x0") = SEMIHOSTING_SYS_EXIT;
	register uint64_t arg __asm__("x1") = (uint64_t)(uintptr_t)block;

	__asm__ volatile("hlt #0xf000" : "+r"(op) : "r"(arg) : "memory");
}
#else
void rt_platform_exit(uint32_t code)
{
	mmio_write32(RT_EXIT_MMIO, code);
}
#endif
