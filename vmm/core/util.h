/* The few macros every layer uses. */
#ifndef MINIVMM_UTIL_H
#define MINIVMM_UTIL_H

#include <stddef.h>

#define BIT(n) (1ULL << (n))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The structure that holds member at ptr (ptr must point into one). */
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
