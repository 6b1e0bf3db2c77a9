/* The few macros every layer uses. */
#ifndef MINIVMM_UTIL_H
#define MINIVMM_UTIL_H

#include <stddef.h>

#define BIT(n) (1ULL << (n))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The structure that holds member at ptr (ptr must point into one). */
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A spin-wait's pause: lets the sibling hyperthread (x86) or core (arm64) run. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield" ::: "memory");
#endif
}

#endif
