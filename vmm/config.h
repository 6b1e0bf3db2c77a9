/* The command line: parsed into a struct vm_config (vm_config.h). */
#ifndef MINIVMM_CONFIG_H
#define MINIVMM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "vm_config.h"

enum config_result {
	CONFIG_OK,
	CONFIG_EXIT_SUCCESS, /* --help or --version printed */
	CONFIG_ERROR,	     /* err holds one line naming the problem */
};

/*
 * Parse argv into cfg.  Checks syntax and value ranges only (files are
 * checked when opened); the one look at the host is that every
 * --cpu-affinity CPU is one this process may run on (sched_getaffinity).
 * Never exits; on CONFIG_ERROR err holds a message
 * (one line, no "minivmm: " prefix, no newline).  The help/version text goes
 * to out (stdout if NULL).  argv is not modified; cfg points into it.
 * Options given twice: the last one wins (--disk and --net accumulate).
 */
enum config_result config_parse(struct vm_config *cfg, int argc, char **argv, char *err,
				size_t errlen, void *out /* FILE * */);

/*
 * "64M", "1G", "512k", "1048576" -> bytes.  Suffixes k/K, m/M, g/G, t/T
 * (powers of 1024), optional trailing "iB"/"B".  -EINVAL on bad syntax,
 * -ERANGE on overflow or zero.
 */
int config_parse_size(const char *s, uint64_t *out);

/*
 * "52:54:00:12:34:56" -> mac.  0 or -EINVAL; a multicast (odd first octet)
 * or all-zero address is -EINVAL too, as no NIC may use one.
 */
int config_parse_mac(const char *s, uint8_t mac[6]);

#endif
