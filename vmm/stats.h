/* --stats: exit counts, per-device counters, start-up cost (vmm/stats.c). */
#ifndef MINIVMM_STATS_H
#define MINIVMM_STATS_H

#include <stdio.h>

struct vm;

void stats_print(struct vm *vm, FILE *out);

#endif
