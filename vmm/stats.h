/* --stats: exit counts, per-device counters, start-up cost (vmm/stats.c). */
#ifndef MINIVMM_STATS_H
#define MINIVMM_STATS_H

#include <stdio.h>

struct vm;

void stats_print(struct vm *vm, FILE *out);

/*
 * Resident KiB of the process and of guest RAM, measured together so that
 * total - guest (the VMM's own memory) is never negative.  0 or -1.
 */
int stats_resident_kib(const struct vm *vm, long *total_kib, long *guest_kib);

#endif
