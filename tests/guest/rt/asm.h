/* Constants shared by the runtime's assembly and C (keep in sync with rt.h). */
#ifndef RT_ASM_H
#define RT_ASM_H

#define RT_SEL_CODE32 0x08
#define RT_SEL_KCODE  0x10
#define RT_SEL_KDATA  0x18
#define RT_SEL_UDATA  0x23
#define RT_SEL_UCODE  0x2b

#define RT_BOOT_STACK_SIZE (16 * 1024)

/* Where smp_start_aps copies the real-mode AP trampoline (free below 1 MiB). */
#define RT_TRAMPOLINE_ADDR 0x8000

#endif
