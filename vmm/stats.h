/*
 * --stats: one JSON document (docs/stats.md) built from every counter the
 * VM has, written atomically to --stats=PATH or printed as a table.
 */
#ifndef MINIVMM_STATS_H
#define MINIVMM_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct vm;
struct json_object;

#define STATS_FORMAT  "minivmm-stats"
#define STATS_VERSION 1

/* Remember what the report compares against (load average, wall clock); call at start. */
void stats_begin(void);

/*
 * Whether a report could be written to path, checked before the VM starts:
 * 0, or -1 with a message in err ("--stats PATH: why").
 */
int stats_check_path(const char *path, char *err, size_t err_size);

/* The whole report (caller puts it).  final: the VM has stopped. */
struct json_object *stats_build(struct vm *vm, bool final);

/* The "devices" object alone: what every registered reporter adds. */
struct json_object *stats_devices(struct vm *vm);

/*
 * Write doc as JSON to path: to a temporary file in the same directory,
 * renamed over path, so a reader never sees half a report (a path that is
 * not a regular file, such as /dev/stdout, is written in place).  0 or -errno.
 */
int stats_write_json(struct json_object *doc, const char *path);

/* The human table of doc (vmm/stats_table.c). */
void stats_print_table(struct json_object *doc, FILE *out);

/* Build and emit a report as the configuration asks: 0, or -1 if it could not be written. */
int stats_report(struct vm *vm, bool final);

/*
 * Resident KiB of the process and of guest RAM, measured together so that
 * total - guest (the VMM's own memory) is never negative.  0 or -1.
 */
int stats_resident_kib(const struct vm *vm, long *total_kib, long *guest_kib);

#endif
